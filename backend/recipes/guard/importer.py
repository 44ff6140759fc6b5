"""Guard (seed 000) importer. Four layouts, told apart per record by their fields:

- wildguard: WildGuardMix rows (prompt, adversarial, response, prompt_harm_label, response_refusal_label,
  response_harm_label, subcategory);
- guardreasoner: GuardReasoner training rows {instruction, input, output}, where `input` holds the dialogue
  and `output` ends with an "Answers:" block (the reasoning before it is not kept);
- guardreasoner_benchmark: GuardReasoner's test sets, data/benchmark/0_<k>_<name>.json, the same
  {instruction, input, output} records whose `output` is only the gold label of the benchmark's ONE task
  ("harmful"/"unharmful", or "refusal"/"compliance"), or an "Answers:" block whose values may be "None";
- policy: seed 000's samples ("content" or "prompt", optional "response") with per-policy labels, either a
  dict ({"violence": "UNSAFE"}), the seed's list of violated policies (["violence"]), or its
  training_data.json {"samples": [...], "reasoning_traces": {"sample_<i>_<policy>": {"classification"}}}.

Benchmark files. A benchmark file does not say which task its label belongs to; the task comes from
`task` (--task prompt|response|refusal), else from the file name when it ends with one of the eleven
published benchmark names (BENCHMARKS: 0_1_AegisSafetyTest.json -> prompt, 0_7_xstest_response_refusal.json
-> refusal, ...; 0_4_wild_guard_test carries all three tasks in its prompt_harm_label / response_harm_label /
response_refusal_label fields). A file whose records hold only a label, with neither, is refused with a
message asking for --task. The gold goes to the task's column (prompt -> prompt_harm_label, response ->
response_harm_label, refusal -> response_refusal_label); the other label columns stay empty. A row whose
gold is missing ("Answers: \nRequest: None ...", or an empty output) is kept without gold and counted
in the summary (`benchmarks` -> file -> without_gold), next to the task and whether it was inferred.

Where the prompt ends (the one rule, for training and benchmark files alike). `input` is
"Human user:\n" + prompt + "\n\nAI assistant:\n" + response + "\n\n". The prompt ends at the LAST
line that is exactly "AI assistant:" and follows a blank line; everything after that line is the
response. "AI assistant:" elsewhere (mid-line, with text after it on the line, or without a blank
line before it, as in a quoted chat "Human user: hi\nAI assistant: hello") stays in the prompt, and
so does a whole quoted dialogue: a prompt may contain blank-line "AI assistant:" lines of its own,
the real one is the last. (Hence a response that itself contains such a line would be cut there;
GuardReasoner's responses are model answers, prompts are where fake dialogues live.) The response is
absent when it is exactly the text "None" (or empty); surrounding whitespace is trimmed from both.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from backend.errors import DataError
from backend.formats.files import expand_paths, file_format
from backend.formats.records import iter_records, json_top_level, load_json_document
from backend.formats.values import apply_mapping, parse_json_text
from backend.formats.where import Where, describe
from backend.recipes.guard import BENCHMARK_TASK_COLUMNS
from backend.recipes.importing import ImportRun, OptionNeeded

LABEL_COLUMNS = ("prompt_harm_label", "response_refusal_label", "response_harm_label")
# Seed 000's six policies; its list form names the violated ones, so the others are safe.
SEED_POLICIES = ("hate_speech", "violence", "self_harm", "sexual_minors", "harassment", "illegal")
POLICY_FIELDS = ("policy_labels", "policies", "labels")
_NO_LABEL = {"", "none", "null", "nan", "n/a"}
_UNSAFE = {"unsafe", "1", "true"}
_SAFE = {"safe", "0", "false"}
_HUMAN = re.compile(r"^\s*Human user:[ \t]*\n?", re.I)
# A line that is exactly "AI assistant:" after a blank line (see the module docstring).
_ASSISTANT = re.compile(r"\n[ \t]*\n[ \t]*AI assistant:[ \t]*(?:\n|$)")
_NO_RESPONSE = "None"
_ANSWERS = re.compile(r"answers\s*:", re.I)
_ANSWER_LINES = {
    "prompt_harm_label": re.compile(r"request\s*:\s*([a-z]+)", re.I),
    "response_refusal_label": re.compile(r"completion\s*:\s*([a-z]+)", re.I),
    "response_harm_label": re.compile(r"response\s*:\s*([a-z]+)", re.I),
}
# The per-task form: "# Task 1 ... ## Answer\nharmful"
_TASK_ANSWER = re.compile(r"#\s*Task\s*([123])\b(?:(?!#\s*Task\s*\d).)*?##\s*Answer\s*:?\s*\n\s*([a-z]+)", re.I | re.S)
_TRACE_KEY = re.compile(r"^sample_(\d+)_(.+)$")
_SEED_SOURCE = "wildguardmix_"


def _label(value: Any) -> Any:
    """GuardReasoner writes a missing label as "None"; CSV exports leave it empty."""
    if isinstance(value, str) and value.strip().lower() in _NO_LABEL:
        return None
    return value


def split_dialogue(text: Any, where: Where) -> tuple[str, str | None]:
    """GuardReasoner's input 'Human user:\\n{prompt}\\n\\nAI assistant:\\n{response}\\n\\n' -> (prompt, response)."""
    head = _HUMAN.match(text) if isinstance(text, str) else None
    if head is None:
        raise where.error("expected 'Human user:\\n<prompt>\\n\\nAI assistant:\\n<response>', got "
                          f"{describe(text)}", field="input")
    body = text[head.end():]
    marks = list(_ASSISTANT.finditer(body))
    if not marks:
        return body.strip(), None
    # The last marker: adversarial prompts sometimes contain a fake dialogue of their own.
    prompt, response = body[:marks[-1].start()].strip(), body[marks[-1].end():].strip()
    return prompt, None if response in ("", _NO_RESPONSE) else response


