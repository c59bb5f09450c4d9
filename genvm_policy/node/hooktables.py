"""The hook's shared tables, written once from the node layer: the Lua glue's copy.

Spec: docs/HOOK.md (§3 the compiled file, §6 the request and budget, §7 the
stock fallback, §8 the records, §10 stock parity); docs/VECTORS.md ("Commands").
`tables.lua` holds the core's tables; the hook's glue (`hook.lua`, `parity.lua`)
also repeats values the node layer owns: the log messages, the compiled file's
grammar and keys, the public salt, the stock catalog, and what a call keeps of
the line's stock script. `lua_source()` is `dispatch/genvm_policy/hooktables.lua`,
written by the same command (`genvm-policy vectors tables`) with the renderer of
`genvm_policy.vectors.tables`, and checked byte for byte by a test.

Rules:
1. A part is named after the Lua module that reads it (`hook`, `parity`); each
   constant names the Python table it comes from beside it.
2. Only values with a Python source are here: what the glue alone knows (its
   state key, its hashing threshold) stays in the Lua file, with its reason.
"""

from __future__ import annotations

import genvm_policy.node.compile as compiled
from genvm_policy.node import hookmodel, routability
from genvm_policy.vectors.tables import Parts, render

__all__ = ["LUA_PATH", "lua_source"]

LUA_PATH = "dispatch/genvm_policy/hooktables.lua"
"""Where `lua_source()` goes, relative to the checkout."""

_PARTS: Parts = (
    ("hook", (
        ("RECORD_MESSAGE", hookmodel.RECORD_MESSAGE),
        ("FAULT_MESSAGE", hookmodel.FAULT_MESSAGE),
        ("UNROUTABLE_MESSAGE", hookmodel.UNROUTABLE_MESSAGE),
        ("FORMAT", compiled.FORMAT),
        ("SPEC", compiled.SPEC_VERSION),
        # The text before the format number, which the hook reads as digits.
        ("PREFIX", compiled.PREFIX.split(b"%d")[0]),
        ("SUFFIX", compiled.SUFFIX),
        ("KEYS", compiled.KEYS),
        ("IDENTITY_KEYS", compiled.IDENTITY_KEYS),
        ("PUBLIC_SALT", hookmodel.PUBLIC_SALT),
        ("CLASS_SEED", routability.SEED),
        ("STOCK_KIND", hookmodel.STOCK_KIND),
        ("STOCK_TIERS", hookmodel.STOCK_TIERS),
    )),
    ("parity", (
        ("TEMPLATE_KEY", hookmodel.TEMPLATE_KEY),
        ("JSON_INSTRUCTION", hookmodel.JSON_INSTRUCTION),
        ("STOCK_FILTERS", hookmodel.STOCK_FILTERS),
        ("TIMEOUT_FACTOR", hookmodel.TIMEOUT_FACTOR),
        ("TIMEOUT_MICROS", hookmodel.TIMEOUT_MICROS),
        ("STATS_FILE", hookmodel.STATS_FILE),
        ("STATS_TABLE", hookmodel.STATS_TABLE),
        ("STATS_ADD", hookmodel.STATS_ADD),
    )),
)  # fmt: skip  # a table laid out by hand, one part per block

_HEADER = """\
--- The hook's shared tables, generated from the Python node layer: do not edit.
--
-- Spec: docs/HOOK.md. Written by `genvm-policy vectors tables` from the tables of
-- genvm_policy/node/ (genvm_policy/node/hooktables.py says which); change the
-- Python table and run the command again, and a test regenerates this file and
-- compares bytes. Each part is named after the glue module that reads it.

return {
"""


def lua_source() -> str:
    """The text of `dispatch/genvm_policy/hooktables.lua` (rule 1)."""
    return render(_HEADER, _PARTS)
