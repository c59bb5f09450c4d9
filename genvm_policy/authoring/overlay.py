"""The operator's overlay: facts GenVM's LLM config lacks, checked strictly.

Spec: docs/SPEC.md §5.4 (Overlay).

Rules:
1. The overlay is a map with `version: 1`, optional `tiers` (low to high,
   default `basic, standard, premium`), `default_tier`, `fields` (operator
   fields: `{name: {scale, min, max}}`), `models` (facts per model id) and
   `routes` (facts per provider, then model id). Unknown keys are
   `OVL_UNKNOWN_FIELD`, wrong types `OVL_TYPE`, missing keys `OVL_MISSING`,
   each at its path; a pydantic error never escapes.
2. Facts are `price_in`, `price_out` (decimal, scale 6, 0 … MAX), `context`
   (count, 1 … MAX), `tier` (a declared tier), `family` (text), `has_tee`,
   `no_log` (booleans) and `fields` (declared fields only, within bounds).
   Numbers arrive as number tokens or decimal text and convert exactly (§1).
3. Tier and field names are 1 … 32 lower-case ASCII characters; a field name
   is not a built-in fact name. At most 16 tiers and 32 fields.
4. Checks run in document order of the keys above, so the first error found
   is the same on every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from genvm_policy.core.catalog import FieldDecl
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX, MAX_SCALE, SCALES, NumberText, to_int

__all__ = [
    "BUILTIN_FACTS",
    "DEFAULT_TIERS",
    "Facts",
    "FieldDecl",
    "Overlay",
    "parse_overlay",
]

DEFAULT_TIERS: tuple[str, ...] = ("basic", "standard", "premium")
BUILTIN_FACTS: frozenset[str] = frozenset(
    "provider model kind json image max_completion_tokens greybox_text greybox_image priority "
    # The last three are request facts a policy compares like fields (SPEC §7.2).
    "family tier price_in price_out context has_tee no_log fields "
    "prompt_bytes images max_tokens".split()
)
MAX_TIERS = 16
MAX_FIELDS = 32
_TIER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_V = TypeVar("_V")


@dataclass(frozen=True)
class Facts:
    """One overlay entry after checking; `None` means the entry does not set it."""

    price_in: int | None = None
    price_out: int | None = None
    context: int | None = None
    tier: str | None = None
    family: str | None = None
    has_tee: bool | None = None
    no_log: bool | None = None
    fields: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Overlay:
    """A checked overlay; `models` and `routes` keep their keys' bytes order."""

    tiers: tuple[str, ...] = DEFAULT_TIERS
    default_tier: str | None = None
    fields: tuple[FieldDecl, ...] = ()
    models: tuple[tuple[str, Facts], ...] = ()
    routes: tuple[tuple[str, str, Facts], ...] = ()


# -- the schema (pydantic, strict) -------------------------------------------


def _text_only(value: object) -> object:
    # A number token is a `str` subclass; strict `str` would take it as text.
    if isinstance(value, NumberText):
        raise PydanticCustomError("text_type", "a number where text is expected")
    return value


