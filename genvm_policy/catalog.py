"""The validator catalog: the routes GenVM offers, with the operator's facts.

Spec: docs/SPEC.md §5 (The validator catalog). Core module: values in, values out.

Rules:
1. A route is `(provider, model)`: a backend name of GenVM's LLM config and a
   model id under it. A backend that is disabled, whose `key` is empty or
   absent, or that has no enabled model offers no route; a disabled model
   offers none. `${...}` templates stay text: a templated key counts as set.
2. Names are 1 … 256 bytes of NFC UTF-8 without an invisible or control
   character: none of categories Cc, Cf, Zl, Zp, nor a space other than U+0020
   (`CAT_NAME`). At most 10,000 model entries in all (counted before any is
   checked, so an oversized config is refused in time linear in its backends)
   and so at most 10,000 routes (`CAT_TOO_MANY`); no route is `CAT_EMPTY`.
3. Greybox chain positions (`meta.greybox.text`, `.image`) are integers in
   0 … MAX and a backend's `meta.priority` in −MAX … MAX, written as integer
   tokens (`CAT_INTEGER`): the hook reads them as Lua integers. A token of more
   digits than MAX has is out of range before it is converted.
4. Routes are sorted by provider bytes, then model bytes. Backends and models
   are checked in that order too, so the first error is the same every run.
5. Overlay facts apply per model id, then per route (a route's fact wins);
   an entry for a model or route the config does not offer is
   `OVL_UNKNOWN_ROUTE`. Family defaults to the model id; tier to the overlay's
   `default_tier`.
6. The GenVM view is what the hook sees of the catalog: per route provider,
   model, json, image, max_completion_tokens, greybox positions, priority.
   `genvm_view` and `view_from_providers` give the same value for the same
   config; a position that is not an integer in range is absent in the view.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from genvm_policy.encoding import Value
from genvm_policy.errors import Path, PolicyError, quote
from genvm_policy.identity import identity
from genvm_policy.numeric import MAX, NumberText
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

VERSION = 1
MAX_ROUTES = 10_000
MAX_NAME_BYTES = 256
# Characters that are invisible or move text in logs and tables (rule 2): controls,
# format characters (zero-width, bidi overrides, BOM), line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_INT_TOKEN = re.compile(r"-?(?:0|[1-9][0-9]*)")
_MAX_DIGITS = len(str(MAX))


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
class Catalog:
    """The routes in provider-then-model bytes order, tiers low to high, declared fields."""

    routes: tuple[Route, ...]
    tiers: tuple[str, ...]
    default_tier: str | None
    fields: tuple[FieldDecl, ...]
    _index: dict[tuple[str, str], Route] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {(r.provider, r.model): r for r in self.routes}
        object.__setattr__(self, "_index", index)

    def route(self, provider: str, model: str) -> Route | None:
        """The route `(provider, model)`, or None when the catalog does not offer it."""
        return self._index.get((provider, model))

    def names(self) -> list[tuple[str, str]]:
        """Every route's `(provider, model)` in `routes` order, each pair once."""
        return list(self._index)


def _key(provider: str, model: str) -> tuple[bytes, bytes]:
    return provider.encode("utf-8"), model.encode("utf-8")


def _sorted_items(entries: Mapping[str, object]) -> list[tuple[str, object]]:
    return sorted(entries.items(), key=lambda item: str(item[0]).encode("utf-8", "replace"))


# -- reading the node config ---------------------------------------------------


def _name(name: object, path: Path, what: str) -> str:
    if not isinstance(name, str):
        raise PolicyError("CAT_NAME", path, f"{what} name is not text")
    size = len(name.encode("utf-8", "replace"))
    problem = None
    if not 1 <= size <= MAX_NAME_BYTES:
        problem = f"is {size} bytes long; 1 … {MAX_NAME_BYTES} are allowed"
    elif (hidden := _hidden(name)) is not None:
        problem = f"holds the invisible or control character U+{ord(hidden):04X}"
    elif unicodedata.normalize("NFC", name) != name:
        problem = "is not in unicode nfc"
    if problem is not None:
        raise PolicyError("CAT_NAME", path, f"{what} name {quote(name, 64)} {problem}")
    return name


def _hidden(name: str) -> str | None:
    if name.isprintable():
        return None  # `isprintable` is false for every character rule 2 refuses
    for ch in name:
        category = unicodedata.category(ch)
        if category in _HIDDEN or (category == "Zs" and ch != " "):
            return ch
    return None


