"""The hook's readers of a failed reply (SPEC §10.1, HOOK.md §9): body code and Retry-After.

Run in lupa's lua53 and lua54 stripped to GenVM's sandbox; the body decoder is a
Lua stand-in for `__dflt.json_parse` that raises on anything but the shapes used here,
so a raising parser is exercised too.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.drivers import driver
from support.luasandbox import new_state

pytestmark = pytest.mark.runtimes("lupa")

PARSER = driver("reply_parser").decode()


@pytest.fixture
def reply(runtime: str) -> Any:
    lua = new_state(runtime)
    module = lua.eval('(require("genvm_policy.reply"))')
    return lua, module, lua.execute(PARSER)


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ('{"error": {"code": "context_length_exceeded"}}', "context_length_exceeded"),
        ('  {"error": {"type": "request_too_large"}}', "request_too_large"),
        ('{"error": {"code": "nope", "type": "content_filter"}}', "content_filter"),
        ('{"error": {"code": "rate_limit_exceeded"}}', None),
        ("<html>503 content_filter</html>", None),
        ('{"no": "error"}', None),  # the parser raises: no code, no error
        ("", None),
    ],
)
def test_body_code_keeps_only_known_codes(reply: Any, body: str, want: str | None) -> None:
    _, module, parse = reply
    assert module.body_code(body, parse) == want


def test_body_code_of_odd_values(reply: Any) -> None:
    lua, module, parse = reply
    table = lua.eval('{ error = { code = "content_policy_violation" } }')
    assert module.body_code(table, None) == "content_policy_violation"
    for odd in ("{ error = 'x' }", "{ error = { code = 7 } }", "42", "true", "nil"):
        assert module.body_code(lua.eval(odd), parse) is None
    big = '{"error": {"code": "content_filter"}}' + " " * 65536
    assert module.body_code(big, parse) is None
    assert module.body_code('{"error": {"code": "content_filter"}}', None) is None


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ("{ ['retry-after'] = '2' }", 2000),
        ("{ ['Retry-After'] = ' 0 ' }", 0),
        ("{ ['retry-after'] = { '30' } }", 30000),
        ("{ ['retry-after'] = '3600' }", 3600000),
        ("{ ['retry-after'] = '3601' }", None),
        ("{ ['retry-after'] = '12345' }", None),
        ("{ ['retry-after'] = 'Wed, 21 Oct 2026 07:28:00 GMT' }", None),
        ("{ ['retry-after'] = '1.5' }", None),
        ("{ ['retry-after'] = 2 }", None),
        ("{}", None),
        ("'retry-after: 2'", None),
    ],
)
def test_retry_after_reads_whole_seconds(reply: Any, headers: str, want: int | None) -> None:
    lua, module, _ = reply
    got = module.retry_after_ms(lua.eval(headers))
    assert got == want
    if got is not None:
        assert lua.eval("math.type")(got) == "integer"
