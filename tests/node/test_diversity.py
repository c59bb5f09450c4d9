"""`genvm-policy diversity`, its exact probabilities and its SVG chart (SPEC §12)."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.cli import cli

from genvm_policy.analysis.diversity import (
    NO_FILTERS,
    NO_ROUTE,
    FirstChoice,
    analyse,
    collision_probability,
    entropy_bits,
    first_choice,
    jury_probability,
    majority,
    worst_case,
)
from genvm_policy.analysis.svgplot import Bar, Row, stacked_bars
from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.authoring.initpolicy import RECIPES, starter_policy
from genvm_policy.cli.commands.catalog import load_catalog
from genvm_policy.cli.commands.check import load_policy
from genvm_policy.cli.commands.explain import SAMPLES
from genvm_policy.core.decision import attempt_params, decide
from genvm_policy.core.family import UNKNOWN
from genvm_policy.core.interpreter import bind
from genvm_policy.core.prng import stream_block

ROOT = Path(__file__).resolve().parents[2]
NODE = str(ROOT / "examples/node/genvm-module-llm.yaml")
OVERLAY = str(ROOT / "examples/node/overlay.yaml")
CATALOG = load_catalog(NODE, OVERLAY)
GREYBOX = str(ROOT / "tests/data/genvm/genvm-module-llm.v2-greybox.yaml")


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
    rows = [
        Row("row <1>", [Bar("all", [(n, 1 / len(names)) for n in names])], ["note <&>"]),
        Row("empty", [Bar("none", [])]),
    ]
    svg = stacked_bars("title & <more>", names, rows, ["foot & <note>"])
    tree = ET.fromstring(svg.split("\n", 1)[1])
    rects = [e for e in tree.iter() if e.tag.endswith("rect")]
    # background + one per segment + one legend box per palette name and `other`
    assert len(rects) == 1 + len(names) + 10
    assert stacked_bars("title & <more>", names, rows, ["foot & <note>"]) == svg
    assert "<title>" not in svg  # no tooltips: every share is text


def test_bars_are_drawn_in_legend_order_whatever_the_segment_order() -> None:
    series = ["a", "b", "c"]
    svg = stacked_bars("t", series, [Row("r", [Bar("x", [("c", 0.5), ("a", 0.2), ("b", 0.3)])])])
    tree = ET.fromstring(svg.split("\n", 1)[1])
    fills = [e.get("fill") for e in tree.iter() if e.tag.endswith("rect")][1:]
    assert fills[:3] == fills[3:6]  # the bar's segments, then the legend boxes
    texts = [e.text for e in tree.iter() if e.tag.endswith("text")]
    assert ["20.0%", "30.0%", "50.0%"] == [t for t in texts if t and t.endswith("%")][:3]
    assert "1/3" in texts and "1/2" in texts


def test_unknown_family_never_lowers_a_concentration_figure() -> None:
    def choices(families: list[str]) -> list[FirstChoice]:
        return [FirstChoice(f, f, None, None) for f in families]

    mixed = ["a"] * 4 + ["b"] * 3 + [UNKNOWN] * 3 + [NO_ROUTE] * 2
    report = analyse("x", choices(mixed))
    assert worst_case(Counter(mixed)) == (("a", 7), ("b", 3), (NO_ROUTE, 2))
    assert report.largest == Fraction(7, 12) and report.top == "a" and report.unknown == 3
    # Every other assignment of the three unknown validators is at most as concentrated.
    for spread in itertools.product(["a", "b", "c", "d", "e"], repeat=3):
        other = analyse("x", choices(mixed[:7] + list(spread) + [NO_ROUTE] * 2))
        assert other.largest <= report.largest
        assert other.family_bits >= report.family_bits - 1e-12
        assert other.family_collision is not None and report.family_collision is not None
        assert other.family_collision <= report.family_collision
    # Only routers: they stay one group, as concentrated as can be.
    alone = analyse("x", choices([UNKNOWN] * 5))
    assert alone.largest == 1 and alone.top == UNKNOWN


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows (alpha dropped) of an 8-bit RGB or RGBA PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", b""
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        at += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(b"".join(bytes(line[i : i + 3]) for i in range(0, stride, bpp)))
        prev = line
    return width, height, rows


def test_the_chart_renders_with_librsvg_and_reads_without_tooltips(tmp_path: Path) -> None:
    renderer = shutil.which("rsvg-convert")
    assert renderer, "rsvg-convert is missing: apt-get install -y librsvg2-bin (see README)"
    svg, js, png = tmp_path / "c.svg", tmp_path / "c.json", tmp_path / "c.png"
    out = cli(
        "diversity",
        "--catalog",
        GREYBOX,
        "--generate",
        "60",
        "--seed",
        "17",
        "--svg",
        str(svg),
        "--json",
        str(js),
    )
    assert out.returncode == 0, out.stderr
    text = svg.read_text(encoding="utf-8")
    assert "<title>" not in text
    tree = ET.fromstring(text.split("\n", 1)[1])
    texts = " ".join(e.text or "" for e in tree.iter() if e.tag.endswith("text"))
    value = json.loads(js.read_text())
    for c in value["classes"]:
        assert c["name"] in texts
        families, n = c["families"], c["validators"]
        for name, count in families.items():
            share = f"{count * 100 / n:.1f}%"
            assert share in texts and name in texts, (c["name"], name, share)
        eff, stock = c["family_effective"], c["baseline"]["family_effective"]
        assert f"{eff:.2f} effective families (stock {stock:.2f})" in texts
        juries = " / ".join(
            f"{c['juries'][k]['probability']['value'] * 100:.1f}%" for k in ("5", "11", "23")
        )
        assert f"jury capture 5/11/23: {juries}" in texts
        assert f"H {c['family_entropy_bits']:.2f} bits" in texts
    assert "1/3" in texts and "1/2" in texts
    done = subprocess.run([renderer, "-o", str(png), str(svg)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    width, height, rows = _png_pixels(png.read_bytes())
    assert (width, height) == (int(tree.get("width") or 0), int(tree.get("height") or 0))
    pixels = Counter(row[i : i + 3] for row in rows for i in range(0, len(row), 3))
    white = pixels.get(b"\xff\xff\xff", 0)
    assert white < 0.95 * width * height  # not blank
    palette = {bytes.fromhex(c[1:]) for c in ("#4e79a7", "#f28e2b", "#e15759")}
    assert palette <= set(pixels)  # the bars are drawn in their colours


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
        assert sum(report["families"].values()) == 40
        families = Counter(report["families"])
        counts = [c for _, c in worst_case(families)]
        for k, jury in report["juries"].items():
            expected = jury_probability(counts, int(k), majority(int(k)))
            assert expected is not None
            assert jury["probability"]["exact"] == f"{expected.numerator}/{expected.denominator}"
    other = cli(*args, "--seed", "0a0c")
    assert other.returncode == 0 and other.stdout != outs[0][0]


def test_generated_starters_send_stock_text_unless_text_filters_are_opted_in(
    tmp_path: Path,
) -> None:
    args = [
        "diversity",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--generate",
        "40",
        "--seed",
        "0d",
    ]
    recipes = {",".join(r) for r in RECIPES}
    for opted in (False, True):
        js = tmp_path / f"{opted}.json"
        out = cli(*args, *(["--text-filters"] if opted else []), "--json", str(js))
        assert out.returncode == 0, out.stderr
        assert ("text filters opted in" in out.stdout) == opted
        for report in json.loads(js.read_text())["classes"]:
            assert report["baseline"]["filter_recipes"] == {NO_FILTERS: 40}
            counted = report["filter_recipes"]
            if not opted:
                assert counted == {NO_FILTERS: 40}, report["name"]
            else:
                assert sum(counted.values()) == 40 and set(counted) <= recipes, counted
                assert len(counted) > 1
        assert (f"filters      {NO_FILTERS} 100.0%" in out.stdout) != opted


def test_cli_reads_a_folder_and_a_requests_file(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for i in range(3):
        (folder / f"v{i}.yaml").write_text(starter_policy(CATALOG, bytes([i]) * 32)[1])
    (folder / "notes.txt").write_text("not a policy")
    requests = tmp_path / "requests.yaml"
    requests.write_text("plain: {}\nwith-image: {images: 1}\njudge: {entry: EqComparative}\n")
    out = cli(
        "diversity",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        str(folder),
        "--requests",
        str(requests),
        "--seed",
        "01",
    )
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
        ([str(empty), "--text-filters"], "DIV_INPUT"),
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
    kinds: list[dict[str, Any]] = [
        {"format": "text"},
        {"format": "json"},
        {"images": 1},
        {"entry": "EqComparative"},
    ]
    requests = [{**kinds[i % 4], "prompt_bytes": i} for i in range(100)]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    started = time.monotonic()
    out = cli(
        "diversity",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--generate",
        "1000",
        "--requests",
        str(path),
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "1000 validators × 100 requests in" in out.stderr and "1000/1000" in out.stderr
    assert elapsed < 60, elapsed


def test_baseline_gain_and_quality_come_from_the_real_stock_decisions(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    # One validator follows the node, one leads with the router, one with an unchained route.
    (folder / "a.yaml").write_text("select: greybox\n")
    (folder / "b.yaml").write_text('select: {chain: ["openrouter/openrouter/auto"]}\n')
    (folder / "c.yaml").write_text('select: {chain: ["anthropic/claude-haiku-4-5-20251001"]}\n')
    js = tmp_path / "d.json"
    out = cli("diversity", "--catalog", GREYBOX, str(folder), "--seed", "05", "--json", str(js))
    assert out.returncode == 0, out.stderr
    assert "stock-greybox on every validator" in out.stdout
    value = json.loads(js.read_text())
    assert value["baseline"] == "stock-greybox"
    catalog = load_catalog(GREYBOX)
    stock = bind(catalog, builtin("stock-greybox"))
    master = bytes.fromhex("05")
    for j, c in enumerate(value["classes"]):
        request = SAMPLES[j]
        node = [
            first_choice(stock, request, stream_block(master, f"diversity/call/{v}/{j}", 0))
            for v in range(3)
        ]
        assert c["baseline"]["routes"] == dict(Counter(n.route for n in node))
        assert c["baseline"]["family_effective"] == 1.0
        routes = c["routes"]
        same = sum(routes.get(n.route, 0) for n in node[:1])  # validator a follows the node
        assert c["quality"]["node_first_choice"]["exact"] == f"{same}/3"
        assert c["unknown_validators"] == ("openrouter/openrouter/auto" in routes)
        # Three first choices, one of them the router: it joins the largest other family.
        assert c["largest_family"]["share"]["exact"] == "2/3"
        # Only validator a stays inside the chain (c's direct route has no position).
        assert c["quality"]["in_vetted_chain"]["exact"] == "1/3", (c["name"], routes)
        gain = c["gain"]
        assert gain["family_effective"] == c["family_effective"]
        assert gain["largest_family_share"] == 1 / c["largest_family"]["share"]["value"]
