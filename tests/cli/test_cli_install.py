"""`genvm-policy install|revert|status` and `integrate.sh` on realistic node trees, as subprocesses.

Trees come from `nodefixtures` (both GenVM lines, literal and templated keys); the
policy and salt come from `genvm-policy init` on the tree's own config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.nodefixtures import LITERAL_KEY, make_node, ram_folder, snapshot

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.cli.commands.install import verify_installed
from genvm_policy.core.errors import PolicyError
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy

ROOT = Path(__file__).resolve().parents[2]
CLI = str(ROOT / ".venv" / "bin" / "genvm-policy")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENVM_POLICY": CLI}
    return subprocess.run(
        [str(ROOT / "integrate.sh"), *args], capture_output=True, text=True, check=False, env=env
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("line", ["v2", "v1"])
def test_install_status_reinstall_revert(tmp_path: Path, line: str) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": line})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    made = cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol"))
    assert made.returncode == 0, made.stderr
    before = snapshot(node)
    policy = str(tmp_path / "pol" / "policy.yaml")

    dry = run(str(node), "--policy", policy, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and snapshot(node) == before

    got = run(str(node), "--policy", policy)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    for step in (
        "find the GenVM tree",
        "load the node's catalog",
        "admit and compile",
        "take the node salt",
        "build the hook bundle",
        "sample decisions agree",
    ):
        assert step in out, step
    assert ("restart the node" in out) == (line == "v1")
    assert LITERAL_KEY not in out + got.stderr
    salt = (tmp_path / "pol" / "salt").read_bytes()
    assert salt.hex() not in out and (genvm / "config/genvm-policy/salt").read_bytes() == salt
    assert (genvm / "config/genvm-policy/salt").stat().st_mode & 0o777 == 0o600

    installed = snapshot(node)
    again = run(str(node), "--policy", policy)
    assert "nothing to change" in again.stdout and snapshot(node) == installed

    status = run(str(node), "--status")
    assert status.returncode == 0, status.stderr
    assert "hook active: yes" in status.stdout
    assert "drift: catalog unchanged" in status.stdout
    assert "drift: genvm-view unchanged" in status.stdout

    # The node's catalog changes after the install: status reports drift.
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("supports_json: true", "supports_json: false", 1), "utf-8")
    drifted = run(str(node), "--status")
    assert "drift: genvm-view CHANGED since the install" in drifted.stdout
    config.write_text(text, encoding="utf-8")

    back = run(str(node), "--revert")
    assert back.returncode == 0, back.stderr
    assert snapshot(node) == before


def test_missing_salt_is_refused(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    policy = tmp_path / "policy.yaml"
    policy.write_text("select: argmax\n", encoding="utf-8")
    before = snapshot(node)
    got = run(str(node), "--policy", str(policy))
    assert got.returncode == 2
    assert "INSTALL_SALT" in got.stderr and "genvm-policy init" in got.stderr
    assert "Traceback" not in got.stderr and snapshot(node) == before


def test_a_bad_salt_is_refused_before_any_change(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    assert cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol")).returncode == 0
    before = snapshot(node)
    bad = tmp_path / "bad-salt"
    bad.write_bytes(b"short")
    bad.chmod(0o600)
    got = run(str(node), "--policy", str(tmp_path / "pol" / "policy.yaml"), "--salt", str(bad))
    assert got.returncode == 2 and "HOOK_SALT" in got.stderr
    assert snapshot(node) == before


def test_verification_fails_when_the_hook_disagrees(tmp_path: Path) -> None:
    config = load_document(ROOT / "examples/node/genvm-module-llm.yaml", what="c")
    assert isinstance(config, dict)
    catalog = build_catalog(config)
    policy = admit({"select": "argmax"}, catalog)
    (tmp_path / "policy.lua").write_bytes(compile_policy(catalog, policy))
    (tmp_path / "salt").write_bytes(bytes(32 * [7]))
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(tmp_path / "policy.lua"), str(tmp_path / "salt")))
    assert verify_installed(hook, catalog, policy, bytes(32 * [7])) == 4
    with pytest.raises(PolicyError) as err:
        verify_installed(hook, catalog, policy, bytes(32 * [8]))
    assert err.value.code == "INSTALL_VERIFY" and "`seed`" in err.value.message
    (tmp_path / "salt").unlink()
    with pytest.raises(PolicyError) as err:
        verify_installed(hook, catalog, policy, bytes(32 * [7]))
    assert err.value.code == "INSTALL_VERIFY" and "fell back" in err.value.message


class Manager:
    """A loopback GenVM manager that records every request and answers as GenVM's does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, answer: dict[str, object]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.calls.append(("POST", self.path, body))
                self._answer({"result": "module_restarted"})

            def do_GET(self) -> None:
                recorder.calls.append(("GET", self.path, None))
                self._answer({"llm_module": "running", "web_module": "running"})

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[tuple[str, str, object]]:
        calls, self.calls = self.calls, []
        return calls


