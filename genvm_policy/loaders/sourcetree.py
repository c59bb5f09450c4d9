"""The tree every source file loads to: its type, its limits and their errors.

Spec: docs/SPEC.md §5.1 (Source files). Shared by the YAML reader
(`genvm_policy.loaders.yamlsource`) and the JSON and TOML readers
(`genvm_policy.loaders.sources`), which re-exports the public names: import them from
there. Both readers import this module and it imports neither, so each limit
is written once and there is no import cycle.

Rules:
1. A loaded document is a `Document`: maps with text keys, lists, text,
   `NumberText`, booleans and null.
2. Maps and lists nest at most `MAX_DEPTH` deep (`SRC_DEPTH`). A document
   holds at most `MAX_VALUES` values, map keys included, counted by a
   `Budget` while it is parsed (`SRC_TOO_LARGE` at `$`).
3. `NaN` and infinities, in any spelling, are `SRC_NUMBER` (`not_finite`).
"""

from __future__ import annotations

from genvm_policy.core.errors import Path as ErrorPath
from genvm_policy.core.errors import PolicyError, quote

__all__ = ["MAX_DEPTH", "MAX_VALUES", "Budget", "Document", "not_finite"]

Document = dict[str, "Document"] | list["Document"] | str | bool | None
"""A loaded file: maps with text keys, lists, text, `NumberText`, booleans, null."""

MAX_DEPTH = 64
# Values (map keys included) in one document: a 10,000-route node config or
# overlay holds about 200,000; the budget bounds the parse time of hostile files.
MAX_VALUES = 500_000


class Budget:
    """Counts the values of one document against `MAX_VALUES`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.left = MAX_VALUES

    def spend(self, n: int) -> None:
        """Count `n` more values; `SRC_TOO_LARGE` once the document holds too many."""
        self.left -= n
        if self.left < 0:
            raise _too_many(self.what)


def _too_many(what: str) -> PolicyError:
    return PolicyError(
        "SRC_TOO_LARGE",
        (),
        f"{what} holds more than {MAX_VALUES} values",
        "a node config or overlay for 10,000 routes holds about 200,000",
    )


def not_finite(text: str, path: ErrorPath) -> PolicyError:
    """The `SRC_NUMBER` error for a NaN or infinity token `text` at `path`."""
    return PolicyError("SRC_NUMBER", path, f"{quote(text, 64)} is not a finite number")
