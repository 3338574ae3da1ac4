"""Writing files safely: to a temporary file beside the target, then one atomic rename."""

from __future__ import annotations

import json
import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tunelab.errors import OutputError


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically; numpy values and paths are converted."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    target = Path(path)
    atomic_write_bytes((text + "\n").encode("utf-8"), target)
    return target


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", newline: str | None = "", binary: bool = False
) -> Iterator[IO[Any]]:
    """Stream into a temp file beside ``path`` (text, or bytes with ``binary``); on success it is
    fsynced and renamed over ``path``, on any error it is removed and ``path`` is left as it was.
    The temp file gets the usual 0o666 & ~umask permissions (``tempfile`` would force 0o600)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        opened = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with opened as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same inode (links included), or the same resolved path."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return Path(a).resolve() == Path(b).resolve()


def check_output_file(
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    option: str = "-o",
) -> Path:
    """Refuse an output before any work starts: one that is an input (even with --overwrite), an
    existing file without --overwrite, a directory, or a place that cannot be written to."""
    target = Path(path)
    for source in inputs:
        if source is not None and same_file(target, source):
            raise OutputError(
                f"{option} {target} is the input file {source}; writing there would destroy it. "
                "Choose another output path"
            )
    if target.is_dir():
        raise OutputError(f"{option} {target} is a directory; give a file path")
    if target.exists() and not overwrite:
        raise OutputError(f"{option} {target} already exists; pass --overwrite to replace it or choose another path")
    check_writable_dir(target.parent, option=option, what=str(target))
    return target


def check_writable_dir(directory: str | os.PathLike[str], *, option: str = "-o", what: str | None = None) -> None:
    """The nearest existing ancestor of ``directory`` must be a writable directory (new
    directories are created below it)."""
    existing = Path(directory).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    where = what or str(directory)
    if not existing.is_dir():
        raise OutputError(f"{option} {where}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "is on a read-only file system" if _read_only(existing) else "is not writable (permission denied)"
        raise OutputError(f"{option} {where}: the directory {existing} {reason}; choose another location")


def _read_only(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs on this platform
        return False


def safetensors_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a .safetensors file cannot be loaded (empty, truncated, no valid header), or None.

    Reads only the header: 8 bytes of little-endian header length, the JSON header, and checks
    that the file holds every tensor's bytes."""
    file = Path(path)
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{file} is empty or truncated ({size} bytes)"
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return f"{file} is truncated or not a safetensors file (header of {length} bytes in a {size}-byte file)"
            header = json.loads(handle.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
        return f"{file} is damaged: its safetensors header is not valid JSON"
    if not isinstance(header, dict):
        return f"{file} is damaged: its safetensors header is not a JSON object"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return f"{file} is damaged: tensor '{name}' has no valid data offsets"
        end = max(end, offsets[1])
    if 8 + length + end > size:
        return f"{file} is truncated: it holds {size} bytes, its tensors need {8 + length + end}"
    return None


def atomic_write_bytes(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a partial write."""
    with atomic_writer(path, binary=True) as handle:
        handle.write(data)


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
