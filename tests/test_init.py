"""`genvm-policy init` and the starter-policy generator (SPEC §11)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from genvm_policy.admission import admit
from genvm_policy.catalog import Catalog, build_catalog
from genvm_policy.commands.catalog import load_catalog
from genvm_policy.decision import attempt_params, decide
from genvm_policy.initpolicy import JITTER, RECIPES, starter_chains, starter_policy
from genvm_policy.numeric import parse_decimal
from genvm_policy.request import make_request
from genvm_policy.sources import load_document, parse_document

ROOT = Path(__file__).resolve().parent.parent
NODE = str(ROOT / "examples/node/genvm-module-llm.yaml")
OVERLAY = str(ROOT / "examples/node/overlay.yaml")
ID = re.compile(r"sha256:[0-9a-f]{64}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip


def salts(n: int) -> list[bytes]:
    return [bytes([i % 256, i // 256]) * 16 for i in range(n)]


def catalog_of(models: dict[str, dict[str, Any]], prices: dict[str, str]) -> Catalog:
    """One backend `p` serving `models` (flags and meta), with input prices per model."""
    config = {"backends": {"p": {"provider": "x", "key": "k", "models": models}}}
    overlay = {"version": 1, "models": {m: {"price_in": v} for m, v in prices.items()}}
    return build_catalog(config, overlay if prices else None)


EXAMPLE = load_catalog(NODE, OVERLAY)


def test_the_same_salt_gives_the_same_bytes_and_the_text_is_the_document() -> None:
    doc, text = starter_policy(EXAMPLE, bytes(range(32)))
    assert starter_policy(EXAMPLE, bytes(range(32))) == (doc, text)
    policy = admit(doc, EXAMPLE)
    assert admit(parse_document(text.encode(), "yaml"), EXAMPLE).identity == policy.identity


def test_different_salts_give_different_admitted_and_sane_policies() -> None:
    seen = set()
    for salt in salts(40):
        doc, _ = starter_policy(EXAMPLE, salt)
        policy = admit(doc, EXAMPLE)
        seen.add(policy.identity)
        text, image = starter_chains(EXAMPLE, salt)
        # Every route once in the text chain; every image route once in the image chain.
        assert sorted(text.routes, key=repr) == sorted(EXAMPLE.routes, key=repr)
        assert sorted(image.routes, key=repr) == sorted(
            (r for r in EXAMPLE.routes if r.image), key=repr
        )
        assert list(text.classes) == sorted(text.classes)
        low, high = (parse_decimal(t, 3) for t in doc["mutate"][2]["jitter"]["temperature"])
        assert JITTER[0] <= -low <= JITTER[1] and JITTER[0] <= high <= JITTER[1]
        assert tuple(doc["mutate"][0]["text_filters"]) in RECIPES
        assert dict(policy.on_failure)["rate_limited"] == ["next"]
        assert dict(policy.on_failure)["bad_request"] == ["abort"]
        for request in (make_request(format="json"), make_request(images=1)):
            d = decide(EXAMPLE, policy, request, salt)
            assert d.routes, "a starter policy always has a route when the catalog has one"
            route = EXAMPLE.route(d.routes[0][0], d.routes[0][1])
            assert route is not None and (route.json or not request.needs_json)
            assert route.image or not request.needs_image
            shift = attempt_params(d, 0).temperature - request.temperature
            assert -JITTER[1] <= shift <= JITTER[1]
    assert len(seen) >= 30


def test_classes_keep_their_order_and_only_equivalent_routes_move() -> None:
    # Three families in three price bands and no greybox positions: nothing is equivalent.
    models: dict[str, dict[str, Any]] = {"a": {}, "b": {}, "c": {}}
    catalog = catalog_of(models, {"a": "5", "b": "0.5", "c": "0.05"})
    orders = {tuple(r.model for r in starter_chains(catalog, s)[0].routes) for s in salts(20)}
    assert orders == {("c", "b", "a")}  # cheapest band first, as the stock order says
    # The same prices within one band: every family leads for some salts, none always.
    catalog = catalog_of(models, {"a": "0.5", "b": "0.3", "c": "0.1"})
    firsts = Counter(starter_chains(catalog, s)[0].routes[0].model for s in salts(300))
    assert set(firsts) == {"a", "b", "c"}
    assert all(60 <= n <= 140 for n in firsts.values()), firsts


def test_greybox_position_and_family_make_routes_equivalent() -> None:
    models = {
        "a": {"meta": {"greybox": {"text": 1}}},
        "b": {"meta": {"greybox": {"text": 1}}},
        "c": {"meta": {"greybox": {"text": 2}}},
    }
    catalog = catalog_of(models, {"a": "5", "b": "0.05", "c": "0.5"})
    firsts = {starter_chains(catalog, s)[0].routes[0].model for s in salts(30)}
    assert firsts == {"a", "b"}  # same position; `c` (another band, position 2) stays last
    lasts = {starter_chains(catalog, s)[0].routes[-1].model for s in salts(30)}
    assert lasts == {"c"}


def test_no_image_route_gives_one_chain_and_a_slash_in_a_provider_is_a_pair() -> None:
    config = {"backends": {"a/b": {"provider": "x", "key": "k", "models": {"m": {}}}}}
    catalog = build_catalog(config, None)
    doc, text = starter_policy(catalog, bytes(32))
    assert doc["select"] == {"chain": [["a/b", "m"]]}
    assert "No route accepts images" in text and '["a/b", "m"]' in text
    admit(doc, catalog)


def test_long_chains_are_capped_and_admitted() -> None:
    models: dict[str, dict[str, Any]] = {f"m{i:03d}": {"supports_image": True} for i in range(300)}
    catalog = catalog_of(models, {})
    doc, _ = starter_policy(catalog, bytes(32))
    admit(doc, catalog)
    tiers = doc["select"]["tiers"]
    assert [len(t["select"]["chain"]) for t in tiers] == [256, 256]


def test_cli_creates_the_salt_once_private_and_never_prints_it(tmp_path: Path) -> None:
    out = cli("init", "--node-config", NODE, "--overlay", OVERLAY, "-o", str(tmp_path / "n"))
    assert out.returncode == 0, out.stderr
    salt_path = tmp_path / "n" / "salt"
    salt = salt_path.read_bytes()
    assert len(salt) == 32 and stat.S_IMODE(salt_path.stat().st_mode) == 0o600
    policy = (tmp_path / "n" / "policy.yaml").read_bytes()
    for shown in (out.stdout, out.stderr, policy.decode()):
        assert salt.hex() not in shown and salt.hex().upper() not in shown
    assert salt not in policy
    assert "created" in out.stdout and ID.search(out.stdout)
    # The policy on disk is the one the generator gives for that salt, admitted.
    assert policy.decode() == starter_policy(EXAMPLE, salt)[1]
    check = cli(
        "check", str(tmp_path / "n" / "policy.yaml"), "--catalog", NODE, "--overlay", OVERLAY
    )
    assert check.returncode == 0 and check.stdout.strip() in out.stdout
    # A second run refuses to overwrite; with --force it reuses the salt: same bytes.
    again = cli("init", "--node-config", NODE, "--overlay", OVERLAY, "-o", str(tmp_path / "n"))
    assert (
        again.returncode == 2 and "INIT_EXISTS" in again.stderr and "Traceback" not in again.stderr
    )
    forced = cli(
        "init", "--node-config", NODE, "--overlay", OVERLAY, "-o", str(tmp_path / "n"), "--force"
    )
    assert forced.returncode == 0 and "reused" in forced.stdout
    assert salt_path.read_bytes() == salt
    assert (tmp_path / "n" / "policy.yaml").read_bytes() == policy
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["policy.yaml", "salt"]


def test_cli_with_a_shared_salt_file_gives_identical_policies(tmp_path: Path) -> None:
    salt = tmp_path / "node.salt"
    runs = []
    for name in ("a", "b"):
        out = cli("init", "--node-config", NODE, "-o", str(tmp_path / name), "--salt", str(salt))
        assert out.returncode == 0, out.stderr
        runs.append((tmp_path / name / "policy.yaml").read_bytes())
    assert runs[0] == runs[1]
    other = cli("init", "--node-config", NODE, "-o", str(tmp_path / "c"))
    assert other.returncode == 0
    assert (tmp_path / "c" / "policy.yaml").read_bytes() != runs[0]
    loaded = load_document(tmp_path / "c" / "policy.yaml", what="policy")
    admit(loaded, load_catalog(NODE))


def test_cli_refuses_a_public_or_malformed_salt(tmp_path: Path) -> None:
    salt = tmp_path / "salt"
    salt.write_bytes(bytes(32))
    os.chmod(salt, 0o644)
    out = cli("init", "--node-config", NODE, "-o", str(tmp_path), "--salt", str(salt))
    assert out.returncode == 2 and "INIT_SALT_MODE" in out.stderr and "chmod 600" in out.stderr
    os.chmod(salt, 0o600)
    salt.write_bytes(bytes(31))
    out = cli("init", "--node-config", NODE, "-o", str(tmp_path), "--salt", str(salt))
    assert out.returncode == 2 and "HOOK_SALT" in out.stderr
    salt.write_bytes(bytes(range(32)).hex().encode() + b"\n")
    out = cli("init", "--node-config", NODE, "-o", str(tmp_path), "--salt", str(salt))
    assert out.returncode == 0, out.stderr
    expected = starter_policy(load_catalog(NODE), bytes(range(32)))[1]
    assert (tmp_path / "policy.yaml").read_text() == expected


def test_cli_reports_io_errors_cleanly(tmp_path: Path) -> None:
    salt = str(tmp_path / "missing-dir" / "salt")
    out = cli("init", "--node-config", NODE, "-o", str(tmp_path), "--salt", salt)
    assert out.returncode == 2 and "INIT_IO" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "policy.yaml").exists()
