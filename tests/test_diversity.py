"""`genvm-policy diversity`, its exact probabilities and its SVG chart (SPEC §12)."""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from genvm_policy.admission import admit
from genvm_policy.builtin import builtin
from genvm_policy.commands.catalog import load_catalog
from genvm_policy.commands.check import load_policy
from genvm_policy.commands.explain import SAMPLES
from genvm_policy.decision import attempt_params, decide
from genvm_policy.diversity import (
    NO_ROUTE,
    analyse,
    collision_probability,
    entropy_bits,
    first_choice,
    jury_probability,
    majority,
)
from genvm_policy.initpolicy import starter_policy
from genvm_policy.interpreter import bind
from genvm_policy.svgplot import stacked_bars

ROOT = Path(__file__).resolve().parent.parent
NODE = str(ROOT / "examples/node/genvm-module-llm.yaml")
OVERLAY = str(ROOT / "examples/node/overlay.yaml")
CATALOG = load_catalog(NODE, OVERLAY)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip


def brute_jury(counts: list[int], k: int, t: int) -> Fraction:
    people = [f for f, c in enumerate(counts) for _ in range(c)]
    juries = list(itertools.combinations(range(len(people)), k))
    hits = 0
    for jury in juries:
        families = [people[i] for i in jury]
        hits += max(families.count(f) for f in set(families)) >= t
    return Fraction(hits, len(juries))


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.sampled_from([(3, 2), (5, 3)]))
def test_jury_matches_brute_force_enumeration(counts: list[int], kt: tuple[int, int]) -> None:
    k, t = kt
    if sum(counts) < k:
        assert jury_probability(counts, k, t) is None
    else:
        assert jury_probability(counts, k, t) == brute_jury(counts, k, t)


@given(st.integers(0, 30), st.integers(0, 40), st.sampled_from([5, 11, 23]))
def test_jury_closed_form_one_family_among_singletons(c: int, singles: int, k: int) -> None:
    # Singletons never reach a majority of 3 or more: only the one family can.
    n, t = c + singles, majority(k)
    if n < k:
        assert jury_probability([c, *[1] * singles], k, t) is None
        return
    tail = sum(math.comb(c, j) * math.comb(n - c, k - j) for j in range(t, k + 1))
    assert jury_probability([c, *[1] * singles], k, t) == Fraction(tail, math.comb(n, k))


@given(st.integers(0, 30), st.integers(0, 30), st.sampled_from([5, 11, 23]))
def test_two_families_always_give_an_odd_jury_a_majority(a: int, b: int, k: int) -> None:
    expected = None if a + b < k else Fraction(1)
    assert jury_probability([c for c in (a, b) if c], k, majority(k)) == expected


def test_majorities_are_the_consensus_thresholds() -> None:
    assert [majority(k) for k in (5, 11, 23)] == [3, 6, 12]


