"""Catalog builders for the policy, decision, cascade, cost and bounds tests.

Catalogs are built by the real `build_catalog` from node-config and overlay
maps shaped like the files an operator writes; `big_catalog` makes one of any
size for the cost model and the resource bounds.
"""

from __future__ import annotations

from typing import Any

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog

# (provider, model, json, image, greybox_text, greybox_image, price_in, tier, quality, tee)
ROWS: list[tuple[str, str, bool, bool, int | None, int | None, str | None, str, int, bool]] = [
    ("router", "deepseek/v3", True, False, 1, None, "0.27", "basic", 70, False),
    ("router", "qwen/qwen3", True, False, 2, None, "0.15", "basic", 65, False),
    ("router", "anthropic/haiku", True, True, 3, 3, "1", "standard", 80, False),
    ("router", "openai/mini", True, True, None, 1, "0.4", "standard", 78, False),
    ("direct", "anthropic/haiku", True, True, 4, 2, "1", "standard", 80, True),
    ("direct", "llama/70b", False, False, 5, None, None, "basic", 60, True),
]


def node_config(rows: list[Any] | None = None) -> dict[str, Any]:
    """A GenVM LLM module config offering the given routes."""
    backends: dict[str, Any] = {}
    for provider, model, js, img, gt, gi, *_ in rows if rows is not None else ROWS:
        backend = backends.setdefault(
            provider, {"provider": "openai-compatible", "key": "k", "models": {}}
        )
        greybox = {k: v for k, v in (("text", gt), ("image", gi)) if v is not None}
        spec: dict[str, Any] = {"supports_json": js, "supports_image": img}
        if greybox:
            spec["meta"] = {"greybox": greybox}
        backend["models"][model] = spec
    return {"backends": backends}


def overlay(rows: list[Any] | None = None) -> dict[str, Any]:
    """An overlay with tiers, a `quality` field and per-route facts."""
    routes: dict[str, Any] = {}
    for provider, model, _, _, _, _, price, tier, quality, tee in rows or ROWS:
        facts: dict[str, Any] = {"tier": tier, "fields": {"quality": quality}, "has_tee": tee}
        if price is not None:
            facts["price_in"] = price
        routes.setdefault(provider, {})[model] = facts
    return {
        "version": 1,
        "tiers": ["basic", "standard", "premium"],
        "default_tier": "basic",
        "fields": {"quality": {"scale": 0, "min": 0, "max": 100}},
        "routes": routes,
    }


def catalog(rows: list[Any] | None = None) -> Catalog:
    """The catalog of `rows` (default `ROWS`)."""
    return build_catalog(node_config(rows), overlay(rows))


SEED = bytes(range(32))


def big_catalog(n: int) -> Catalog:
    """A catalog of `n` routes over backends of 100 models each, every tier and field set."""
    per = 100
    backends = {
        f"b{i:03d}": {
            "provider": "openai-compatible",
            "key": "k",
            "models": {
                f"m{j:04d}": {
                    "supports_json": j % 3 != 0,
                    "supports_image": j % 5 == 0,
                    "meta": {"greybox": {"text": j}},
                }
                for j in range(i * per, min(n, (i + 1) * per))
            },
        }
        for i in range(-(-n // per))
    }
    routes = {
        b: {
            m: {
                "tier": ["basic", "standard", "premium"][k % 3],
                "price_in": f"0.{k % 97}",
                "fields": {"quality": k % 101},
            }
            for k, m in enumerate(spec["models"])
        }
        for b, spec in backends.items()
    }
    return build_catalog(
        {"backends": backends},
        {
            "version": 1,
            "tiers": ["basic", "standard", "premium"],
            "default_tier": "basic",
            "fields": {"quality": {"scale": 0, "min": 0, "max": 100}},
            "routes": routes,
        },
    )
