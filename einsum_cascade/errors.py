"""User-facing errors: one line naming the file, the line or key, and what is wrong."""

from __future__ import annotations


class SpecError(Exception):
    """A problem in user input (a cascade, arch, mapping or sweep file). The CLI prints it and exits 2."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None, key: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.key = key
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class SpecErrors(SpecError):
    """Several problems found in one file, reported together (one line each)."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, first.source, first.line, first.key)

    def one_line(self) -> str:  # pragma: no cover - shape of message only
        return "\n".join(e.one_line() for e in getattr(self, "errors", [])) or super().one_line()

    def __str__(self) -> str:
        return "\n".join(e.one_line() for e in self.errors)
