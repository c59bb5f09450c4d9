"""The fake LLM module: VM build, sessions, the coroutine driver and outcome mapping.

GENVM.md §3 (loading, lifecycle, `ctx`), §4 (`exec_prompt_in_provider` answers and
errors), §5 (entry points, return contract, outcomes), §8 (harness checklist).

Rules:
1. One `FakeGenVM` is one GenVM Lua VM: a fresh `lua53` sandbox state (`runtime="lua54"`
   runs the same hook in Lua 5.4, the project's second runtime), the profile's Lua
   path pointing at this package's stand-in libraries, globals from `host.lua`, provider
   tables inserted in a seed-shuffled order; the hook runs once as chunk `@<path>` and its
   entry points are captured once. A failure there raises `ModuleDoesNotStart`.
2. Every entry point runs in its own Lua coroutine; each host yield is answered by the
   driver on the next `Call.step`, so calls of different sessions interleave in one VM.
3. Provider outcomes are scripted per (backend, model) and consumed in order; `*` in
   either place matches any (the exact route's queue first, then `backend/*`, `*/model`,
   `*/*`); no queued outcome answers with a default success derived from the request.
4. A returned table is checked as the profile's GenVM deserialises it; a non-fatal module
   error is a UserError; a fatal one, any other error or a bad return is a FatalError;
   newest-V2 `exhaust()` gives empty text with the whole remaining budget consumed.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import deque
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from support.luasandbox import new_state

from .config import GenvmConfig, is_v1, load_config
from .host import Callbacks, LogRecord, check_request, jsonable
from .outcomes import (
    CallResult,
    Deserializing,
    ModuleDoesNotStart,
    Outcome,
    PlainError,
    ProviderCall,
    ReadingBody,
    SendingRequest,
    StatusNotOk,
    Success,
)
from .values import (
    NULL,
    CtxPart,
    Exhausted,
    HostError,
    ModuleError,
    Rat,
    decode,
    encode,
    rat_value,
    text,
)

__all__ = ["Call", "FakeGenVM", "Session", "write_stand_ins"]

HERE = Path(__file__).resolve().parent
STAND_INS = ("lib-genvm.lua", "lib-llm.lua", "value2json.lua")
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def _error_text(value: Any) -> str:
    if isinstance(value, bytes):
        return text(value) or value.hex()
    return str(value)


def write_stand_ins(root: Path, line: str) -> None:
    """Lay out the GenVM tree `root` of `line` ("v1"/"v2"): `bin/` and the stand-in libraries."""
    target = (
        root / "share" / "lib" / "genvm" / "lua" if line == "v1" else root / "lib" / "genvm-lua"
    )
    target.mkdir(parents=True, exist_ok=True)
    (root / "bin").mkdir(exist_ok=True)
    for name in STAND_INS:
        src = (HERE / "lua" / name).read_text(encoding="utf-8")
        (target / name).write_text(src.replace("@LINE@", line), encoding="utf-8")


class Call:
    """One entry-point run in its own coroutine; `step()` resumes it once (rule 2)."""

    def __init__(
        self,
        vm: FakeGenVM,
        session: Session | None,
        co: Any,
        args: tuple[Any, ...],
        remaining_gen: int = 0,
        *,
        keep_return: bool = True,
    ) -> None:
        self.vm, self.session, self.remaining_gen = vm, session, remaining_gen
        self.co, self.keep_return = co, keep_return
        self.resume: tuple[Any, ...] = args
        self.pending: str | None = None
        self.result: CallResult | None = None
        self.records = CallResult(kind="")

    @property
    def done(self) -> bool:
        """True once the coroutine finished."""
        return self.result is not None

    def step(self) -> bool:
        """Resume until the next host yield or the end; answers a pending host call first."""
        if self.result is not None:
            return True
        self.vm.current = self
        try:
            got = self.vm.driver.step(self.co, *self.resume)
        finally:
            self.vm.current = None
        got = got if isinstance(got, tuple) else (got,)
        how = got[0]
        if how == "yield":
            self.pending = str(got[1])
            count = int(got[2])
            args = [decode(a) for a in got[3 : 3 + count]] + [None] * (count - len(got) + 3)
            self.resume = self.vm.serve(self, self.pending, args)
            return False
        self.pending = None
        if how == "return":
            self.result = self.vm.judge_return(self, decode(got[1]) if len(got) > 1 else None)
        elif how == "error":
            self.result = self.vm.judge_error(self, decode(got[1]) if len(got) > 1 else None)
        else:
            self.result = self._finish("fatal_error", message="entry point yielded a stray value")
        return True

    def run(self) -> CallResult:
        """Step to completion and return the result."""
        while not self.step():
            pass
        assert self.result is not None
        return self.result

    def _finish(self, kind: str, **values: Any) -> CallResult:
        rec = self.records
        return CallResult(
            kind=kind,
            requests=rec.requests,
            logs=rec.logs,
            sleeps=rec.sleeps,
            http=rec.http,
            **values,
        )


class Session:
    """One GenVM session: one `ctx` table, optional Setup, calls, optional Teardown."""

    def __init__(self, vm: FakeGenVM, number: int, hello: dict[str, Any]) -> None:
        self.vm, self.number, self.hello = vm, number, hello
        self.ctx = vm.to_lua(hello)
        self.ctx["__ctx_dflt"] = CtxPart(number, "dflt")
        self.ctx["__ctx_llm"] = CtxPart(number, "llm")

    def _lifecycle(self, fn: Any) -> CallResult | None:
        if fn is None:
            return None
        co = self.vm.driver.entry(fn)
        return Call(self.vm, self, co, (self.ctx,), keep_return=False).run()

    def setup(self) -> CallResult | None:
        """Run `Setup(ctx)` where the profile calls it; None when it is not called."""
        return self._lifecycle(self.vm.setup_fn)

    def teardown(self) -> CallResult | None:
        """Run `Teardown(ctx)` where the profile calls it; GenVM only logs its errors."""
        result = self._lifecycle(self.vm.teardown_fn)
        if result is not None and result.kind != "ok":
            self.vm.logs.append(LogRecord("error", "teardown failed", {"error": result.message}))
        return result

    def begin(self, entry: str, args: Mapping[str, Any], remaining_gen: int = 1_000_000) -> Call:
        """Start `ExecPrompt` or `ExecPromptTemplate`; drive the returned `Call` yourself."""
        fn = {"ExecPrompt": self.vm.exec_prompt, "ExecPromptTemplate": self.vm.exec_template}[entry]
        budget: Any = Rat(Fraction(remaining_gen)) if self.vm.profile == "v2-new" else remaining_gen
        call = Call(
            self.vm,
            self,
            self.vm.driver.entry(fn),
            (self.ctx, self.vm.to_lua(dict(args)), budget),
            remaining_gen,
        )
        if entry == "ExecPrompt":
            rejected = self.vm.check_images(list(args.get("images") or []))
            if rejected is not None:
                call.result = call._finish("user_error", causes=[rejected])
        return call

    def call(
        self, entry: str, args: Mapping[str, Any], remaining_gen: int = 1_000_000
    ) -> CallResult:
        """Run one entry point to completion."""
        return self.begin(entry, args, remaining_gen).run()


class FakeGenVM:
    """One Lua VM of GenVM's LLM module running `hook` under `profile` (rule 1)."""

    def __init__(
        self,
        hook: Path,
        config: Path,
        *,
        profile: str = "v1",
        env: Mapping[str, str] | None = None,
        seed: int = 0,
        filter_text: bool = True,
        lua_path: str | None = None,
        root: Path | None = None,
        unset_meta: str | None = None,
        runtime: str = "lua53",
        data_dir: Path | None = None,
        lsqlite3: bool = True,
    ) -> None:
        self.profile = profile
        self.line = "v1" if is_v1(profile) else "v2"
        self.root = root or Path(tempfile.mkdtemp(prefix="genvmfake-"))
        self.config: GenvmConfig = load_config(config, profile, env or {}, self.root, lua_path)
        self.rng = random.Random(seed)
        self.unset_meta = unset_meta or ("nil" if profile == "v2-new" else "null")
        self.scripts: dict[tuple[str, str], deque[Outcome]] = {}
        self.http_responses: deque[dict[str, Any]] = deque()
        self.requests: list[ProviderCall] = []
        self.logs: list[LogRecord] = []
        self.current: Call | None = None
        self.sessions = 0
        self._write_stand_ins()
        # GenVM requires `data_dir` and the node keeps it; the stock statistics live there.
        self.data_dir = data_dir or self.root / "data"
        self.stats_path = self.data_dir / "stats.sqlite"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lsqlite3 = lsqlite3
        self.lua = new_state(runtime)
        self.lua.globals().package.path = self.config.lua_path.replace(";;", ";")
        self.callbacks = Callbacks(self, seed)
        host_src = (HERE / "host.lua").read_text(encoding="utf-8")
        self.driver = self.lua.execute(
            host_src,
            self.lua.table_from(self.callbacks.table()),
            self.lua.table(),
            self._host_config(filter_text),
        )
        self._load(hook)

    # -- building ------------------------------------------------------------
    def _write_stand_ins(self) -> None:
        write_stand_ins(self.root, self.line)

    def _meta(self, value: Any) -> Any:
        if value is not None:
            return value
        return NULL if self.unset_meta == "null" else None

    def _providers(self) -> Any:
        out: dict[str, Any] = {}
        for name, backend in self.config.backends.items():
            models: dict[str, Any] = {}
            for mid, m in backend.models.items():
                models[mid] = {
                    "enabled": m.enabled,
                    "supports_json": m.supports_json,
                    "supports_image": m.supports_image,
                    "use_max_completion_tokens": m.use_max_completion_tokens,
                    "meta": self._meta(m.meta),
                }
                if self.line == "v2":
                    models[mid]["timeout"] = m.timeout
            out[name] = {"models": models}
            if self.line == "v2":
                out[name].update(meta=self._meta(backend.meta), timeout=backend.timeout)
        return encode(self.lua, out, self.rng)

    def _host_config(self, filter_text: bool) -> Any:
        cfg = self.lua.table_from(
            {
                "profile": self.profile,
                "line": self.line,
                "filter_text": filter_text,
                "data_dir": str(self.data_dir),
                "lsqlite3": self.lsqlite3,
            }
        )
        cfg["providers"] = self._providers()
        cfg["templates"] = encode(self.lua, self.config.templates, self.rng)
        cfg["meta"] = encode(self.lua, self.config.meta)
        cfg["timeout"] = self.config.timeout
        cfg["exhausted"] = Exhausted()
        cfg["rat_zero"] = Rat(Fraction(0))
        return cfg

    def _load(self, hook: Path) -> None:
        co = self.driver.load(hook.read_bytes(), "@" + str(hook))
        if isinstance(co, tuple):  # `nil, message`: the chunk does not compile
            raise ModuleDoesNotStart(f"loading {hook}: {_error_text(decode(co[1]))}")
        result = Call(self, None, co, (), keep_return=False).run()
        if result.kind != "ok":
            raise ModuleDoesNotStart(f"running {hook}: {result.message or result.causes}")
        got = self.driver.capture()
        kinds = [self.driver.type(f) for f in got]
        if kinds[0] != "function" or kinds[1] != "function":
            raise ModuleDoesNotStart("ExecPrompt and ExecPromptTemplate must be global functions")
        self.exec_prompt, self.exec_template = got[0], got[1]
        self.setup_fn = self.teardown_fn = None
        if self.profile == "v2-new":
            for i, name in ((2, "Setup"), (3, "Teardown")):
                if kinds[i] not in ("function", "nil"):
                    raise ModuleDoesNotStart(f"{name} must be a function when present")
            self.setup_fn = got[2] if kinds[2] == "function" else None
            self.teardown_fn = got[3] if kinds[3] == "function" else None

    # -- sessions ------------------------------------------------------------
    def to_lua(self, value: Any) -> Any:
        """A fresh Lua value for plain Python data (dict, list, str, bytes, numbers)."""
        return encode(self.lua, value)

    def session(
        self,
        *,
        node_address: str = "0x00000000000000000000000000000000000000aa",
        tx_id: str | None = None,
        role: str = "leader",
        host_data: Mapping[str, Any] | None = None,
    ) -> Session:
        """A new session with the profile's hello fields (GENVM.md §3)."""
        self.sessions += 1
        n = self.sessions
        hd: dict[str, Any] = {
            "node_address": node_address,
            "tx_id": tx_id if tx_id is not None else f"0x{n:064x}",
        }
        hd.update(host_data or {})
        hello: dict[str, Any] = {"host_data": hd}
        if self.profile == "v1":
            hello["cookie"] = f"cookie-{n}"
        else:
            hello["genvm_id"] = n
        if self.profile == "v2-new":
            hello.update(
                role=role, gas_data={"genPerTimeUnit": "1000"}, initial_time_units_allocation=1000
            )
        return Session(self, n, hello)

    def script(self, backend: str, model: str, *outcomes: Outcome) -> None:
        """Queue outcomes for calls to (backend, model), consumed in order."""
        self.scripts.setdefault((backend, model), deque()).extend(outcomes)

    def host_error(self, message: str) -> HostError:
        """A plain (non-module) host error value."""
        return HostError(message)

    def record_log(self, record: LogRecord) -> None:
        """Capture one `log_json` record, on the running call when there is one."""
        self.logs.append(record)
        if self.current is not None:
            self.current.records.logs.append(record)

    def check_images(self, images: list[bytes]) -> str | None:
        """GenVM's checks before the script runs (GENVM.md §5): the cause, or None."""
        if self.line == "v2" and len(images) > 2:
            return "TOO_MANY_IMAGES"
        for img in images:
            if self.line == "v2" and len(img) > MAX_IMAGE_BYTES:
                return "IMAGE_TOO_LARGE"
            if not (img.startswith(b"\x89PNG\r\n\x1a\n") or img.startswith(b"\xff\xd8\xff\xe0")):
                return "INVALID_IMAGE"
        return None

    # -- host yields (rule 3) --------------------------------------------------
    def serve(self, call: Call, name: str, args: list[Any]) -> tuple[bool, Any]:
        """Answer one async host call: `(ok, value)` to resume the coroutine with."""
        if name == "sleep_seconds":
            if type(args[0]) not in (int, float):
                return False, HostError("sleep_seconds: expected a number")
            call.records.sleeps.append(args[0])
            return True, None
        if name == "request":
            if not isinstance(args[0], CtxPart):
                return False, HostError("request: `ctx.__ctx_dflt` is missing")
            call.records.http.append(jsonable(args[1]))
            reply = (
                self.http_responses.popleft()
                if self.http_responses
                else {"status": 200, "headers": {}, "body": ""}
            )
            return True, self.to_lua(reply)
        return self._provider(call, args[0], args[1])

    def _provider(self, call: Call, part: Any, raw: Any) -> tuple[bool, Any]:
        session = CtxPart.ident(part)[0] if isinstance(part, CtxPart) else None
        record = ProviderCall(session, jsonable(raw), None, "plain_error")
        call.records.requests.append(record)
        self.requests.append(record)
        if not isinstance(part, CtxPart) or CtxPart.ident(part)[1] != "llm":
            return False, HostError("error converting Lua nil to userdata (`__ctx_llm`)")
        try:
            req = check_request(raw, self.profile)
        except ValueError as exc:
            return False, HostError(f"{exc}")
        record.request = req
        backend = self.config.backends.get(req["provider"])
        if backend is None:
            return False, HostError(f"absent provider_id `{req['provider']}`")
        if req["model"] not in backend.models:
            return False, HostError(f"model `{req['model']}` is not enabled in `{req['provider']}`")
        outcome = self._next_outcome(req["provider"], req["model"])
        record.outcome = type(outcome).__name__
        if isinstance(outcome, Success):
            return True, self._answer(req, outcome)
        if isinstance(outcome, PlainError):
            return False, HostError(outcome.message)
        return False, self._module_error(backend.host, outcome)

    def _next_outcome(self, backend: str, model: str) -> Outcome:
        # The first non-empty queue of the exact route, `backend/*`, `*/model`, `*/*`.
        for key in ((backend, model), (backend, "*"), ("*", model), ("*", "*")):
            queue = self.scripts.get(key)
            if queue:
                return queue.popleft()
        return Success()

    def _answer(self, req: dict[str, Any], ok: Success) -> Any:
        who = f"{req['provider']}/{req['model']}"
        data: Any
        if req["format"] == "text":
            data = ok.text if ok.text is not None else f"text answer from {who}"
        elif req["format"] == "bool":
            data = True if ok.result is None else ok.result
        else:
            value = ok.json if ok.json is not None else {"answer": who}
            # GenVM writes JSON text with serde_json: UTF-8 as is, never `\u` escapes.
            data = (
                json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                if self.profile == "v2-new"
                else value
            )
        answer: dict[str, Any] = {"data": data, "consumed_gen": 0}
        if self.profile != "v1":
            answer.update(
                input_tokens=ok.tokens, output_tokens=ok.tokens, total_tokens=2 * ok.tokens
            )
        table = self.to_lua(answer)
        if self.profile == "v2-new":
            table["consumed_gen"] = Rat(Fraction(ok.consumed_gen))
        return table

    def _module_error(self, host: str, out: Outcome) -> ModuleError:
        url = host.rstrip("/") + "/v1/chat/completions"
        ctx: dict[str, Any]
        if isinstance(out, StatusNotOk):
            kind, ctx = (
                "STATUS_NOT_OK",
                {
                    "url": url,
                    "status": float(out.status),
                    "headers": dict(out.headers),
                    "body": out.body,
                },
            )
        elif isinstance(out, ReadingBody):
            kind, ctx = (
                "READING_BODY",
                {
                    "url": url,
                    "status": float(out.status),
                    "rust_error": out.rust_error,
                    "headers": {},
                },
            )
        elif isinstance(out, SendingRequest):
            kind, ctx = "SENDING_REQUEST", {"rust_error": out.rust_error}
            if self.line == "v2":
                ctx["url"] = url
        else:
            assert isinstance(out, Deserializing)
            kind, ctx = "DESERIALIZING", {"rust_error": out.rust_error}
        causes = [kind] + (
            ["stack traceback:\n\t[host]: in exec_prompt_in_provider"]
            if getattr(out, "traceback", False)
            else []
        )
        return ModuleError(causes, True, ctx)

    # -- outcomes (rule 4) -----------------------------------------------------
    def judge_error(self, call: Call, err: Any) -> CallResult:
        """Map an entry point's error to UserError, FatalError or the exhaustion result."""
        if isinstance(err, Exhausted) and call.session is not None:
            return call._finish("ok", data="", consumed_gen=call.remaining_gen)
        if isinstance(err, ModuleError):
            causes, fatal, ctx = ModuleError.parts(err)
            return call._finish(
                "fatal_error" if fatal else "user_error", causes=causes, ctx=ctx, message=str(err)
            )
        return call._finish("fatal_error", message=_error_text(err))

    def judge_return(self, call: Call, value: Any) -> CallResult:
        """Check a returned value as the profile's GenVM deserialises it."""
        if not call.keep_return:
            return call._finish("ok")
        if not isinstance(value, dict) or b"data" not in value:
            return call._finish("fatal_error", message="entry point returned nothing usable")
        data = value[b"data"]
        if isinstance(data, bytes):
            as_text = text(data)
            if as_text is None:
                return call._finish("fatal_error", message="`data` is not UTF-8 text")
            data = as_text
        elif isinstance(data, dict):
            # GenVM reads `data` with mlua's serde: a table with a sequence part is a
            # sequence, never a map, and a map's keys must all be text.
            if 1 in data or any(text(k) is None for k in data):
                return call._finish("fatal_error", message="`data` is not a map of text keys")
            data = jsonable(data)
        elif type(data) is not bool:
            return call._finish("fatal_error", message="`data` is not a string, table or bool")
        gen = self._consumed(value.get(b"consumed_gen"))
        if gen is None:
            return call._finish("fatal_error", message="`consumed_gen` is not acceptable")
        return call._finish("ok", data=data, consumed_gen=gen)

    def _consumed(self, gen: Any) -> int | None:
        if self.profile != "v2-new":
            return gen if type(gen) is int and gen >= 0 else None
        if isinstance(gen, Rat):
            v = rat_value(gen)
            return int(v) if v.denominator == 1 and v >= 0 else None
        if gen is None:
            return 0
        if type(gen) in (int, float):
            return max(0, int(gen))
        return None