RESTARTED = [
    ("POST", "/module/restart", {"module_type": "Llm", "config": None}),
    ("GET", "/status", None),
]


def test_an_edited_policy_is_reloaded_and_nothing_changed_reloads_nothing(tmp_path: Path) -> None:
    with ram_folder(tmp_path) as work:
        _edited_policy_is_reloaded(work)


def _edited_policy_is_reloaded(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    config = node / "0.5.7" / "third_party" / "genvm" / "config" / "genvm-module-llm.yaml"
    assert cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol")).returncode == 0
    policy = tmp_path / "pol" / "policy.yaml"
    manager = Manager()
    try:
        first = cli("install", "--node-root", str(node), "--policy", str(policy))
        assert first.returncode == 0, first.stderr
        assert "/module/restart" in first.stdout and manager.take() == []  # the step, printed

        text = policy.read_text(encoding="utf-8")
        assert "\nmax_attempts: 8\n" in text
        policy.write_text(text.replace("max_attempts: 8", "max_attempts: 7"), encoding="utf-8")
        edited = cli(
            "install", "--node-root", str(node), "--policy", str(policy), "--reload", manager.url
        )
        assert edited.returncode == 0, edited.stderr
        assert "switch `lua_script_path`" not in edited.stdout  # only policy.lua changed
        assert manager.take() == RESTARTED
        assert "llm_module running" in edited.stdout

        again = cli(
            "install", "--node-root", str(node), "--policy", str(policy), "--reload", manager.url
        )
        assert again.returncode == 0, again.stderr
        assert "nothing changed" in again.stdout and "nothing is reloaded" in again.stdout
        assert manager.take() == []

        status = cli("status", "--node-root", str(node))
        assert status.returncode == 0, status.stdout
        assert "GenVM's active script: ours" in status.stdout
        assert status.stdout.splitlines()[-1] == "next: nothing to do; all is as installed"

        back = cli("revert", "--node-root", str(node), "--reload", manager.url)
        assert back.returncode == 0, back.stderr
        assert manager.take() == RESTARTED
    finally:
        manager.server.shutdown()
        manager.server.server_close()


def test_status_uses_the_recorded_overlay_and_names_drifted_routes(tmp_path: Path) -> None:
    with ram_folder(tmp_path) as work:
        _status_and_overlay(work)


def _status_and_overlay(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    shutil.copy(ROOT / "examples/node/genvm-module-llm.yaml", config)
    overlay = tmp_path / "overlay.yaml"
    shutil.copy(ROOT / "examples/node/overlay.yaml", overlay)
    made = cli("init", "--node-config", str(config), "--overlay", str(overlay), "-o", str(tmp_path))
    assert made.returncode == 0, made.stderr
    policy = str(tmp_path / "policy.yaml")
    got = cli("install", "--node-root", str(node), "--policy", policy, "--overlay", str(overlay))
    assert got.returncode == 0, got.stderr
    manifest = json.loads((genvm / "config/genvm-policy/manifest.json").read_text())
    assert manifest["overlay"]["path"] == str(overlay.resolve())

    clean = cli("status", "--node-root", str(node))  # no --overlay: the recorded one is used
    assert clean.returncode == 0, clean.stdout
    assert "CHANGED" not in clean.stdout and "drift: none" in clean.stdout

    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("supports_json: true", "supports_json: false", 1), "utf-8")
    drifted = cli("status", "--node-root", str(node))
    assert drifted.returncode == 1
    [route] = [ln for ln in drifted.stdout.splitlines() if ln.startswith("drift: route")]
    assert route.endswith("changed: json") and "`" in route
    assert drifted.stdout.splitlines()[-1].startswith("next: the node's catalog changed")

    overlay.unlink()
    gone = cli("status", "--node-root", str(node))
    assert gone.returncode == 1 and "overlay" in gone.stdout and "is gone" in gone.stdout

    (genvm / "config/genvm-policy/manifest.json").write_text("{", encoding="utf-8")
    broken = cli("status", "--node-root", str(node))
    assert broken.returncode == 2 and "INSTALL_MANIFEST" in broken.stderr
    assert "Traceback" not in broken.stderr
