"""Python side of the fake's host functions: `__dflt`, `rat` and the provider call.

GENVM.md §4. Each callback takes values exported by `host.lua` (strings as `bytes`,
tables as dicts) and returns `(ok, value)`; `host.lua` raises `value` when `ok` is false.

Rules:
1. Request checks are serde-strict (GENVM.md §4, §8 harness item 8): required fields,
   `format` in text|json|bool, non-negative Lua integers (a float fails), `images` a
   table read as mlua's serde reads a sequence (`serde_seq`: a map or a table with
   holes reads as its 1..n part, possibly empty) of strings; unknown keys are ignored.
   A failed check, an unknown provider or an unknown model is a plain host error, which
   `as_user_error` decodes to nil.
2. `user_error` needs all of `causes`, `fatal` and `ctx`; otherwise it raises a plain
   deserialisation error, which ends the call as a FatalError.
3. Codec failures (`json_parse`, `base64_decode`) are fatal `DESERIALIZING` module errors.
4. The lsqlite3 stand-in (`sqlite_*`) answers with lsqlite3's result codes (SQLite's
   primary code of the failure, e.g. 1 ERROR, 5 BUSY, 14 CANTOPEN; 0 OK; 101 DONE for a
   statement run to its end) and keeps the last error text per handle for
   `db:errmsg()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sqlite3
import unicodedata
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .values import ModuleError, Null, Rat, as_list, decode, rat_value, serde_seq, text

__all__ = ["TEXT_FILTERS", "Callbacks", "LogRecord", "check_request", "filter_text", "jsonable"]

Result = tuple[bool, Any]
U32_MAX = 2**32 - 1


@dataclass
class LogRecord:
    """One `log_json` call: its level, message and the remaining fields."""

    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def _primary_code(exc: sqlite3.Error, default: int) -> int:
    """SQLite's primary result code of `exc`, as lsqlite3 returns it (Python keeps the
    extended one)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else default


def jsonable(value: Any) -> Any:
    """A decoded Lua value as plain JSON data (text keys, UTF-8 text, NULL → None)."""
    if isinstance(value, bytes):
        as_text = text(value)
        return as_text if as_text is not None else value.hex()
    if isinstance(value, dict):
        seq = as_list(value)
        if seq is not None and seq:
            return [jsonable(v) for v in seq]
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, Null):
        return None
    return value


def _lua_int(value: Any) -> bool:
    return type(value) is int


def _require(req: dict[Any, Any], key: str, where: str) -> Any:
    if req.get(key.encode()) is None:
        raise ValueError(f"deserializing {where}: missing field `{key}`")
    return req[key.encode()]


def _string(value: Any, where: str) -> str:
    s = text(value)
    if s is None:
        raise ValueError(f"deserializing {where}: expected a string")
    return s


def _nonneg_int(value: Any, where: str, bound: int) -> int:
    if not _lua_int(value) or not 0 <= value <= bound:
        raise ValueError(f"deserializing {where}: expected a non-negative integer, got {value!r}")
    return int(value)


