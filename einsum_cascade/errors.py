"""User-facing errors: one line naming the file, the line or key, and what is wrong."""

from __future__ import annotations

import difflib


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


def unknown_name(what: str, name: str, names, listing: str | None = None, aliases=()) -> str:
    """"no <what> named 'x' (did you mean 'y'?); <listing>: a, b, c": names resolve exactly (or by a declared
    alias); a near miss is only ever a suggestion, never a silent pick. `aliases`: other names that resolve,
    suggested but not listed."""
    names = [str(n) for n in names]
    hint = did_you_mean(name, [*names, *aliases])
    return f"no {what} named {name!r}{hint}; {listing or what + 's'}: {', '.join(names)}"


def did_you_mean(name: str, names) -> str:
    """" (did you mean 'y'?)" for the one of `names` nearest to `name` (ignoring case; of the near ones, one that
    extends or shortens it first: A100-SXM4 -> a100-sxm4-80gb, not h100-sxm), or "" if none is near."""
    folded: dict[str, str] = {}
    for n in names:
        folded.setdefault(str(n).lower(), str(n))
    wanted = str(name).strip().lower()
    close = difflib.get_close_matches(wanted, list(folded), n=max(len(folded), 1), cutoff=0.75)  # nearest first
    if not close:
        return ""
    best = next((c for c in close if c.startswith(wanted) or wanted.startswith(c)), close[0])
    return f" (did you mean {folded[best]!r}?)"
