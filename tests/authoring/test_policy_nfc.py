"""Policy text must be NFC: `POL_NFC` at the path of the first text or key that is not.

The finding F7 of docs/RELIABILITY.md ("Findings"), kept as the check that closed it.
Spec: docs/SPEC.md §7.4 (admission: NFC), with or without a catalog.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.fuzz_loaders import BASE_CATALOG

from genvm_policy.authoring.admission import admit
from genvm_policy.core.errors import PolicyError


def _error(call: Any, *args: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        call(*args)
    return info.value


# -- F7: non-NFC policy text ------------------------------------------------------------


@pytest.mark.parametrize("catalog", [None, BASE_CATALOG], ids=["alone", "with-catalog"])
def test_f7_non_nfc_text_is_refused_at_its_path(catalog: Any) -> None:
    doc = {"filter": {"model_in": ["m", "e\u0301"]}}
    err = _error(admit, doc, catalog)
    assert (err.code, err.path) == ("POL_NFC", ("filter", "model_in", 1))


def test_f7_a_non_nfc_key_is_refused_at_its_entry() -> None:
    err = _error(admit, {"score": {"field": "q"}, "A\u030a": 1})
    assert (err.code, err.path) == ("POL_NFC", ("A\u030a",))


def test_f7_the_first_non_nfc_text_is_found_in_key_bytes_order() -> None:
    first = {"filter": {"model_in": ["e\u0301"]}, "select": {"chain": ["a/e\u0301"]}}
    second = dict(reversed(list(first.items())))
    paths = {_error(admit, doc).path for doc in (first, second)}
    assert paths == {("filter", "model_in", 0)}


def test_f7_nfc_non_ascii_text_is_admitted() -> None:
    policy = admit({"filter": {"model_in": ["é", "中"]}})
    assert policy.filter == ["all", ["needs"], ["model_in", ["é", "中"]]]
