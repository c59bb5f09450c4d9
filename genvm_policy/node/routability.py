"""Routability: which request classes a policy leaves without any route on a catalog.

Spec: docs/SPEC.md §9.4 (Routability). Core: values in, values out. `install`
and `check --catalog` print `analyse`'s report and refuse what `refusal` names;
the hook logs the same classes at load (docs/HOOK.md §7).

Rules:
1. The request classes are `CLASSES`: a prompt in text, json and bool, each
   with no image and with one, and each template entry, with GenVM's defaults
   for everything else (`prompt_bytes` 0, the entry's `max_tokens`). Each
   class is decided once per role of `ROLES` (`leader` and `validator` come
   from the newest V2 line, `unknown` from every other), and is routed only
   when it is routed under all three; an unroutable class names the first
   role that leaves it without a route when another role has one. The size
   facts (`prompt_bytes`, `max_tokens`, and `fits_context`, which reads them)
   are proved at those defaults only: a filter on them is one the operator
   sizes, and a call past it fails as a call past the context does.
2. Whether a plan is empty does not depend on the seed: filter and score read
   no seed, `weighted` places every route of positive weight and `sample` is a
   permutation, so only which routes are placed first depends on draws. The
   analysis decides each class with the fixed seed `SEED`.
3. A class is `node` unroutable when no route meets its needs (GenVM's stock
   script fails it too); `policy` unroutable when routes meet its needs but the
   plan is empty. The term that emptied it is found in decision order: the
   first part of the normal-form filter (other than `needs`) after which,
   applied in order to the routes that meet the needs, none survives; else
   the selector, descending into `top_k` and into the first tier with members
   (a tier whose selector places nothing passes its members on, so with an
   empty plan every tier placed nothing).
4. `refusal` names the first policy-unroutable class not accepted with
   `--allow-unroutable`, the term, its path in the policy value and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from genvm_policy.core.catalog import Catalog
from genvm_policy.core.decision import decide
from genvm_policy.core.errors import Path, PolicyError, render_path
from genvm_policy.core.interpreter import Bound, bind, score
from genvm_policy.core.numeric import format_units
from genvm_policy.core.policy import OPS, Policy, Term
from genvm_policy.core.predicate import predicate
from genvm_policy.core.request import CLASSES as REQUEST_CLASSES
from genvm_policy.core.request import ROLES, Request, make_request

__all__ = [
    "CLASSES",
    "SEED",
    "ClassRoutes",
    "analyse",
    "describe_term",
    "refusal",
    "report_lines",
]

CLASSES: tuple[tuple[str, Request], ...] = tuple(
    (name, make_request(entry=entry, format=format, images=images))
    for name, entry, format, images in REQUEST_CLASSES
)
"""Every request class a node serves, by name (rule 1)."""

SEED = bytes(32)
"""The call key of the analysis' decisions: the plan's emptiness never depends on it (rule 2)."""

NEEDS = "needs (the request's capabilities: JSON support for json/bool, vision for images)"


@dataclass(frozen=True)
class ClassRoutes:
    """One class on one catalog: its planned routes, and why there are none."""

    name: str
    planned: int
    offered: int
    path: Path | None = None
    term: Term | None = None
    why: str | None = None
    fix: str | None = None
    role: str | None = None
    """The role left without a route while another role has one (rule 1), else None."""

    @property
    def label(self) -> str:
        """The class's name for people, with the role when only that role lacks a route."""
        return self.name if self.role is None else f"{self.name} (role {self.role})"

    @property
    def state(self) -> str:
        """`routed`, `node` (GenVM offers no route for it) or `policy` (rule 3)."""
        if self.planned:
            return "routed"
        return "node" if self.offered == 0 else "policy"


def describe_term(term: Term) -> str:
    """A policy term in the authored spelling people read: `le(price_in, 2.5)`."""
    op, args = term[0], term[1:]
    if op == "needs":
        return NEEDS
    if op == "request":
        return f"{args[0]}({args[1]}, {args[2]})"  # as authored: a request fact, like a field
    if op == "retry":
        return f"retry up to {args[0]}× after {args[1]} ms, then {describe_term(args[2])}"
    kinds = OPS[op][1]
    parts = []
    for n, arg in enumerate(args):
        kind = kinds[min(n, len(kinds) - 1)].rstrip("*")
        if kind in ("P", "S", "L", "M", "A"):
            parts.append(describe_term(arg))
        elif kind == "dec":
            # Prices are written in USD per million tokens (SPEC §5.3): say so.
            unit = " USD per million tokens" if args[0] in ("price_in", "price_out") else ""
            parts.append(_decimal(arg[0], arg[1]) + unit)
        elif kind == "routes" or kind == "routes_ordered":
            parts.append("[" + ", ".join(f"{r[0]}/{r[1]}" for r in arg) + "]")
        elif kind == "tiers":
            rows = (f"{describe_term(p)} -> {describe_term(s)}" for p, s in arg)
            parts.append("[" + "; ".join(rows) + "]")
        elif isinstance(arg, list):
            parts.append("[" + ", ".join(str(x) for x in arg) + "]")
        else:
            parts.append(str(arg))
    return f"{op}({', '.join(parts)})" if parts else op


def _decimal(mantissa: int, exponent: int) -> str:
    """`mantissa × 10^exponent` as exact decimal text."""
    if exponent >= 0:
        return str(mantissa * 10**exponent)
    return format_units(mantissa, -exponent)


