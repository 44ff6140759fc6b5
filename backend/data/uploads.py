"""Files uploaded through the dashboard land in state/uploads/<batch>/ and are imported from there.

`import_upload` is the Data page's Import with uploaded files, as one backend call: it saves every
file (a .zip is unpacked), lays the files out as the recipe's importer expects and imports them;
on any error the batch folder is removed, so a failed upload leaves nothing behind.

Names. Loose uploads keep their names (Unicode, apostrophes and commas included: MSRS doc ids are
file names), cleaned of path separators, control characters and leading dots. Zip entries keep their
folders, but an entry that is absolute, climbs out with '..', is a link or is encrypted refuses the
whole zip (no zip-slip); hidden entries (.DS_Store, __MACOSX/) are skipped. Sizes: each uploaded file
and the unpacked total stay under FTLAB_MAX_UPLOAD_MB, counted on the bytes actually written.

Layouts. A recipe whose importer reads a corpus folder (`Importer.corpus`, e.g. RAFT's MSRS story
folder): the one folder holding documents/ is the corpus; loose .txt files (uploaded, or at the top
of a zip) go into documents/, loose index files (queries_*.json) next to it. Other recipes: every
data file (.jsonl, .json, .csv, .tsv, .parquet) in the upload, in name order.
"""
from __future__ import annotations

import re
import shutil
import stat
import uuid
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterable

from backend import config
from backend.config import state_path
from backend.errors import LabError
from backend.formats.files import FORMATS, SUPPORTED_EXTENSIONS
from backend.recipes import get_recipe
from backend.recipes.importing import CorpusUpload

MAX_ZIP_ENTRIES = 50_000
MAX_NAME_BYTES = 255
MAX_DEPTH = 16
CHUNK = 1 << 20
_ZIP_UTF8_FLAG = 0x800


