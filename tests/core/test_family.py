"""The family rule (SPEC §5.8): its examples, and Python against Lua 5.3 and 5.4 byte for byte.

The Lua side runs through the vector runner in a state stripped to GenVM's
sandbox (`runtimes.vector_runner`), on names built from the pieces each step
of the rule looks at (capitals, `-`, `:`, `/`, `@`, digit runs, table words,
non-ASCII letters), so every branch meets its neighbours' edge cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genvm_policy.core.encoding import encode
from genvm_policy.core.family import TABLE, UNKNOWN, family_of
from genvm_policy.node.runtimes import vector_runner
from genvm_policy.vectors.run import run

pytestmark = pytest.mark.runtimes("lupa")

PIECES = [
    *TABLE["vendors"], *TABLE["routers"], *TABLE["tags"], *TABLE["suffixes"],
    "-", "-", "-", ":", "/", "@", "Llama", "CLAUDE", "É", "水", "0", "4", "5", "20",
    "2024", "07", "18", "20251001", "2411", "123", "70B", "v3.2", "gpt",
]  # fmt: skip  # a table laid out by hand in rows

names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join)
providers = st.sampled_from(["openrouter", "OpenRouter", "heurist", "ionet", "p", "a/b", "auto"])


@pytest.fixture(scope="module")
def lua(runtime: str) -> Callable[[str, bytes], bytes]:
    return vector_runner(runtime)


def test_one_model_under_two_providers_is_one_family() -> None:
    assert family_of("ionet", "meta-llama/Llama-3.3-70B-Instruct") == family_of(
        "heurist", "meta-llama/llama-3.3-70b-instruct"
    )
    assert family_of("openrouter", "anthropic/claude-haiku-4.5") == family_of(
        "anthropic", "claude-haiku-4-5-20251001"
    )
    assert family_of("openrouter", "openrouter/auto") == (UNKNOWN, "router")


def test_the_table_rows_are_in_bytes_order_without_repeats() -> None:
    for rows in TABLE.values():
        assert list(rows) == sorted(set(rows), key=str.encode)


@settings(max_examples=400, deadline=None)
@given(providers, names)
def test_python_and_lua_agree_on_every_name(
    lua: Callable[[str, bytes], bytes], provider: str, model: str
) -> None:
    data = {"op": "family", "provider": provider, "model": model}
    expected = run("family", data)
    assert lua("family", encode(data)) == encode(expected)
    family, _ = family_of(provider, model)
    assert family  # total: never empty


def test_both_runtimes_hold_the_same_table(lua: Callable[[str, bytes], bytes]) -> None:
    assert lua("family", encode({"op": "table"})) == encode(run("family", {"op": "table"}))


def test_the_spec_lists_the_same_table() -> None:
    spec = (Path(__file__).resolve().parents[2] / "docs" / "SPEC.md").read_text("utf-8")
    section = spec[spec.index("### 5.8 Model families") :]
    for key, rows in TABLE.items():
        line = next(x for x in section.splitlines() if x.startswith(f"| {key} |"))
        listed = re.findall(r"`([^`]+)`", line)
        assert tuple(listed) == rows, key