def parse_answers(output: Any, where: Where) -> dict[str, Any]:
    """The three labels from the final 'Answers:' block (or the per-task '## Answer' lines)."""
    if not isinstance(output, str) or not output.strip():
        raise where.error(f"expected the reasoning ending in an 'Answers:' block, got {describe(output)}",
                          field="output")
    blocks = list(_ANSWERS.finditer(output))
    if blocks:
        tail = output[blocks[-1].end():]
        found = {column: regex.search(tail) for column, regex in _ANSWER_LINES.items()}
        if not any(found.values()):
            raise where.error("the 'Answers:' block has no 'Request:', 'Completion:' or 'Response:' line",
                              field="output")
        return {column: _label(m.group(1)) if m else None for column, m in found.items()}
    by_task = {m.group(1): m.group(2) for m in _TASK_ANSWER.finditer(output)}
    if not by_task:
        raise where.error("no 'Answers:' block (Request: ... / Completion: ... / Response: ...) at the end",
                          field="output")
    return {column: _label(by_task.get(task)) for task, column in zip("123", LABEL_COLUMNS)}


# ---- GuardReasoner benchmark files ----

TASK_COLUMNS = BENCHMARK_TASK_COLUMNS
TASKS = tuple(TASK_COLUMNS)
ALL_TASKS = "all"
# GuardReasoner data/benchmark/0_<k>_<name>.json -> the task its gold label belongs to.
BENCHMARKS = {
    "SimpleSafetyTests": "prompt", "AegisSafetyTest": "prompt", "OpenAIModeration": "prompt",
    "harmbench_prompt": "prompt", "wild_guard_test": ALL_TASKS, "harmbench_response": "response",
    "xstest_response_harmful": "response", "xstest_response_refusal": "refusal", "toxic_chat": "prompt",
    "safe_rlhf": "response", "beaver_tails": "response",
}
_COPY_SUFFIX = re.compile(r"[ _-]*\(\d+\)$")  # "0_8_toxic_chat (1).json", as a browser saves a second download
_ONE_WORD = re.compile(r"[A-Za-z_-]+")
_CHOICES = {"prompt": "harmful/unharmful", "response": "harmful/unharmful", "refusal": "refusal/compliance"}


def benchmark_task(path: Path) -> str | None:
    """The task of a published benchmark file, from its name (0_1_AegisSafetyTest.json -> prompt); None if unknown.

    The stem must end with a published name, after the start or a non-alphanumeric character, so
    0_5_harmbench_response.json and harmbench_response.json are known and my_harmbench_response2.json is not.
    """
    stem = _COPY_SUFFIX.sub("", path.stem).lower()
    for name, task in BENCHMARKS.items():
        name = name.lower()
        if stem == name or (stem.endswith(name) and not stem[-len(name) - 1].isalnum()):
            return task
    return None


def _is_guardreasoner(data: dict) -> bool:
    return "input" in data and "output" in data