def analyse(
    catalog: Catalog, policy: Policy, bound: Bound | None = None
) -> tuple[ClassRoutes, ...]:
    """Every class of `CLASSES` on `catalog` under `policy` (rules 1–3).

    Raises what `bind` raises (`POL_FIELD`, `POL_TIER`, `NUM_RANGE`, `POL_BOUND`).
    """
    b = bind(catalog, policy) if bound is None else bound
    return tuple(_by_role(name, req, catalog, policy, b) for name, req in CLASSES)


def _by_role(name: str, req: Request, catalog: Catalog, policy: Policy, b: Bound) -> ClassRoutes:
    """The class under every role of `ROLES` (rule 1): the first failing one, else `unknown`."""
    each = [_one(name, replace(req, role=role), catalog, policy, b) for role in ROLES]
    failing = [r for r in each if r.state != "routed"]
    if not failing:
        return each[-1]
    if len(failing) == len(each) and len({(r.state, r.path) for r in failing}) == 1:
        return failing[-1]  # the same for every role: the policy does not read it here
    return replace(failing[0], role=ROLES[each.index(failing[0])])


def _one(name: str, req: Request, catalog: Catalog, policy: Policy, b: Bound) -> ClassRoutes:
    everyone = list(range(len(b.routes)))
    offered = predicate(["needs"], b)(everyone, req)
    # Only the plan is read: a stand-in catalog identity spares hashing the catalog.
    planned = len(decide(catalog, policy, req, SEED, catalog_id="-", bound=b).routes)
    if planned or not offered:
        return ClassRoutes(name, planned, len(offered))
    top = policy.filter
    parts = top[1:] if top[0] == "all" else [top]
    # From the routes that meet the needs: the part that empties them is the policy's own.
    pop = offered
    for k, part in enumerate(parts):
        if part == ["needs"]:
            continue
        pop = predicate(part, b)(pop, req)
        if not pop:
            path: Path = ("filter", k + 1) if top[0] == "all" else ("filter",)
            why = "every route that meets the request's needs fails this filter term"
            fix = "widen that filter term (for a fact the overlay gives, give it for some route)"
            return ClassRoutes(name, 0, len(offered), path, part, why, fix)
    path, term, why, fix = _selector(policy.select, ("select",), b, pop, req)
    return ClassRoutes(name, 0, len(offered), path, term, why, fix)


def _selector(
    term: Term, path: Path, b: Bound, pop: list[int], req: Request
) -> tuple[Path, Term, str, str]:
    """The innermost selector term that orders the non-empty `pop` into nothing."""
    op = term[0]
    if op == "top_k":
        return _selector(term[2], (*path, 2), b, pop, req)
    if op == "tiers":
        for j, (pred, inner) in enumerate(term[1]):
            members = predicate(pred, b)(pop, req)
            if members:
                return _selector(inner, (*path, 1, j, 1), b, members, req)
        why = "no surviving route satisfies the filter of any tier"
        return path, term, why, "end the tiers with `{filter: true}` so every route has a tier"
    if op == "greybox":
        which = "image" if req.needs_image else "text"
        why = f"no surviving route has a `meta.greybox.{which}` position"
        fix = "select with `stock` (the chain where the node has one, else priority order)"
        return path, term, why, fix
    if op == "chain":
        why = "no route of the chain survives the filter"
        return path, term, why, "add a route this node offers for the class to the chain"
    if op == "weighted":
        weights = score(term[1], b, pop, req)
        assert not any(w > 0 for w in weights)  # else `weighted` would have placed a route
        why = "no surviving route has a positive weight"
        return path, term, why, "give some route a positive weight"
    # `argmax`, `stock` and `sample` order every route of a non-empty population.
    raise AssertionError(f"selector `{op}` left a non-empty population unordered")


def refusal(reports: Sequence[ClassRoutes], allowed: Sequence[str]) -> PolicyError | None:
    """`POL_UNROUTABLE` for the first policy-unroutable class not in `allowed` (rule 4).

    A name in `allowed` that is no class is `POL_VALUE`, so a typo never accepts nothing.
    """
    names = [name for name, _ in CLASSES]
    for name in allowed:
        if name not in names:
            return PolicyError(
                "POL_VALUE",
                ("--allow-unroutable",),
                f"`{name}` is not a request class",
                "classes: " + ", ".join(names),
            )
    for report in reports:
        if report.state != "policy" or report.name in allowed:
            continue
        assert report.path is not None and report.term is not None
        return PolicyError(
            "POL_UNROUTABLE",
            report.path,
            f"request class `{report.label}` has no route: the policy term "
            f"`{describe_term(report.term)}` at {render_path(report.path)} emptied it "
            f"({report.why})",
            f"{report.fix}; or accept it knowingly with `--allow-unroutable {report.name}`",
        )
    return None


def report_lines(reports: Sequence[ClassRoutes], allowed: Sequence[str] = ()) -> list[str]:
    """One line per class for people: routes planned, or why there are none."""
    lines = []
    for r in reports:
        if r.state == "routed":
            lines.append(f"{r.name}: {r.planned} of {r.offered} capable routes planned")
        elif r.state == "node":
            lines.append(f"{r.name}: no route of this node meets its needs (stock fails it too)")
        else:
            assert r.term is not None
            accepted = " (accepted with --allow-unroutable)" if r.name in allowed else ""
            lines.append(
                f"{r.label}: NO ROUTE{accepted}: `{describe_term(r.term)}` at "
                f"{render_path(r.path or ())}: {r.why}; fix: {r.fix}"
            )
    return lines
