"""The validator catalog: the routes GenVM offers, with the operator's facts.

Spec: docs/SPEC.md §5 (The validator catalog). Core module: values in, values out.
Routes are read from GenVM's LLM config by `genvm_policy.llmconfig` (§5.2);
`Route`, `MAX_ROUTES` and `MAX_NAME_BYTES` are defined there and are part of
this module's surface.

Rules:
1. Routes are sorted by provider bytes, then model bytes.
2. Overlay facts apply per model id, then per route (a route's fact wins);
   an entry for a model or route the config does not offer is
   `OVL_UNKNOWN_ROUTE`. Family defaults to the rule of §5.8 (a router of
   unknown model is `unknown`); tier to the overlay's `default_tier`.
3. The GenVM view is what the hook sees of the catalog: per route provider,
   model, json, image, max_completion_tokens, greybox positions, priority.
   `genvm_view` and `view_from_providers` give the same value for the same
   config; a position that is not an integer in range is absent in the view.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from genvm_policy.encoding import Value
from genvm_policy.errors import PolicyError, quote
from genvm_policy.family import family_of
from genvm_policy.identity import identity
from genvm_policy.llmconfig import MAX_NAME_BYTES, MAX_ROUTES, Route, offered_routes
from genvm_policy.numeric import MAX
from genvm_policy.overlay import Facts, FieldDecl, Overlay, parse_overlay

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_ROUTES",
    "VERSION",
    "Catalog",
    "FieldDecl",
    "Route",
    "build_catalog",
    "catalog_identity",
    "catalog_value",
    "genvm_view",
    "view_from_providers",
    "view_identity",
]

T = TypeVar("T")

VERSION = 1


@dataclass(frozen=True)
class Catalog:
    """The routes in provider-then-model bytes order, tiers low to high, declared fields."""

    routes: tuple[Route, ...]
    tiers: tuple[str, ...]
    default_tier: str | None
    fields: tuple[FieldDecl, ...]
    overlaid: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)
    """The routes whose family the overlay set; not part of the canonical value."""
    _index: dict[tuple[str, str], Route] = field(init=False, repr=False, compare=False)
    _memo: dict[Hashable, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {(r.provider, r.model): r for r in self.routes}
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_memo", {})

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()`, a value derived from this catalog alone, computed once per key.

        The catalog never changes, so the value never goes stale; it lives and
        dies with this object (no module-level cache). `interpreter.bind` keeps
        the route order and field columns here, as the Lua runtime keeps its
        bound policies with its catalog.
        """
        if key not in self._memo:
            self._memo[key] = make()
        value: T = self._memo[key]
        return value

    def route(self, provider: str, model: str) -> Route | None:
        """The route `(provider, model)`, or None when the catalog does not offer it."""
        return self._index.get((provider, model))

    def family_origin(self, route: Route) -> str:
        """Where `route`'s family comes from: `overlay`, `rule` or `router` (§5.8).

        A catalog rebuilt from its canonical value has no overlay record: a
        family that differs from the rule's is then reported as `overlay`.
        """
        derived, origin = family_of(route.provider, route.model)
        if (route.provider, route.model) in self.overlaid or route.family != derived:
            return "overlay"
        return origin

    def names(self) -> list[tuple[str, str]]:
        """Every route's `(provider, model)` in `routes` order, each pair once."""
        return list(self._index)


def _key(provider: str, model: str) -> tuple[bytes, bytes]:
    return provider.encode("utf-8"), model.encode("utf-8")


# -- merging the overlay -----------------------------------------------------------


def _merge(base: Facts, top: Facts) -> Facts:
    fields = dict(base.fields)
    fields.update(top.fields)
    return Facts(
        price_in=top.price_in if top.price_in is not None else base.price_in,
        price_out=top.price_out if top.price_out is not None else base.price_out,
        context=top.context if top.context is not None else base.context,
        tier=top.tier if top.tier is not None else base.tier,
        family=top.family if top.family is not None else base.family,
        has_tee=top.has_tee if top.has_tee is not None else base.has_tee,
        no_log=top.no_log if top.no_log is not None else base.no_log,
        fields=tuple(sorted(fields.items(), key=lambda item: item[0].encode("utf-8"))),
    )


def _check_entries(overlay: Overlay, offers: list[Route]) -> None:
    known: set[tuple[str, ...]] = set()
    for o in offers:
        known |= {("models", o.model), ("routes", o.provider), ("routes", o.provider, o.model)}
    entries: list[tuple[str, ...]] = [("models", m) for m, _ in overlay.models]
    for provider, model, _ in overlay.routes:
        entries += [("routes", provider), ("routes", provider, model)]
    for path in entries:
        if path not in known:
            raise PolicyError(
                "OVL_UNKNOWN_ROUTE",
                path,
                "the node config offers no route for " + " ".join(quote(p, 64) for p in path[1:]),
                "fix the name or remove the entry; disabled backends and models offer none",
            )