def check_request(raw: Any, profile: str) -> dict[str, Any]:
    """The provider request as plain data, or ValueError with GenVM's kind of message."""
    if not isinstance(raw, dict):
        raise ValueError("deserializing arguments: expected a table")
    provider = _string(_require(raw, "provider", "provider"), "provider")
    model = _string(_require(raw, "model", "model"), "model")
    fmt = _string(_require(raw, "format", "format"), "format")
    if fmt not in ("text", "json", "bool"):
        raise ValueError(f"deserializing format: unknown variant `{fmt}`")
    prompt = _require(raw, "prompt", "prompt")
    if not isinstance(prompt, dict):
        raise ValueError("deserializing prompt: expected a table")
    system = prompt.get(b"system_message")
    temperature = _require(prompt, "temperature", "prompt.temperature")
    if type(temperature) not in (int, float):
        raise ValueError("deserializing prompt.temperature: expected a number")
    images = serde_seq(_require(prompt, "images", "prompt.images"))
    if images is None or any(not isinstance(i, bytes) for i in images):
        raise ValueError("deserializing prompt.images: expected a sequence of strings")
    use_mct = _require(prompt, "use_max_completion_tokens", "prompt.use_max_completion_tokens")
    if type(use_mct) is not bool:
        raise ValueError("deserializing prompt.use_max_completion_tokens: expected a boolean")
    out: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "format": fmt,
        "system_message": None if system is None else _string(system, "prompt.system_message"),
        "user_message": _string(_require(prompt, "user_message", "prompt"), "user_message"),
        "temperature": temperature,
        "images": images,
        "max_tokens": _nonneg_int(
            _require(prompt, "max_tokens", "prompt.max_tokens"), "prompt.max_tokens", U32_MAX
        ),
        "use_max_completion_tokens": use_mct,
    }
    if profile == "v2-new":
        seed = prompt.get(b"seed")
        out["seed"] = None if seed is None else _nonneg_int(seed, "prompt.seed", 2**63 - 1)
        timeout = raw.get(b"timeout")
        if timeout is not None and type(timeout) not in (int, float) and text(timeout) is None:
            raise ValueError("deserializing timeout: expected seconds or a duration string")
        out["timeout"] = text(timeout) if isinstance(timeout, bytes) else timeout
        out["extra"] = jsonable(prompt.get(b"extra"))
        strategy = prompt.get(b"extra_merge_strategy")
        out["extra_merge_strategy"] = None if strategy is None else _string(strategy, "strategy")
    return out


def _normalize_ws(s: str) -> str:
    # At most two newlines in a row, one space per other whitespace run, no space
    # before a newline or at the end, nothing before the first non-newline content.
    out: list[str] = []
    spaces = newlines = 0
    for ch in s:
        if ch == "\n":
            if not out:
                continue
            while out and out[-1] == " ":
                out.pop()
            newlines += 1
            spaces = 0
            if newlines <= 2:
                out.append("\n")
        elif ch.isspace():
            if out and out[-1] != "\n":
                spaces += 1
                newlines = 0
                if spaces == 1:
                    out.append(" ")
        else:
            spaces = newlines = 0
            out.append(ch)
    while out and out[-1] == " ":
        out.pop()
    return "".join(out)


def _rm_zero_width(s: str) -> str:
    # Control characters have no width and zero-width marks none either; space and
    # newline are always kept.
    drop = {"Cc", "Cf", "Mn", "Me", "Zl", "Zp"}
    return "".join(c for c in s if c in " \n" or unicodedata.category(c) not in drop)


TEXT_FILTERS: dict[str, Callable[[str], str]] = {
    "NFC": lambda s: unicodedata.normalize("NFC", s),
    "NFKC": lambda s: unicodedata.normalize("NFKC", s),
    "NormalizeWS": _normalize_ws,
    "RmZeroWidth": _rm_zero_width,
}


def filter_text(s: str, names: list[str]) -> str:
    """Apply GenVM's text filters in the order given; an unknown name is a ValueError."""
    for name in names:
        if name not in TEXT_FILTERS:
            raise ValueError(f"unknown variant `{name}`")
        s = TEXT_FILTERS[name](s)
    return s


def _rat_of(value: Any) -> Fraction:
    if isinstance(value, Rat):
        return rat_value(value)
    if type(value) is int:
        return Fraction(value)
    if type(value) is float:
        return Fraction(int(value))
    raise TypeError("expected Rat or number")


