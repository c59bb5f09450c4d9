"""`hook_start` and `hook_call` rows: the bundled hook, measured by itself.

Each size gets a temporary node: GenVM's LLM config, the compiled policy
(`stock-greybox` bound to that catalog), a salt and the hook bundled for those
paths (`genvm_policy.node.bundle`). The judged rows run the hook in a plain
GenVM-sandboxed `lua53` state under `plain_host.lua`, a minimal host written in
Lua (providers, a provider that answers at once, no host hash: pure-Lua hashing,
the worst case on a node). `hook_start` times running the hook's chunk in a
fresh state whose host is already installed (runtime, compiled policy, identity
checks, the GenVM view); `hook_call` is one `ExecPrompt` minus the median of
`baseline_hook.lua` (one forwarded provider call) under the same host.

Rows labelled `mlua v2-mid` run the same hook under the mlua host
(`dispatch/mlua-host`, GenVM's own embedding: mlua 0.10.3, vendored Lua 5.3,
host functions in Rust), in the middle-V2 shape, which offers no host hash, so
the Lua work equals the plain host's and the printed ratio to those rows is the
engine's and host's cost alone. The binary times itself (`bench`): no pipe in
the timed region.

Rows labelled `genvm-fake v2-new` run the same way under the GenVM fake
(tests/support/genvmfake): its host functions, `sha2_256` included, are Python reached
through lupa, which GenVM's native host is not, so those rows carry no target.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import catalogs
from benchmarks.harness import Budget, Timing, time_calls
from benchmarks.report import Row
from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.catalog import Catalog
from genvm_policy.node.runtimes import DISPATCH, ROOT, mlua_binary, new_state

__all__ = ["hook_missing", "measure"]

_HERE = Path(__file__).resolve().parent
_ENTRY = DISPATCH / "genvm-policy-hook.lua"
_PROMPT = {
    "prompt": "Summarise the transaction in one line.",
    "response_format": "text",
    "images": [],
}


def hook_missing() -> str | None:
    """Why the hook cannot be measured yet: its entry or a module it requires is absent."""
    if not _ENTRY.is_file():
        return "dispatch/genvm-policy-hook.lua is absent"
    sources = [_ENTRY, *sorted((DISPATCH / "genvm_policy").glob("*.lua"))]
    wanted: set[str] = set()
    for src in sources:
        wanted.update(re.findall(r'require\("genvm_policy\.(\w+)"\)', src.read_text("utf-8")))
    absent = sorted(m for m in wanted if not (DISPATCH / "genvm_policy" / f"{m}.lua").is_file())
    if absent:
        return "the hook requires absent " + ", ".join(f"genvm_policy/{m}.lua" for m in absent)
    return None


def _fake() -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    from support import genvmfake

    return genvmfake


def _node(root: Path, catalog: Catalog, routes: int) -> tuple[Path, Path, dict[str, str]]:
    """Config, hook and environment of a node for `catalog` under `root`."""
    from genvm_policy.node.bundle import build_hook
    from genvm_policy.node.compile import compile_policy

    config = catalogs.node_config(routes)
    env = {f"BACKEND_{b:03d}_KEY": "k" for b in range(catalogs.SHAPES[routes][0])}
    env["LOCAL_KEY"] = "k"
    cfg = root / "genvm-module-llm.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    policy = root / "policy.lua"
    policy.write_bytes(compile_policy(catalog, builtin("stock-greybox")))
    salt = root / "salt"
    salt.write_bytes(bytes(range(32)))
    hook = root / "genvm-policy-hook.lua"
    hook.write_bytes(build_hook(str(policy), str(salt)))
    return cfg, hook, env


MLUA = "mlua v2-mid"
"""The `host` label of rows measured under the mlua host (no target: a ratio to `plain`)."""

FAKE = "genvm-fake v2-new"
"""The `host` label of rows measured under the GenVM fake (no target: see the docstring)."""


def measure(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    """The hook rows, plain host then fake; each says why when the hook cannot run yet."""
    rows: list[Row] = []
    for host, run in (("plain", _measure_plain), (MLUA, _measure_mlua), (FAKE, _measure_fake)):
        why = hook_missing()
        if why is None:
            try:
                rows += run(built, call_size, start_sizes, quick)
                continue
            except Exception as exc:  # any failure of the hook or its host becomes the reason
                why = f"hook failed under the {host} host: " + " ".join(str(exc).split())[:160]
        rows.append(_row("hook_call", call_size, host, why=why))
        rows += [_row("hook_start", n, host, why=why) for n in start_sizes]
    return rows


def _row(
    name: str,
    routes: int,
    host: str,
    timing: Timing | None = None,
    *,
    base: Timing | None = None,
    why: str | None = None,
) -> Row:
    policy = "stock-greybox" if host == "plain" else f"stock-greybox ({host})"
    extra: dict[str, Any] = {"host": host}
    runtime = "mlua" if host == MLUA else "lua53"
    if timing is None:
        return Row(name, runtime, routes, policy, why=why, extra=extra)
    median, p95 = timing.median_us, timing.p95_us
    if base is not None:
        median, p95 = median - base.median_us, p95 - base.median_us
        extra["baseline_us"] = base.median_us
    return Row(name, runtime, routes, policy, median, p95, None, len(timing.samples), extra=extra)


def _budget(quick: bool) -> Budget:
    return Budget(warmup=5, samples=50 if quick else 300, seconds=1.0 if quick else 5.0)


def _start_samples(quick: bool, routes: int) -> int:
    # A single start-up sample is at the mercy of the machine's load; three
    # cost about 0.1 s at 1,000 routes.
    if routes > 1000:
        return 1
    return 3 if quick else 5


def _providers(routes: int) -> dict[str, Any]:
    """`__llm.providers` as GenVM's V2 line shows the config: enabled parts, no keys or hosts."""
    out: dict[str, Any] = {}
    for name, spec in catalogs.node_config(routes)["backends"].items():
        if not spec.get("enabled", True):
            continue
        models = {
            mid: {
                "enabled": True,
                "supports_json": bool(m.get("supports_json", False)),
                "supports_image": bool(m.get("supports_image", False)),
                "use_max_completion_tokens": bool(m.get("use_max_completion_tokens", False)),
                "meta": m.get("meta"),
            }
            for mid, m in spec["models"].items()
            if m.get("enabled", True)
        }
        out[name] = {"models": models, "meta": spec.get("meta")}
    return out


