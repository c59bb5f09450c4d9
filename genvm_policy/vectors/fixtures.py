"""Catalogs, requests and seeds shared by the policy vector generators.

Spec: docs/VECTORS.md §6.8 to §6.17. Shell module of the vector machinery:
`example_catalog` and `example_policies` read the repository's own
`examples/` at generation time; every other catalog is built here from a
node config written in this file, so the vectors regenerate from the
repository alone.

Rules:
1. `node`: GenVM-shaped node configs (the `backends:` map of the LLM module)
   in the two layouts GenVM ships: a greybox-chain config with backend
   priorities, and the default config without `meta`; and two that pin the
   `stock` selector: partial chains, and no chains with priorities.
2. `bytes_catalog` names its routes so that byte order differs from common
   collations: `Zeta` before `alpha`, ASCII before `é`, `ß`, `水`, `𝄞`.
3. `REQUESTS` covers every request class the hook sees: text, json and image
   prompts and the three templates.
"""

from __future__ import annotations

import re
from typing import Any

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.numeric import NumberText
from genvm_policy.core.prng import sha256
from genvm_policy.core.request import make_request, request_value
from genvm_policy.loaders.sources import load_document
from genvm_policy.resources import resource

__all__ = [
    "REQUESTS",
    "bytes_catalog",
    "catalog_of",
    "default_catalog",
    "example_catalog",
    "example_policies",
    "greybox_catalog",
    "partial_catalog",
    "priority_catalog",
    "request",
    "seed",
]


def _model(
    json: bool, image: bool, text: int | None = None, img: int | None = None, **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"supports_json": json, "supports_image": image, **extra}
    chains = {k: v for k, v in (("text", text), ("image", img)) if v is not None}
    if chains:
        spec["meta"] = {"greybox": chains}
    return spec


def _backend(
    kind: str, models: dict[str, Any], priority: int | None = None, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"provider": kind, "host": "https://x.invalid", "key": "${ENV[K]}"}
    entry.update(extra, models=models)
    if priority is not None:
        entry["meta"] = {"priority": priority}
    return entry


GREYBOX_NODE: dict[str, Any] = {
    "backends": {
        "openrouter": _backend(
            "openai-compatible",
            {
                "deepseek/deepseek-v3.2": _model(True, False, 1),
                "qwen/qwen3-235b-a22b": _model(True, False, 2),
                "anthropic/claude-haiku-4.5": _model(True, True, 3, 3),
                "moonshotai/kimi-k2": _model(True, False, 4),
                "openai/gpt-5.1-mini": _model(True, True, None, 1, use_max_completion_tokens=True),
                "google/gemini-3-flash": _model(True, True, None, 2),
                "openrouter/auto": _model(True, True),
            },
            priority=10,
        ),
        "heurist": _backend(
            "openai-compatible",
            {
                "meta-llama/llama-3.3-70b-instruct": _model(True, False, 6),
            },
        ),
        "ionet": _backend(
            "openai-compatible",
            {
                "meta-llama/Llama-3.3-70B-Instruct": _model(True, False, 7),
                "mistralai/Mistral-Large-Instruct-2411": _model(True, False, enabled=False),
            },
        ),
        "anthropic": _backend(
            "anthropic",
            {
                "claude-haiku-4-5-20251001": _model(False, True, 8, 4),
            },
            priority=-1,
        ),
        "offline": _backend("openai-compatible", {"m": _model(True, True, 9)}, key=""),
    }
}
"""A greybox-chain node (rule 1): positions per model, priorities, a keyless backend."""

DEFAULT_NODE: dict[str, Any] = {
    "backends": {
        "openai": _backend("openai-compatible", {"gpt-4o": _model(True, True, meta={})}),
        "heurist": _backend(
            "openai-compatible",
            {
                "meta-llama/llama-3.3-70b-instruct": _model(True, False),
            },
        ),
        "anthropic": _backend("anthropic", {"claude-3-7-sonnet-20250219": _model(False, True)}),
        "xai": _backend("openai-compatible", {"grok-2-1212": _model(True, False)}),
        "google": _backend("google", {"gemini-1.5-flash": _model(True, True)}),
        "atoma": _backend(
            "openai-compatible",
            {
                "meta-llama/Llama-3.3-70B-Instruct": _model(True, False),
            },
            enabled=False,
        ),
    }
}
"""GenVM's default node layout (rule 1): no `meta`, one disabled backend."""

PARTIAL_NODE: dict[str, Any] = {
    "backends": {
        "alpha": _backend(
            "openai-compatible",
            {"chat": _model(False, False, 1), "vision": _model(True, True)},
            priority=5,
        ),
        "beta": _backend("openai-compatible", {"m1": _model(True, False)}),
        "gamma": _backend(
            "openai-compatible",
            {"old": _model(False, False, 2), "x": _model(True, False)},
            priority=-2,
        ),
        "delta": _backend("anthropic", {"img": _model(False, True, None, 1)}, priority=5),
    }
}
"""Partial chains (rule 1): a text chain of routes without JSON support, an image
chain of one route without JSON support, and routes in no chain, with priorities."""

