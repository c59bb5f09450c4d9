"""A faithful fake of GenVM's LLM module for testing Lua hooks (GENVM.md §8, harness list).

It reproduces both GenVM lines as three profiles: `"v1"` (genvm v0.1.x), `"v2-mid"` (the
0.2.x versions with token fields) and `"v2-new"` (`rat`, `Setup`/`Teardown`, json answers as
JSON text, hashes, `exhaust`). Nothing of GenVM's own Lua is copied: `lua/` holds stand-ins
written from GENVM.md §4, `host.lua` builds the globals, Python answers the host calls.

Python API (everything is exported here):

    vm = FakeGenVM(hook_path, config_yaml_path, profile="v1", env={"OPENAIKEY": "k"},
                   seed=0, filter_text=True, lua_path=None, root=None, unset_meta=None,
                   runtime="lua53")
        Builds one VM: a fresh sandboxed lupa `lua53` state, providers from the YAML with
        GenVM's filtering (`vm.config.dropped` says what went and why), provider tables
        inserted in an order shuffled by `seed`, the profile's Lua path (`lua_path`
        replaces the config's `extra_lua_path` in V1 or `lua_path` in V2; the stand-in
        libraries sit under `root`, a temporary GenVM tree by default), then runs the hook
        as chunk `@<hook_path>` and captures its entry points once. `unset_meta` ("null"
        or "nil") overrides the profile's shape for unset `meta`; `runtime="lua54"` runs it
        in Lua 5.4 instead (GenVM embeds 5.3; the hook must run unchanged on both). Raises
        `ModuleDoesNotStart` or `ConfigError` where GenVM would refuse to start.
    vm.script(backend, model, *outcomes)   queue provider outcomes, used in order:
        Success(text=, json=, result=, tokens=, consumed_gen=), StatusNotOk(status, body=),
        ReadingBody(status, rust_error=), SendingRequest(rust_error=),
        Deserializing(rust_error=), PlainError(message); error outcomes take
        `traceback=True` to add a traceback string as `causes[2]`. An empty queue
        answers with a default Success.
    vm.http_responses                      deque of replies for `__dflt.request`.
    vm.requests, vm.logs                   every provider call / log record of the VM.
    s = vm.session(node_address=, tx_id=, role=, host_data=)
        A session with its own `ctx` (sentinels plus the profile's hello fields).
    s.setup(), s.teardown()                run Setup/Teardown where the profile calls them
                                           (v2-new, when defined); else None.
    s.call(entry, args, remaining_gen=)    run "ExecPrompt" or "ExecPromptTemplate" to the
                                           end; returns a `CallResult`.
    c = s.begin(entry, args, remaining_gen=)
        A `Call` to drive by hand: `c.step()` resumes to the next host yield (`c.pending`
        names the host function) or the end (`c.done`, `c.result`); two sessions' calls
        interleave in one VM by alternating steps. `c.run()` finishes it.

`CallResult`: `kind` ("ok", "user_error", "fatal_error"), `data`, `consumed_gen`,
`causes`, `ctx`, `message`, and what the call did: `requests` (`ProviderCall`: session,
raw request, checked request, outcome name), `logs` (`LogRecord`), `sleeps`, `http`.

Lua strings reach Python as `bytes` (images are binary); `data` comes back as `str`,
`bool` or plain JSON data. Choices where GENVM.md is silent, all marked inferred:
`exhaust()` raises a host value that ends the call with empty text and the whole
remaining budget consumed; v2-mid answers carry `consumed_gen = 0` plus `input_tokens`,
`output_tokens`, `total_tokens`, v2-new the same token fields with `rat.zero`; v2-mid
checks `consumed_gen` as V1 does; `keccak256` is omitted (hashlib has no Keccak);
`monotonic_ms` is a counter; `random_*` come from the VM seed; `filter_image` returns its
input; `json_parse` maps JSON null to nil. In v2-new, `package.preload.lsqlite3` is a
stand-in backed by a real sqlite file (Python's `sqlite3`; `lsqlite3=False` leaves it
out), `__dflt.data_dir` is `data_dir` or `root/data` (created; `vm.stats_path` is its
`stats.sqlite`), and the hello's gas is
`genPerTimeUnit = "1000"` (text) with 1000 time units.
"""

from .config import PROFILES, ConfigError
from .driver import Call, FakeGenVM, Session
from .host import LogRecord, filter_text
from .outcomes import (
    CallResult,
    Deserializing,
    ModuleDoesNotStart,
    PlainError,
    ProviderCall,
    ReadingBody,
    SendingRequest,
    StatusNotOk,
    Success,
)

__all__ = [
    "PROFILES",
    "Call",
    "CallResult",
    "ConfigError",
    "Deserializing",
    "FakeGenVM",
    "LogRecord",
    "ModuleDoesNotStart",
    "PlainError",
    "ProviderCall",
    "ReadingBody",
    "SendingRequest",
    "Session",
    "StatusNotOk",
    "Success",
    "filter_text",
]
