"""The README's main command runs the whole operator story and ends with its summary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end() -> None:
    got = subprocess.run(
        [str(ROOT / "scripts" / "demo")], capture_output=True, text=True, check=False, timeout=120
    )
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    out = got.stdout
    for step in (
        "1. a sandbox genlayer node",
        "2. init",
        "3. explain",
        "4. install",
        "5. sample calls",
        "6. replay",
        "7. golden vectors",
        "8. revert",
    ):
        assert f"== {step}" in out, step
    assert "unavailable" in out  # the scripted 503 shows in the first record
    assert "3 agreed, 0 differed" in out
    assert "revert put the GenVM tree back exactly as it was" in out
    assert out.rstrip().endswith("demo: OK")


def _path_without_lua(folder: Path) -> str:
    """A PATH folder linking every program of PATH except the stand-alone Lua interpreters."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if name == "lua" or name.startswith(("lua5", "luac")) or (folder / name).exists():
                continue
            (folder / name).symlink_to(Path(directory) / name)
    return str(folder)


def test_demo_needs_no_stand_alone_lua(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=_path_without_lua(tmp_path / "bin"))
    assert shutil.which("lua5.3", path=env["PATH"]) is None
    got = subprocess.run(
        [str(ROOT / "scripts" / "demo")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    assert "the golden vectors pass on python lua53 lua54\n" in got.stdout
    assert "not installed: `apt-get install lua5.3` adds the independent check" in got.stdout
    assert got.stdout.rstrip().endswith("demo: OK")
