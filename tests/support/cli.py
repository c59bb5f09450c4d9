"""The command line as the tests run it: `genvm-policy` in a subprocess, and its summary.

A test of the CLI runs the real program (`python -m genvm_policy.cli`) from the
repository root, or from the folder it names, and reads what an operator reads.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from genvm_policy.node.runtimes import ROOT

__all__ = ["cli", "summary"]

SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")


def cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run `genvm-policy *args` in a subprocess from `cwd` (the repository root)."""
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary(run: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """The `N passed, M failed` counts of a `vectors verify` run's last line."""
    lines = run.stdout.strip().splitlines()
    assert lines, run.stderr
    found = SUMMARY.fullmatch(lines[-1])
    assert found, lines[-1]
    return int(found.group(1)), int(found.group(2))
