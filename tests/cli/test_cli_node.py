"""Every command that reads a node's LLM config takes the node the way `install` finds it.

The node is a node root, a version folder, a GenVM tree or the config file
(docs/OPERATOR.md, "Naming the node"); each spelling reads the same file, and a
command that had to look for the file says on stderr which one it read. Also:
every sub-command's `--help` has a description and examples.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from support.nodefixtures import make_node

from genvm_policy.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_node(tmp_path_factory.mktemp("cli-node") / "node", {"v0.5.7": "v2"})


def spellings(node: Path) -> list[str]:
    tree = node / "v0.5.7" / "third_party" / "genvm"
    return [str(node), str(node / "v0.5.7"), str(tree), str(tree / "config/genvm-module-llm.yaml")]


def test_each_spelling_gives_the_same_identities_and_names_the_file(node: Path) -> None:
    config = node / "v0.5.7" / "third_party" / "genvm" / "config" / "genvm-module-llm.yaml"
    for args in (["hash", "view"], ["hash", "catalog"]):
        runs = [cli(*args, given, cwd=node) for given in spellings(node)]
        assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
        assert len({r.stdout for r in runs}) == 1 and runs[0].stdout.startswith("sha256:")
        for run in runs[:3]:
            assert f"reading the node config `{config}`" in run.stderr
        assert runs[3].stderr == ""  # the file was named: nothing to tell


@pytest.mark.parametrize(
    "args",
    [
        ["catalog", "show", "{node}"],
        ["check", "stock-greybox", "--catalog", "{node}"],
        ["explain", "--catalog", "{node}", "--policy", "stock-greybox", "--format", "text"],
        ["decide", "--catalog", "{node}", "--policy", "stock-greybox", "--json"],
        ["compile", "stock-greybox", "--catalog", "{node}", "-o", "{out}/policy.lua"],
        ["diversity", "--catalog", "{node}", "--generate", "2", "--seed", "00"],
    ],
    ids=lambda a: a[0],
)
def test_commands_take_the_node_root(node: Path, tmp_path: Path, args: list[str]) -> None:
    filled = [a.format(node=node, out=tmp_path) for a in args]
    run = cli(*filled, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "reading the node config" in run.stderr and "Traceback" not in run.stderr


def test_init_takes_the_node_as_its_argument(node: Path, tmp_path: Path) -> None:
    run = cli("init", str(node), "-o", str(tmp_path / "mine"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "mine" / "policy.yaml").is_file()
    both = cli("init", str(node), "--node-config", str(node), cwd=tmp_path)
    neither = cli("init", cwd=tmp_path)
    for bad in (both, neither):
        assert bad.returncode == 2 and "CLI_USAGE" in bad.stderr


def test_a_mistyped_node_root_says_what_to_give(tmp_path: Path) -> None:
    run = cli("catalog", "show", str(tmp_path / "genlayer-nod"), cwd=tmp_path)
    assert run.returncode == 2 and "NODE_NOT_GENVM" in run.stderr
    assert "config file" in run.stderr and "SRC_FORMAT" not in run.stderr


Named = list[tuple[str, argparse.ArgumentParser]]


def _parsers(parser: argparse.ArgumentParser, name: str) -> Named:
    found: Named = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found.append((f"{name} {sub_name}", sub))
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def test_every_sub_command_help_teaches() -> None:
    commands = _parsers(build_parser(), "genvm-policy")
    assert len(commands) >= 20
    for name, parser in commands:
        text = parser.format_help()
        assert parser.description, name
        examples = text.split("examples:\n", 1)
        assert len(examples) == 2, f"{name} --help has no examples"
        lines = [line.strip() for line in examples[1].splitlines() if line.strip()]
        assert lines and all(line.startswith(name.split()[0] + " ") for line in lines), name
        # An example runs the command it documents (a group's may run one of its actions).
        assert any(line.startswith(name) for line in lines) or name.count(" ") == 1, name


def test_help_runs_as_a_program() -> None:
    run = cli("doctor", "--help", cwd=ROOT)
    assert run.returncode == 0 and "examples:\n  genvm-policy doctor" in run.stdout
