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