def max_upload_bytes() -> int:
    """FTLAB_MAX_UPLOAD_MB sets the limit a saved upload may not pass (default 1024 MB)."""
    return config.max_upload_mb() * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_filename(name: str) -> str:
    """Keep the base name only, with a conservative alphabet; never '..', never empty."""
    base = Path(str(name).replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "upload"
    return cleaned[:128]


def new_upload_dir() -> Path:
    path = state_path("uploads") / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    return path


def _limit_error(name: str, max_bytes: int) -> LabError:
    return LabError(f"{name}: larger than the upload limit of {max_bytes / (1 << 20):g} MB (FTLAB_MAX_UPLOAD_MB)")


def _copy(stream: BinaryIO, target: Path, max_bytes: int, too_big: LabError) -> int:
    """Copy a stream to `target`, raising `too_big` (and removing the file) past max_bytes; the bytes written."""
    written = 0
    try:
        with open(target, "xb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise too_big
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


def _total_error(limit: int) -> LabError:
    return LabError(f"the upload, unpacked, is larger than the upload limit of {limit / (1 << 20):g} MB "
                    "(FTLAB_MAX_UPLOAD_MB)")


def save_upload(folder: Path, name: str, stream: BinaryIO, max_bytes: int | None = None) -> Path:
    """Copy an uploaded stream into `folder` under a safe name; refuse files over the limit, leaving nothing."""
    max_bytes = max_upload_bytes() if max_bytes is None else max_bytes
    target = folder / safe_filename(name)
    if target.resolve().parent != folder.resolve():  # cannot happen with safe_filename; refuse loudly if it does
        raise LabError(f"{name}: refused, the name would leave the upload folder")
    written = 0
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise _limit_error(name, max_bytes)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


# ---- names ----

def _parts(name: str, what: str) -> list[str]:
    """A relative path's parts; refuses absolute paths, drive letters, '..' and over-long names."""
    text = str(name).replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise LabError(f"{what}: refused, {name!r} is an absolute path (it would leave the upload folder)")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LabError(f"{what}: refused, {name!r} climbs out with '..' (it would leave the upload folder)")
    if not parts:
        raise LabError(f"{what}: refused, {name!r} has no file name")
    if len(parts) > MAX_DEPTH:
        raise LabError(f"{what}: refused, {name!r} is nested more than {MAX_DEPTH} folders deep")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise LabError(f"{what}: refused, the name {part[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
    return [_CONTROL.sub("_", p) for p in parts]


def keep_filename(name: str) -> str:
    """An uploaded file's own name, kept as it is (Unicode, apostrophes, commas) but never hidden or a path."""
    base = _CONTROL.sub("_", str(name).replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".").strip()
    if not base:
        return "upload"
    while len(base.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = base.rpartition(".")
        base = (stem[:-1] + dot + suffix) if dot and stem else base[:-1]
    return base


def _inside(folder: Path, target: Path, what: str) -> Path:
    if not target.resolve().is_relative_to(folder.resolve()):
        raise LabError(f"{what}: refused, it would leave the upload folder")
    return target



def _new_target(folder: Path, parts: list[str], corpus: CorpusUpload | None, what: str) -> Path:
    """Where one uploaded file goes (a corpus's loose documents under documents/), its parent made; refused if it
    would leave the folder or land on a file already saved."""
    if corpus and len(parts) == 1 and parts[0].lower().endswith(corpus.suffix):
        parts = [corpus.documents, parts[0]]
    target = _inside(folder, folder.joinpath(*parts), what)
    if target.exists():
        raise LabError(f"{what}: two uploaded files would both be saved as {'/'.join(parts)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


# ---- zip ----

def _member_name(info: zipfile.ZipInfo) -> str:
    """The entry's name; zips without the UTF-8 flag whose cp437 name is really UTF-8 (common) are read as UTF-8."""
    if info.flag_bits & _ZIP_UTF8_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _extract_zip(path: Path, label: str, folder: Path, corpus: CorpusUpload | None, budget: list[int],
                 limit: int) -> None:
    """Unpack a saved zip into `folder`; `budget` holds the bytes the whole upload may still write."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LabError(f"{label}: not a readable zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise LabError(f"{label}: {len(infos):,} entries, more than the {MAX_ZIP_ENTRIES:,} a zip may hold here")
        for info in infos:
            name = _member_name(info)
            what = f"{label}: entry {name!r}"
            parts = _parts(name, what)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise LabError(f"{what}: refused, it is a symbolic link")
            if info.is_dir() or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                continue
            if info.flag_bits & 0x1:
                raise LabError(f"{what}: the zip is encrypted; upload an unencrypted zip")
            target = _new_target(folder, parts, corpus, what)
            try:
                with archive.open(info) as source:
                    budget[0] -= _copy(source, target, budget[0], _total_error(limit))
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise LabError(f"{what}: cannot be unpacked ({exc})") from None


# ---- layouts ----

def _data_files(folder: Path) -> list[Path]:
    files = sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise LabError(f"the upload holds no data files ({SUPPORTED_EXTENSIONS})")
    return files


def _corpus(folder: Path, layout: CorpusUpload) -> list[Path]:
    """The one folder holding documents/; loose index files (queries_*.json) at the top move next to it."""
    found = sorted({p.parent for p in folder.rglob(layout.documents)
                    if p.is_dir() and any(p.glob(f"*{layout.suffix}"))})
    if not found:
        raise LabError(f"the upload holds no {layout.documents}/*{layout.suffix}: {layout.missing_hint}")
    if len(found) > 1:
        shown = ", ".join(p.relative_to(folder).as_posix() or "." for p in found)
        raise LabError(f"the upload holds several corpora ({shown}); upload one at a time")
    corpus = found[0]
    if corpus != folder and not any(layout.index_files.match(p.name) for p in corpus.iterdir()):
        for loose in [p for p in folder.iterdir() if p.is_file() and layout.index_files.match(p.name)]:
            loose.replace(corpus / loose.name)
    return [corpus]


def stage_upload(folder: Path, recipe: str, files: Iterable[tuple[str, BinaryIO]]) -> list[Path]:
    """Save uploads into `folder` (zips unpacked, names checked) and return the paths to import."""
    importer = get_recipe(recipe).importer
    corpus = importer.corpus if importer else None
    limit = max_upload_bytes()
    budget = [limit]
    for upload_name, stream in files:
        label = keep_filename(upload_name)
        if label.lower().endswith(".zip"):
            archive = folder / f".upload-{uuid.uuid4().hex[:8]}.zip"
            _copy(stream, archive, limit, _limit_error(label, limit))
            try:
                _extract_zip(archive, label, folder, corpus, budget, limit)
            finally:
                archive.unlink(missing_ok=True)
            continue
        name = str(upload_name).replace("\\", "/")
        if name.startswith("/") or _DRIVE.match(name):  # an old browser's full client path: its base name
            name = name.rsplit("/", 1)[-1]
        parts = [keep_filename(p) for p in _parts(name, label)]
        target = _new_target(folder, parts, corpus, label)
        too_big = _limit_error(label, limit) if budget[0] >= limit else _total_error(limit)
        budget[0] -= _copy(stream, target, min(limit, budget[0]), too_big)
    return _corpus(folder, corpus) if corpus else _data_files(folder)


def import_upload(recipe: str, name: str, files: Iterable[tuple[str, BinaryIO]], *, on_bad_label: str = "error",
                  mapping: dict[str, str] | None = None, description: str | None = None, **options: str | None):
    """Import uploaded files ((name, stream) pairs: loose files, or .zip archives) as a new version of `name`.

    One call for the Data page: save into a new upload folder, lay out for the recipe, import with
    `import_dataset` (`options`: the recipe's import options, e.g. task="prompt"); on any error the
    upload folder is removed and the error is raised as it was.
    """
    from backend.data.importers import import_dataset
    from backend.data.store import validate_name

    files = list(files)
    if not files:
        raise LabError("no files uploaded")
    spec = get_recipe(recipe)
    validate_name(name)
    folder = new_upload_dir()
    try:
        paths = stage_upload(folder, spec.name, files)
        return import_dataset(spec.name, name, paths, on_bad_label=on_bad_label, mapping=mapping,
                              description=description, **options)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
