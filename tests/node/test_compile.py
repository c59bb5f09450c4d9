"""`genvm-policy compile` and the compiled policy format (docs/HOOK.md §3).

Real fixture YAMLs, real lupa Lua 5.3 states stripped to GenVM's sandbox, and the
CLI as a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fixturepaths import GENVM_FIXTURES
from support.luasandbox import new_state

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import BUILTINS, builtin
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import (
    Catalog,
    catalog_from_value,
    catalog_identity,
    catalog_value,
    view_identity,
)
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy, policy_from_value, policy_identity, policy_value
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.compile import compile_policy, compiled_identity, lua_string, read_compiled

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = GENVM_FIXTURES
CONFIGS = [FIXTURES / "llm-default-config.yaml", FIXTURES / "genvm-module-llm.v2-greybox.yaml"]
EXAMPLE_NODE = ROOT / "examples" / "node" / "genvm-module-llm.yaml"
EXAMPLE_OVERLAY = ROOT / "examples" / "node" / "overlay.yaml"
EXAMPLE_POLICY = ROOT / "examples" / "policies" / "cheap-first.yaml"


def load_catalog(config: str, overlay: str | None = None) -> Catalog:
    doc = load_document(overlay, what="overlay") if overlay else None
    return build_catalog(load_document(config, what="node config"), doc)  # type: ignore[arg-type]  # build_catalog checks the shape


def load_policy(source: str, catalog: Catalog) -> Policy:
    return admit(
        BUILTINS[source] if source in BUILTINS else load_document(source, what="policy"), catalog
    )


def _cases() -> list[tuple[str, str, str | None]]:
    cases: list[tuple[str, str, str | None]] = [("stock-greybox", str(c), None) for c in CONFIGS]
    cases.append((str(EXAMPLE_POLICY), str(EXAMPLE_NODE), str(EXAMPLE_OVERLAY)))
    return cases


@pytest.mark.parametrize(("policy", "config", "overlay"), _cases())
def test_round_trip_keeps_every_identity(policy: str, config: str, overlay: str | None) -> None:
    catalog = load_catalog(config, overlay)
    pol = load_policy(policy, catalog)
    text = compile_policy(catalog, pol)
    assert compile_policy(catalog, pol) == text  # deterministic bytes
    got = read_compiled(text)
    assert got.catalog == catalog
    assert policy_value(got.policy) == policy_value(pol)
    assert (got.policy_id, got.catalog_id, got.view_id) == (
        policy_identity(pol),
        catalog_identity(catalog),
        view_identity(catalog),
    )
    assert got.identity == compiled_identity(got.policy_id, got.catalog_id, got.view_id)


@pytest.mark.parametrize(("policy", "config", "overlay"), _cases())
def test_lua_loads_the_bytes_in_an_empty_environment(
    policy: str, config: str, overlay: str | None
) -> None:
    catalog = load_catalog(config, overlay)
    text = compile_policy(catalog, load_policy(policy, catalog))
    lua = new_state("lua53", binary=True)
    loaded = lua.execute(
        "local text = ...; local f = assert(load(text, '=policy', 't', {})); return f()", text
    )
    assert loaded[b"format"] == 1
    value = decode(loaded[b"bytes"])
    assert isinstance(value, dict)
    assert value["catalog"] == catalog_value(catalog)


def test_lua_string_escapes_every_unsafe_byte() -> None:
    data = bytes(range(256))
    body = lua_string(data)
    assert all(0x20 <= b < 0x7F for b in body)
    lua = new_state("lua53", binary=True)
    assert lua.execute('return "' + body.decode("ascii") + '"') == data


def _compiled() -> bytes:
    catalog = load_catalog(str(CONFIGS[1]))
    return compile_policy(catalog, builtin("stock-greybox"))


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda t: t[: len(t) // 2], "HOOK_FORMAT"),  # truncated
        (lambda t: t.replace(b"format = 1", b"format = 2", 1), "HOOK_FORMAT"),
        (lambda t: b"os.exit()\n" + t, "HOOK_FORMAT"),
        (lambda t: t.replace(b"deepseek", b"deepseeK", 1), "HOOK_IDENTITY"),
        (lambda t: t.replace(b'"', b"\x01", 2)[:-4] + b'" }\n', "HOOK_FORMAT"),
    ],
)
def test_damaged_files_are_refused(edit: Callable[[bytes], bytes], code: str) -> None:
    with pytest.raises(PolicyError) as err:
        read_compiled(edit(_compiled()))
    assert err.value.code == code


def test_values_of_the_wrong_shape_are_refused() -> None:
    catalog = load_catalog(str(CONFIGS[0]))
    value = catalog_value(catalog)
    assert catalog_from_value(value) == catalog
    assert isinstance(value, dict)
    with pytest.raises(PolicyError) as err:
        catalog_from_value({**value, "extra": 1})
    assert err.value.code == "CAT_TYPE"
    pol = policy_value(builtin("stock-greybox"))
    assert policy_value(policy_from_value(pol)) == pol
    with pytest.raises(PolicyError) as err:
        policy_from_value({**pol, "max_attempts": "8"})
    assert err.value.code == "POL_LIMIT"
    assert decode(encode(pol)) == pol


def test_cli_compile_writes_the_file_and_prints_identities(tmp_path: Path) -> None:
    out = tmp_path / "policy.lua"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "genvm_policy.cli",
            "compile",
            str(EXAMPLE_POLICY),
            "--catalog",
            str(EXAMPLE_NODE),
            "--overlay",
            str(EXAMPLE_OVERLAY),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = read_compiled(out.read_bytes())
    lines = run.stdout.splitlines()
    assert lines == [
        f"compiled {got.identity}",
        f"policy {got.policy_id}",
        f"catalog {got.catalog_id}",
        f"genvm-view {got.view_id}",
    ]


def test_cli_compile_refuses_a_policy_the_catalog_cannot_serve(tmp_path: Path) -> None:
    bad = tmp_path / "pin.yaml"
    bad.write_text("filter: [{pin: nobody/nothing}]\n", encoding="utf-8")
    out = tmp_path / "policy.lua"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "genvm_policy.cli",
            "compile",
            str(bad),
            "--catalog",
            str(CONFIGS[0]),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "POL_ROUTE" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()
