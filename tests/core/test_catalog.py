"""The validator catalog (SPEC §5): GenVM's config plus the overlay, canonical and hashed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from support.fixturepaths import GENVM_FIXTURES

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import (
    MAX_ROUTES,
    catalog_identity,
    catalog_value,
    genvm_view,
    view_from_providers,
    view_identity,
)
from genvm_policy.core.encoding import encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import identity
from genvm_policy.loaders.sources import Document, parse_document

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = GENVM_FIXTURES
EXAMPLES = ROOT / "examples" / "node"


def _yaml(text: str) -> Any:
    return parse_document(text.encode(), "yaml")


def _load(path: Path) -> Any:
    return parse_document(path.read_bytes(), path.suffix.lstrip(".").replace("yml", "yaml"))


def _error(config: Any, overlay: Any = None) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        build_catalog(config, overlay)
    return info.value


BASE = """
backends:
  openai:
    provider: openai-compatible
    key: ${ENV[K]}
    models:
      gpt-4o: {supports_json: true, supports_image: true, meta: {greybox: {text: 1}}}
  router:
    provider: openai-compatible
    key: ${ENV[R]}
    meta: {priority: 3}
    models:
      gpt-4o: {supports_json: true}
      llama: {supports_json: false}
"""


# -- GenVM fixtures and the bundled example ------------------------------------


def test_v1_fixture() -> None:
    c = build_catalog(_load(FIXTURES / "llm-default-config.yaml"))
    assert [(r.provider, r.model) for r in c.routes] == [
        ("anthropic", "claude-3-7-sonnet-20250219"),
        ("google", "gemini-1.5-flash"),
        ("heurist", "meta-llama/llama-3.3-70b-instruct"),
        ("openai", "gpt-4o"),
        ("xai", "grok-2-1212"),
    ]
    claude = c.route("anthropic", "claude-3-7-sonnet-20250219")
    assert claude is not None and (claude.json, claude.image, claude.kind) == (
        False,
        True,
        "anthropic",
    )
    assert c.route("atoma", "meta-llama/Llama-3.3-70B-Instruct") is None


def test_v2_greybox_fixture() -> None:
    c = build_catalog(_load(FIXTURES / "genvm-module-llm.v2-greybox.yaml"))
    assert len(c.routes) == 11
    assert {r.provider for r in c.routes} == {"anthropic", "heurist", "ionet", "openrouter"}
    haiku = c.route("openrouter", "anthropic/claude-haiku-4.5")
    assert haiku is not None
    assert (haiku.greybox_text, haiku.greybox_image, haiku.priority) == (3, 3, 10)
    mini = c.route("openrouter", "openai/gpt-5.1-mini")
    assert mini is not None and mini.max_completion_tokens and mini.greybox_text is None
    direct = c.route("anthropic", "claude-haiku-4-5-20251001")
    assert direct is not None and direct.priority == -1 and direct.greybox_image is None
    assert c.route("ionet", "mistralai/Mistral-Large-Instruct-2411") is None


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*.y*ml")) if FIXTURES.is_dir() else [], ids=str
)
def test_every_shared_fixture_loads(path: Path) -> None:
    c = build_catalog(_load(path))
    assert c.routes and catalog_identity(c).startswith("sha256:")
    keys = [(r.provider.encode(), r.model.encode()) for r in c.routes]
    assert keys == sorted(keys)


def test_example_with_overlay() -> None:
    c = build_catalog(_load(EXAMPLES / "genvm-module-llm.yaml"), _load(EXAMPLES / "overlay.yaml"))
    gateway = c.route("gateway", "meta-llama/llama-3.3-70b-instruct")
    router = c.route("router", "meta-llama/llama-3.3-70b-instruct")
    assert gateway is not None and router is not None
    assert (gateway.price_in, router.price_in) == (100_000, 130_000)
    assert gateway.family == router.family == "llama-3.3-70b"
    assert c.family_origin(gateway) == "rule"
    assert gateway.has_tee and not router.has_tee and router.context == 131072
    direct = c.route("anthropic", "claude-sonnet-4-20250514")
    routed = c.route("router", "anthropic/claude-sonnet-4")
    assert direct is not None and routed is not None and direct.family == routed.family
    mini = c.route("router", "openai/gpt-4.1-mini")
    assert mini is not None and mini.tier == "standard" and mini.fields == (("quality", 80),)
    assert c.route("local", "llama3.3") is None
    assert c.route("router", "mistralai/mistral-large") is None
    assert [d.name for d in c.fields] == ["quality"]


# -- the GenVM view -------------------------------------------------------------


def _genvm_providers(config: dict[str, Any]) -> dict[str, Any]:
    """What GenVM puts in `__llm.providers` (GENVM.md §4), written apart from the catalog."""
    out: dict[str, Any] = {}
    for name, backend in config["backends"].items():
        models = {
            model_id: {
                "enabled": True,
                "supports_json": spec.get("supports_json", False),
                "supports_image": spec.get("supports_image", False),
                "use_max_completion_tokens": spec.get("use_max_completion_tokens", False),
                "meta": _lua_numbers(spec.get("meta")),
            }
            for model_id, spec in backend["models"].items()
            if spec.get("enabled", True)
        }
        if backend.get("enabled", True) and backend.get("key") and models:
            out[name] = {"models": models, "meta": _lua_numbers(backend.get("meta"))}
    return out


def _lua_numbers(value: Any) -> Any:
    """Number tokens as the Lua host sees them: integers or floats."""
    if isinstance(value, dict):
        return {k: _lua_numbers(v) for k, v in value.items()}
    if isinstance(value, str) and type(value) is not str:
        return int(value) if value.lstrip("-").isdigit() else float(value)
    return value


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "llm-default-config.yaml",
        FIXTURES / "genvm-module-llm.v2-greybox.yaml",
        EXAMPLES / "genvm-module-llm.yaml",
    ],
    ids=str,
)
def test_view_matches_what_genvm_exposes(path: Path) -> None:
    config = _load(path)
    c = build_catalog(config)
    assert encode(genvm_view(c)) == encode(view_from_providers(_genvm_providers(config)))
    assert view_identity(c) == identity("genvm-view", genvm_view(c))


def test_view_ignores_overlay_and_hosts_and_keys() -> None:
    config = _yaml(BASE)
    plain = build_catalog(config)
    config["backends"]["openai"]["key"] = "${ENV[OTHER]}"
    config["backends"]["openai"]["host"] = "https://elsewhere.example"
    facts = _yaml("version: 1\nmodels:\n  llama: {price_in: 1}\n")
    priced = build_catalog(config, facts)
    assert view_identity(plain) == view_identity(priced)
    assert catalog_identity(plain) != catalog_identity(priced)
    view = json.dumps(genvm_view(priced))
    assert "ENV" not in view and "openai-compatible" not in view and "price" not in view


def test_view_from_providers_drops_what_the_hook_cannot_read() -> None:
    providers = {
        "b": {"meta": {"priority": 2.0}, "models": {"m": {"meta": {"greybox": {"text": 1.5}}}}},
        "a": {"models": {"x": {"enabled": False}, "y": {"supports_json": True, "meta": None}}},
    }
    view = view_from_providers(providers)
    assert isinstance(view, dict)
    assert [(r["provider"], r["model"]) for r in view["routes"]] == [("a", "y"), ("b", "m")]
    assert view["routes"][1]["priority"] is None and view["routes"][1]["greybox_text"] is None


# -- GenVM's dropping rules and the node-config checks ------------------------------


def test_dropped_backends_and_models() -> None:
    config = _yaml(BASE)
    config["backends"]["router"]["key"] = ""
    config["backends"]["openai"]["models"]["gpt-4o"]["enabled"] = False
    config["backends"]["extra"] = {"provider": "ollama", "models": {"z": {}}}
    with pytest.raises(PolicyError) as info:
        build_catalog(config)
    assert (info.value.code, info.value.path) == ("CAT_EMPTY", ("backends",))
    config["backends"]["extra"]["key"] = "${ENV[Z]}"
    assert [(r.provider, r.model) for r in build_catalog(config).routes] == [("extra", "z")]


@pytest.mark.parametrize(
    ("edit", "code", "token"),
    [
        (("openai", "models", "gpt-4o", "meta", "greybox", "text"), "CAT_INTEGER", "1.5"),
        (("openai", "models", "gpt-4o", "meta", "greybox", "text"), "CAT_INTEGER", "-1"),
        (("router", "meta", "priority"), "CAT_INTEGER", "high"),
        (("router", "enabled"), "CAT_TYPE", "yes"),
        (("router", "models", "llama", "supports_json"), "CAT_TYPE", "'true'"),
        (("router", "provider"), "CAT_TYPE", None),
    ],
)
def test_node_config_errors(edit: tuple[str, ...], code: str, token: str | None) -> None:
    config = _yaml(BASE)
    target = config["backends"]
    for key in edit[:-1]:
        target = target[key]
    target[edit[-1]] = _yaml(f"v: {token}")["v"] if token else None
    err = _error(config)
    assert (err.code, err.path) == (code, ("backends", *edit))
    assert err.message.islower() or "`" in err.message


@pytest.mark.parametrize(
    "name",
    ["", "x" * 257, "bad\tname", "cafe\u0301", "\x7f"],
    ids=["empty", "long", "tab", "nfd", "del"],
)
def test_bad_names(name: str) -> None:
    config = _yaml(BASE)
    config["backends"]["router"]["models"][name] = {}
    err = _error(config)
    assert (err.code, err.path) == ("CAT_NAME", ("backends", "router", "models", name))


def test_too_many_routes() -> None:
    models: dict[str, dict[str, Any]] = {f"m{i}": {} for i in range(MAX_ROUTES + 1)}
    config = {"backends": {"big": {"provider": "ollama", "key": "k", "models": models}}}
    assert _error(config).code == "CAT_TOO_MANY"
    del models["m0"]
    assert len(build_catalog(config).routes) == MAX_ROUTES


def test_no_backends() -> None:
    assert (_error({"backend": {}}).code, _error([]).path) == ("CAT_SHAPE", ("backends",))


# -- the overlay ----------------------------------------------------------------


L = ("models", "llama")


@pytest.mark.parametrize(
    ("overlay", "code", "path"),
    [
        ("models: {llama: {context: 128000.5}}", "NUM_INEXACT", (*L, "context")),
        ("models: {llama: {price_in: 0.0000001}}", "NUM_INEXACT", (*L, "price_in")),
        ("models: {llama: {price_in: -1}}", "NUM_RANGE", (*L, "price_in")),
        ("models: {llama: {price_in: [1]}}", "NUM_TYPE", (*L, "price_in")),
        ("models: {llama: {prize_in: 1}}", "OVL_UNKNOWN_FIELD", (*L, "prize_in")),
        ("colour: red", "OVL_UNKNOWN_FIELD", ("colour",)),
        ("models: {gpt-5: {tier: basic}}", "OVL_UNKNOWN_ROUTE", ("models", "gpt-5")),
        ("routes: {openai: {llama: {}}}", "OVL_UNKNOWN_ROUTE", ("routes", "openai", "llama")),
        ("routes: {nobody: {llama: {}}}", "OVL_UNKNOWN_ROUTE", ("routes", "nobody")),
        ("models: {llama: {tier: gold}}", "OVL_TIER", (*L, "tier")),
        ("default_tier: gold", "OVL_TIER", ("default_tier",)),
        ("tiers: [a, a]", "OVL_NAME", ("tiers", 1)),
        ("models: {llama: {tier: 1}}", "OVL_TYPE", (*L, "tier")),
        ("models: {llama: {has_tee: 'yes'}}", "OVL_TYPE", (*L, "has_tee")),
        ("models: [llama]", "OVL_TYPE", ("models",)),
        ("fields: {q: {scale: 0, min: 0}}", "OVL_MISSING", ("fields", "q", "max")),
        ("fields: {q: {min: 5, max: 1}}", "OVL_BOUNDS", ("fields", "q")),
        ("fields: {price_in: {min: 0, max: 1}}", "OVL_NAME", ("fields", "price_in")),
        ("fields: {q: {scale: 10, min: 0, max: 1}}", "NUM_RANGE", ("fields", "q", "scale")),
        ("models: {llama: {fields: {q: 1}}}", "OVL_FIELD", (*L, "fields", "q")),
        (
            "fields: {q: {scale: 1, min: 0, max: 10}}\nmodels: {llama: {fields: {q: 10.5}}}",
            "NUM_RANGE",
            (*L, "fields", "q"),
        ),
    ],
)
def test_overlay_errors(overlay: str, code: str, path: tuple[str | int, ...]) -> None:
    err = _error(_yaml(BASE), _yaml("version: 1\n" + overlay))
    assert (err.code, err.path) == (code, path)
    assert "pydantic" not in err.render().lower() and "\n" not in err.render()


@pytest.mark.parametrize("overlay", ["version: 2", "version: '1'", "tiers: [a]", "version: 1.0"])
def test_overlay_version(overlay: str) -> None:
    err = _error(_yaml(BASE), _yaml(overlay))
    assert (err.code, err.path) == ("OVL_VERSION", ("version",))


def test_route_facts_override_model_facts() -> None:
    overlay = _yaml(
        "version: 1\ndefault_tier: basic\nfields: {q: {scale: 2, min: 0, max: 1}}\n"
        "models: {gpt-4o: {price_in: '2.5', tier: premium, fields: {q: 0.5}}}\n"
        "routes: {router: {gpt-4o: {price_in: 2, family: gpt4, fields: {q: 0.25}}}}\n"
    )
    c = build_catalog(_yaml(BASE), overlay)
    direct, routed, llama = (
        c.route("openai", "gpt-4o"),
        c.route("router", "gpt-4o"),
        c.route("router", "llama"),
    )
    assert direct is not None and routed is not None and llama is not None
    assert (direct.price_in, routed.price_in) == (2_500_000, 2_000_000)
    assert (direct.tier, routed.tier, llama.tier) == ("premium", "premium", "basic")
    assert (direct.family, routed.family) == ("gpt-4o", "gpt4")
    assert (direct.fields, routed.fields, llama.fields) == ((("q", 50),), (("q", 25),), ())


# -- identity properties ------------------------------------------------------------

NAMES = st.text(alphabet="abcxyz-/.", min_size=1, max_size=6)
MODEL = st.fixed_dictionaries(
    {"supports_json": st.booleans(), "supports_image": st.booleans()},
    optional={
        "use_max_completion_tokens": st.booleans(),
        "meta": st.fixed_dictionaries(
            {}, optional={"greybox": st.fixed_dictionaries({}, optional={
                "text": st.integers(0, 50), "image": st.integers(0, 50)})}
        ),
    },
)  # fmt: skip  # a table laid out by hand in rows
BACKEND = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["openai-compatible", "anthropic", "google", "ollama"]),
        "key": st.sampled_from(["${ENV[A]}", "${ENV[B]}", "literal"]),
        "host": st.sampled_from(["https://a.example", "https://b.example"]),
        "models": st.dictionaries(NAMES, MODEL, min_size=1, max_size=4),
    },
    optional={"meta": st.fixed_dictionaries({"priority": st.integers(-5, 5)})},
)
CONFIG = st.fixed_dictionaries(
    {"backends": st.dictionaries(NAMES, BACKEND, min_size=1, max_size=4)}
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    return value


def _render(config: Any, style: int) -> dict[str, Document]:
    """Write `config` in one of several YAML spellings and load it back."""
    if style == 0:
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    elif style == 1:
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=True, width=10_000)
    else:
        text = json.dumps(config, indent=style - 2)
    doc = parse_document(text.encode(), "yaml")
    assert isinstance(doc, dict)
    return doc


@given(CONFIG, st.randoms(use_true_random=False), st.integers(0, 4), st.integers(0, 4))
def test_identity_ignores_key_order_and_style(
    config: Any, rng: random.Random, style_a: int, style_b: int
) -> None:
    first = build_catalog(_render(config, style_a))
    second = build_catalog(_render(_shuffled(config, rng), style_b))
    assert catalog_identity(first) == catalog_identity(second)
    assert view_identity(first) == view_identity(second)
    assert catalog_value(first) == catalog_value(second)


def _spellings(units: int) -> list[str]:
    """Equal decimal spellings of `units` micro-USD, quoted and as number tokens."""
    whole, frac = divmod(units, 10**6)
    plain = f"{whole}.{frac:06d}"
    return [
        plain,
        plain.rstrip("0").rstrip(".") or "0",
        f"{units}e-6",
        f'"{plain}0"',
        f"{units * 10}E-7",
    ]


@given(st.integers(0, 10**12), st.data())
def test_identity_ignores_number_spelling(units: int, data: st.DataObject) -> None:
    spellings = _spellings(units)
    a, b = data.draw(st.sampled_from(spellings)), data.draw(st.sampled_from(spellings))
    one = build_catalog(_yaml(BASE), _yaml(f"version: 1\nmodels: {{llama: {{price_out: {a}}}}}"))
    two = build_catalog(_yaml(BASE), _yaml(f"version: 1\nmodels: {{llama: {{price_out: {b}}}}}"))
    assert catalog_identity(one) == catalog_identity(two)
    route = one.route("router", "llama")
    assert route is not None and route.price_out == units


FACTS = [
    ("price_in", "0.15", "0.16"),
    ("price_out", "1", "1.000001"),
    ("context", "8192", "8193"),
    ("tier", "basic", "premium"),
    ("family", "llama", "llama-3"),
    ("has_tee", "false", "true"),
    ("no_log", "true", "false"),
]


@given(st.sampled_from(FACTS), st.booleans())
def test_identity_changes_with_any_fact(fact: tuple[str, str, str], per_route: bool) -> None:
    key, old, new = fact
    where = "routes: {router: {llama: {%s: %s}}}" if per_route else "models: {llama: {%s: %s}}"
    one = build_catalog(_yaml(BASE), _yaml("version: 1\n" + where % (key, old)))
    two = build_catalog(_yaml(BASE), _yaml("version: 1\n" + where % (key, new)))
    assert catalog_identity(one) != catalog_identity(two)


@given(CONFIG, st.data())
def test_identity_changes_with_any_node_fact(config: Any, data: st.DataObject) -> None:
    backend = data.draw(st.sampled_from(sorted(config["backends"])))
    models = config["backends"][backend]["models"]
    model = data.draw(st.sampled_from(sorted(models)))
    key = data.draw(
        st.sampled_from(["supports_json", "supports_image", "use_max_completion_tokens"])
    )
    changed = json.loads(json.dumps(config))
    changed["backends"][backend]["models"][model][key] = not models[model].get(key, False)
    one, two = build_catalog(_render(config, 0)), build_catalog(_render(changed, 0))
    assert catalog_identity(one) != catalog_identity(two)
    assert view_identity(one) != view_identity(two)