@given(st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_collision_matches_pairs(counts: list[int]) -> None:
    people = [f for f, c in enumerate(counts) for _ in range(c)]
    pairs = list(itertools.combinations(people, 2))
    expected = Fraction(sum(a == b for a, b in pairs), len(pairs)) if pairs else None
    assert collision_probability(counts) == expected


@given(st.integers(1, 64), st.integers(1, 50))
def test_entropy_of_a_uniform_distribution_is_log2_of_its_size(m: int, each: int) -> None:
    assert math.isclose(entropy_bits([each] * m), math.log2(m), abs_tol=1e-9)
    assert entropy_bits([each]) == 0.0


def test_first_choice_is_attempt_zero_of_the_reference_decision() -> None:
    policies = [
        load_policy(str(p), CATALOG) for p in sorted((ROOT / "examples/policies").iterdir())
    ]
    policies.append(builtin("stock-greybox"))
    policies.append(
        admit({"select": {"sample": 3}, "mutate": [{"jitter": {"temperature": [-1, 1]}}]})
    )
    policies += [admit(starter_policy(CATALOG, bytes([i]) * 32)[0], CATALOG) for i in range(4)]
    for n, policy in enumerate(policies):
        bound = bind(CATALOG, policy)
        for j, request in enumerate(SAMPLES):
            seed = bytes([n, j]) * 16
            got = first_choice(bound, request, seed)
            d = decide(CATALOG, policy, request, seed)
            if not d.routes:
                assert got.route == got.family == NO_ROUTE
                continue
            provider, model, family = d.routes[0]
            params = attempt_params(d, 0)
            assert (got.route, got.family) == (f"{provider}/{model}", family)
            assert (got.temperature, got.filters) == (params.temperature, params.text_filters)


def test_analyse_flags_and_exact_shares() -> None:
    policy = builtin("stock-greybox")
    choices = [first_choice(bind(CATALOG, policy), SAMPLES[0], bytes([i]) * 8) for i in range(7)]
    report = analyse("text", choices)
    assert report.largest == 1 and len(report.flags) == 2
    assert dict(report.juries)[5] == 1 and dict(report.juries)[11] is None
    assert report.family_bits == 0.0 and report.family_collision == 1


def test_svg_is_well_formed_for_any_names() -> None:
    names = ["a<b>&\"c'", "tab\there", "ctl\x01\x1f", "ünï", *[f"f{i}" for i in range(12)]]
    rows = [("row <1>", [(n, 1 / len(names)) for n in names]), ("empty", [])]
    svg = stacked_bars("title & <more>", names, rows)
    tree = ET.fromstring(svg.split("\n", 1)[1])
    rects = [e for e in tree.iter() if e.tag.endswith("rect")]
    # background + one per segment + one legend box per palette name and `other`
    assert len(rects) == 1 + len(names) + 10
    assert stacked_bars("title & <more>", names, rows) == svg


def test_cli_generate_is_repeatable_and_writes_json_and_svg(tmp_path: Path) -> None:
    args = ["diversity", "--catalog", NODE, "--overlay", OVERLAY, "--generate", "40"]
    outs = []
    for name in ("a", "b"):
        svg, js = tmp_path / f"{name}.svg", tmp_path / f"{name}.json"
        out = cli(*args, "--seed", "0a0b", "--svg", str(svg), "--json", str(js))
        assert out.returncode == 0, out.stderr
        shown = out.stdout.replace(str(svg), "SVG").replace(str(js), "JSON")
        outs.append((shown, svg.read_bytes(), js.read_bytes()))
    assert outs[0] == outs[1]
    assert "0a0b" in outs[0][0] and "jury5" in outs[0][0]
    ET.fromstring(outs[0][1].decode().split("\n", 1)[1])
    value = json.loads(outs[0][2])
    assert value["validators"] == 40 and [c["name"] for c in value["classes"]][:4] == [
        "text",
        "json",
        "bool",
        "image",
    ]
    for report in value["classes"]:
        counts = list(report["families"].values())
        assert sum(counts) == 40
        for k, jury in report["juries"].items():
            expected = jury_probability(counts, int(k), majority(int(k)))
            assert jury["probability"]["exact"] == f"{expected.numerator}/{expected.denominator}"
    other = cli(*args, "--seed", "0a0c")
    assert other.returncode == 0 and other.stdout != outs[0][0]


def test_cli_reads_a_folder_and_a_requests_file(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for i in range(3):
        (folder / f"v{i}.yaml").write_text(starter_policy(CATALOG, bytes([i]) * 32)[1])
    (folder / "notes.txt").write_text("not a policy")
    requests = tmp_path / "requests.yaml"
    requests.write_text("plain: {}\nwith-image: {images: 1}\njudge: {entry: EqComparative}\n")
    out = cli("diversity", "--catalog", NODE, "--overlay", OVERLAY, str(folder),
              "--requests", str(requests), "--seed", "01")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "validators   3 policies" in out.stdout
    rows = [line.split()[0] for line in out.stdout.splitlines()[6:9]]
    assert rows == ["plain", "with-image", "judge"]
    assert re.search(r"plain .* n/a +n/a +n/a", out.stdout)  # 3 validators: no jury of 5


def test_cli_errors_are_clean(tmp_path: Path) -> None:
    base = ["diversity", "--catalog", NODE]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {entry: nowhere}\n")
    cases = [
        ([], "DIV_INPUT"),
        ([str(empty), "--generate", "3"], "DIV_INPUT"),
        (["--generate", "0"], "DIV_INPUT"),
        ([str(empty)], "DIV_EMPTY"),
        (["--generate", "2", "--requests", str(bad)], "REQ_FIELD at $[0].entry"),
        (["--generate", "2", "--seed", "zz"], "PRNG_KEY"),
        (["--generate", "2", "--svg", str(tmp_path / "no" / "x.svg")], "DIV_IO"),
    ]
    bad_list = tmp_path / "list.yaml"
    bad_list.write_text("[]\n")
    cases.append((["--generate", "2", "--requests", str(bad_list)], "DIV_REQUESTS"))
    for extra, code in cases:
        out = cli(*base, *extra)
        assert out.returncode == 2 and code in out.stderr, (extra, out.stderr)
        assert "Traceback" not in out.stderr


def test_a_thousand_validators_by_a_hundred_requests_in_under_a_minute(tmp_path: Path) -> None:
    kinds = [{"format": "text"}, {"format": "json"}, {"images": 1}, {"entry": "EqComparative"}]
    requests = [{**kinds[i % 4], "prompt_bytes": i} for i in range(100)]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    started = time.monotonic()
    out = cli("diversity", "--catalog", NODE, "--overlay", OVERLAY, "--generate", "1000",
              "--requests", str(path))  # fmt: skip
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "1000 validators × 100 requests in" in out.stderr and "1000/1000" in out.stderr
    assert elapsed < 60, elapsed
