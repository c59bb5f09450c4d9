"""`hook_start` and `hook_call` rows: the bundled hook under the GenVM fake (tests/genvmfake).

Each size gets a temporary node: GenVM's LLM config, the compiled policy
(`stock-greybox` bound to that catalog), a salt and the hook bundled for those
paths (`genvm_policy.bundle`). `hook_start` is building one fake VM that loads
the hook (runtime, compiled policy, identity checks, the GenVM view); `hook_call`
is one `ExecPrompt` whose provider answers at once, minus the median of
`baseline_hook.lua` (one forwarded provider call, nothing else) under the same
fake, so the row is the hook's own cost, not the fake's. `hook_start` times
only running the hook's chunk inside a fake VM already built (with the
baseline hook, untimed): the fake's own set-up is outside the clock.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import catalogs
from benchmarks.harness import Budget, Timing, time_calls
from benchmarks.report import Row
from genvm_policy.builtin import builtin
from genvm_policy.catalog import Catalog
from genvm_policy.runtimes import DISPATCH, ROOT

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
    import genvmfake

    return genvmfake


def _node(root: Path, catalog: Catalog, routes: int) -> tuple[Path, Path, dict[str, str]]:
    """Config, hook and environment of a node for `catalog` under `root`."""
    from genvm_policy.bundle import build_hook
    from genvm_policy.compile import compile_policy

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


def _net(real: Timing, base: Timing) -> tuple[float, float]:
    return real.median_us - base.median_us, real.p95_us - base.median_us


def measure(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    """The hook rows; each says why when the hook cannot run yet."""
    why = hook_missing()
    if why is None:
        try:
            return _measure(built, call_size, start_sizes, quick)
        except Exception as exc:  # any failure of the hook or the fake becomes the rows' reason
            why = "hook failed under the GenVM fake: " + " ".join(str(exc).split())[:160]
    rows = [Row("hook_call", "lua53", call_size, "stock-greybox", why=why)]
    rows += [Row("hook_start", "lua53", n, "stock-greybox", why=why) for n in start_sizes]
    return rows


def _measure(
    built: dict[int, Catalog], call_size: int, start_sizes: list[int], quick: bool
) -> list[Row]:
    fake = _fake()
    baseline = _HERE / "baseline_hook.lua"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="genvm-policy-bench-") as tmp:
        for n in start_sizes:
            cfg, hook, env = _made(tmp, built, n)
            samples = 1 if quick or n > 1000 else 5
            timing = _start_times(fake, baseline, hook, cfg, env, samples)
            rows.append(Row("hook_start", "lua53", n, "stock-greybox", timing.median_us,
                            timing.p95_us, None, len(timing.samples)))
        cfg, hook, env = _made(tmp, built, call_size)
        vm = fake.FakeGenVM(hook, cfg, profile="v2-new", env=env)
        ref = fake.FakeGenVM(baseline, cfg, profile="v2-new", env=env)
        session, ref_session = vm.session(), ref.session()
        budget = Budget(warmup=5, samples=50 if quick else 300, seconds=1.0 if quick else 5.0)
        real = time_calls(lambda _: _ok(session.call("ExecPrompt", _PROMPT)), budget)
        base = time_calls(lambda _: _ok(ref_session.call("ExecPrompt", _PROMPT)), budget)
        median, p95 = _net(real, base)
        rows.insert(0, Row("hook_call", "lua53", call_size, "stock-greybox", median, p95, None,
                           len(real.samples), extra={"fake_baseline_us": base.median_us}))
    return rows


def _start_times(fake: Any, baseline: Path, hook: Path, cfg: Path, env: dict[str, str],
                 samples: int) -> Timing:
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
