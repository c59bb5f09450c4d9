"""Ask the GenVM manager to rebuild the LLM module, so a switched script takes effect.

Spec: docs/INSTALL.md §9 (Reload).

Rules:
1. GenVM reads the script and the LLM config only when it builds its Lua VMs,
   so a switch takes effect at the next module start.
2. Newer line: `POST <url>/module/restart` with
   `{"module_type":"Llm","config":null}` (null: the manager re-reads the
   config file); when the manager does not know that route (HTTP 404),
   `POST /module/stop` with `{"module_type":"Llm"}` then `POST /module/start`
   with the restart body. The JSON answer is reported.
3. Older line: there is no manager; the step is restarting the node.
4. Only loopback managers (`localhost`, 127.0.0.0/8, ::1) unless
   `allow_remote`: the request restarts a validator's module.
5. Proxies from the environment are ignored; every request has a timeout.
6. A restart is confirmed by `GET <url>/status`, asked again every 0.2 s until
   it shows the LLM module (`llm_module`) running or `settle` seconds pass.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from genvm_policy.core.errors import PolicyError

__all__ = [
    "DEFAULT_MANAGER_URL",
    "check_reload",
    "confirm_running",
    "reload",
    "reload_instructions",
]

DEFAULT_MANAGER_URL = "http://127.0.0.1:3999"
RESTART_BODY: dict[str, Any] = {"module_type": "Llm", "config": None}
STOP_BODY: dict[str, Any] = {"module_type": "Llm"}
# route -> answers that mean the step did what was asked
EXPECTED: dict[str, tuple[str, ...]] = {
    "/module/restart": ("module_restarted",),
    "/module/stop": ("module_stopped", "module_not_running"),
    "/module/start": ("module_started",),
}
NODE_RESTART = "sudo systemctl restart genlayer-node"


def reload_instructions(line: str, url: str = DEFAULT_MANAGER_URL) -> str:
    """The exact reload step for a GenVM line, as printed after a switch (rules 2–3)."""
    if line == "v1":
        return f"To load it, restart the node (e.g. `{NODE_RESTART}`)."
    body = json.dumps(RESTART_BODY, separators=(",", ":"))
    return (
        f"To load it: `curl -X POST {url}/module/restart -H 'Content-Type: application/json' "
        f"-d '{body}'` (or run with --reload); managers without /module/restart take "
        "/module/stop then /module/start with the same body."
    )


def _check_url(url: str, allow_remote: bool) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
        raise PolicyError(
            "RELOAD_URL",
            ("--reload",),
            f"`{url}` is not a manager URL like `{DEFAULT_MANAGER_URL}`",
        )
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise PolicyError(
            "RELOAD_URL",
            ("--reload",),
            f"`{host}` is not a loopback address",
            hint="the manager listens on 127.0.0.1 by default; --allow-remote reaches another host",
        )
    return url.rstrip("/")


def _post(base: str, route: str, body: dict[str, Any] | None, timeout: int) -> tuple[int, str]:
    request = urllib.request.Request(
        base + route,
        data=None if body is None else json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise PolicyError(
            "RELOAD_UNREACHABLE",
            ("--reload",),
            f"the GenVM manager at `{base}` did not answer `{route}`: {reason}",
            hint="is the node running? the manager URL is `genvm.manager_url` in the node config",
        ) from None


def _result(base: str, route: str, status: int, text: str) -> str:
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if status == 200 and isinstance(answer, dict) and answer.get("result") in EXPECTED[route]:
        return str(answer["result"])
    detail = answer.get("error") if isinstance(answer, dict) and "error" in answer else text
    shown = " ".join(str(detail).split())[:200]
    raise PolicyError(
        "RELOAD_REFUSED",
        ("--reload",),
        f"the GenVM manager answered `{route}` with HTTP {status}: `{shown}`",
        hint="check the node's GenVM log; the LLM module may not start with this config",
    )


def reload(
    url: str = DEFAULT_MANAGER_URL,
    line: str = "v2",
    *,
    allow_remote: bool = False,
    timeout: int = 30,
) -> str:
    """Restart the LLM module through the manager (rules 2–5); returns what it answered."""
    if line != "v2":
        raise PolicyError(
            "RELOAD_LINE",
            ("--reload",),
            "the older GenVM line has no manager to reload through",
            hint=reload_instructions(line),
        )
    base = _check_url(url, allow_remote)
    status, text = _post(base, "/module/restart", RESTART_BODY, timeout)
    if status != 404:
        return f"/module/restart: {_result(base, '/module/restart', status, text)}"
    status, text = _post(base, "/module/stop", STOP_BODY, timeout)
    stopped = _result(base, "/module/stop", status, text)
    status, text = _post(base, "/module/start", RESTART_BODY, timeout)
    started = _result(base, "/module/start", status, text)
    return f"/module/stop: {stopped}; /module/start: {started}"


def _llm_state(text: str) -> str:
    """The LLM module's state in a `/status` answer, lower-case; "" when it names none."""
    try:
        answer = json.loads(text)
    except ValueError:
        return ""
    state = answer.get("llm_module") if isinstance(answer, dict) else None
    if isinstance(state, dict):
        state = state.get("status", state.get("state"))
    return state.lower() if isinstance(state, str) else ""


def confirm_running(
    url: str = DEFAULT_MANAGER_URL,
    *,
    allow_remote: bool = False,
    timeout: int = 30,
    settle: float = 10.0,
) -> str:
    """Wait until `GET /status` shows the LLM module running (rule 6); returns what it showed."""
    base = _check_url(url, allow_remote)
    deadline = time.monotonic() + settle
    while True:
        status, text = _post(base, "/status", None, timeout)
        state = _llm_state(text) if status == 200 else ""
        if state == "running":
            return "/status: llm_module running"
        if time.monotonic() >= deadline:
            shown = state or f"HTTP {status}, `{' '.join(text.split())[:80]}`"
            raise PolicyError(
                "RELOAD_UNCONFIRMED",
                ("--reload",),
                f"after the restart the GenVM manager's /status shows the LLM module {shown}, "
                f"not running, after {settle:g} s",
                hint="check the node's GenVM log: the module may not start with this config; "
                "`genvm-policy revert` puts the previous files back",
            )
        time.sleep(0.2)


def check_reload(url: str, line: str, *, allow_remote: bool = False) -> None:
    """Refuse `--reload URL` before anything changes, as `reload` would refuse it after."""
    if line != "v2":
        raise PolicyError(
            "RELOAD_LINE",
            ("--reload",),
            "the older GenVM line has no manager to reload through",
            hint=reload_instructions(line),
        )
    _check_url(url, allow_remote)
