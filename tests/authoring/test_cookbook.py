"""docs/POLICIES.md: every recipe is a file, and every command shown prints what is shown.

Each recipe section holds the policy file's text (a `yaml` block that must equal
the file) and a `console` block of `$ genvm-policy …` commands, each followed by
its exact stdout; the commands run here through a subprocess against the
example node, as an operator would run them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from genvm_policy.core.policy import OPS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "POLICIES.md").read_text(encoding="utf-8")
RECIPES = re.split(r"^### ", DOC.split("\n## Recipes\n", 1)[1], flags=re.M)[1:]


def commands(block: str) -> list[tuple[str, str]]:
    """The `(command, shown stdout)` pairs of one console block."""
    pairs: list[tuple[str, str]] = []
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
        line, _, shown = chunk.partition("\n")
        pairs.append((line, shown))
    return pairs


def test_the_cookbook_has_at_least_ten_recipes_each_a_file() -> None:
    assert len(RECIPES) >= 10
    for recipe in RECIPES:
        (path,) = re.findall(r"^`(examples/policies/[a-z0-9-]+\.yaml)`:$", recipe, re.M)
        (text,) = re.findall(r"```yaml\n(.*?)```", recipe, re.S)
        assert (ROOT / path).read_text(encoding="utf-8") == text, path


def test_every_op_has_its_example_in_the_language_section() -> None:
    language = DOC.split("## Every op, with an example")[1].split("## Recipes")[0]
    missing = [op for op in OPS if op != "request" and f"`{op}`" not in language]
    assert missing == []
    assert "request facts" in language  # `request` terms are written as comparisons


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.split("\n", 1)[0])
def test_each_recipe_checks_and_explains_as_shown(recipe: str) -> None:
    (block,) = re.findall(r"```console\n(.*?)```", recipe, re.S)
    pairs = commands(block)
    assert [shlex.split(c)[:2] for c, _ in pairs] == [
        ["genvm-policy", "check"],
        ["genvm-policy", "explain"],
    ]
    for command, shown in pairs:
        out = subprocess.run(
            [sys.executable, "-m", "genvm_policy.cli", *shlex.split(command)[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == shown, command