def _plain_state(routes: int) -> Any:
    """A fresh sandboxed `lua53` state with the Lua host installed."""
    lua = new_state("lua53")
    host = (_HERE / "plain_host.lua").read_text(encoding="utf-8")
    lua.execute(host, lua.table_from(_providers(routes), recursive=True))
    return lua


def _run_chunk(lua: Any, hook: Path) -> None:
    """Run `hook` as GenVM does: one chunk named after its file, at top level."""
    chunk = lua.globals().load(hook.read_text(encoding="utf-8"), "@" + hook.name)
    if isinstance(chunk, tuple):
        raise RuntimeError(f"loading {hook.name}: {chunk[1]}")
    chunk()


# One session's `ExecPrompt` as a closure: the timed call crosses no arguments.
_CALL = """
local ctx = { genvm_id = "bench", host_data = { tx_id = "0x01",
  node_address = "0x00000000000000000000000000000000000000aa" } }
local args = { prompt = "Summarise the transaction in one line.", response_format = "text",
  images = {} }
return function()
  local answer = ExecPrompt(ctx, args, 1000000)
  assert(type(answer) == "table" and answer.data == "ok", "ExecPrompt did not answer")
end
"""


def _call_of(routes: int, hook: Path) -> Any:
    lua = _plain_state(routes)
    _run_chunk(lua, hook)
    return lua.execute(_CALL)