def build_catalog(
    node_config: Mapping[str, object], overlay: Mapping[str, object] | None = None
) -> Catalog:
    """Build the catalog from GenVM's LLM config and an optional overlay (§5.2, rules 1 and 2).

    Errors: `CAT_*` at paths into the node config; `OVL_*` and number codes at
    paths into the overlay.
    """
    offers = offered_routes(node_config)
    checked = parse_overlay(overlay) if overlay is not None else Overlay()
    _check_entries(checked, offers)
    per_model = dict(checked.models)
    per_route = {(p, m): facts for p, m, facts in checked.routes}
    routes = []
    overlaid = set()
    for o in sorted(offers, key=lambda o: _key(o.provider, o.model)):
        facts = _merge(
            per_model.get(o.model, Facts()), per_route.get((o.provider, o.model), Facts())
        )
        if facts.family is not None:
            overlaid.add((o.provider, o.model))
        routes.append(
            replace(
                o,
                family=facts.family if facts.family is not None else o.family,
                tier=facts.tier if facts.tier is not None else checked.default_tier,
                price_in=facts.price_in,
                price_out=facts.price_out,
                context=facts.context,
                has_tee=bool(facts.has_tee),
                no_log=bool(facts.no_log),
                fields=facts.fields,
            )
        )
    return Catalog(
        tuple(routes), checked.tiers, checked.default_tier, checked.fields, frozenset(overlaid)
    )


# -- canonical values and identities -----------------------------------------------


def _view_route(r: Route) -> dict[str, Value]:
    return {
        "provider": r.provider,
        "model": r.model,
        "json": r.json,
        "image": r.image,
        "max_completion_tokens": r.max_completion_tokens,
        "greybox_text": r.greybox_text,
        "greybox_image": r.greybox_image,
        "priority": r.priority,
    }


def catalog_value(c: Catalog) -> Value:
    """The catalog's canonical value (§5.5): every fact of every route, absent ones null."""
    routes: list[Value] = []
    for r in c.routes:
        entry = _view_route(r)
        entry.update(
            kind=r.kind,
            family=r.family,
            tier=r.tier,
            price_in=r.price_in,
            price_out=r.price_out,
            context=r.context,
            has_tee=r.has_tee,
            no_log=r.no_log,
            fields=dict(r.fields),
        )
        routes.append(entry)
    fields: list[Value] = [
        {"name": d.name, "scale": d.scale, "min": d.lo, "max": d.hi} for d in c.fields
    ]
    return {
        "version": VERSION,
        "tiers": list(c.tiers),
        "default_tier": c.default_tier,
        "fields": fields,
        "routes": routes,
    }


def catalog_identity(c: Catalog) -> str:
    """`identity("catalog", catalog_value(c))`, printed `sha256:<hex>`."""
    return identity("catalog", catalog_value(c))


def genvm_view(c: Catalog) -> Value:
    """The GenVM view of the catalog (§5.6): only what the hook can see."""
    return {"version": VERSION, "routes": [_view_route(r) for r in c.routes]}


def view_identity(c: Catalog) -> str:
    """`identity("genvm-view", genvm_view(c))`, printed `sha256:<hex>`."""
    return identity("genvm-view", genvm_view(c))


def _view_int(table: object, key: str, lo: int) -> int | None:
    value = table.get(key) if isinstance(table, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= MAX:
        return value
    return None


def view_from_providers(providers: Mapping[str, object]) -> Value:
    """The GenVM view computed from a rendering of `__llm.providers` (§5.6).

    `providers` maps backend → `{models: {id: {supports_json, supports_image,
    use_max_completion_tokens, meta}}, meta}` as the hook sees it; a disabled
    model (`enabled: false`) is left out as GenVM leaves it out.
    """
    routes: list[tuple[tuple[bytes, bytes], dict[str, Value]]] = []
    for provider, backend in providers.items():
        meta = backend.get("meta") if isinstance(backend, Mapping) else None
        models = backend.get("models") if isinstance(backend, Mapping) else None
        for model, spec in models.items() if isinstance(models, Mapping) else ():
            if not isinstance(spec, Mapping) or spec.get("enabled") is False:
                continue
            chains = spec.get("meta")
            chains = chains.get("greybox") if isinstance(chains, Mapping) else None
            entry: dict[str, Value] = {
                "provider": provider,
                "model": model,
                "json": spec.get("supports_json") is True,
                "image": spec.get("supports_image") is True,
                "max_completion_tokens": spec.get("use_max_completion_tokens") is True,
                "greybox_text": _view_int(chains, "text", 0),
                "greybox_image": _view_int(chains, "image", 0),
                "priority": _view_int(meta, "priority", -MAX),
            }
            routes.append((_key(provider, model), entry))
    routes.sort(key=lambda item: item[0])
    return {"version": VERSION, "routes": [entry for _, entry in routes]}
