"""Model families: which routes serve the same model, without an overlay.

Spec: docs/SPEC.md §5.8 (Model families). Core module: text in, text out.
Lua twin: dispatch/genvm_policy/family.lua (same table, same steps); the
`family` vectors replay both, and their `table` case pins the table itself.

Greyboxing's security argument counts model families: two backends serving
the same weights are one target for an adversarial prompt, whatever their
route names. The rule maps a model id to a family name by the steps below,
each driven by one row of `TABLE`.

Rules (applied in this order to `(provider, model)`):
1. Fold case: ASCII `A`–`Z` become `a`–`z`; other characters are kept (so the
   runtimes agree without a Unicode case table).
2. A `:tag` ending whose tag is in `TABLE["tags"]` (`:free`, `:latest`, …) is
   removed, once.
3. A router whose model is unknown (`TABLE["routers"]`, such as
   `openrouter/auto`) has the family `unknown` (`UNKNOWN`). The name is
   looked up here and again after rule 5.
4. The provider's own prefix (`<provider>/`, case folded) is removed when
   something follows it.
5. One known vendor prefix (`<vendor>/`, `TABLE["vendors"]`) is removed when
   something follows it.
6. `@` becomes `-` (a snapshot written `model@20251001`); the name is split at
   every `-` into segments.
7. While more than one segment is left, trailing date stamps are removed:
   an 8-digit segment starting `20` (`20251001`), three segments of 4, 2 and 2
   digits with the first starting `20` (`2024-07-18`, only when a segment is
   left before them), or a 4-digit segment (`2411`, `0613`); and so are
   trailing packaging segments of `TABLE["suffixes"]` (`instruct`, `latest`, …).
8. Version separators: a segment of 1 or 2 digits after the first segment,
   followed by a segment of 1 or 2 digits, is joined to it with `.` (so `4-5`
   is `4.5`); the scan goes on after the joined pair.
9. The segments joined with `-` are the family; when that is empty (a name
   such as `-bf16`), the family is the name as it stood after rule 5.
"""

from __future__ import annotations

import re

__all__ = ["TABLE", "UNKNOWN", "family_of"]

UNKNOWN = "unknown"
"""The family of a router whose model is unknown: the worst case for diversity."""

TABLE: dict[str, tuple[str, ...]] = {
    # Model makers whose name prefixes a model id on gateways and inference hosts.
    "vendors": (
        "ai21", "amazon", "anthropic", "cohere", "deepseek", "deepseek-ai", "google",
        "meta", "meta-llama", "microsoft", "minimax", "mistralai", "moonshotai", "nvidia",
        "openai", "qwen", "x-ai", "z-ai", "zai-org",
    ),
    # Ids that pick a model per request, so nothing says which family answers.
    "routers": ("auto", "openrouter/auto", "openrouter/auto-router", "switchpoint/router"),
    # `:tag` endings that select a gateway's offer of a model, not another model.
    "tags": ("beta", "extended", "floor", "free", "latest", "nitro", "online", "thinking"),
    # Trailing segments that package a model's weights, not another model.
    "suffixes": ("bf16", "fp8", "hf", "instruct", "it", "latest", "turbo"),
}  # fmt: skip  # a table laid out by hand in rows
"""The data of rules 2, 3, 5 and 7; each tuple in bytes order."""

_DIGITS = re.compile(r"[0-9]+")


def _digits(segment: str, lo: int, hi: int) -> bool:
    return lo <= len(segment) <= hi and _DIGITS.fullmatch(segment) is not None


def _fold(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _strip_prefix(name: str, prefix: str) -> str:
    if name.startswith(prefix + "/") and len(name) > len(prefix) + 1:
        return name[len(prefix) + 1 :]
    return name


def _is_date(segments: list[str]) -> int:
    """How many trailing segments form a date stamp (rule 7), 0 when none."""
    last = segments[-1]
    if _digits(last, 8, 8) and last.startswith("20"):
        return 1
    if _digits(last, 4, 4):
        return 1
    if (
        len(segments) > 3
        and _digits(segments[-3], 4, 4)
        and segments[-3].startswith("20")
        and _digits(segments[-2], 2, 2)
        and _digits(last, 2, 2)
    ):
        return 3
    return 0


def family_of(provider: str, model: str) -> tuple[str, str]:
    """The family of the route `(provider, model)` and its origin, `rule` or `router`.

    Pure and total: every name gives a non-empty family (rules 1–9).
    """
    name = _fold(model)
    head, colon, tag = name.rpartition(":")
    if colon and head and tag in TABLE["tags"]:
        name = head
    if name in TABLE["routers"]:
        return UNKNOWN, "router"
    name = _strip_prefix(name, _fold(provider))
    vendor, slash, _ = name.partition("/")
    if slash and vendor in TABLE["vendors"]:
        name = _strip_prefix(name, vendor)
    if name in TABLE["routers"]:
        return UNKNOWN, "router"
    segments = name.replace("@", "-").split("-")
    while len(segments) > 1:
        dated = _is_date(segments)
        if dated:
            del segments[-dated:]
        elif segments[-1] in TABLE["suffixes"]:
            del segments[-1]
        else:
            break
    joined: list[str] = []
    i = 0
    while i < len(segments):
        seg = segments[i]
        if (
            i > 0
            and i + 1 < len(segments)
            and _digits(seg, 1, 2)
            and _digits(segments[i + 1], 1, 2)
        ):
            joined.append(seg + "." + segments[i + 1])
            i += 2
        else:
            joined.append(seg)
            i += 1
    return "-".join(joined) or name, "rule"
