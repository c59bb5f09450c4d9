"""Every runtime the suite runs in, declared once, with what each one is.

Spec: docs/VECTORS.md ("Runtimes") and STYLE 11 (one suite, parametrised over
runtimes). A test asks for the `runtime` fixture (tests/conftest.py), which runs it
once per runtime; `@pytest.mark.runtimes(...)` narrows the list by kind, and
`names(...)` gives the same list to a test that loops or builds states itself.

Kinds: `reference` is the Python core; `lupa` a sandboxed in-process `lupa` state;
`process` a long-lived interpreter on framed pipes (Debian's stand-alone `lua5.3`,
and the mlua host, GenVM's own embedding). `lua53` marks every runtime that is
Lua 5.3, the version GenVM embeds; `cargo` the one built from this checkout with
cargo, which a wheel does not carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genvm_policy.node.runtimes import FramedState, mlua_state, standalone_state

__all__ = [
    "ALIASES",
    "KINDS",
    "RUNTIMES",
    "STANDALONE_INTERPRETERS",
    "Runtime",
    "names",
    "runtime",
]


@dataclass(frozen=True)
class Runtime:
    """One runtime: its name on the command line, its kinds, how a driver process starts."""

    name: str
    kinds: frozenset[str]
    start: Callable[[bytes], FramedState] | None = None
    """For a `process` runtime: a fresh process running the driver chunk it is given."""


KINDS = frozenset({"reference", "lua", "lupa", "process", "lua53", "cargo"})

RUNTIMES = (
    Runtime("python", frozenset({"reference"})),
    Runtime("lua53", frozenset({"lua", "lupa", "lua53"})),
    Runtime("lua54", frozenset({"lua", "lupa"})),
    Runtime("lua-standalone", frozenset({"lua", "process", "lua53"}), standalone_state),
    Runtime("mlua", frozenset({"lua", "process", "lua53", "cargo"}), mlua_state),
)
"""In the order `vectors verify --runtime all` runs them."""

ALIASES = {"lua": "lua53"}
"""Command-line names that stand for another runtime."""

STANDALONE_INTERPRETERS = ("lua5.3", "lua5.4")
"""Debian's interpreters, for the scripts that run stand-alone (self-test, probes)."""


def names(*kinds: str, every: bool = False, without: tuple[str, ...] = ()) -> list[str]:
    """The runtimes in any of `kinds` (all when none) and in none of `without`, in order.

    With `every`, a runtime must be in all of `kinds` instead of any of them.
    """
    unknown = (set(kinds) | set(without)) - KINDS
    assert not unknown, f"unknown runtime kinds {sorted(unknown)}"
    test = all if every else any
    return [
        r.name
        for r in RUNTIMES
        if (not kinds or test(k in r.kinds for k in kinds)) and not r.kinds & set(without)
    ]


def runtime(name: str) -> Runtime:
    """The declared runtime called `name`."""
    found = [r for r in RUNTIMES if r.name == name]
    assert found, f"no runtime `{name}` is declared"
    return found[0]