def benchmark_gold(data: dict, where: Where, task: str) -> tuple[dict[str, Any], dict[str, str]]:
    """{label column: gold or None} for the file's task(s), and the source field of each, for messages.

    Label fields on the record (0_4_wild_guard_test's prompt_harm_label, ...) win; otherwise `output`
    is the bare label, an "Answers:" block (its line for the task; "None" or no line = no gold), or
    empty (no gold).
    """
    columns = [TASK_COLUMNS[t] for t in (TASKS if task == ALL_TASKS else (task,))]
    if any(column in data for column in columns):
        return {column: _label(data.get(column)) for column in columns}, {}
    fields = dict.fromkeys(columns, "output")
    output = data.get("output")
    if output is None or (isinstance(output, str) and output.strip().lower() in _NO_LABEL):
        return dict.fromkeys(columns), fields
    if not isinstance(output, str):
        raise where.error(f"expected the gold label or an 'Answers:' block, got {describe(output)}", field="output")
    blocks = list(_ANSWERS.finditer(output))
    if blocks:
        tail = output[blocks[-1].end():]
        found = {column: _ANSWER_LINES[column].search(tail) for column in columns}
        return {column: _label(m.group(1)) if m else None for column, m in found.items()}, fields
    text = output.strip()
    if not _ONE_WORD.fullmatch(text):
        wanted = "each task's label" if task == ALL_TASKS else f"the {task} task's gold label ({_CHOICES[task]})"
        raise where.error(f"expected {wanted} or an 'Answers:' block, got {describe(output)}", field="output")
    if task == ALL_TASKS:
        raise TaskNeeded(where.error(f"the output is only the label {text!r}, but this benchmark has three tasks and "
                                     "the record no prompt_harm_label / response_harm_label / response_refusal_label "
                                     "fields: say which task the label belongs to", field="output"))
    return {columns[0]: text}, fields


def _benchmark(data: dict, where: Where, task: str) -> tuple[dict, dict[str, str]]:
    prompt, response = split_dialogue(data.get("input"), where)
    gold, fields = benchmark_gold(data, where, task)
    values = {"id": data.get("id"), "prompt": prompt, "response": response, "source": "guardreasoner_benchmark",
              **dict.fromkeys(LABEL_COLUMNS), **gold}
    return values, {"prompt": "input", "response": "input", **fields}


def _only_a_label(output: Any) -> bool:
    return isinstance(output, str) and bool(_ONE_WORD.fullmatch(output.strip()))


def policy_value(value: Any, where: Where, field: str) -> str:
    if isinstance(value, bool):
        return "unsafe" if value else "safe"
    text = str(value).strip().lower() if isinstance(value, (str, int, float)) else None
    if text in _UNSAFE:
        return "unsafe"
    if text in _SAFE:
        return "safe"
    raise where.error(f"expected SAFE/UNSAFE, safe/unsafe, 0/1 or true/false, got {describe(value)}", field=field)


def policy_labels(value: Any, where: Where, field: str) -> dict[str, str] | None:
    """{"policy": "safe"|"unsafe"} from a dict, JSON text, or seed 000's list of violated policies."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    value = parse_json_text(value, where, field)
    if isinstance(value, list):
        violated = [str(v).strip().lower() for v in value]
        return {p: "unsafe" if p in violated else "safe" for p in dict.fromkeys([*SEED_POLICIES, *violated])}
    if isinstance(value, dict):
        return {str(policy).strip().lower(): policy_value(label, where, f"{field}.{policy}")
                for policy, label in value.items() if label is not None}
    raise where.error(f"expected per-policy labels as an object or a list, got {describe(value)}", field=field)


class TaskNeeded(OptionNeeded):
    """A benchmark file whose label's task neither the user nor the file name gave (the import option `task`)."""

    HINT = "(the import's task: prompt, response or refusal)"

    def __init__(self, error: DataError):
        super().__init__(error, "task", self.HINT)

    def __reduce__(self):
        return type(self), (self.error,)


def _guardreasoner(data: dict, where: Where) -> tuple[dict, dict[str, str]]:
    if _only_a_label(data.get("output")):
        raise TaskNeeded(where.error(f"the output is only a label ({data['output'].strip()!r}), as in GuardReasoner's "
                                     "benchmark files, and the file name is not one of the published benchmark names "
                                     "(0_1_AegisSafetyTest, ...): say which task the label belongs to", field="output"))
    prompt, response = split_dialogue(data.get("input"), where)
    values = {"id": data.get("id"), "prompt": prompt, "response": response, "source": "guardreasoner",
              **parse_answers(data.get("output"), where)}
    fields = {"prompt": "input", "response": "input", **{c: "output" for c in LABEL_COLUMNS}}
    return values, fields


def _sample(data: dict, where: Where) -> tuple[dict, dict[str, str]]:
    """WildGuardMix rows and seed 000 samples: the same fields, plus per-policy labels for the latter."""
    policy_field = next((f for f in POLICY_FIELDS if data.get(f) not in (None, "")), None)
    from_content = data.get("prompt") is None and "content" in data
    subcategory = data.get("subcategory")
    source = data.get("source")
    if subcategory is None and isinstance(source, str) and source.startswith(_SEED_SOURCE):
        subcategory = source[len(_SEED_SOURCE):]
    values = {
        "id": data.get("id"),
        "prompt": data.get("content") if from_content else data.get("prompt"),
        "response": _label(data.get("response")),
        **{column: _label(data.get(column)) for column in LABEL_COLUMNS},
        "subcategory": subcategory,
        "adversarial": data.get("adversarial"),
        "policy_labels": policy_labels(data[policy_field], where, policy_field) if policy_field else None,
        "source": "policy" if policy_field or "content" in data else "wildguard",
    }
    return values, {"prompt": "content"} if from_content else {}


