"""The README's commands set themselves up: `scripts/system` and `scripts/env`.

`scripts/system` is run as a user other than root (as `nobody` when the tests run
as root), where it must change nothing and print the one `sudo` line; the
interpreters are hidden by a PATH without them, never removed. `scripts/env` is
run on a copy of the scripts beside a one-file project, so the project's own
`.venv` is not touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    """A folder any user can read (pytest's own are private to the user who runs it)."""
    folder = Path(tempfile.mkdtemp(prefix="genvm-policy-setup-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _path_without_lua(folder: Path) -> str:
    folder.mkdir(mode=0o755)
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if name == "lua" or name.startswith(("lua5", "luac")) or (folder / name).exists():
                continue
            (folder / name).symlink_to(Path(directory) / name)
    return str(folder)


def test_system_as_another_user_changes_nothing_and_prints_the_sudo_line(
    shared_dir: Path,
) -> None:
    path = _path_without_lua(shared_dir / "bin")
    command = ["env", f"PATH={path}", str(ROOT / "scripts" / "system"), "lua5.3", "lua5.4"]
    if os.geteuid() == 0:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        command = [runuser, "-u", "nobody", "--", *command]
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        "system: missing Debian packages: lua5.3 lua5.4",
        "system: nothing was changed; run this once, then run the command again:",
        "    sudo apt-get update && sudo apt-get install -y lua5.3 lua5.4",
    ]


def test_system_with_everything_present_does_nothing() -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "system"), "python3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_env_rebuilds_a_venv_without_pip(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("env", "system"):
        shutil.copy2(ROOT / "scripts" / name, project / "scripts" / name)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "probe"\nversion = "0"\n[project.optional-dependencies]\ntest = []\n'
        "[tool.setuptools]\npy-modules = []\n",
        encoding="utf-8",
    )
    made = subprocess.run(
        ["python3", "-m", "venv", "--without-pip", str(project / ".venv")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    run = subprocess.run(
        [str(project / "scripts" / "env")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{project / '.venv'}\n"
    assert "has no working pip (half made); making it again" in run.stderr
    pip = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", "pip", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert pip.returncode == 0
    again = subprocess.run(
        [str(project / "scripts" / "env")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (again.returncode, again.stderr) == (0, "")
