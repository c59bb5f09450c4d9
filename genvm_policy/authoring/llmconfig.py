"""Routes from GenVM's LLM config: the backends and models the node offers.

Spec: docs/SPEC.md §5.2 (Routes from GenVM's LLM config). Core module: values
in, values out. It makes every route, with its overlay facts at their defaults
(§5.3), as the core's `Route` value (`genvm_policy.core.catalog`, where
`MAX_ROUTES` and `MAX_NAME_BYTES` live too); `authoring.catalog_build` merges
the overlay into them. The core never imports this module.

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
4. Backends are checked in provider bytes order and each backend's models in
   model bytes order, so the first error is the same every run.
5. A route's family starts as the rule of §5.8 (`genvm_policy.core.family`) gives
   it; the overlay may override it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from genvm_policy.core.catalog import MAX_NAME_BYTES, MAX_ROUTES, Route
from genvm_policy.core.errors import Path, PolicyError, quote
from genvm_policy.core.family import family_of
from genvm_policy.core.numeric import MAX, NumberText

__all__ = ["MAX_NAME_BYTES", "MAX_ROUTES", "Route", "offered_routes"]

# Characters that are invisible or move text in logs and tables (rule 2): controls,
# format characters (zero-width, bidi overrides, BOM), line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_INT_TOKEN = re.compile(r"-?(?:0|[1-9][0-9]*)")
_MAX_DIGITS = len(str(MAX))


def _sorted_items(entries: Mapping[str, object]) -> list[tuple[str, object]]:
    return sorted(entries.items(), key=lambda item: str(item[0]).encode("utf-8", "replace"))


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
                    name,
                    model,
                    kind,
                    json,
                    image,
                    completion,
                    *chains,
                    priority,
                    family=family_of(name, model)[0],
                    tier=None,
                    price_in=None,
                    price_out=None,
                    context=None,
                    has_tee=False,
                    no_log=False,
                    fields=(),
                )
            )
    return offers if enabled and key else []


def offered_routes(node_config: Mapping[str, object]) -> list[Route]:
    """The routes GenVM's LLM config offers, in the order checked (rules 1 to 4).

    Overlay facts are left at their defaults for `build_catalog` to fill.
    Errors: `CAT_*` at paths into the node config.
    """
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
