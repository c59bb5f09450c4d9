"""`genvm-policy init` and the starter-policy generator (SPEC §11)."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.cli import cli

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.authoring.initchains import position
from genvm_policy.authoring.initpolicy import (
    JITTER,
    RECIPES,
    SHAPES,
    max_attempts,
    shape_of,
    starter_chains,
    starter_policy,
)
from genvm_policy.cli.commands.catalog import load_catalog
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.decision import attempt_params, decide
from genvm_policy.core.numeric import parse_decimal
from genvm_policy.core.request import make_request
from genvm_policy.loaders.sources import load_document, parse_document
from genvm_policy.node.installcheck import own_vectors
from genvm_policy.node.runtimes import vector_runner
from genvm_policy.vectors import verify_file, write_file

ROOT = Path(__file__).resolve().parents[2]
NODE = str(ROOT / "examples/node/genvm-module-llm.yaml")
OVERLAY = str(ROOT / "examples/node/overlay.yaml")
ID = re.compile(r"sha256:[0-9a-f]{64}")


def salts(n: int, shape: str | None = None) -> list[bytes]:
    """`n` salts; with `shape`, `n` salts that draw that chain shape."""
    found: list[bytes] = []
    i = 0
    while len(found) < n:
        salt = bytes([i % 256, i // 256]) * 16
        if shape is None or shape_of(salt) == shape:
            found.append(salt)
        i += 1
    return found


def catalog_of(models: dict[str, dict[str, Any]], prices: dict[str, str]) -> Catalog:
    """One backend `p` serving `models` (flags and meta), with input prices per model."""
    config = {"backends": {"p": {"provider": "x", "key": "k", "models": models}}}
    overlay = {"version": 1, "models": {m: {"price_in": v} for m, v in prices.items()}}
    return build_catalog(config, overlay if prices else None)


EXAMPLE = load_catalog(NODE, OVERLAY)
GREYBOX_NODE = str(ROOT / "tests/data/genvm/genvm-module-llm.v2-greybox.yaml")
GREYBOX = load_catalog(GREYBOX_NODE)


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
        # The node has both chains: each vetted route once, nothing else.
        assert sorted(text.routes, key=repr) == sorted(
            (r for r in EXAMPLE.routes if r.greybox_text is not None), key=repr
        )
        assert sorted(image.routes, key=repr) == sorted(
            (r for r in EXAMPLE.routes if r.image and r.greybox_image is not None), key=repr
        )
        # Only sampling varies: no text filters, no flag mutation (rule 5).
        [jitter] = doc["mutate"]
        low, high = (parse_decimal(t, 3) for t in jitter["jitter"]["temperature"])
        assert JITTER[0] <= -low <= JITTER[1] and JITTER[0] <= high <= JITTER[1]
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


def test_a_default_starter_sends_the_stock_text_and_the_models_own_flag() -> None:
    for catalog in (EXAMPLE, GREYBOX):
        for salt in salts(12):
            doc, text = starter_policy(catalog, salt)
            assert "text_filters" not in text and "use_max_completion_tokens" not in text
            policy = admit(doc, catalog)
            for request in (
                make_request(),
                make_request(images=1),
                make_request(entry="EqComparative"),
            ):
                d = decide(catalog, policy, request, salt)
                for a, (provider, model, _) in enumerate(d.routes):
                    params = attempt_params(d, a)
                    route = catalog.route(provider, model)
                    assert route is not None and params.text_filters == ()
                    assert params.use_max_completion_tokens == route.max_completion_tokens


def test_text_filters_are_an_opt_in_that_changes_nothing_else() -> None:
    drawn: Counter[tuple[str, ...]] = Counter()
    for salt in salts(40):
        plain, plain_text = starter_policy(EXAMPLE, salt)
        doc, text = starter_policy(EXAMPLE, salt, text_filters=True)
        first, *rest = doc["mutate"]
        recipe = tuple(first["text_filters"])
        assert recipe in RECIPES and {**doc, "mutate": rest} == plain
        drawn[recipe] += 1
        assert (
            admit(parse_document(text.encode(), "yaml"), EXAMPLE).identity
            == admit(doc, EXAMPLE).identity
        )
        # The file says what a contract sees differently, and how to go back.
        for said in (
            "differs from what the stock script sends",
            "template variable",
            "`EqComparative` loses its indentation",
            "older line ignores them",
            "Delete this entry to send exactly the stock text",
        ):
            assert said in text and said not in plain_text, said
        assert "`genvm-policy init --text-filters` adds text filters" in plain_text
    assert set(drawn) == set(RECIPES)


def test_classes_keep_their_order_and_only_equivalent_routes_move() -> None:
    # Three families in three price bands and no greybox positions: nothing is equivalent.
    models: dict[str, dict[str, Any]] = {"a": {}, "b": {}, "c": {}}
    catalog = catalog_of(models, {"a": "5", "b": "0.5", "c": "0.05"})
    grouped = salts(300, "groups")
    orders = {tuple(r.model for r in starter_chains(catalog, s)[0].routes) for s in grouped[:20]}
    assert orders == {("c", "b", "a")}  # cheapest band first, as the stock order says
    # The same prices within one band: every family leads for some salts, none always.
    catalog = catalog_of(models, {"a": "0.5", "b": "0.3", "c": "0.1"})
    firsts = Counter(starter_chains(catalog, s)[0].routes[0].model for s in grouped)
    assert set(firsts) == {"a", "b", "c"}
    assert all(60 <= n <= 140 for n in firsts.values()), firsts


def test_greybox_position_and_family_make_routes_equivalent() -> None:
    models = {
        "a": {"meta": {"greybox": {"text": 1}}},
        "b": {"meta": {"greybox": {"text": 1}}},
        "c": {"meta": {"greybox": {"text": 2}}},
    }
    catalog = catalog_of(models, {"a": "5", "b": "0.05", "c": "0.5"})
    firsts = {starter_chains(catalog, s)[0].routes[0].model for s in salts(30, "groups")}
    assert firsts == {"a", "b"}  # same position; `c` (another band, position 2) stays last
    lasts = {starter_chains(catalog, s)[0].routes[-1].model for s in salts(30, "groups")}
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


def _vetted(catalog: Catalog, image: bool) -> set[tuple[str, str]]:
    return {
        (r.provider, r.model)
        for r in catalog.routes
        if position(r, image) is not None and (r.image or not image)
    }


def test_a_class_with_a_chain_never_leaves_the_vetted_routes() -> None:
    text_ok, image_ok = _vetted(GREYBOX, False), _vetted(GREYBOX, True)
    requests = [make_request(), make_request(format="json"), make_request(images=1)]
    requests += [make_request(entry="EqComparative")]
    for salt in salts(60):
        text, image = starter_chains(GREYBOX, salt)
        assert {(r.provider, r.model) for r in text.routes} == text_ok
        assert {(r.provider, r.model) for r in image.routes} == image_ok
        assert ("openrouter", "openrouter/auto") in {(r.provider, r.model) for r in text.left_out}
        doc, _ = starter_policy(GREYBOX, salt)
        policy = admit(doc, GREYBOX)
        assert policy.max_attempts >= max(len(text.routes), len(image.routes))
        for request in requests:
            d = decide(GREYBOX, policy, request, salt)
            allowed = image_ok if request.needs_image else text_ok
            assert d.routes and {(p, m) for p, m, _ in d.routes} <= allowed


def test_include_unchained_lists_the_other_routes_after_the_chain() -> None:
    for salt in salts(10):
        text, image = starter_chains(GREYBOX, salt, include_unchained=True)
        vetted = _vetted(GREYBOX, False)
        head = {(r.provider, r.model) for r in text.routes[: len(vetted)]}
        assert head == vetted and len(text.routes) == len(GREYBOX.routes)
        assert text.unchained == len(GREYBOX.routes) - len(vetted) and not text.left_out
        assert len(image.routes) == sum(r.image for r in GREYBOX.routes)
        doc, body = starter_policy(GREYBOX, salt, include_unchained=True)
        assert "have no text position (asked for)" in body and "left out (no" not in body
        assert doc["max_attempts"] == max(8, len(GREYBOX.routes))
        admit(doc, GREYBOX)


def test_the_text_says_how_each_chain_departs_from_the_nodes_order() -> None:
    nodes = {"text": False, "image": True}
    for salt in salts(30):
        body = starter_policy(GREYBOX, salt)[1]
        for which, image in nodes.items():
            chain = starter_chains(GREYBOX, salt)[image]
            rank = {(r.provider, r.model): n for n, r in enumerate(chain.node, start=1)}
            places = [rank[(r.provider, r.model)] for r in chain.routes]
            if places == sorted(places):
                assert f"the same order as the node's {which} chain" in body
            else:
                tries = "tries node #" + ", #".join(map(str, places))
                assert f"departs from the node's {which} chain: {tries}\n" in body
            left = ", ".join(f"{r.provider}/{r.model}" for r in chain.left_out)
            assert f"left out (no {which} position in the node config): {left}\n" in body
        assert "--include-unchained" in body


def test_every_shape_occurs_and_each_is_admitted_and_agrees_in_lua() -> None:
    seen = Counter(shape_of(s) for s in salts(300))
    assert set(seen) == set(SHAPES) and min(seen.values()) >= 70, seen
    runner = vector_runner("lua53")
    for shape in SHAPES:
        for salt in salts(2, shape):
            for catalog in (GREYBOX, EXAMPLE):
                policy = admit(starter_policy(catalog, salt)[0], catalog)
                for file in own_vectors(catalog, policy):
                    report = verify_file(file.kind, write_file(file), runner, "lua")
                    assert report.failed == 0 and report.passed > 0, report.failures


def test_weighted_shape_favours_the_nodes_early_choices_without_fixing_them() -> None:
    chains = (starter_chains(GREYBOX, s)[0] for s in salts(400, "weighted"))
    firsts = Counter(c.routes[0].greybox_text for c in chains)
    # Seven routes weigh 7 … 1 of 28: the node's first leads a quarter of the time.
    assert set(firsts) == set(range(1, 8)), firsts
    assert firsts[1] > firsts[4] > firsts[7]
    assert 70 <= firsts[1] <= 130, firsts


def test_spread_shape_changes_family_before_it_repeats_one() -> None:
    for salt in salts(40, "spread"):
        text, _ = starter_chains(GREYBOX, salt)
        families = [r.family for r in text.routes]
        distinct = len(set(families))
        assert len(set(families[:distinct])) == distinct


def test_max_attempts_covers_the_chain_or_the_file_names_what_is_past_it() -> None:
    models: dict[str, dict[str, Any]] = {
        f"m{i:02d}": {"meta": {"greybox": {"text": i}}} for i in range(20)
    }
    catalog = catalog_of(models, {})
    doc, body = starter_policy(catalog, bytes(32))
    text, image = starter_chains(catalog, bytes(32))
    assert doc["max_attempts"] == max_attempts(text, image) == 16
    past = ", ".join(f"p/{r.model}" for r in text.routes[16:])
    assert f"never tried (past max_attempts 16): {past}\n" in body
    assert "its routes past 16 are named above" in body
    small = catalog_of({k: models[k] for k in list(models)[:5]}, {})
    assert starter_policy(small, bytes(32))[0]["max_attempts"] == 8


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
    assert "texts   as the stock script sends them" in out.stdout
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


def test_cli_include_unchained_widens_the_chains(tmp_path: Path) -> None:
    salt = tmp_path / "salt"
    plain = cli(
        "init", "--node-config", GREYBOX_NODE, "-o", str(tmp_path / "a"), "--salt", str(salt)
    )
    wide = cli(
        "init",
        "--node-config",
        GREYBOX_NODE,
        "-o",
        str(tmp_path / "b"),
        "--salt",
        str(salt),
        "--include-unchained",
    )
    assert plain.returncode == 0 and wide.returncode == 0, (plain.stderr, wide.stderr)
    assert "text 7 routes of the node's chain, 4 left out" in plain.stdout
    assert "--include-unchained adds them" in plain.stdout
    assert "text 11 routes of the node's chain, 4 of them outside it" in wide.stdout
    a = load_document(tmp_path / "a" / "policy.yaml", what="policy")
    b = load_document(tmp_path / "b" / "policy.yaml", what="policy")
    assert isinstance(a, dict) and isinstance(b, dict)
    plain_select: Any = a["select"]
    wide_select: Any = b["select"]
    chain = [t["select"]["chain"] for t in plain_select["tiers"]]
    widened = [t["select"]["chain"] for t in wide_select["tiers"]]
    auto = "openrouter/openrouter/auto"
    assert auto not in chain[1] and auto in widened[1]
    assert widened[1][: len(chain[1])] == chain[1]
    assert "--include-unchained" in cli("init", "--help").stdout


def test_cli_text_filters_opt_in(tmp_path: Path) -> None:
    salt = tmp_path / "salt"
    plain = cli("init", NODE, "-o", str(tmp_path / "a"), "--salt", str(salt))
    opted = cli("init", NODE, "-o", str(tmp_path / "b"), "--salt", str(salt), "--text-filters")
    assert plain.returncode == 0 and opted.returncode == 0, (plain.stderr, opted.stderr)
    a = load_document(tmp_path / "a" / "policy.yaml", what="policy")
    b = load_document(tmp_path / "b" / "policy.yaml", what="policy")
    assert isinstance(a, dict) and isinstance(b, dict)
    plain_mutate: Any = a["mutate"]
    opted_mutate: Any = b["mutate"]
    assert opted_mutate[1:] == plain_mutate
    assert tuple(opted_mutate[0]["text_filters"]) in RECIPES
    assert "template variables reach the model unlike the stock script's" in opted.stdout
    assert ", ".join(opted_mutate[0]["text_filters"]) in opted.stdout
    assert "--text-filters" in cli("init", "--help").stdout


def test_cli_reports_io_errors_cleanly(tmp_path: Path) -> None:
    salt = str(tmp_path / "missing-dir" / "salt")
    out = cli("init", "--node-config", NODE, "-o", str(tmp_path), "--salt", salt)
    assert out.returncode == 2 and "INIT_IO" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "policy.yaml").exists()


@given(
    st.lists(
        st.tuples(st.none() | st.integers(0, 5), st.none() | st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    st.binary(min_size=32, max_size=32),
)
@settings(max_examples=150, deadline=None)
def test_any_node_with_a_chain_keeps_each_class_inside_it(
    specs: list[tuple[int | None, int | None, bool]], salt: bytes
) -> None:
    models: dict[str, dict[str, Any]] = {}
    for n, (at_text, at_image, vision) in enumerate(specs):
        chains = {k: v for k, v in (("text", at_text), ("image", at_image)) if v is not None}
        models[f"m{n:02d}"] = {"supports_image": vision, "meta": {"greybox": chains}}
    catalog = catalog_of(models, {})
    text, image = starter_chains(catalog, salt)
    for chain, is_image in ((text, False), (image, True)):
        candidates = [r for r in catalog.routes if r.image or not is_image]
        vetted = [r for r in candidates if position(r, is_image) is not None]
        expected = vetted or candidates
        assert sorted(chain.routes, key=repr) == sorted(expected, key=repr)
        assert sorted(chain.left_out, key=repr) == sorted(
            (r for r in candidates if r not in expected), key=repr
        )
    doc, _ = starter_policy(catalog, salt)
    assert doc["max_attempts"] == min(16, max(8, len(text.routes), len(image.routes)))
    admit(doc, catalog)


def test_a_chain_longer_than_the_list_limit_is_cut_and_explained() -> None:
    models: dict[str, dict[str, Any]] = {
        f"m{i:03d}": {"meta": {"greybox": {"text": i}}} for i in range(300)
    }
    catalog = catalog_of(models, {})
    for salt in salts(6):
        doc, body = starter_policy(catalog, salt)
        admit(doc, catalog)
        assert len(doc["select"]["chain"]) == 256 and doc["max_attempts"] == 16
        assert "never tried (past max_attempts 16)" in body
        text, _ = starter_chains(catalog, salt)
        if text.node[0] not in text.routes:
            assert "is past the list limit" in body
