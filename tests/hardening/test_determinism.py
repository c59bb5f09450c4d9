"""Determinism under stress: identities and decisions do not depend on order or locale.

Spec: docs/SPEC.md §2.2 (map order), §5.5 (catalog identity: key order and
backend order do not change it), §7.3 (policy identity), §9 (decision), and
DESIGN invariant 3 (never locale collation). Figures: docs/RELIABILITY.md.

Rules checked:
1. Shuffling every map's key order in the node config, the overlay and the
   policy (so backends come in another order too) leaves the catalog, view,
   policy and decision identities unchanged, in YAML, JSON and TOML.
2. `genvm-policy decide --json` prints the same bytes under `LC_ALL=C`,
   `C.UTF-8` and `sv_SE.UTF-8`, whose collation orders `Z`/`a` and `v`/`w`
   unlike bytes; the test first proves the locale is live in the child.
3. The Lua runtime's canonical encoding and identity, run by the stand-alone
   `lua5.3` with the process locale switched on, give the reference's bytes
   under both locales; fresh `lupa` states (new string-hash seeds) and tables
   built in any insertion order agree too.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.drivers import driver_path
from support.fuzzing import EMITTERS
from support.luasandbox import ROOT, new_state

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import catalog_identity, view_identity
from genvm_policy.core.decision import decide
from genvm_policy.core.encoding import encode
from genvm_policy.core.identity import identity
from genvm_policy.core.request import make_request
from genvm_policy.loaders.sources import load_document, parse_document

EXAMPLES = ROOT / "examples"
NODE = EXAMPLES / "node" / "genvm-module-llm.yaml"
OVERLAY = EXAMPLES / "node" / "overlay.yaml"
POLICIES = sorted((EXAMPLES / "policies").iterdir())
CLI = [sys.executable, "-m", "genvm_policy.cli"]

# Keys whose order C and sv_SE collation disagree on, and bytes order settles.
COLLATION_KEYS = ["Z", "a", "v", "w", "ä", "z", "å", "ö", "é", "e", "B", "b"]


def _shuffled(doc: Any, rng: random.Random) -> Any:
    if isinstance(doc, dict):
        items = [(k, _shuffled(v, rng)) for k, v in doc.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(doc, list):
        return [_shuffled(v, rng) for v in doc]
    return doc


def _identities(node: Any, overlay: Any, policy: Any) -> tuple[str, ...]:
    catalog = build_catalog(node, overlay)
    admitted = admit(policy, catalog)
    d = decide(catalog, admitted, make_request(format="json"), b"\x07" * 32)
    return catalog_identity(catalog), view_identity(catalog), admitted.identity, d.identity


# -- rule 1: key and backend order ------------------------------------------------------


@pytest.mark.parametrize("policy_file", POLICIES, ids=lambda p: p.name)
def test_identities_ignore_key_and_backend_order(policy_file: Path) -> None:
    node = load_document(NODE, what="node config")
    overlay = load_document(OVERLAY, what="overlay")
    policy = load_document(policy_file, what="policy")
    expected = _identities(node, overlay, policy)

    @settings(max_examples=15)
    @given(st.randoms(use_true_random=False), st.sampled_from(["yaml", "json"]))
    def run(rng: random.Random, fmt: str) -> None:
        again = [
            parse_document(EMITTERS[fmt](_shuffled(doc, rng)).encode(), fmt)
            for doc in (node, overlay, policy)
        ]
        assert _identities(*again) == expected

    run()


def test_a_toml_policy_equals_its_yaml_spelling_in_any_order() -> None:
    policy = load_document(EXAMPLES / "policies" / "jittered.toml", what="policy")
    rng = random.Random(14)
    toml = parse_document(EMITTERS["toml"](_shuffled(policy, rng)).encode(), "toml")
    yaml = parse_document(EMITTERS["yaml"](_shuffled(policy, rng)).encode(), "yaml")
    assert admit(toml).identity == admit(yaml).identity == admit(policy).identity


# -- rule 2: the process locale -------------------------------------------------------------


@pytest.fixture(scope="module")
def locales(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Environments for C, C.UTF-8 and a compiled sv_SE.UTF-8 (Debian ships only C ones)."""
    where = tmp_path_factory.mktemp("locales")
    if shutil.which("localedef") is None:
        pytest.fail(
            "localedef is missing: apt-get update && apt-get install -y locales "
            "(./scripts/check installs it when run as root)"
        )
    built = subprocess.run(
        ["localedef", "-i", "sv_SE", "-f", "UTF-8", str(where / "sv_SE.UTF-8")],
        capture_output=True,
        text=True,
        check=False,
    )
    # localedef warns on some hosts yet writes the locale; the check below decides.
    assert (where / "sv_SE.UTF-8").is_dir(), built.stderr
    base = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    return {
        "C": base | {"LC_ALL": "C"},
        "C.UTF-8": base | {"LC_ALL": "C.UTF-8"},
        "sv_SE.UTF-8": base | {"LC_ALL": "sv_SE.UTF-8", "LOCPATH": str(where)},
    }


