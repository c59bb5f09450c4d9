"""Synthetic GenVM-shaped node configs and overlays at a given number of routes.

The configs have GenVM's LLM module layout (docs/SPEC.md §5.2): backends with a
provider kind, a templated key, `meta.priority`, and models with capability
flags and `meta.greybox` chain positions. The same model id is served by
several backends (so families span providers), a few backends and models are
disabled (dropped, as GenVM drops them; not at 10,000 routes, the limit), and
the overlay (§5.4) gives prices, context windows, tiers, a declared `quality`
field and per-route TEE/no-log facts. Everything is a pure function of the
size: two runs build the same catalog, so timings compare across runs.
"""

from __future__ import annotations

from typing import Any

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import MAX_ROUTES, Catalog

__all__ = ["SHAPES", "SIZES", "build", "node_config", "overlay"]

SIZES = (10, 100, 1000, 10000)
"""The catalog sizes, in routes."""

SHAPES = {10: (2, 5), 100: (10, 10), 1000: (20, 50), 10000: (100, 100)}
"""Routes = backends × enabled models per backend."""

_KINDS = ("openai-compatible", "anthropic", "google", "ollama")
_VENDORS = ("meta-llama", "anthropic", "openai", "mistralai", "qwen", "deepseek", "google")
_TIERS = ("basic", "standard", "premium")


def _shape(routes: int) -> tuple[int, int]:
    if routes not in SHAPES:
        raise ValueError(f"no catalog shape for {routes} routes; use one of {sorted(SHAPES)}")
    return SHAPES[routes]


def _model_id(j: int) -> str:
    return f"{_VENDORS[j % len(_VENDORS)]}/model-{j:05d}-instruct"


def _served(b: int, per: int) -> list[int]:
    """Model numbers backend `b` serves: a window over a pool twice as wide, so ids repeat."""
    pool = 2 * per
    return [(b * 3 + i) % pool for i in range(per)]


def node_config(routes: int) -> dict[str, Any]:
    """GenVM's LLM module config (V2 layout) with exactly `routes` kept routes."""
    backends_n, per = _shape(routes)
    backends: dict[str, object] = {}
    position = 0
    for b in range(backends_n):
        models: dict[str, object] = {}
        for j in _served(b, per):
            position += 1
            image = j % 3 == 0
            greybox: dict[str, object] = {"text": position} if j % 5 != 4 else {}
            if image:
                greybox["image"] = position
            models[_model_id(j)] = {
                "supports_json": j % 4 != 3,
                "supports_image": image,
                "use_max_completion_tokens": j % 7 == 0,
                "meta": {"greybox": greybox},
            }
        # One disabled model per backend: checked, then dropped (§5.2 rule 5); left out
        # at the largest size, where every model entry counts towards the route limit.
        if routes < MAX_ROUTES:
            models[f"retired/model-{b:03d}"] = {"enabled": False, "supports_json": True}
        backends[f"backend-{b:03d}"] = {
            "provider": _KINDS[b % len(_KINDS)],
            "host": f"https://llm-{b:03d}.example.net/v1",
            "key": f"${{ENV[BACKEND_{b:03d}_KEY]}}",
            "meta": {"priority": (b * 7) % 11 - 5},
            "models": models,
        }
    if routes < MAX_ROUTES:
        backends["disabled-backend"] = {
            "enabled": False,
            "provider": "ollama",
            "key": "${ENV[LOCAL_KEY]}",
            "models": {"llama3.3": {"supports_json": True}},
        }
    return {
        "lua_script_path": "${exeDir}/../config/genvm-llm-policy.lua",
        "lua_path": "${exeDir}/../lib/genvm-lua/?.lua",
        "vm_count": 4,
        "timeout": "2m",
        "backends": backends,
    }


def _price(j: int, base: int) -> str:
    """A decimal price text in USD per million tokens, exact at scale 6."""
    cents = base + (j * 37) % 1500
    return f"{cents // 100}.{cents % 100:02d}"


def overlay(routes: int) -> dict[str, object]:
    """The operator overlay for `node_config(routes)`: facts for every model, some per route."""
    backends_n, per = _shape(routes)
    served = sorted({j for b in range(backends_n) for j in _served(b, per)})
    models: dict[str, object] = {}
    for j in served:
        facts: dict[str, object] = {
            "price_in": _price(j, 5),
            "price_out": _price(j, 40),
            "context": 8192 * (1 + j % 16),
            "tier": _TIERS[j % 3],
            "fields": {"quality": 40 + (j * 13) % 61},
        }
        if j % 9 == 0:
            facts["family"] = f"family-{j % 27}"
        if j % 11 == 10:
            del facts["price_in"]  # an unknown price: filters on price leave these out
        models[_model_id(j)] = facts
    per_route: dict[str, object] = {}
    for b in range(0, backends_n, 2):
        j = _served(b, per)[0]
        per_route[f"backend-{b:03d}"] = {
            _model_id(j): {"has_tee": b % 4 == 0, "no_log": True, "fields": {"quality": 99}}
        }
    return {
        "version": 1,
        "tiers": list(_TIERS),
        "default_tier": "standard",
        "fields": {"quality": {"scale": 0, "min": 0, "max": 100}},
        "models": models,
        "routes": per_route,
    }


def build(routes: int) -> Catalog:
    """The catalog of `routes` routes, built through `build_catalog` as the CLI builds it."""
    catalog = build_catalog(node_config(routes), overlay(routes))
    if len(catalog.routes) != routes:
        raise AssertionError(f"built {len(catalog.routes)} routes, expected {routes}")
    return catalog
