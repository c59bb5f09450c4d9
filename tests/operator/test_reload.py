"""docs/INSTALL.md §9: reload through a loopback fake GenVM manager."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator.reload import reload, reload_instructions


class FakeManager:
    """Answers like GenVM's manager: routes it knows, 404 for the others."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, Any]]], delay: int = 0) -> None:
        self.routes = routes
        self.delay = delay
        self.calls: list[tuple[str, Any]] = []


@pytest.fixture
def manager() -> Iterator[tuple[str, FakeManager]]:
    fake = FakeManager({})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.calls.append((self.path, body))
            time.sleep(fake.delay)
            status, answer = fake.routes.get(self.path, (404, {"error": "not found"}))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except BrokenPipeError:
                # the slow-manager case: the client gave up before the answer, as it must
                return

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", fake
    server.shutdown()
    server.server_close()


RESTART = {"module_type": "Llm", "config": None}


def test_restart_route(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/restart"] = (200, {"result": "module_restarted"})
    assert reload(url + "/") == "/module/restart: module_restarted"
    assert fake.calls == [("/module/restart", RESTART)]


def test_stop_then_start_when_restart_is_unknown(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/stop"] = (200, {"result": "module_not_running"})
    fake.routes["/module/start"] = (200, {"result": "module_started"})
    answer = reload(url)
    assert answer == "/module/stop: module_not_running; /module/start: module_started"
    assert fake.calls == [
        ("/module/restart", RESTART),
        ("/module/stop", {"module_type": "Llm"}),
        ("/module/start", RESTART),
    ]


def test_manager_error_is_reported(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/restart"] = (500, {"error": "no backends\nconfigured"})
    with pytest.raises(PolicyError) as info:
        reload(url)
    assert info.value.code == "RELOAD_REFUSED"
    assert "HTTP 500" in info.value.message and "`no backends configured`" in info.value.message


def test_unexpected_result_is_refused(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/stop"] = (200, {"result": "module_stopped"})
    fake.routes["/module/start"] = (200, {"result": "module_already_running"})
    with pytest.raises(PolicyError) as info:
        reload(url)
    assert info.value.code == "RELOAD_REFUSED" and "/module/start" in info.value.message


def test_timeout_is_unreachable(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/restart"] = (200, {"result": "module_restarted"})
    fake.delay = 2
    with pytest.raises(PolicyError) as info:
        reload(url, timeout=1)
    assert info.value.code == "RELOAD_UNREACHABLE"


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PolicyError) as info:
        reload(f"http://127.0.0.1:{port}", timeout=2)
    assert info.value.code == "RELOAD_UNREACHABLE"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:3999",
        "http://manager.example:3999",
        "ftp://127.0.0.1",
        "http://127.0.0.1/x",
    ],
)
def test_remote_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(PolicyError) as info:
        reload(url)
    assert info.value.code == "RELOAD_URL"


def test_loopback_forms_pass_the_check(manager: tuple[str, FakeManager]) -> None:
    url, fake = manager
    fake.routes["/module/restart"] = (200, {"result": "module_restarted"})
    port = url.rsplit(":", 1)[1]
    assert reload(f"http://localhost:{port}").endswith("module_restarted")


def test_older_line_has_no_manager() -> None:
    with pytest.raises(PolicyError) as info:
        reload("http://127.0.0.1:3999", "v1")
    assert info.value.code == "RELOAD_LINE"
    assert "restart the node" in (info.value.hint or "")
    assert "/module/restart" in reload_instructions("v2")
