"""`genvm-policy doctor`: each piece a job needs, its fix, and the exit status (docs/OPERATOR.md).

The stand-alone interpreters and `localedef` are hidden by running the command
with a `PATH` that holds none of them; nothing on the machine is removed.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.nodefixtures import make_node

SUDO = "" if os.geteuid() == 0 else "sudo "


def doctor(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.fixture()
def bare_path(tmp_path: Path) -> str:
    """A PATH with no program at all: no lua5.3, lua5.4 or localedef."""
    (tmp_path / "bin").mkdir()
    return str(tmp_path / "bin")


def test_test_job_names_every_missing_piece_with_one_fix(bare_path: str) -> None:
    run = doctor("--job", "test", path=bare_path)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    apt = f"{SUDO}apt-get update && {SUDO}apt-get install -y"
    for package in ("lua5.3", "lua5.4", "locales"):
        assert f"            fix: {apt} {package}" in lines
    assert sum(line.startswith("  MISSING ") for line in lines) == 3
    assert (
        f"to add every missing package: {SUDO}apt-get update && {SUDO}apt-get install -y "
        "lua5.3 lua5.4 locales"
    ) in lines
    assert lines[-1] == "doctor: the job `test` lacks lua5.3, lua5.4, locales"


def test_operate_job_passes_without_the_interpreters(bare_path: str) -> None:
    run = doctor(path=bare_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "lupa's Lua 5.3, in GenVM's sandbox" in run.stdout
    assert run.stdout.count("  optional  ") == 2 and "MISSING" not in run.stdout
    assert f"not installed: `{SUDO}apt-get update && {SUDO}apt-get install -y lua5.3`" in run.stdout
    assert run.stdout.splitlines()[-1] == "doctor: everything the job `operate` needs is here"


def test_install_job_checks_the_node_tree(tmp_path: Path, bare_path: str) -> None:
    node = make_node(tmp_path / "node", {"v0.5.7": "v2"})
    run = doctor(str(node), path=bare_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the job `install`" in run.stdout
    assert f"GenVM tree {node}/v0.5.7/third_party/genvm: writable by this user" in run.stdout
    missing = doctor(str(tmp_path / "no-node"), path=bare_path)
    assert missing.returncode == 2 and "NODE_NOT_GENVM" in missing.stderr
    needs_node = doctor("--job", "install", path=bare_path)
    assert needs_node.returncode == 2 and "CLI_USAGE" in needs_node.stderr


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def manager() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_manager_reachability_when_asked(manager: str, bare_path: str) -> None:
    up = doctor("--manager", manager, path=bare_path)
    assert up.returncode == 0 and f"GenVM manager {manager}: answers (HTTP 404)" in up.stdout
    down = doctor("--manager", f"http://127.0.0.1:{_closed_port()}", path=bare_path)
    assert down.returncode == 1 and "no answer" in down.stdout
    assert "fix: start the node" in down.stdout
    remote = doctor("--manager", "http://192.0.2.1:3999", path=bare_path)
    assert remote.returncode == 2 and "RELOAD_URL" in remote.stderr
