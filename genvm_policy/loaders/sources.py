"""Input files into plain values: the shell that reads YAML, JSON and TOML.

Spec: docs/SPEC.md §5.1 (Source files). This module does I/O; the core never does.
YAML is read by `genvm_policy.loaders.yamlsource`, JSON and TOML here; the document's
type and limits, which all three share, are in `genvm_policy.loaders.sourcetree`.

Rules:
1. The format follows the file name: `.yaml`/`.yml`, `.json`, `.toml`
   (`SRC_FORMAT` otherwise). A file over 8 MiB is refused before it is parsed
   (`SRC_TOO_LARGE`); a missing or unreadable file is `SRC_IO`; bytes that are
   not UTF-8 are `SRC_ENCODING`; a parser's complaint is `SRC_SYNTAX` with the
   line and column.
2. The result is a tree of `dict` (text keys), `list`, `str`, `NumberText`,
   `bool` and `None`. Every number token keeps the text it was written with as
   a `NumberText`, so the core parses it exactly (spec §1.5); `NaN` and
   infinities are `SRC_NUMBER`.
3. YAML is read with the YAML 1.2 core schema straight from the parser's
   events: an anchor or alias is `SRC_ALIAS` at the first one met (so an alias
   bomb costs no more than reading it), a tag outside the core schema is
   `SRC_TAG`, a key that is not text is `SRC_KEY`, a repeated key is
   `SRC_DUPLICATE_KEY`, a second document is `SRC_SYNTAX`.
4. Nesting deeper than 64 maps and lists is `SRC_DEPTH`. Errors carry the
   path into the document when one is known.
5. Nothing is resolved: GenVM's `${...}` templates stay the text they are.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time
from os import PathLike
from pathlib import Path

from genvm_policy.core.errors import Path as ErrorPath
from genvm_policy.core.errors import PolicyError, quote
from genvm_policy.core.numeric import NumberText
from genvm_policy.loaders.sourcetree import MAX_DEPTH, MAX_VALUES, Budget, Document, not_finite
from genvm_policy.loaders.yamlsource import parse_yaml

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "Document",
    "load_document",
    "parse_document",
]

MAX_BYTES = 8 * 1024 * 1024
FORMATS: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}

# Spellings of NaN and infinity that JSON (Python's extension) and TOML produce.
_NOT_FINITE_TEXT = {"nan", "inf", "infinity", ".nan", ".inf"}


def load_document(path: str | PathLike[str], *, what: str) -> Document:
    """Read the file at `path` and return its value; `what` names it in messages."""
    name = str(path)
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise PolicyError(
            "SRC_FORMAT",
            (),
            f"{what} {quote(name)} has no known file type",
            "name it with .yaml, .yml, .json or .toml",
        )
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError(
            "SRC_IO", (), f"{what} {quote(name)} does not exist", "check the path and try again"
        ) from None
    except IsADirectoryError:
        raise PolicyError(
            "SRC_IO", (), f"{what} {quote(name)} is a directory", "give the path of a file"
        ) from None
    except PermissionError:
        raise PolicyError(
            "SRC_IO", (), f"{what} {quote(name)} cannot be read", "check the file's permissions"
        ) from None
    except OSError as err:
        raise PolicyError(
            "SRC_IO", (), f"{what} {quote(name)} cannot be read: {err.strerror or 'i/o error'}"
        ) from None
    return parse_document(data, fmt, what=f"{what} {quote(name)}")


def parse_document(data: bytes, fmt: str, *, what: str = "document") -> Document:
    """Parse `data` as `fmt` (`yaml`, `json` or `toml`) under the rules of this module."""
    if len(data) > MAX_BYTES:
        raise PolicyError(
            "SRC_TOO_LARGE",
            (),
            f"{what} is larger than {MAX_BYTES} bytes",
            "a node config or overlay is a few kilobytes; check that this is the right file",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PolicyError(
            "SRC_ENCODING",
            (),
            f"{what} is not valid utf-8 (line {line}, byte {err.start})",
            "save the file as utf-8",
        ) from None
    text = text.removeprefix("\ufeff")
    if fmt == "yaml":
        return parse_yaml(text, what)
    if fmt == "json":
        return _parse_json(text, what)
    if fmt == "toml":
        return _parse_toml(text, what)
    raise PolicyError("SRC_FORMAT", (), f"{what} has unknown format {quote(fmt)}")


# -- JSON and TOML ---------------------------------------------------------


class _Pairs(list[tuple[str, object]]):
    """A JSON object as read, kept as pairs so duplicates are seen with their path."""


class _NonFinite(str):
    """A JSON `NaN` or `Infinity` token, rejected with its path."""


def _parse_json(text: str, what: str) -> Document:
    try:
        raw = json.loads(
            text,
            parse_int=NumberText,
            parse_float=NumberText,
            parse_constant=_NonFinite,
            object_pairs_hook=_Pairs,
        )
    except json.JSONDecodeError as err:
        raise PolicyError(
            "SRC_SYNTAX", (), f"{what} at line {err.lineno}, column {err.colno}: {err.msg.lower()}"
        ) from None
    except RecursionError:
        raise PolicyError("SRC_DEPTH", (), f"nesting is deeper than {MAX_DEPTH} levels") from None
    return _tree(raw, (), 0, Budget(what))


def _parse_toml(text: str, what: str) -> Document:
    try:
        raw = tomllib.loads(text, parse_float=NumberText)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        raise PolicyError("SRC_SYNTAX", (), f"{what}: {message[:1].lower()}{message[1:]}") from None
    except ValueError:
        # tomllib converts decimal integer tokens itself, so Python's limit on the
        # digits of an integer text (4,300) surfaces here; no such integer is in range.
        raise _too_long((), what) from None
    except RecursionError:
        raise PolicyError("SRC_DEPTH", (), f"nesting is deeper than {MAX_DEPTH} levels") from None
    return _tree(raw, (), 0, Budget(what))


def _tree(raw: object, path: ErrorPath, depth: int, budget: Budget) -> Document:
    """Check a parsed JSON or TOML value against rules 2 and 4 and return it as a Document."""
    budget.spend(1)
    if isinstance(raw, (_Pairs, dict, list)):
        if depth >= MAX_DEPTH:
            raise PolicyError("SRC_DEPTH", path, f"nesting is deeper than {MAX_DEPTH} levels")
        if isinstance(raw, list) and not isinstance(raw, _Pairs):
            return [_tree(item, (*path, i), depth + 1, budget) for i, item in enumerate(raw)]
        pairs = raw.items() if isinstance(raw, dict) else raw
        out: dict[str, Document] = {}
        for key, item in pairs:
            budget.spend(1)
            _check_text(key, (*path, key))
            if key in out:
                raise PolicyError(
                    "SRC_DUPLICATE_KEY", (*path, key), f"key {quote(key, 64)} appears twice"
                )
            out[key] = _tree(item, (*path, key), depth + 1, budget)
        return out
    if isinstance(raw, _NonFinite):
        raise not_finite(raw, path)
    if isinstance(raw, NumberText):
        if raw.lstrip("+-").lower() in _NOT_FINITE_TEXT:
            raise not_finite(raw, path)
        return raw
    if isinstance(raw, bool) or raw is None:
        return raw
    if isinstance(raw, int):
        # tomllib gives integers as int; their decimal text keeps the value exactly.
        # A hex, octal or binary token is converted without the digit limit, so the
        # limit can first bite when the decimal text is written.
        try:
            return NumberText(str(raw))
        except ValueError:
            raise _too_long(path, "the document") from None
    if isinstance(raw, str):
        _check_text(raw, path)
        return raw
    if isinstance(raw, (datetime, date, time)):
        raise PolicyError(
            "SRC_VALUE",
            path,
            f"date or time {quote(raw)} is not allowed",
            "write it as quoted text",
        )
    raise PolicyError("SRC_VALUE", path, "value is outside the data model")


def _too_long(path: ErrorPath, what: str) -> PolicyError:
    return PolicyError(
        "SRC_SYNTAX",
        path,
        f"{what} holds an integer of more than 4300 digits",
        "integers in these files stay within ±(2^53 − 1)",
    )


def _check_text(text: str, path: ErrorPath) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError(
            "SRC_ENCODING", path, "text holds an unpaired surrogate escape", "remove the `\\ud...`"
        ) from None