PRIORITY_NODE: dict[str, Any] = {
    "backends": {
        "a": _backend("openai-compatible", {"m": _model(True, True)}, priority=1),
        "b": _backend(
            "openai-compatible", {"m": _model(True, False), "n": _model(False, True)}, priority=3
        ),
        "c": _backend("google", {"m": _model(True, True)}),
        "d": _backend("anthropic", {"m": _model(True, True)}, priority=3),
        "e": _backend("openai-compatible", {"m": _model(True, False)}, priority=-1),
    }
}
"""No chains, backend priorities with ties (rule 1): the newer line's default order."""

BYTES_NODE: dict[str, Any] = {
    "backends": {
        "alpha": _backend(
            "openai-compatible",
            {
                "a": _model(True, True, 3, 1),
                "Z": _model(True, False, 3),
                "é": _model(False, True),
            },
        ),
        "Zeta": _backend(
            "openai-compatible", {"ß": _model(True, False, 1), "b": _model(True, True)}
        ),
        "é": _backend("anthropic", {"水": _model(False, False, 2)}, priority=3),
        "𝄞": _backend("google", {"z": _model(True, True, 0, 0)}),
    }
}
"""Route names whose byte order differs from common collations (rule 2)."""

BYTES_OVERLAY: dict[str, Any] = {
    "version": 1,
    "tiers": ["low", "mid", "top"],
    "default_tier": "mid",
    "fields": {"speed": {"scale": 1, "min": -100, "max": 1000}},
    "models": {
        "a": {"price_in": "0.5", "family": "fam"},
        "Z": {"price_in": "0.5", "family": "fam"},
    },
    "routes": {
        "Zeta": {
            "ß": {"price_in": "0.25", "tier": "top", "has_tee": True, "fields": {"speed": 90}},
            "b": {"price_in": "2", "tier": "low", "no_log": True, "fields": {"speed": "7.5"}},
        },
        "é": {"水": {"price_in": "0.5", "context": 8192, "family": "fam"}},
    },
}


def catalog_of(node: dict[str, Any], overlay: dict[str, Any] | None = None) -> Catalog:
    """The catalog of a node config and overlay written in this file."""
    return build_catalog(node, overlay)


def example_catalog() -> Catalog:
    """The catalog of `examples/node/` (config and overlay), read at generation time."""
    node = load_document(
        resource("examples").joinpath("node", "genvm-module-llm.yaml"), what="node config"
    )
    overlay = load_document(resource("examples").joinpath("node", "overlay.yaml"), what="overlay")
    return build_catalog(node, overlay)  # type: ignore[arg-type]  # build_catalog checks the shape


def greybox_catalog() -> Catalog:
    """The greybox-chain node of rule 1, without overlay."""
    return build_catalog(GREYBOX_NODE)


def default_catalog() -> Catalog:
    """GenVM's default node layout of rule 1, without overlay."""
    return build_catalog(DEFAULT_NODE)


def partial_catalog() -> Catalog:
    """The partial-chain node of rule 1, without overlay."""
    return build_catalog(PARTIAL_NODE)


def priority_catalog() -> Catalog:
    """The chainless node with priorities of rule 1, without overlay."""
    return build_catalog(PRIORITY_NODE)


def bytes_catalog() -> Catalog:
    """The collation-trap catalog of rule 2, with tiers, prices and a declared field."""
    return build_catalog(BYTES_NODE, BYTES_OVERLAY)


def example_policies(*, plain: bool = False) -> list[tuple[str, Any]]:
    """`(stem, authored document)` of every file of `examples/policies/`, by name.

    With `plain`, the loader's number tokens become integers (whole numbers)
    or text (decimals), as a vector input can hold them.
    """
    folder = resource("examples") / "policies"
    found = sorted(folder.iterdir(), key=lambda p: p.name.encode())
    docs = [(p.stem, load_document(p, what="policy")) for p in found]
    return [(stem, _plain(doc)) for stem, doc in docs] if plain else docs


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, NumberText):
        return int(value) if re.fullmatch(r"-?[0-9]+", value) else str(value)
    return value


def request(**fields: Any) -> dict[str, Any]:
    """The canonical value of a request with GenVM's defaults filled."""
    return request_value(make_request(**fields))


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("text", request()),
    ("json", request(format="json", prompt_bytes=2048, temperature=0, max_tokens=500)),
    ("image", request(images=2, prompt_bytes=100)),
    ("image_json", request(format="json", images=1)),
    ("comparative", request(entry="EqComparative", role="validator")),
    ("leader", request(entry="EqNonComparativeLeader", temperature=2000, role="leader")),
    ("validator", request(entry="EqNonComparativeValidator", max_tokens=1)),
]
"""Every request class (rule 3), by name."""


def seed(n: int) -> bytes:
    """The `n`-th 32-byte call key of the vectors: a hash, so no two share a prefix."""
    return sha256(b"genvm-policy vectors seed %d" % n)


def values(c: Catalog) -> Any:
    """Shorthand for the canonical catalog value."""
    return catalog_value(c)
