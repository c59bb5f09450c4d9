"""Admission: the authored policy (TOML/YAML/JSON value) to its normal-form term.

Spec: docs/SPEC.md §7 (Policy language and admission). The checks of
predicates and scorers, and the interval analysis, are in
`genvm_policy.authoring.admission_terms`; this module admits the selectors (§7.2,
§8.3), the mutations (§8.4), the failure plan (§10) and the document.

Rules:
1. The authored document is a map with the slots `filter`, `score`,
   `select`, `mutate`, `on_failure`, `max_attempts` (and optionally
   `version: 1` or `version: 2`); every slot may be left out and takes its
   default. A version-1 document means what it meant: its `overloaded` is
   the group of the three classes it was split into (§10.1).
2. An op is written as its bare name (no arguments) or as a one-entry map
   `{op: argument}`; §7.2 gives each op's authored argument.
3. Admission checks, in document order: shapes, op names and sorts, arity,
   value sets (formats, entries, parameters, filters, classes), integer
   bounds, list sizes, nesting depth and node count (`LIMITS`); with a catalog
   also field names, routes, providers, models, tiers, the exactness of
   decimal constants at their field's scale, and the interval analysis of
   every scorer (rule 4). The first failure raises its `PolicyError` with the
   path into the document.
4. Interval analysis: each scorer node gets the interval of values it can take
   over routes whose fields lie within their declared bounds; admission
   rejects (`POL_BOUND`) a node whose interval, or any intermediate of it,
   leaves ±MAX. A `sum` is checked as Σ max(|lo|, |hi|) so that every partial
   sum, in any order, stays in range.
5. The filter slot always includes `needs` (the request's capability needs):
   an explicit filter is added to it, never replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping

from genvm_policy.authoring.admission_terms import TermAdmission, decimal_pair, split_route
from genvm_policy.authoring.cost import check_cost
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import decimal_units
from genvm_policy.core.policy import (
    CLASS_GROUPS,
    CLASSES,
    LIMITS,
    PARAMS,
    TEXT_FILTERS,
    VERSION,
    Policy,
    Term,
    check_nfc,
    normalize,
)

__all__ = ["DEFAULT_PLAN", "admit", "decimal_pair", "decimal_units", "split_route"]

SLOTS = ("version", "filter", "score", "select", "mutate", "on_failure", "max_attempts")

# The default failure plan mirrors GenVM's stock scripts: next route on overload
# (each class of the `overloaded` group), stop on anything else.
DEFAULT_PLAN: dict[str, str] = {name: "abort" for name in CLASSES} | {
    name: "next" for name in CLASS_GROUPS["overloaded"]
}
DEFAULT_MAX_ATTEMPTS = 8


class _Admit(TermAdmission):
    """One admission run: the term checks plus selectors, mutations and the plan."""

    # -- selectors (§8.3) -----------------------------------------------------
    def selector(self, node: object, path: Path, depth: int = 0) -> Term:
        name, arg, apath = self.op(node, path, depth)
        self.sort_of(name, "L", path, arg is not None)
        if arg is None:
            return [name]
        if name == "chain":
            rows: list[list[str]] = []
            for i, item in enumerate(self.items(arg, apath)):
                route = self.route(item, (*apath, i))
                if route in rows:
                    raise PolicyError(
                        "POL_DUPLICATE", (*apath, i), f"route `{item}` is listed twice"
                    )
                rows.append(route)
            return ["chain", rows]
        if name == "top_k":
            m = self.mapping(arg, apath, ("k", "of"), ("k",))
            k = self.integer(m["k"], (*apath, "k"), 1, LIMITS["top_k"])
            return ["top_k", k, self.selector(m.get("of", "argmax"), (*apath, "of"), depth + 1)]
        if name == "weighted":
            return ["weighted", self.scorer(arg, apath, depth + 1)[0]]
        if name == "sample":
            m = (
                self.mapping(arg, apath, ("spread",), ("spread",))
                if isinstance(arg, Mapping)
                else {"spread": arg}
            )
            return ["sample", self.integer(m["spread"], apath, 0, LIMITS["spread"])]
        tiers: list[list[Term]] = []
        for i, item in enumerate(self.items(arg, apath)):
            tpath = (*apath, i)
            m = self.mapping(item, tpath, ("filter", "select"), ("filter",))
            tiers.append(
                [
                    self.filter_list(m["filter"], (*tpath, "filter"), depth + 1),
                    self.selector(m.get("select", "argmax"), (*tpath, "select"), depth + 1),
                ]
            )
        return ["tiers", tiers]

    def filter_list(self, node: object, path: Path, depth: int = 0) -> Term:
        if isinstance(node, list):
            items = self.items(node, path, empty=True)
            return ["all", *(self.pred(p, (*path, i), depth) for i, p in enumerate(items))]
        return self.pred(node, path, depth)

    # -- mutations (§8.4) -----------------------------------------------------
    def mutations(self, node: object, path: Path, depth: int = 0) -> list[Term]:
        out: list[Term] = []
        for i, item in enumerate(self.items(node, path, empty=True)):
            out.extend(self.mutation(item, (*path, i), depth))
        return out

    def mutation(self, node: object, path: Path, depth: int) -> list[Term]:
        name, arg, apath = self.op(node, path, depth)
        self.sort_of(name, "M", path, arg is not None)
        if arg is None:
            return [[name]]
        if name == "text_filters":
            names = [
                self.text(v, (*apath, i), TEXT_FILTERS)
                for i, v in enumerate(self.items(arg, apath))
            ]
            if len(set(names)) != len(names):
                raise PolicyError("POL_DUPLICATE", apath, "a text filter is listed twice")
            return [["text_filters", names]]
        if name == "when":
            m = self.mapping(arg, apath, ("if", "then"), ("if", "then"))
            pred = self.filter_list(m["if"], (*apath, "if"), depth + 1)
            return [["when", pred, *self.mutations(m["then"], (*apath, "then"), depth + 1)]]
        params = self.mapping(arg, apath, tuple(PARAMS), ())
        if not params:
            raise PolicyError("POL_ARITY", apath, f"`{name}` needs at least one parameter")
        out: list[Term] = []
        for param in sorted(params, key=lambda k: str(k).encode()):
            ppath = (*apath, param)
            scale, lo, hi = PARAMS[param]
            if name == "set":
                out.append(["set", param, self.integer(params[param], ppath, lo, hi, scale)])
                continue
            pair = params[param]
            if not isinstance(pair, list) or len(pair) != 2:
                raise PolicyError("POL_TYPE", ppath, f"`{name}` takes `[low, high]` per parameter")
            span = (-hi, hi) if name == "jitter" else (lo, hi)
            a = self.integer(pair[0], (*ppath, 0), *span, scale)
            b = self.integer(pair[1], (*ppath, 1), *span, scale)
            if a > b:
                raise PolicyError("POL_VALUE", ppath, "the low end is above the high end")
            out.append([name, param, a, b])
        return out

    # -- failure plan (§10) ---------------------------------------------------
    def action(self, node: object, path: Path, nested: bool = False) -> Term:
        name, arg, apath = self.op(node, path, 1)
        self.sort_of(name, "A", path, arg is not None)
        if arg is None:
            return [name]
        if nested:
            raise PolicyError(
                "POL_VALUE",
                path,
                "a retry cannot follow a retry",
                "use next, next_same_family, skip_provider or abort",
            )
        m = self.mapping(arg, apath, ("attempts", "backoff_ms", "then"), ("attempts",))
        n = self.integer(m["attempts"], (*apath, "attempts"), 1, LIMITS["retry_attempts"])
        ms = self.integer(m.get("backoff_ms", 0), (*apath, "backoff_ms"), 0, LIMITS["backoff_ms"])
        return ["retry", n, ms, self.action(m.get("then", "next"), (*apath, "then"), True)]

    def plan(self, node: object, path: Path) -> tuple[tuple[str, Term], ...]:
        """Every class's action: its own entry, else its group's, else the default."""
        given = self.mapping(node, path, CLASSES + tuple(CLASS_GROUPS), ())
        chosen: dict[str, Term] = {}
        for group, members in CLASS_GROUPS.items():
            if group in given:
                action = self.action(given[group], (*path, group))
                chosen.update((name, action) for name in members)
        for name in CLASSES:
            if name in given:
                chosen[name] = self.action(given[name], (*path, name))
        return tuple((name, chosen.get(name, [DEFAULT_PLAN[name]])) for name in CLASSES)


def admit(document: object, catalog: Catalog | None = None) -> Policy:
    """Admit an authored policy (rules 1-5) and return it in normal form (§7.3)."""
    check_nfc(document)
    run = _Admit(catalog)
    doc = run.mapping(document, (), SLOTS, ())
    if "version" in doc:
        run.integer(doc["version"], ("version",), 1, VERSION)
    user_filter = run.filter_list(doc.get("filter", []), ("filter",))
    score = run.scorer(doc.get("score", 0), ("score",))[0]
    select = run.selector(doc.get("select", "argmax"), ("select",))
    mutate = run.mutations(doc.get("mutate", []), ("mutate",))
    plan = run.plan(doc.get("on_failure", {}), ("on_failure",))
    cap = run.integer(
        doc.get("max_attempts", DEFAULT_MAX_ATTEMPTS), ("max_attempts",), 1, LIMITS["max_attempts"]
    )
    policy = Policy(
        filter=normalize(["all", ["needs"], user_filter]),
        score=normalize(score),
        select=normalize(select),
        mutate=tuple(normalize(m) for m in mutate),
        on_failure=tuple((name, normalize(action)) for name, action in plan),
        max_attempts=cap,
    )
    if catalog is not None:
        check_cost(policy, len(catalog.routes))
    return policy
