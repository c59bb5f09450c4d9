"""The request reader's defaults: only an absent (or null) field takes its default.

Spec: docs/SPEC.md §6. Vector cases: `request` `odd_entry_empty`, `odd_entry_false`,
`odd_images_false`.

An empty or `false` entry is `REQ_FIELD`, `false` images is `NUM_RANGE` (`NUM_TYPE`
in the document reader), and the entry is checked before the numbers, by the
document reader too; the reference and lupa Lua 5.3 and 5.4 give the same pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.drivers import driver
from support.luasandbox import new_state

from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.request import Request, request_from_value
from genvm_policy.vectors.run_policy import read_request

pytestmark = pytest.mark.runtimes("lupa")

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def lua(runtime: str) -> Iterator[Any]:
    yield new_state(runtime, binary=True).execute(driver("engine"))


@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ({"entry": ""}, "REQ_FIELD", ["entry"]),
        ({"entry": False}, "REQ_FIELD", ["entry"]),
        ({"format": False}, "REQ_FIELD", ["format"]),
        ({"images": False}, "NUM_RANGE", ["images"]),
        ({"entry": "", "images": -1}, "REQ_FIELD", ["entry"]),
        ({"entry": "x", "max_tokens": 0}, "REQ_FIELD", ["entry"]),
    ],
)
def test_only_an_absent_request_field_defaults(
    lua: Any, value: dict[str, Any], code: str, path: list[Any]
) -> None:
    want = {"error": [code, path]}
    assert decode(lua.request(encode(value))) == want
    # The document reader names a `false` count `NUM_TYPE` (a file's numbers may be
    # text); on every other case it agrees with the canonical reader.
    doc: list[Callable[[Any], Request]] = (
        [] if value.get("images") is False else [request_from_value]
    )
    for reader in (read_request, *doc):
        with pytest.raises(PolicyError) as err:
            reader(value)
        assert [err.value.code, list(err.value.path)] == want["error"], reader


def test_null_fields_still_default(lua: Any) -> None:
    value = {"entry": None, "images": None}
    got: Any = decode(lua.request(encode(value)))
    assert got["entry"] == request_from_value(value).entry == "prompt"
    assert got["images"] == read_request(value).images == 0
