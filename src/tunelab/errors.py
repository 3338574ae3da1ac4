"""Errors a user can act on. Each says what is wrong and where."""

from __future__ import annotations

from pathlib import Path


class TunelabError(Exception):
    """Base class: an error caused by the user's input, reported without a traceback."""


class ConfigError(TunelabError):
    """An invalid configuration: unknown key, bad value, bad override."""


class ArtifactLoadError(TunelabError):
    """An artifact whose files do not fit together."""


class ModelNotFoundError(TunelabError):
    """A model name that resolves to nothing usable offline."""


class DataError(TunelabError):
    """Bad input data. Names the file, the line (1-based) and the field when they are known."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}{field}{self.message}"


class InputError(TunelabError, ValueError):
    """Input a model cannot take: pairs to a single-text model, a single text to a pair model,
    tokens to a task that reads texts. The service answers it with 422, the CLI with exit 2."""


class OutputError(TunelabError):
    """An output the command will not write: an existing file without --overwrite, an output that
    is one of the inputs, a directory that cannot be written to."""


# errno values that mean "the user's environment", not a bug: reported in one line, exit 2.
_OS_ADVICE: dict[str, str] = {
    "EACCES": "permission denied; check the permissions or choose another path",
    "EPERM": "operation not permitted; check the permissions or choose another path",
    "EROFS": "read-only file system; choose a writable location",
    "ENOSPC": "no space left on the device; free some space or choose another location",
    "EDQUOT": "disk quota exceeded; free some space or choose another location",
    "ENOENT": "no such file or directory; check the path",
    "ENOTDIR": "a part of the path is not a directory; check the path",
    "EISDIR": "is a directory; give a file path",
}
# Without a file name these still say what to do; a missing file without a name is no user's doing.
_NEEDS_PATH = {"ENOENT", "ENOTDIR", "EISDIR"}


def describe_os_error(err: OSError) -> str | None:
    """One line naming the path and what to do for an OSError the user's environment caused
    (permissions, read-only or full disks, a wrong path), else None (a bug: report it)."""
    import errno as errno_module

    name = errno_module.errorcode.get(err.errno or -1, "")
    if name not in _OS_ADVICE:
        return None
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    if name in _NEEDS_PATH and not paths:
        return None
    where = " -> ".join(str(p) for p in paths)
    return f"{where}: {_OS_ADVICE[name]}" if where else _OS_ADVICE[name]
