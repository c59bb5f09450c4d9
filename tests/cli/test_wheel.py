"""The wheel is the program: built by `python -m build`, installed alone, run in an empty folder.

`python -m build` makes the sdist and then the wheel from that sdist, so the
wheel proves the sdist is complete too. The wheel goes into a new virtual
environment; every command then runs from an empty temporary folder, with no
checkout in reach: the golden vectors on every runtime, the operator's path on
a sandbox node tree (init, explain, install, status, revert), decide in each
runtime, compile and doctor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.nodefixtures import make_node, snapshot
from support.runtimes import names

ROOT = Path(__file__).resolve().parents[2]
# What the runtime, its vector drivers and the golden vectors are made of, in the checkout.
CHECKOUT_DATA = {
    pattern: sorted(p.relative_to(ROOT) for p in ROOT.glob(pattern))
    for pattern in ("dispatch/*.lua", "dispatch/genvm_policy/*.lua", "dispatch/vectors/*.lua",
                    "vectors/*.cbor", "vectors/regressions/*")
}  # fmt: skip  # a table laid out by hand in rows


def _run(
    args: list[str], cwd: Path, timeout: int = 600, path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def program(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent)
    assert made.returncode == 0, made.stderr
    (wheel,) = dist.glob("genvm_policy-*.whl")
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], venv)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv / "bin" / "genvm-policy"


@pytest.fixture()
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_sdist_and_wheel_carry_the_runtime_vectors_and_examples(dist: Path) -> None:
    (wheel,) = dist.glob("genvm_policy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for files in CHECKOUT_DATA.values():
        assert files and all(f"genvm_policy/data/{f}" in names for f in files)
    assert "genvm_policy/data/examples/node/genvm-module-llm.yaml" in names
    (sdist,) = dist.glob("genvm_policy-*.tar.gz")
    with tarfile.open(sdist) as tar:
        inside = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for files in CHECKOUT_DATA.values():
        assert all(str(f) in inside for f in files)


def test_the_installed_package_reads_its_own_copy(program: Path, empty: Path) -> None:
    python = program.parent / "python"
    probe = "from genvm_policy.resources import resource; print(resource('dispatch'))"
    where = _run([str(python), "-c", probe], cwd=empty)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == program.parent.parent.joinpath(
        "lib",
        f"python{sys.version_info[0]}.{sys.version_info[1]}",
        "site-packages",
        "genvm_policy",
        "data",
        "dispatch",
    )


def test_golden_vectors_pass_on_every_runtime_from_an_empty_folder(
    program: Path, empty: Path
) -> None:
    # The wheel carries no Rust build: the mlua host built from this checkout (scripts/check
    # builds it first) is found on PATH, as an operator who built it would install it.
    host = ROOT / "dispatch" / "mlua-host" / "target" / "release"
    run = _run([str(program), "vectors", "verify", "--runtime", "all"], cwd=empty, path=host)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    lines = run.stdout.splitlines()
    for runtime in names():
        assert any(line.startswith(f"{runtime}: ") and " 0 failed" in line for line in lines)
    assert lines[-1].endswith(" passed, 0 failed") and not lines[-1].startswith("0 ")


def test_operator_path_on_a_node_tree(program: Path, empty: Path) -> None:
    node = make_node(empty.parent / "node", {"v0.5.7": "v2"})
    before = snapshot(node)
    cli = str(program)
    steps = [
        [cli, "init", str(node), "-o", "policy"],
        [cli, "explain", "--catalog", str(node), "--policy", "policy/policy.yaml"],
        [cli, "install", "--node-root", str(node), "--policy", "policy/policy.yaml"],
        [cli, "status", "--node-root", str(node)],
        [cli, "revert", "--node-root", str(node)],
    ]
    outputs = []
    for args in steps:
        run = _run(args, cwd=empty)
        assert run.returncode == 0, f"{args[1]}: {run.stdout[-3000:]}{run.stderr[-3000:]}"
        outputs.append(run.stdout)
    assert "attempts (in order):" in outputs[1]
    assert "install: done" in outputs[2] and "golden vectors" in outputs[2]
    assert "drift: catalog unchanged" in outputs[3]
    assert snapshot(node) == before


def test_decide_in_each_runtime_compile_and_doctor(program: Path, empty: Path) -> None:
    node = make_node(empty.parent / "node", {"v0.5.7": "v2"})
    cli = str(program)
    base = [cli, "decide", "--catalog", str(node), "--policy", "stock-greybox", "--json"]
    answers = {}
    for runtime in names(without=("cargo",)):
        run = _run([*base, "--runtime", runtime], cwd=empty)
        assert run.returncode == 0, f"{runtime}: {run.stderr}"
        answers[runtime] = run.stdout
    assert len(set(answers.values())) == 1 and json.loads(answers["python"])["attempts"]
    compiled = _run(
        [cli, "compile", "stock-greybox", "--catalog", str(node), "-o", "policy.lua"], cwd=empty
    )
    assert compiled.returncode == 0 and (empty / "policy.lua").is_file(), compiled.stderr
    doctor = _run([cli, "doctor", str(node)], cwd=empty)
    assert doctor.returncode == 0, doctor.stdout