def _parse(data: dict, where: Where) -> tuple[dict, dict[str, str]]:
    if "input" in data and "output" in data:
        return _guardreasoner(data, where)
    if "prompt" in data or "content" in data:
        return _sample(data, where)
    keys = ", ".join(list(data)[:12])
    raise where.error("cannot tell the layout: expected 'prompt' (WildGuardMix), 'input' and 'output' "
                      f"(GuardReasoner) or 'content' with policy labels (seed 000); the record has: {keys}")


def _trace_labels(traces: Any, samples: int, name: str) -> dict[int, dict[str, str]]:
    """Per-sample policy labels from seed 000's reasoning_traces {"sample_<index>_<policy>": {...}}."""
    if not isinstance(traces, dict):
        raise DataError(f"expected an object keyed sample_<index>_<policy>, got {describe(traces)}",
                        file=name, field="reasoning_traces")
    labels: dict[int, dict[str, str]] = {}
    for key, trace in traces.items():
        field = f"reasoning_traces.{key}"
        match = _TRACE_KEY.match(key)
        if match is None:
            raise DataError("expected a key like sample_<index>_<policy>", file=name, field=field)
        index = int(match.group(1))
        if index >= samples:
            raise DataError(f"refers to sample {index}, but there are {samples} samples (numbered from 0)",
                            file=name, field=field)
        classification = trace.get("classification") if isinstance(trace, dict) else None
        if classification is None or classification == "":
            continue  # the teacher gave no verdict for this policy: leave it unlabelled
        where = Where(name, index + 1)
        labels.setdefault(index, {})[match.group(2).lower()] = policy_value(
            classification, where, f"{field}.classification")
    return labels


def _read_training_data(run: ImportRun, path: Path, name: str, mapping: dict[str, str]) -> None:
    document = load_json_document(path)
    samples = document.get("samples") if isinstance(document, dict) else None
    if not isinstance(samples, list):
        raise DataError('expected a JSON list of records, or seed 000\'s {"samples": [...], "reasoning_traces": '
                        '{...}}', file=name, field="samples")
    if not samples:
        raise DataError("the file has no samples", file=name, field="samples")
    trace_labels = _trace_labels(document.get("reasoning_traces") or {}, len(samples), name)
    for index, sample in enumerate(samples):
        where = Where(name, index + 1)
        if not isinstance(sample, dict):
            raise where.error(f"expected a JSON object, got {describe(sample)}", field="samples")
        values, fields = _sample(apply_mapping(sample, mapping), where)
        if index in trace_labels:
            values["policy_labels"] = {**(values["policy_labels"] or {}), **trace_labels[index]}
            values["source"] = "policy"
        run.count("layouts", values["source"])
        run.add(values, where, default_id=f"{path.stem}-{index + 1}", fields=fields)


def read(run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
    requested = run.options.get("task")
    for path in expand_paths(paths):
        name = run.add_source(path)
        task = requested or benchmark_task(path)
        if file_format(path) == "json" and json_top_level(path) == "{":
            if requested:
                raise DataError(f"the task {requested!r} applies to GuardReasoner benchmark files (a JSON list of "
                                "{instruction, input, output}); this is seed 000's training_data.json layout", file=name)
            _read_training_data(run, path, name, mapping)
            continue
        stats = None
        for record in iter_records(path, name):
            data = apply_mapping(record.data, mapping)
            if task and _is_guardreasoner(data):
                values, fields = _benchmark(data, record.where, task)
                if stats is None:
                    stats = run.extra_summary.setdefault("benchmarks", {})[name] = {
                        "task": task, "inferred": not requested, "rows": 0, "without_gold": 0}
                stats["rows"] += 1
                stats["without_gold"] += all(values[c] is None for c in LABEL_COLUMNS)
            elif requested:
                keys = ", ".join(list(data)[:12])
                raise record.where.error(f"the task {requested!r} applies to GuardReasoner benchmark records "
                                         f"({{instruction, input, output}}); this record has: {keys}")
            else:
                values, fields = _parse(data, record.where)
            run.count("layouts", values["source"])
            run.add(values, record.where, default_id=f"{path.stem}-{record.where.row}", fields=fields)
