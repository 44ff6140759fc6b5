"""Schema migrations, applied in order and recorded by name. Append; never edit a shipped one."""

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_datasets",
        [
            """CREATE TABLE datasets (
                name TEXT PRIMARY KEY,
                recipe TEXT NOT NULL,
                owner TEXT NOT NULL,
                description TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE dataset_versions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                dataset TEXT NOT NULL REFERENCES datasets(name),
                version INTEGER NOT NULL,
                recipe TEXT NOT NULL,
                operation TEXT NOT NULL,
                params TEXT NOT NULL,
                parent TEXT,
                parent_hash TEXT,
                content_hash TEXT NOT NULL,
                rows INTEGER NOT NULL,
                columns TEXT NOT NULL,
                tables TEXT NOT NULL,
                summary TEXT,
                path TEXT NOT NULL,
                owner TEXT NOT NULL,
                created_at TEXT NOT NULL,
                UNIQUE (dataset, version)
            )""",
        ],
    ),
]

MIGRATIONS.append(
    (
        "0002_jobs",
        [
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                title TEXT,
                owner TEXT NOT NULL,
                status TEXT NOT NULL,
                resource TEXT NOT NULL,
                executor TEXT NOT NULL DEFAULT 'local',
                pid INTEGER,
                pid_started REAL,
                host TEXT,
                spec_hash TEXT NOT NULL,
                job_dir TEXT NOT NULL,
                error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                started_at TEXT,
                ended_at TEXT
            )""",
            "CREATE INDEX jobs_status ON jobs(status)",
        ],
    )
)

MIGRATIONS.append(
    (
        "0003_traces",
        [
            """CREATE TABLE completions (
                key TEXT PRIMARY KEY,
                endpoint TEXT NOT NULL,
                model TEXT NOT NULL,
                request TEXT NOT NULL,
                text TEXT NOT NULL,
                finish_reason TEXT,
                prompt_tokens INTEGER NOT NULL,
                cached_tokens INTEGER NOT NULL DEFAULT 0,
                completion_tokens INTEGER NOT NULL,
                usd REAL NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE trace_items (
                job_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                row_id TEXT NOT NULL,
                per_value TEXT,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                text TEXT,
                labels TEXT,
                gold TEXT,
                agrees INTEGER,
                error TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (job_id, item_id)
            )""",
            """CREATE TABLE trace_attempts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                temperature REAL,
                text TEXT,
                labels TEXT,
                agrees INTEGER,
                cache_key TEXT,
                cached INTEGER NOT NULL,
                prompt_tokens INTEGER NOT NULL DEFAULT 0,
                completion_tokens INTEGER NOT NULL DEFAULT 0,
                usd REAL NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX trace_attempts_job ON trace_attempts(job_id, item_id)",
            "CREATE INDEX trace_items_status ON trace_items(job_id, status)",
        ],
    )
)

MIGRATIONS.append(
    (
        "0004_job_gpus",
        [
            "ALTER TABLE jobs ADD COLUMN gpus INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN gpu_ids TEXT",
        ],
    )
)

MIGRATIONS.append(
    (
        "0005_evaluations",
        [
            """CREATE TABLE evaluations (
                id TEXT PRIMARY KEY,
                job_id TEXT NOT NULL,
                dataset TEXT NOT NULL,
                dataset_hash TEXT NOT NULL,
                recipe TEXT NOT NULL,
                split TEXT,
                model_label TEXT NOT NULL,
                model_kind TEXT NOT NULL,
                train_job TEXT,
                checkpoint TEXT,
                headline TEXT NOT NULL,
                headline_value REAL,
                results_path TEXT NOT NULL,
                owner TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        "0006_job_executors",
        [
            "ALTER TABLE jobs ADD COLUMN slurm_job_id TEXT",
            "ALTER TABLE jobs ADD COLUMN wait_reason TEXT",
        ],
    )
)

MIGRATIONS.append(
    (
        "0007_trace_possibly_billed",
        [
            # Requests that timed out on our side: the provider may still have run and billed them.
            """CREATE TABLE trace_possibly_billed (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                cache_key TEXT,
                reason TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                max_tokens INTEGER NOT NULL,
                usd REAL NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX trace_possibly_billed_job ON trace_possibly_billed(job_id)",
        ],
    )
)

MIGRATIONS.append(
    (
        "0008_user_preferences",
        [
            # Each person's remembered choices (the last teacher of the Traces page): never a key.
            """CREATE TABLE user_preferences (
                user TEXT NOT NULL,
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (user, name)
            )""",
        ],
    )
)

MIGRATIONS.append(
    (
        "0009_trace_template_owners",
        [
            # Saved teacher templates belong to whoever saved them; `shared` lets everyone else use them.
            """CREATE TABLE trace_templates (
                recipe TEXT NOT NULL,
                owner TEXT NOT NULL,
                name TEXT NOT NULL,
                shared INTEGER NOT NULL DEFAULT 0,
                template TEXT NOT NULL,
                hash TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (recipe, owner, name)
            )""",
        ],
    )
)
