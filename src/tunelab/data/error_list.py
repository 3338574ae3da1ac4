"""Every data error of a file at once (up to a cap), instead of one run per error."""

from __future__ import annotations

from tunelab.errors import DataError

MAX_ERRORS = 20
"""How many data errors of one file are reported at once (the rest are counted)."""


class DataErrors(DataError):
    """Several data errors of one file, reported together: one per line, each with file:line and
    field. ``errors`` holds them (at most :data:`MAX_ERRORS`); ``more`` counts those left out."""

    def __init__(self, errors: list[DataError], more: int = 0) -> None:
        self.errors = list(errors)
        self.more = more
        first = self.errors[0]
        total = len(self.errors) + more
        lines = [f"{total} problems in the data:"] + [f"  {error}" for error in self.errors]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines), None, first.line, None)
        self.path = first.path  # where, for code that looks; the message names every file:line itself

    def __str__(self) -> str:
        return self.message


class ErrorCollector:
    """Collect the data errors of a file instead of stopping at the first; :meth:`check` raises
    them: the error itself when there is one (its wording unchanged), else a :class:`DataErrors`."""

    def __init__(self, cap: int = MAX_ERRORS) -> None:
        self.cap = cap
        self.errors: list[DataError] = []
        self.more = 0

    def add(self, error: DataError) -> None:
        if isinstance(error, DataErrors):
            for each in error.errors:
                self.add(each)
            self.more += error.more
        elif len(self.errors) < self.cap:
            self.errors.append(error)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.errors)

    def check(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1 and not self.more:
            raise self.errors[0]
        errors = sorted(self.errors, key=lambda e: (e.path or "", e.line or 0))
        raise DataErrors(errors, self.more)
