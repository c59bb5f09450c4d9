"""The validator catalog: the routes GenVM offers, with the operator's facts.

Spec: docs/SPEC.md §5 (The validator catalog). Core module: values in, values out.
The catalog value, its routes and declared fields, and its identities. It is
built from GenVM's LLM config and the overlay by the authoring layer
(`genvm_policy.authoring.catalog_build`, §5.2-§5.3).

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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.family import family_of
from genvm_policy.core.identity import identity
from genvm_policy.core.numeric import MAX

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_ROUTES",
    "VERSION",
    "VIEW_KEYS",
    "Catalog",
    "FieldDecl",
    "Route",
    "catalog_from_value",
    "catalog_identity",
    "catalog_value",
    "genvm_view",
    "view_from_providers",
    "view_identity",
]

T = TypeVar("T")

MAX_ROUTES = 10_000
MAX_NAME_BYTES = 256


@dataclass(frozen=True)
class Route:
    """One `(provider, model)` GenVM can call, with every fact the policy may read."""

    provider: str
    model: str
    kind: str
    json: bool
    image: bool
    max_completion_tokens: bool
    greybox_text: int | None
    greybox_image: int | None
    priority: int | None
    family: str
    tier: str | None
    price_in: int | None
    price_out: int | None
    context: int | None
    has_tee: bool
    no_log: bool
    fields: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class FieldDecl:
    """An operator-declared field: integer units of `10^-scale`, within `lo … hi`."""

    name: str
    scale: int
    lo: int
    hi: int


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


# -- canonical values and identities -----------------------------------------------


VIEW_KEYS: tuple[str, ...] = (
    "provider", "model", "json", "image", "max_completion_tokens", "greybox_text",
    "greybox_image", "priority",
)  # fmt: skip  # a table laid out by hand in rows
"""The keys of a view route (§5.6), in the order the spec lists them: all the hook sees."""


def _view_route(r: Route) -> dict[str, Value]:
    return {key: getattr(r, key) for key in VIEW_KEYS}


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


# -- the GenVM view (§5.6) ----------------------------------------------------------


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


# -- reading the canonical value back ----------------------------------------------

# Route key -> kind (rule 5): `text`, `bool`, `int`, `int?` (an integer or null),
# `text?`, `ints` (a map of integers).
ROUTE_KINDS = {
    "provider": "text", "model": "text", "kind": "text", "json": "bool", "image": "bool",
    "max_completion_tokens": "bool", "greybox_text": "int?", "greybox_image": "int?",
    "priority": "int?", "family": "text", "tier": "text?", "price_in": "int?",
    "price_out": "int?", "context": "int?", "has_tee": "bool", "no_log": "bool",
    "fields": "ints",
}  # fmt: skip  # a table laid out by hand in rows
ROUTE_KEYS = tuple(ROUTE_KINDS)


_HINT = "compile the policy again with `genvm-policy compile`"
# What a message says each kind of `ROUTE_KINDS` is.
_KIND_TEXT = {
    "text": "text", "bool": "a boolean", "int?": "an integer or null", "text?": "text or null",
    "ints": "a map",
}  # fmt: skip  # a table laid out by hand in rows


def _bad(path: Path, message: str) -> PolicyError:
    return PolicyError("CAT_TYPE", path, message, _HINT)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bytes(k: object) -> bytes:
    # Keys of a decoded value are text; a host's other keys sort by their text.
    return str(k).encode("utf-8", "surrogatepass")


def _exact(v: object, keys: tuple[str, ...], path: Path) -> dict[str, Any]:
    """`v` as a map with exactly `keys`: the first missing key, else the byte-least extra."""
    if not isinstance(v, dict):
        raise _bad(path, "expected a map")
    for key in keys:
        if key not in v:
            raise _bad(path, f"the key `{key}` is missing")
    extra = sorted((k for k in v if k not in keys), key=_bytes)
    if extra:
        raise _bad(path, f"the key `{extra[0]}` is unknown")
    return v


def _array(v: object, path: Path) -> list[Any]:
    if not isinstance(v, list):
        raise _bad(path, "expected an array")
    return v


def _fact(v: object, kind: str, path: Path) -> None:
    """Check `v` against a kind of `ROUTE_KINDS` (rule 5)."""
    ok = {
        "text": isinstance(v, str),
        "bool": isinstance(v, bool),
        "ints": isinstance(v, dict),
        "int?": v is None or _is_int(v),
        "text?": v is None or isinstance(v, str),
    }[kind]
    if not ok:
        raise _bad(path, "expected " + _KIND_TEXT[kind])


def catalog_from_value(value: Value) -> Catalog:
    """The catalog whose canonical value (SPEC §5.5) is `value`; `CAT_TYPE` otherwise.

    The checks of SPEC "Lua runtime notes" 2, in the Lua runtime's order, so both
    report the same first wrong item: the top-level keys, `version`, the tiers, the
    field declarations, each route (its keys, its facts in `ROUTE_KEYS` order, its
    field values by name bytes, then its order after the previous route), and
    `default_tier` last. Normal form beyond that is admission's, as in Lua.
    """
    top = _exact(value, ("version", "tiers", "default_tier", "fields", "routes"), ())
    if not _is_int(top["version"]) or top["version"] != VERSION:
        raise _bad(("version",), f"expected version `{VERSION}`")
    tiers = _array(top["tiers"], ("tiers",))
    for n, tier in enumerate(tiers):
        _fact(tier, "text", ("tiers", n))
    decls = []
    for n, raw in enumerate(_array(top["fields"], ("fields",))):
        d = _exact(raw, ("name", "scale", "min", "max"), ("fields", n))
        for key in ("scale", "min", "max"):
            if not _is_int(d[key]):
                raise _bad(("fields", n, key), "expected an integer")
        _fact(d["name"], "text", ("fields", n, "name"))
        decls.append(FieldDecl(d["name"], d["scale"], d["min"], d["max"]))
    raws = _array(top["routes"], ("routes",))
    if len(raws) > MAX_ROUTES:
        raise _bad(("routes",), f"more than {MAX_ROUTES} routes")
    routes: list[Route] = []
    for n, raw in enumerate(raws):
        r = _exact(raw, ROUTE_KEYS, ("routes", n))
        for key, kind in ROUTE_KINDS.items():
            _fact(r[key], kind, ("routes", n, key))
        for name in sorted(r["fields"], key=_bytes):
            if not _is_int(r["fields"][name]):
                raise _bad(("routes", n, "fields", str(name)), "expected an integer")
        route = Route(
            **{**r, "fields": tuple(sorted(r["fields"].items(), key=lambda f: _bytes(f[0])))}
        )
        # Strictly increasing bytes order: the hook's ranks and lookups rely on it.
        if routes and _order(routes[-1]) >= _order(route):
            raise _bad(("routes", n), "routes are not in provider-then-model byte order")
        routes.append(route)
    _fact(top["default_tier"], "text?", ("default_tier",))
    return Catalog(tuple(routes), tuple(tiers), top["default_tier"], tuple(decls))


def _order(r: Route) -> tuple[bytes, bytes]:
    return r.provider.encode("utf-8"), r.model.encode("utf-8")
