"""Build the validator catalog from GenVM's LLM config and the operator's overlay.

Spec: docs/SPEC.md §5.2-§5.3. Authoring module: values in, values out. The
catalog value itself, its identities and readers are the core's
(`genvm_policy.core.catalog`); this module reads the authored inputs into it.

Rules:
1. Routes are sorted by provider bytes, then model bytes.
2. Overlay facts apply per model id, then per route (a route's fact wins);
   an entry for a model or route the config does not offer is
   `OVL_UNKNOWN_ROUTE`. Family defaults to the rule of §5.8 (a router of
   unknown model is `unknown`); tier to the overlay's `default_tier`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from genvm_policy.authoring.llmconfig import offered_routes
from genvm_policy.authoring.overlay import Facts, Overlay, parse_overlay
from genvm_policy.core.catalog import Catalog, Route
from genvm_policy.core.errors import PolicyError, quote

__all__ = ["build_catalog"]


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
