"""Writing files safely: to a temporary file beside the target, then one atomic rename."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, atomically; numpy values and paths are converted."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    target = Path(path)
    atomic_write_bytes((text + "\n").encode("utf-8"), target)
    return target


def atomic_write_bytes(data: bytes, path: Path) -> None:
    """Write to a unique temp file beside ``path``, fsync, then ``os.replace`` over it.

    Readers see the old file or the new one, never a partial write. The temp file is created with
    the usual 0o666 & ~umask permissions (unlike ``tempfile``, which forces 0o600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