class Callbacks:
    """The synchronous host functions, bound to one fake VM (`vm` gives lua, profile, logs)."""

    def __init__(self, vm: Any, seed: int) -> None:
        self.vm = vm
        self.rng = random.Random(seed)
        self.clock_ms = 0
        self.dbs: list[sqlite3.Connection] = []
        self.db_errors: list[str] = []

    def table(self) -> dict[str, Any]:
        """name → callable, for `host.lua`'s `P`."""
        names = [n for n in dir(self) if n.startswith(("cb_", "rat_"))]
        return {n.removeprefix("cb_"): self._guard(getattr(self, n)) for n in names}

    def _guard(self, fn: Any) -> Any:
        # A Python exception must never cross into Lua: it becomes a plain host error,
        # the same class of failure as a wrong argument type in GenVM's bindings.
        def call(*args: Any) -> Result:
            try:
                result: Result = fn(*[decode(a) for a in args])
            except (ValueError, TypeError, KeyError, OverflowError) as exc:
                return False, self.vm.host_error(f"bad argument: {exc}")
            return result

        return call

    def _lua(self, value: Any) -> Any:
        return self.vm.to_lua(value)

    def cb_log_json(self, t: Any) -> Result:
        fields = jsonable(t) if isinstance(t, dict) else {"value": jsonable(t)}
        level = str(fields.pop("level", "info"))
        message = str(fields.pop("message", ""))
        self.vm.record_log(LogRecord(level, message, fields))
        return True, None

    def cb_user_error(self, t: Any) -> Result:
        if not isinstance(t, dict):
            return False, self.vm.host_error("deserializing user error: expected a table")
        for key in ("causes", "fatal", "ctx"):
            if t.get(key.encode()) is None:
                return False, self.vm.host_error(f"deserializing user error: missing `{key}`")
        causes = serde_seq(t[b"causes"])
        fatal = t[b"fatal"]
        if causes is None or type(fatal) is not bool or not isinstance(t[b"ctx"], dict):
            return False, self.vm.host_error("deserializing user error: bad field type")
        return False, ModuleError([str(jsonable(c)) for c in causes], fatal, jsonable(t[b"ctx"]))

    def cb_as_user_error(self, e: Any) -> Result:
        if not isinstance(e, ModuleError):
            return True, None
        causes, fatal, ctx = ModuleError.parts(e)
        return True, self._lua({"causes": causes, "fatal": fatal, "ctx": ctx})

    def cb_json_parse(self, s: Any) -> Result:
        try:
            return True, self._lua(json.loads(s))
        except (ValueError, TypeError) as exc:
            return False, ModuleError(["DESERIALIZING"], True, {"rust_error": str(exc)})

    def cb_json_stringify(self, v: Any) -> Result:
        return True, json.dumps(
            jsonable(v), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def cb_base64_encode(self, s: Any) -> Result:
        return True, base64.b64encode(s).decode()

    def cb_base64_decode(self, s: Any) -> Result:
        try:
            return True, base64.b64decode(s, validate=True)
        except (ValueError, TypeError) as exc:
            return False, ModuleError(["DESERIALIZING"], True, {"rust_error": str(exc)})

    def cb_split_url(self, url: Any) -> Result:
        parts = urllib.parse.urlsplit(_string(url, "url"))
        port: int | float = parts.port or (443 if parts.scheme == "https" else 80)
        if self.vm.profile != "v2-new":
            port = float(port)
        return True, self._lua({"schema": parts.scheme, "host": parts.hostname, "port": port})

    def cb_url_encode(self, s: Any) -> Result:
        return True, urllib.parse.quote(s, safe="")

    def cb_filter_text(self, s: Any, names: Any) -> Result:
        seq = serde_seq(names)
        try:
            if seq is None:
                raise ValueError("expected a sequence of filter names")
            return True, filter_text(_string(s, "text"), [_string(n, "filter") for n in seq])
        except ValueError as exc:
            return False, self.vm.host_error(f"deserializing filters: {exc}")

    def cb_filter_image(self, img: Any, filters: Any) -> Result:
        # Image filters change pixels; the fake has no codec, so it hands the bytes back.
        return True, img

    def cb_random_bytes(self, n: Any) -> Result:
        return True, bytes(self.rng.getrandbits(8) for _ in range(int(n)))

    def cb_random_float(self) -> Result:
        return True, self.rng.random()

    def cb_sha2_256(self, s: Any) -> Result:
        return True, hashlib.sha256(s).digest()

    def cb_sha3_256(self, s: Any) -> Result:
        return True, hashlib.sha3_256(s).digest()

    def cb_monotonic_ms(self) -> Result:
        self.clock_ms += 1
        return True, self.clock_ms

    # -- the lsqlite3 stand-in (newest V2): a real sqlite file per open handle ----------
    def cb_sqlite_open(self, path: Any) -> tuple[bool, int, Any]:
        try:
            conn = sqlite3.connect(_string(path, "path"), isolation_level=None, timeout=0)
        except sqlite3.Error as exc:
            return True, _primary_code(exc, 14), str(exc)  # SQLITE_CANTOPEN unless told
        self.dbs.append(conn)
        self.db_errors.append("not an error")
        return True, 0, len(self.dbs)

    def cb_sqlite_run(self, h: Any, sql: Any, values: Any, step: Any) -> tuple[bool, int]:
        conn = self.dbs[int(h) - 1]
        params = [text(v) if isinstance(v, bytes) else v for v in as_list(values) or []]
        try:
            conn.execute(_string(sql, "sql"), params)
        except sqlite3.Error as exc:
            self.db_errors[int(h) - 1] = str(exc)
            return True, _primary_code(exc, 1)
        return True, 101 if step else 0

    def cb_sqlite_errmsg(self, h: Any) -> tuple[bool, int, str]:
        return True, 0, self.db_errors[int(h) - 1]

    def cb_sqlite_busy(self, h: Any, ms: Any) -> tuple[bool, int]:
        self.dbs[int(h) - 1].execute(f"PRAGMA busy_timeout = {int(ms)}")
        return True, 0

    def cb_sqlite_close(self, h: Any) -> tuple[bool, int]:
        self.dbs[int(h) - 1].close()
        return True, 0

    def cb_rat_new(self, a: Any, b: Any = None) -> Result:
        try:
            if isinstance(a, bytes):
                return True, Rat(Fraction(_string(a, "rat")))
            den = _rat_of(b) if b is not None else Fraction(1)
            if den == 0:
                raise ZeroDivisionError("denominator cannot be zero")
            return True, Rat(_rat_of(a) / den)
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            return False, self.vm.host_error(f"rat: {exc}")

    def cb_rat_is(self, v: Any) -> Result:
        return True, isinstance(v, Rat)

    def _arith(self, op: str, a: Any, b: Any) -> Result:
        try:
            x, y = _rat_of(a), _rat_of(b)
            ops: dict[str, Callable[[], Any]] = {
                "add": lambda: Rat(x + y),
                "sub": lambda: Rat(x - y),
                "mul": lambda: Rat(x * y),
                "div": lambda: Rat(x / y),
                "mod": lambda: Rat(x % y),
                "unm": lambda: Rat(-x),
                "lt": lambda: x < y,
                "le": lambda: x <= y,
            }
            return True, ops[op]()
        except (TypeError, ZeroDivisionError) as exc:
            return False, self.vm.host_error(f"rat {op}: {exc}")

    def rat_add(self, a: Any, b: Any) -> Result:
        return self._arith("add", a, b)

    def rat_sub(self, a: Any, b: Any) -> Result:
        return self._arith("sub", a, b)

    def rat_mul(self, a: Any, b: Any) -> Result:
        return self._arith("mul", a, b)

    def rat_div(self, a: Any, b: Any) -> Result:
        return self._arith("div", a, b)

    def rat_mod(self, a: Any, b: Any) -> Result:
        return self._arith("mod", a, b)

    def rat_unm(self, a: Any, b: Any) -> Result:
        return self._arith("unm", a, b)

    def rat_lt(self, a: Any, b: Any) -> Result:
        return self._arith("lt", a, b)

    def rat_le(self, a: Any, b: Any) -> Result:
        return self._arith("le", a, b)

    def rat_eq(self, a: Any, b: Any) -> Result:
        if isinstance(a, Rat) and isinstance(b, Rat):
            return True, rat_value(a) == rat_value(b)
        return True, False