def _map(value: object, path: Path, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise PolicyError("CAT_TYPE", path, f"{what} must be a map")
    return value


def _flag(entry: Mapping[str, object], key: str, default: bool, path: Path) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise PolicyError(
            "CAT_TYPE", (*path, key), f"`{key}` must be `true` or `false`", "write it unquoted"
        )
    return value


def _integer(value: object, path: Path, lo: int) -> int:
    """An integer token the hook will read as a Lua integer (rule 3)."""
    if isinstance(value, NumberText) and _INT_TOKEN.fullmatch(value):
        if len(value.lstrip("-")) > _MAX_DIGITS:
            # Out of range whatever the digits; also keeps Python's int-text limit away.
            raise PolicyError("CAT_INTEGER", path, f"{quote(value, 32)} is outside {lo} … {MAX}")
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise PolicyError(
            "CAT_INTEGER",
            path,
            f"{quote(value, 64)} is not an integer",
            "write a whole number without quotes, like `1`",
        )
    if not lo <= number <= MAX:
        raise PolicyError("CAT_INTEGER", path, f"{quote(value, 64)} is outside {lo} … {MAX}")
    return number


def _greybox(meta: object, path: Path) -> tuple[int | None, int | None]:
    if not isinstance(meta, Mapping) or meta.get("greybox") is None:
        return None, None
    chains = _map(meta["greybox"], (*path, "greybox"), "`meta.greybox`")
    text, image = chains.get("text"), chains.get("image")
    return (
        None if text is None else _integer(text, (*path, "greybox", "text"), 0),
        None if image is None else _integer(image, (*path, "greybox", "image"), 0),
    )


def _backend_offers(name: str, entry: Mapping[str, object], path: Path) -> list[Route]:
    enabled = _flag(entry, "enabled", True, path)
    kind = entry.get("provider")
    if not isinstance(kind, str) or not kind:
        raise PolicyError("CAT_TYPE", (*path, "provider"), "`provider` must be a provider kind")
    key = entry.get("key", "")
    if not isinstance(key, str):
        raise PolicyError("CAT_TYPE", (*path, "key"), "`key` must be text")
    meta = entry.get("meta")
    priority = None
    if isinstance(meta, Mapping) and meta.get("priority") is not None:
        priority = _integer(meta["priority"], (*path, "meta", "priority"), -MAX)
    models = _map(entry.get("models"), (*path, "models"), "`models`")
    offers = []
    for model, raw in _sorted_items(models):
        where = (*path, "models", model)
        _name(model, where, "model")
        spec = _map(raw, where, f"model {quote(model, 64)}")
        json = _flag(spec, "supports_json", False, where)
        image = _flag(spec, "supports_image", False, where)
        completion = _flag(spec, "use_max_completion_tokens", False, where)
        chains = _greybox(spec.get("meta"), (*where, "meta"))
        if _flag(spec, "enabled", True, where):
            offers.append(
                Route(
                    name, model, kind, json, image, completion, *chains, priority,
                    family=model, tier=None, price_in=None, price_out=None, context=None,
                    has_tee=False, no_log=False, fields=(),
                )
            )  # fmt: skip
    return offers if enabled and key else []


def _offers(node_config: Mapping[str, object]) -> list[Route]:
    backends = node_config.get("backends") if isinstance(node_config, Mapping) else None
    if not isinstance(backends, Mapping):
        raise PolicyError(
            "CAT_SHAPE",
            ("backends",),
            "the node config has no `backends` map",
            "pass GenVM's LLM module config (genvm-module-llm.yaml)",
        )
    maps = [e.get("models") for e in backends.values() if isinstance(e, Mapping)]
    entries = sum(len(models) for models in maps if isinstance(models, Mapping))
    if entries > MAX_ROUTES:
        raise PolicyError(
            "CAT_TOO_MANY",
            ("backends",),
            f"{entries} model entries; at most {MAX_ROUTES} are allowed",
            "disabled models count too: remove the ones GenVM should not offer",
        )
    offers: list[Route] = []
    for name, entry in _sorted_items(backends):
        path: Path = ("backends", name)
        _name(name, path, "provider")
        offers.extend(_backend_offers(name, _map(entry, path, f"backend {quote(name, 64)}"), path))
    if not offers:
        raise PolicyError(
            "CAT_EMPTY",
            ("backends",),
            "no backend offers an enabled model with a key",
            "enable a backend and a model; GenVM will not start without one",
        )
    return offers


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
    """Build the catalog from GenVM's LLM config and an optional overlay (rules 1 to 5).

    Errors: `CAT_*` at paths into the node config; `OVL_*` and number codes at
    paths into the overlay.
    """
    offers = _offers(node_config)
    checked = parse_overlay(overlay) if overlay is not None else Overlay()
    _check_entries(checked, offers)
    per_model = dict(checked.models)
    per_route = {(p, m): facts for p, m, facts in checked.routes}
    routes = []
    for o in sorted(offers, key=lambda o: _key(o.provider, o.model)):
        facts = _merge(
            per_model.get(o.model, Facts()), per_route.get((o.provider, o.model), Facts())
        )
        routes.append(
            replace(
                o,
                family=facts.family if facts.family is not None else o.model,
                tier=facts.tier if facts.tier is not None else checked.default_tier,
                price_in=facts.price_in,
                price_out=facts.price_out,
                context=facts.context,
                has_tee=bool(facts.has_tee),
                no_log=bool(facts.no_log),
                fields=facts.fields,
            )
        )
    return Catalog(tuple(routes), checked.tiers, checked.default_tier, checked.fields)


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