def _measure_plain(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="genvm-policy-bench-") as tmp:
        for n in start_sizes:
            _, hook, _ = _made(tmp, built, n)
            times = []
            for _ in range(_start_samples(quick, n)):
                lua = _plain_state(n)
                start = time.perf_counter_ns()
                _run_chunk(lua, hook)
                times.append(time.perf_counter_ns() - start)
            rows.append(_row("hook_start", n, "plain", Timing(tuple(times))))
        _, hook, _ = _made(tmp, built, call_size)
        real = _call_of(call_size, hook)
        base = _call_of(call_size, _HERE / "baseline_hook.lua")
        budget = _budget(quick)
        r = time_calls(lambda _: real(), budget)
        b = time_calls(lambda _: base(), budget)
        rows.insert(0, _row("hook_call", call_size, "plain", r, base=b))
    return rows


def _measure_fake(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    fake = _fake()
    baseline = _HERE / "baseline_hook.lua"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="genvm-policy-bench-") as tmp:
        for n in start_sizes:
            cfg, hook, env = _made(tmp, built, n)
            timing = _start_times(fake, baseline, hook, cfg, env, _start_samples(quick, n))
            rows.append(_row("hook_start", n, FAKE, timing))
        cfg, hook, env = _made(tmp, built, call_size)
        vm = fake.FakeGenVM(hook, cfg, profile="v2-new", env=env)
        ref = fake.FakeGenVM(baseline, cfg, profile="v2-new", env=env)
        session, ref_session = vm.session(), ref.session()
        budget = _budget(quick)
        real = time_calls(lambda _: _ok(session.call("ExecPrompt", _PROMPT)), budget)
        base = time_calls(lambda _: _ok(ref_session.call("ExecPrompt", _PROMPT)), budget)
        rows.insert(0, _row("hook_call", call_size, FAKE, real, base=base))
    return rows


def _mlua_bench(
    tmp: str, cfg: Path, hook: Path, env: dict[str, str], starts: int, calls: int
) -> tuple[Timing, Timing]:
    """(start-up, call) timings the mlua binary takes of `hook`; calls after 5 warm-ups."""
    scenario = {
        "name": "bench",
        "profile": "v2-mid",
        "hook": str(hook),
        "config": str(cfg),
        "root": tmp,
        "env": env,
        "lua_path": "${exeDir}/../lib/genvm-lua/?.lua",
        "sessions": [{}],
        "steps": [{"session": 0, "entry": "ExecPrompt", "args": _PROMPT}],
    }
    path = Path(tmp) / f"bench-{hook.stem}.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    run = subprocess.run(
        [str(mlua_binary()), "bench", str(path), str(starts), str(calls + 5)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(run.stderr.strip() or "the mlua bench stopped")
    got = json.loads(run.stdout)
    return Timing(tuple(got["start_ns"])), Timing(tuple(got["call_ns"][5:]))


def _measure_mlua(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    baseline = _HERE / "baseline_hook.lua"
    calls = _budget(quick).samples
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="genvm-policy-bench-") as tmp:
        for n in start_sizes:
            cfg, hook, env = _made(tmp, built, n)
            start, _ = _mlua_bench(tmp, cfg, hook, env, _start_samples(quick, n), 1)
            rows.append(_row("hook_start", n, MLUA, start))
        cfg, hook, env = _made(tmp, built, call_size)
        _, real = _mlua_bench(tmp, cfg, hook, env, 0, calls)
        _, base = _mlua_bench(tmp, cfg, baseline, env, 0, calls)
        rows.insert(0, _row("hook_call", call_size, MLUA, real, base=base))
    return rows


def _start_times(
    fake: Any, baseline: Path, hook: Path, cfg: Path, env: dict[str, str], samples: int
) -> Timing:
    """Times of running the hook's chunk in fresh fake VMs (built with the baseline, untimed)."""
    times = []
    for _ in range(samples):
        vm = fake.FakeGenVM(baseline, cfg, profile="v2-new", env=env)
        start = time.perf_counter_ns()
        vm._load(hook)
        times.append(time.perf_counter_ns() - start)
    return Timing(tuple(times))


def _made(tmp: str, built: dict[int, Catalog], n: int) -> tuple[Path, Path, dict[str, str]]:
    root = Path(tmp) / f"node-{n}"
    if not root.is_dir():
        root.mkdir()
    return _node(root, built[n], n)


def _ok(result: Any) -> None:
    if result.kind != "ok":
        raise RuntimeError(f"ExecPrompt gave {result.kind}: {result.message or result.causes}")
