"""Admission of terms: shapes, predicates and scorers, with interval analysis.

Spec: docs/SPEC.md §7.2 (ops: authored form and term) and §7.4 (admission,
interval analysis). `genvm_policy.authoring.admission` builds on this module for the
selectors, the mutations, the failure plan and the document (`admit`).

Rules:
1. An op is written as its bare name (no arguments) or as a one-entry map
   `{op: argument}`; `{op: {}}` is the bare op. Every op visited counts
   against the term budget and the nesting depth (`LIMITS`, `POL_LIMIT`).
2. Checks run in document order and stop at the first failure, raised as a
   `PolicyError` at the path into the document: shapes (`POL_TYPE`,
   `POL_KEY`), op names (`POL_OP`), sorts (`POL_SORT`), arity (`POL_ARITY`),
   value sets (`POL_VALUE`), integers (`NUM_*`), duplicates
   (`POL_DUPLICATE`); with a catalog also field names (`POL_FIELD`), routes,
   providers and models (`POL_ROUTE`), tiers (`POL_TIER`) and the exactness
   of decimal constants at their field's scale.
3. Interval analysis: each scorer node gets the interval of values it can take
   over routes whose fields lie within their declared bounds; a node whose
   interval, or any intermediate of it, leaves ±MAX is `POL_BOUND`. A `sum`
   is checked as Σ max(|lo|, |hi|) so that every partial sum, in any order,
   stays in range. Binding relies on it (SPEC §8.2): a bound scorer's
   arithmetic cannot leave ±MAX.
4. Decimal constants are kept as `[mantissa, exponent]` with the fewest
   fractional digits and converted to units only at a field's scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX, NumberText, decimal_units, to_int
from genvm_policy.core.policy import (
    BUILTIN_FIELDS,
    FITS_CONTEXT,
    LIMITS,
    OPS,
    REQUEST_FACTS,
    SET_ARGS,
    Term,
)
from genvm_policy.core.request import ENTRIES, FORMATS, ROLES

__all__ = ["Interval", "TermAdmission", "decimal_pair", "split_route"]

# Authored spellings that are sugar for a negated set predicate.
NEGATED = {name.removesuffix("_in") + "_not_in": name for name in SET_ARGS}

Interval = tuple[int, int] | None


def split_route(text: object, path: Path) -> list[str]:
    """`"provider/model"` (split at the first `/`) or `[provider, model]` → `[p, m]`."""
    if isinstance(text, str) and "/" in text:
        provider, model = text.split("/", 1)
        if provider and model:
            return [provider, model]
    if isinstance(text, list) and len(text) == 2 and all(isinstance(t, str) and t for t in text):
        return [text[0], text[1]]
    raise PolicyError(
        "POL_ROUTE",
        path,
        f"`{text}` is not a route",
        "write `provider/model`, e.g. `openrouter/deepseek/deepseek-v3.2`",
    )


def decimal_pair(value: object, path: Path) -> list[int]:
    """A number as `[mantissa, exponent]` with the fewest fractional digits (§7.3)."""
    for scale in range(10):
        try:
            units = to_int(value, path, scale=scale)
        except PolicyError as err:
            if err.code != "NUM_INEXACT":
                raise
            continue
        return [units, -scale]
    raise PolicyError("NUM_INEXACT", path, f"`{value}` has more than 9 fractional digits")


class TermAdmission:
    """One admission run's term checks: the catalog facts and the node budget (rules 1-3)."""

    def __init__(self, catalog: Catalog | None) -> None:
        self.catalog = catalog
        self.nodes = 0
        self.fields: dict[str, tuple[int, int, int]] = dict(BUILTIN_FIELDS)
        if catalog is not None:
            for decl in catalog.fields:
                self.fields[decl.name] = (decl.scale, decl.lo, decl.hi)
            self.routes = {(r.provider, r.model) for r in catalog.routes}
            self.providers = {r.provider for r in catalog.routes}
            self.models = {r.model for r in catalog.routes}

    # -- shapes -------------------------------------------------------------
    def op(self, node: object, path: Path, depth: int) -> tuple[str, object, Path]:
        self.nodes += 1
        if self.nodes > LIMITS["nodes"]:
            raise PolicyError(
                "POL_LIMIT", path, f"the policy has more than {LIMITS['nodes']} terms"
            )
        if depth > LIMITS["depth"]:
            raise PolicyError("POL_LIMIT", path, f"terms nest deeper than {LIMITS['depth']}")
        if isinstance(node, str):
            return node, None, path
        if isinstance(node, Mapping) and len(node) == 1:
            ((name, arg),) = node.items()
            if isinstance(name, str):
                # `{op: {}}` is the bare op, for formats (TOML tables) that cannot
                # mix names and maps in one list.
                empty = isinstance(arg, Mapping) and not arg
                return name, None if empty else arg, (*path, name)
        raise PolicyError(
            "POL_TYPE",
            path,
            "expected an op: a name or a map with one entry",
            "e.g. `json` or `{provider_in: [openrouter]}`",
        )

    def sort_of(self, name: str, want: str, path: Path, have_arg: bool) -> None:
        base = NEGATED.get(name, name)
        if base not in OPS and name != "pin":
            raise PolicyError(
                "POL_OP", path, f"unknown op `{name}`", "see the op table in the spec, section 7"
            )
        sort = "P" if name == "pin" else OPS[base][0]
        if sort != want:
            words = {
                "P": "predicate",
                "S": "scorer",
                "L": "selector",
                "M": "mutation",
                "A": "failure action",
            }
            raise PolicyError("POL_SORT", path, f"`{name}` is a {words[sort]}, not a {words[want]}")
        takes = name == "pin" or bool(OPS[base][1])
        if takes != have_arg:
            # `has_tee: true` reads naturally but is a flag written as a map.
            hint = None if takes else f"write `{name}` alone; for its negation `{{not: {name}}}`"
            says = "an argument" if takes else "no argument"
            raise PolicyError("POL_ARITY", path, f"`{name}` takes {says}", hint)

    def items(self, node: object, path: Path, *, empty: bool = False) -> list[Any]:
        if not isinstance(node, list):
            raise PolicyError("POL_TYPE", path, "expected a list")
        if len(node) > LIMITS["list"]:
            raise PolicyError("POL_LIMIT", path, f"the list has more than {LIMITS['list']} items")
        if not node and not empty:
            raise PolicyError("POL_ARITY", path, "the list must not be empty")
        return node

    def mapping(
        self, node: object, path: Path, keys: tuple[str, ...], required: tuple[str, ...]
    ) -> Mapping[str, Any]:
        if not isinstance(node, Mapping):
            raise PolicyError("POL_TYPE", path, "expected a map")
        for key in sorted(node, key=lambda k: str(k).encode()):
            if key not in keys:
                raise PolicyError(
                    "POL_KEY", (*path, str(key)), f"unknown key `{key}`", "use " + ", ".join(keys)
                )
        for key in required:
            if key not in node:
                raise PolicyError("POL_KEY", path, f"missing key `{key}`")
        return node

    def text(self, node: object, path: Path, allowed: tuple[str, ...] | None = None) -> str:
        if not isinstance(node, str) or not node:
            raise PolicyError("POL_TYPE", path, "expected a non-empty text")
        if allowed is not None and node not in allowed:
            raise PolicyError(
                "POL_VALUE", path, f"unknown value `{node}`", "use one of " + ", ".join(allowed)
            )
        return node

    def integer(self, node: object, path: Path, lo: int, hi: int, scale: int = 0) -> int:
        return to_int(node, path, scale=scale, lo=lo, hi=hi)

    def field(self, name: object, path: Path) -> tuple[str, tuple[int, int, int] | None]:
        text = self.text(name, path)
        if text in self.fields:
            return text, self.fields[text]
        if self.catalog is not None:
            raise PolicyError(
                "POL_FIELD",
                path,
                f"unknown field `{text}`",
                "use " + ", ".join(sorted(self.fields)),
            )
        return text, None

    def route(self, node: object, path: Path) -> list[str]:
        route = split_route(node, path)
        if self.catalog is not None and (route[0], route[1]) not in self.routes:
            raise PolicyError(
                "POL_ROUTE", path, f"the catalog has no route `{route[0]}/{route[1]}`"
            )
        return route

    # -- predicates (§8.1) ----------------------------------------------------
    def pred(self, node: object, path: Path, depth: int = 0) -> Term:
        name, arg, apath = self.op(node, path, depth)
        self.sort_of(name, "P", path, arg is not None)
        if arg is None:
            return [name]
        if name in ("all", "any"):
            kids = self.items(arg, apath)
            return [name, *(self.pred(k, (*apath, i), depth + 1) for i, k in enumerate(kids))]
        if name == "not":
            return ["not", self.pred(arg, apath, depth + 1)]
        if name == "pin":
            return ["route_in", [self.route(arg, apath)]]
        base = NEGATED.get(name, name)
        if base in ("lt", "le", "eq", "ge", "gt"):
            return self.compare(base, arg, apath)
        if base in ("tier_at_least", "has"):
            return [base, self.scalar_arg(base, arg, apath)]
        if base == "fits_context":
            m = self.mapping(arg, apath, tuple(FITS_CONTEXT), ("bytes_per_token",))
            got = (self.integer(m.get(k, 0), (*apath, k), *FITS_CONTEXT[k]) for k in FITS_CONTEXT)
            return [base, *got]
        term = [base, self.set_arg(base, arg, apath)]
        return ["not", term] if name in NEGATED else term

    def set_arg(self, name: str, arg: object, path: Path) -> list[Any]:
        values = arg if isinstance(arg, list) else [arg]
        items = self.items(values, path)
        if name == "route_in":
            return [self.route(v, (*path, i)) for i, v in enumerate(items)]
        allowed = {"format_in": FORMATS, "entry_in": ENTRIES, "role_in": ROLES}.get(name)
        out = [self.text(v, (*path, i), allowed) for i, v in enumerate(items)]
        if name == "tier_in":
            return [self.tier(v, (*path, i)) for i, v in enumerate(out)]
        known = {"provider_in": "providers", "model_in": "models"}.get(name)
        if known and self.catalog is not None:
            for i, value in enumerate(out):
                if value not in getattr(self, known):
                    raise PolicyError(
                        "POL_ROUTE", (*path, i), f"the catalog has no {known[:-1]} `{value}`"
                    )
        return out

    def scalar_arg(self, name: str, arg: object, path: Path) -> str:
        if name == "has":
            return self.field(arg, path)[0]
        return self.tier(arg, path)

    def tier(self, arg: object, path: Path) -> str:
        tier = self.text(arg, path)
        if self.catalog is not None and tier not in self.catalog.tiers:
            raise PolicyError(
                "POL_TIER",
                path,
                f"unknown tier `{tier}`",
                "declared tiers: " + ", ".join(self.catalog.tiers),
            )
        return tier

    def compare(self, name: str, arg: object, path: Path) -> Term:
        entries = (
            self.mapping(arg, path, tuple(str(k) for k in arg), ())
            if isinstance(arg, Mapping)
            else None
        )
        if not entries:
            raise PolicyError(
                "POL_TYPE",
                path,
                f"`{name}` takes a map of field to number",
                f'e.g. `{{{name}: {{price_in: "1.5"}}}}`',
            )
        terms: list[Term] = []
        for key in sorted(entries, key=lambda k: str(k).encode()):
            fpath = (*path, key)
            if key in REQUEST_FACTS:  # a request fact, never a field: an integer in its range
                n = self.integer(entries[key], fpath, *REQUEST_FACTS[key])
                terms.append(["request", name, key, n])
                continue
            field, decl = self.field(key, fpath)
            pair = decimal_pair(entries[key], fpath)
            if decl is not None:
                decimal_units(pair, decl[0], fpath)
            terms.append([name, field, pair])
        return terms[0] if len(terms) == 1 else ["all", *terms]

    # -- scorers (§8.2) -------------------------------------------------------
    def scorer(self, node: object, path: Path, depth: int = 0) -> tuple[Term, Interval]:
        if isinstance(node, NumberText | int | float) and not isinstance(node, bool):
            value = self.integer(node, path, -MAX, MAX)
            return ["const", value], (value, value)
        if isinstance(node, str) and node not in OPS:
            node = {"field": node}
        name, arg, apath = self.op(node, path, depth)
        self.sort_of(name, "S", path, arg is not None)
        if name == "const":
            value = self.integer(arg, apath, -MAX, MAX)
            return ["const", value], (value, value)
        if name == "field":
            return self.field_scorer(arg, apath)
        if name == "route_value":
            return self.route_value(arg, apath)
        if name == "neg":
            term, iv = self.scorer(arg, apath, depth + 1)
            return ["neg", term], None if iv is None else (-iv[1], -iv[0])
        if name in ("sum", "min", "max"):
            kids = [
                self.scorer(k, (*apath, i), depth + 1) for i, k in enumerate(self.items(arg, apath))
            ]
            return [name, *(t for t, _ in kids)], self.combine(name, [iv for _, iv in kids], apath)
        if name == "gate":
            m = self.mapping(arg, apath, ("if", "then"), ("if", "then"))
            pred = self.pred(m["if"], (*apath, "if"), depth + 1)
            term, iv = self.scorer(m["then"], (*apath, "then"), depth + 1)
            return ["gate", pred, term], None if iv is None else (min(iv[0], 0), max(iv[1], 0))
        if name == "scale":
            m = self.mapping(arg, apath, ("by", "div", "of"), ("of",))
            k = self.integer(m.get("by", 1), (*apath, "by"), -LIMITS["factor"], LIMITS["factor"])
            d = self.integer(m.get("div", 1), (*apath, "div"), 1, LIMITS["factor"])
            term, iv = self.scorer(m["of"], (*apath, "of"), depth + 1)
            if iv is None:
                return ["scale", k, d, term], None
            ends = sorted((k * iv[0], k * iv[1]))
            self.bound(ends, apath)
            return ["scale", k, d, term], (ends[0] // d, ends[1] // d)
        m = self.mapping(arg, apath, ("of", "to"), ("of",))
        r = self.integer(m.get("to", 1000), (*apath, "to"), 1, LIMITS["factor"])
        term, iv = self.scorer(m["of"], (*apath, "of"), depth + 1)
        if iv is not None:
            self.bound([(iv[1] - iv[0]) * r], apath)
        return ["normalize", r, term], (0, r)

    def field_scorer(self, arg: object, path: Path) -> tuple[Term, Interval]:
        m = (
            self.mapping(arg, path, ("name", "default"), ("name",))
            if isinstance(arg, Mapping)
            else {"name": arg}
        )
        name, decl = self.field(m["name"], (*path, "name") if isinstance(arg, Mapping) else path)
        pair = decimal_pair(m.get("default", 0), (*path, "default"))
        if decl is None:
            return ["field", name, pair], None
        default = decimal_units(pair, decl[0], (*path, "default"))
        return ["field", name, pair], (min(decl[1], default), max(decl[2], default))

    def route_value(self, arg: object, path: Path) -> tuple[Term, Interval]:
        m = self.mapping(arg, path, ("routes", "default"), ("routes",))
        routes = (
            self.mapping(m["routes"], (*path, "routes"), tuple(str(k) for k in m["routes"]), ())
            if isinstance(m["routes"], Mapping)
            else None
        )
        if not routes:
            raise PolicyError("POL_TYPE", (*path, "routes"), "expected a map of route to integer")
        if len(routes) > LIMITS["list"]:
            raise PolicyError("POL_LIMIT", (*path, "routes"), "too many routes")
        default = self.integer(m.get("default", 0), (*path, "default"), -MAX, MAX)
        rows: list[list[Any]] = []
        for key in sorted(routes, key=lambda k: str(k).encode()):
            rpath = (*path, "routes", key)
            route = self.route(key, rpath)
            if any(row[:2] == route for row in rows):
                raise PolicyError("POL_DUPLICATE", rpath, f"route `{key}` is listed twice")
            rows.append([*route, self.integer(routes[key], rpath, -MAX, MAX)])
        values = [row[2] for row in rows] + [default]
        return ["route_value", rows, default], (min(values), max(values))

    def combine(self, name: str, ivs: list[Interval], path: Path) -> Interval:
        known = [iv for iv in ivs if iv is not None]
        if len(known) < len(ivs):
            return None
        if name == "sum":
            self.bound([sum(max(abs(lo), abs(hi)) for lo, hi in known)], path)
            return sum(lo for lo, _ in known), sum(hi for _, hi in known)
        pick = min if name == "min" else max
        return pick(lo for lo, _ in known), pick(hi for _, hi in known)

    def bound(self, values: list[int], path: Path) -> None:
        if any(abs(v) > MAX for v in values):
            raise PolicyError(
                "POL_BOUND",
                path,
                "this scorer can leave ±(2^53 − 1) for routes within the field bounds",
                "scale it down or narrow the declared field bounds",
            )
