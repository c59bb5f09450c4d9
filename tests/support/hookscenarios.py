"""Hook scenarios as data, run under both GenVM-shaped hosts.

A scenario file in `tests/data/hook-scenarios/` names what a node operator's VM meets:
`script` (provider outcomes per backend/model, `*` for any), `sessions` (hello
overrides), `steps` (entry-point calls in order; `{"interleave": [step, ...]}` runs calls
of one VM in turn, one host yield each), optional `hook` (a test hook of `tests/support/hooks/`,
with that folder on the Lua path, instead of the bundled hook on a compiled node),
`source_tree` (the unbundled entry script with `dispatch/` as the Lua path),
`compile_edit` (`[old, new]`: the node's policy compiled from the config so edited,
so the live config has drifted from it),
`keys` (per line, the API keys set), `fault` (an install fault of `hooknode.FAULTS`),
`drop_first_key`, `lsqlite3` (false: the newest V2 preloads no `lsqlite3`),
`data_dir` (the state of `__dflt.data_dir` before the run: `blocked`, a directory where
`stats.sqlite` goes; `foreign`, a `provider_stats` table of another shape; each host
is given it afresh), `expect` (the kind of each step) and `expect_message` (text every
fatal step's message contains, in both hosts). The
same file runs under the Python fake (`genvmfake`) and under the mlua host
(`dispatch/mlua-host`, GenVM's own embedding); both give a report of the same shape:
`start` and each step with its kind, data, consumed_gen, causes, ctx and what it did
(requests as the provider saw them, log records, sleeps, http); a Teardown step also
shows `stats`, the rows of `provider_stats` in `data_dir/stats.sqlite` after it, by
model, when that table exists. `message` texts are host-specific and left out of
comparisons.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from genvm_policy.node.runtimes import DISPATCH, mlua_binary
from support.genvmfake import CallResult, FakeGenVM, ModuleDoesNotStart, outcomes
from support.genvmfake.driver import write_stand_ins
from support.hooknode import FAULTS, KEYS, YAML, Node, line

__all__ = ["SCENARIOS", "comparable", "fake_report", "mlua_report", "resolve"]

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "hook-scenarios"
HOOKS = Path(__file__).resolve().parent / "hooks"

_OUTCOMES = {
    "success": outcomes.Success, "status_not_ok": outcomes.StatusNotOk,
    "reading_body": outcomes.ReadingBody, "sending_request": outcomes.SendingRequest,
    "deserializing": outcomes.Deserializing, "plain_error": outcomes.PlainError,
}  # fmt: skip  # a table laid out by hand in rows


def resolve(definition: dict[str, Any], profile: str, tmp: Path) -> dict[str, Any]:
    """The scenario both hosts read: a node built in `tmp` for `profile`, absolute paths."""
    keys = definition.get("keys", KEYS)[line(profile)]
    keys = keys[1 if definition.get("drop_first_key") else 0 :]
    root = tmp / "genvm"
    write_stand_ins(root, line(profile))
    lua_path = None
    if definition.get("source_tree"):
        hook = DISPATCH / "genvm-policy-hook.lua"
        lua_path = str(DISPATCH / "?.lua")
    elif "hook" in definition:
        hook = HOOKS / definition["hook"]
        extra = f"{HOOKS}/?.lua"
        lua_path = extra if profile == "v1" else f"${{exeDir}}/../lib/genvm-lua/?.lua;{extra}"
    else:
        source = None
        if "compile_edit" in definition:
            old, new = definition["compile_edit"]
            source = tmp / "compiled-from.yaml"
            text = YAML[line(profile)].read_text(encoding="utf-8")
            source.write_text(text.replace(old, new, 1), encoding="utf-8")
        node = Node(tmp, profile, source=source)
        if definition.get("fault"):
            FAULTS[definition["fault"]](node)
        hook = node.hook
    return {
        "name": definition["name"],
        "profile": profile,
        "hook": str(hook),
        "lua_path": lua_path,
        "config": str(YAML[line(profile)]),
        "root": str(root),
        "env": {k: "key" for k in keys},
        "seed": definition.get("seed", 0),
        "script": definition.get("script", []),
        "sessions": definition.get("sessions", [{}]),
        "steps": definition["steps"],
        "lsqlite3": definition.get("lsqlite3", True),
        "data_dir_state": definition.get("data_dir"),
    }


STATS_QUERY = "SELECT model, errors, input_tokens, output_tokens FROM provider_stats ORDER BY model"


def _data_dir(sc: dict[str, Any]) -> Path:
    """A fresh `data_dir` for one host's run of `sc`, in the state the scenario names:
    the same path for both hosts (records name it), made anew before each."""
    path = Path(sc.get("root") or sc["genvm_root"]).parent / "genvm-data"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    state = sc.get("data_dir_state")
    if state == "blocked":  # sqlite cannot open a directory
        (path / "stats.sqlite").mkdir(exist_ok=True)
    elif state == "foreign":
        with sqlite3.connect(path / "stats.sqlite") as db:
            db.execute("CREATE TABLE IF NOT EXISTS provider_stats (model TEXT, calls INTEGER)")
            db.execute("INSERT INTO provider_stats VALUES ('someone/else', 3)")
    elif state is not None:
        raise ValueError(f"unknown data_dir state {state!r}")
    return path


def stats_rows(data_dir: Path) -> list[dict[str, Any]] | None:
    """The rows of `provider_stats` in `data_dir/stats.sqlite`, or None without one."""
    path = data_dir / "stats.sqlite"
    if not path.is_file():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(STATS_QUERY).fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    keys = ("model", "errors", "input_tokens", "output_tokens")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return "<userdata>"


def _records(result: CallResult) -> dict[str, Any]:
    return {
        "requests": [
            {"session": r.session, "request": _plain(r.request), "outcome": r.outcome}
            for r in result.requests
        ],
        "logs": [
            {"level": g.level, "message": g.message, "fields": _plain(g.fields)}
            for g in result.logs
        ],
        "sleeps": list(result.sleeps),
        "http": _plain(result.http),
    }


def fake_report(sc: dict[str, Any]) -> dict[str, Any]:
    """Run the resolved scenario `sc` under the Python fake."""
    try:
        vm = FakeGenVM(
            Path(sc["hook"]),
            Path(sc["config"]),
            profile=sc["profile"],
            env=sc["env"],
            seed=sc["seed"],
            root=Path(sc["root"]),
            lua_path=sc["lua_path"],
            data_dir=_data_dir(sc),
            lsqlite3=sc.get("lsqlite3", True),
        )
    except ModuleDoesNotStart as err:
        return {
            "name": sc["name"],
            "profile": sc["profile"],
            "steps": [],
            "start": {"kind": "module_does_not_start", "message": str(err)},
        }
    start_logs = [
        {"level": g.level, "message": g.message, "fields": _plain(g.fields)} for g in vm.logs
    ]
    for script in sc["script"]:
        vm.script(
            script["backend"],
            script["model"],
            *(
                _OUTCOMES[o["kind"]](**{k: v for k, v in o.items() if k != "kind"})
                for o in script["outcomes"]
            ),
        )
    sessions = [vm.session(**spec) for spec in sc["sessions"]]
    steps = []
    for step in sc["steps"]:
        parts = step.get("interleave") or [step]
        for part, result in zip(parts, _run(sessions, parts), strict=True):
            steps.append(_step_report(part, result))
            rows = stats_rows(vm.data_dir) if part["entry"] == "Teardown" else None
            if rows is not None:
                steps[-1]["stats"] = rows
    start = {"kind": "ok", "requests": [], "logs": start_logs, "sleeps": [], "http": []}
    return {"name": sc["name"], "profile": sc["profile"], "start": start, "steps": steps}


def _run(sessions: list[Any], steps: list[dict[str, Any]]) -> list[CallResult | None]:
    """Run `steps`; more than one are begun together and stepped in turn (one VM)."""
    if len(steps) == 1 and steps[0]["entry"] in ("Setup", "Teardown"):
        s = sessions[steps[0]["session"]]
        return [s.setup() if steps[0]["entry"] == "Setup" else s.teardown()]
    calls = [
        sessions[st["session"]].begin(
            st["entry"], _from_json(st["args"]), remaining_gen=st.get("remaining_gen", 1_000_000)
        )
        for st in steps
    ]
    while not all(c.done for c in calls):
        for c in calls:
            if not c.done:
                c.step()
    return [c.result for c in calls]


def _step_report(step: dict[str, Any], result: CallResult | None) -> dict[str, Any]:
    entry = step["entry"]
    if result is None:
        return {"kind": "not_called", "session": step["session"], "entry": entry}
    out: dict[str, Any] = {
        "kind": result.kind,
        "session": step["session"],
        "entry": entry,
        "message": result.message,
    }
    if result.kind == "ok" and entry not in ("Setup", "Teardown"):
        out.update(data=_plain(result.data), consumed_gen=result.consumed_gen)
    if result.kind in ("user_error", "fatal_error") and result.causes:
        out.update(causes=result.causes, ctx=_plain(result.ctx))
    return {**out, **_records(result)}


def mlua_report(sc: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run the resolved scenario `sc` under the mlua host."""
    path = tmp / f"scenario-{sc['profile']}.json"
    path.write_text(json.dumps({**sc, "data_dir": str(_data_dir(sc))}), encoding="utf-8")
    run = subprocess.run(
        [str(mlua_binary()), "host", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without host-specific message texts; empty fields dropped."""

    def clean(part: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in part.items() if k != "message" and v not in (None, [], {})}

    return {**report, "start": clean(report["start"]), "steps": [clean(s) for s in report["steps"]]}