Text = Annotated[str, BeforeValidator(_text_only)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _FieldSpec(_Strict):
    scale: object = 0
    min: object
    max: object


class _Facts(_Strict):
    price_in: object = None
    price_out: object = None
    context: object = None
    tier: Text | None = None
    family: Text | None = None
    has_tee: bool | None = None
    no_log: bool | None = None
    fields: dict[str, object] = {}


class _Document(_Strict):
    version: object = None
    tiers: list[Text] | None = None
    default_tier: Text | None = None
    fields: dict[str, _FieldSpec] = {}
    models: dict[str, _Facts] = {}
    routes: dict[str, dict[str, _Facts]] = {}


_EXPECTED = {
    "string_type": "text",
    "text_type": "text",
    "bool_type": "`true` or `false`",
    "dict_type": "a map",
    "model_type": "a map",
    "list_type": "a list",
}


def _from_pydantic(err: ValidationError) -> PolicyError:
    first = err.errors()[0]
    path: Path = tuple(seg for seg in first["loc"] if isinstance(seg, str | int))
    kind = first["type"]
    if kind == "extra_forbidden":
        return PolicyError(
            "OVL_UNKNOWN_FIELD",
            path,
            f"unknown key `{path[-1]}`",
            "check the spelling against the overlay keys in docs/SPEC.md §5.4",
        )
    if kind == "missing":
        return PolicyError("OVL_MISSING", path, f"missing key `{path[-1]}`")
    expected = _EXPECTED.get(kind, "another kind of value")
    return PolicyError("OVL_TYPE", path, f"expected {expected} here")


# -- checking ------------------------------------------------------------------


def parse_overlay(document: object) -> Overlay:
    """Check a loaded overlay document (rules 1 to 4) and return its resolved facts."""
    try:
        doc = _Document.model_validate(document)
    except ValidationError as err:
        raise _from_pydantic(err) from None
    if not (doc.version == 1 or (isinstance(doc.version, NumberText) and doc.version == "1")):
        raise PolicyError(
            "OVL_VERSION",
            ("version",),
            "the overlay must say `version: 1`",
            "put `version: 1` at the top of the overlay",
        )
    tiers = DEFAULT_TIERS if doc.tiers is None else tuple(doc.tiers)
    _check_names(tiers, ("tiers",), _TIER_NAME, MAX_TIERS, "tier")
    if doc.default_tier is not None:
        _check_tier(doc.default_tier, tiers, ("default_tier",))
    fields = _field_decls(doc.fields)
    decls = {decl.name: decl for decl in fields}
    models = tuple(
        (model, _facts(facts, ("models", model), tiers, decls))
        for model, facts in _bytes_sorted(doc.models)
    )
    routes = tuple(
        (provider, model, _facts(facts, ("routes", provider, model), tiers, decls))
        for provider, served in _bytes_sorted(doc.routes)
        for model, facts in _bytes_sorted(served)
    )
    return Overlay(tiers, doc.default_tier, fields, models, routes)


def _bytes_sorted(entries: Mapping[str, _V]) -> list[tuple[str, _V]]:
    return sorted(entries.items(), key=lambda item: item[0].encode("utf-8"))


def _check_names(
    names: tuple[str, ...], path: Path, pattern: re.Pattern[str], most: int, what: str
) -> None:
    if not 1 <= len(names) <= most:
        raise PolicyError("OVL_NAME", path, f"give 1 … {most} {what} names")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not pattern.fullmatch(name):
            raise PolicyError(
                "OVL_NAME",
                (*path, i),
                f"{what} name `{name}` is not allowed",
                "use 1 … 32 lower-case letters, digits, `_` (and `-` for tiers)",
            )
        if name in seen:
            raise PolicyError("OVL_NAME", (*path, i), f"{what} `{name}` is declared twice")
        seen.add(name)


def _check_tier(tier: str, tiers: tuple[str, ...], path: Path) -> None:
    if tier not in tiers:
        raise PolicyError(
            "OVL_TIER",
            path,
            f"tier `{tier}` is not declared",
            "declared tiers: " + ", ".join(tiers),
        )


def _field_decls(specs: Mapping[str, _FieldSpec]) -> tuple[FieldDecl, ...]:
    if len(specs) > MAX_FIELDS:
        raise PolicyError("OVL_NAME", ("fields",), f"more than {MAX_FIELDS} fields are declared")
    decls = []
    for name, spec in _bytes_sorted(specs):
        path: Path = ("fields", name)
        if not _FIELD_NAME.fullmatch(name) or name in BUILTIN_FACTS:
            raise PolicyError(
                "OVL_NAME",
                path,
                f"field name `{name}` is not allowed",
                "use 1 … 32 lower-case letters, digits and `_`, not a built-in fact name",
            )
        scale = to_int(spec.scale, (*path, "scale"), lo=0, hi=MAX_SCALE)
        lo = to_int(spec.min, (*path, "min"), scale=scale)
        hi = to_int(spec.max, (*path, "max"), scale=scale)
        if lo > hi:
            raise PolicyError("OVL_BOUNDS", path, f"field `{name}` has `min` above `max`")
        decls.append(FieldDecl(name, scale, lo, hi))
    return tuple(decls)


def _facts(
    facts: _Facts, path: Path, tiers: tuple[str, ...], decls: Mapping[str, FieldDecl]
) -> Facts:
    def number(value: object, key: str, kind: str, lo: int) -> int | None:
        if value is None:
            return None
        return to_int(value, (*path, key), scale=SCALES[kind], lo=lo, hi=MAX)

    price_in = number(facts.price_in, "price_in", "price", 0)
    price_out = number(facts.price_out, "price_out", "price", 0)
    context = number(facts.context, "context", "count", 1)
    if facts.tier is not None:
        _check_tier(facts.tier, tiers, (*path, "tier"))
    if facts.family is not None and not facts.family:
        raise PolicyError("OVL_NAME", (*path, "family"), "family name is empty")
    values = []
    for name, value in _bytes_sorted(facts.fields):
        where = (*path, "fields", name)
        decl = decls.get(name)
        if decl is None:
            raise PolicyError(
                "OVL_FIELD",
                where,
                f"field `{name}` is not declared",
                "declare it under the overlay's top-level `fields`",
            )
        values.append((name, to_int(value, where, scale=decl.scale, lo=decl.lo, hi=decl.hi)))
    return Facts(
        price_in=price_in,
        price_out=price_out,
        context=context,
        tier=facts.tier,
        family=facts.family,
        has_tee=facts.has_tee,
        no_log=facts.no_log,
        fields=tuple(values),
    )