def _collation(env: dict[str, str]) -> list[str]:
    probe = (
        "import locale, sys; locale.setlocale(locale.LC_ALL, '');"
        "print(' '.join(sorted(sys.argv[1:], key=locale.strxfrm)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *COLLATION_KEYS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_the_locales_really_collate_differently(locales: dict[str, dict[str, str]]) -> None:
    c, sv = _collation(locales["C"]), _collation(locales["sv_SE.UTF-8"])
    assert c == sorted(COLLATION_KEYS, key=lambda k: k.encode())
    assert sv != c  # otherwise the invariance test below could not fail


def _collation_catalog(tmp: Path) -> Path:
    # Equal greybox positions: the order rests on the bytes tie-break alone.
    greybox = {"greybox": {"text": 1}}
    models = {f"{k}-model": {"supports_json": True, "meta": greybox} for k in COLLATION_KEYS}
    backends = {
        k: {"provider": "openai-compatible", "key": "k", "models": models}
        for k in ("Zeta", "alpha", "v", "w", "ärlig", "öken")
    }
    path = tmp / "node.json"
    path.write_text(json.dumps({"backends": backends}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("policy", ["jittered.toml", "cheap-first.yaml", "stock-chain.yaml"])
def test_decide_json_is_the_same_bytes_under_every_locale(
    locales: dict[str, dict[str, str]], tmp_path: Path, policy: str
) -> None:
    node = _collation_catalog(tmp_path) if policy == "stock-chain.yaml" else NODE
    args = [
        "decide",
        "--catalog",
        str(node),
        "--policy",
        str(EXAMPLES / "policies" / policy),
        "--json",
        "--seed",
        "0badc0de",
        "--format",
        "json",
    ]
    if node == NODE:
        args += ["--overlay", str(OVERLAY)]
    outputs = {}
    for name, env in locales.items():
        run = subprocess.run([*CLI, *args], env=env, capture_output=True, check=False)
        assert run.returncode == 0, run.stderr.decode()
        outputs[name] = run.stdout
    assert len(set(outputs.values())) == 1, outputs
    report = json.loads(outputs["C"])
    assert report["attempts"], "the decision must have attempts to compare"


# -- rule 3: the Lua runtime under both locales and fresh hash seeds --------------------------


def _reference() -> tuple[str, str]:
    value = {k: i + 1 for i, k in enumerate(COLLATION_KEYS)}
    return identity("catalog", value), encode(value).hex()


def test_lua_standalone_encodes_the_same_bytes_under_every_locale(
    locales: dict[str, dict[str, str]],
) -> None:
    lua = shutil.which("lua5.3")
    assert lua is not None, (
        "the stand-alone lua5.3 interpreter is required (apt-get install lua5.3)"
    )
    keys = [k.encode().hex() for k in COLLATION_KEYS]
    expected = _reference()
    for name, env in locales.items():
        run = subprocess.run(
            [lua, str(driver_path("locale_probe")), name, *keys],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert tuple(run.stdout.split()) == expected, name


@pytest.mark.runtimes("lupa")
def test_fresh_lua_states_and_insertion_orders_agree(runtime: str) -> None:
    expected = _reference()[1]
    rng = random.Random(53)
    for _ in range(8):
        lua = new_state(runtime, binary=True)
        order = list(COLLATION_KEYS)
        rng.shuffle(order)
        # Grow the table through several sizes so its hash part is rebuilt.
        build = lua.eval(
            b"function(keys, values) local encoding = require('genvm_policy.encoding') "
            b"local t = {} for i = 1, #keys do t['pad' .. i] = i end "
            b"for i = 1, #keys do t[keys[i]] = values[i]; t['pad' .. i] = nil end "
            b"return encoding.encode(encoding.map(t)) end"
        )
        values = {k: i + 1 for i, k in enumerate(COLLATION_KEYS)}
        got = build(lua.table(*(k.encode() for k in order)), lua.table(*(values[k] for k in order)))
        assert bytes(got).hex() == expected
