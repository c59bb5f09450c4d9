"""Input files into plain values: the shell that reads YAML, JSON and TOML.

Spec: docs/SPEC.md §5.1 (Source files). This module does I/O; the core never does.

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
import re
import tomllib
from collections.abc import Callable
from datetime import date, datetime, time
from os import PathLike
from pathlib import Path

import yaml

from genvm_policy.errors import Path as ErrorPath
from genvm_policy.errors import PolicyError, quote
from genvm_policy.numeric import NumberText

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "Document",
    "load_document",
    "parse_document",
]

Document = dict[str, "Document"] | list["Document"] | str | bool | None
"""A loaded file: maps with text keys, lists, text, `NumberText`, booleans, null."""

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
# Values (map keys included) in one document: a 10,000-route node config or
# overlay holds about 200,000; the budget bounds the parse time of hostile files.
MAX_VALUES = 500_000
FORMATS: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}

# YAML 1.2.2 §10.3.2, the core schema: what a plain scalar resolves to.
_NULL = re.compile(r"(?:null|Null|NULL|~)?")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
# Spellings of NaN and infinity that JSON (Python's extension) and TOML produce.
_NOT_FINITE_TEXT = {"nan", "inf", "infinity", ".nan", ".inf"}
_TAG = "tag:yaml.org,2002:"
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        return _parse_yaml(text, what)
    if fmt == "json":
        return _parse_json(text, what)
    if fmt == "toml":
        return _parse_toml(text, what)
    raise PolicyError("SRC_FORMAT", (), f"{what} has unknown format {quote(fmt)}")


# -- YAML ------------------------------------------------------------------


class _Frame:
    """An open map or list while the YAML events are read."""

    __slots__ = ("key", "path", "value")

    def __init__(self, value: dict[str, Document] | list[Document], path: ErrorPath) -> None:
        self.value = value
        self.path = path
        self.key: str | None = None


def _syntax(what: str, err: yaml.YAMLError) -> PolicyError:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or "cannot be parsed"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    # libyaml scans ahead and stops at its own depth limit before our events reach ours.
    code = "SRC_DEPTH" if "nesting depth" in problem else "SRC_SYNTAX"
    return PolicyError(code, (), f"{what}{where}: {problem}")


def _parse_yaml(text: str, what: str) -> Document:
    stack: list[_Frame] = []
    result: list[Document] = []
    documents = 0
    values = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise PolicyError(
                        "SRC_SYNTAX",
                        (),
                        f"{what} holds more than one yaml document",
                        "keep one document per file",
                    )
            elif isinstance(event, yaml.NodeEvent):
                values += 1
                if values > MAX_VALUES:
                    raise _too_many(what)
                _yaml_node(event, stack, result)
            elif isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()
                _attach(done.value, stack, result)
    except yaml.YAMLError as err:
        raise _syntax(what, err) from None
    return result[0] if result else None


def _next_path(stack: list[_Frame]) -> ErrorPath:
    if not stack:
        return ()
    top = stack[-1]
    if isinstance(top.value, list):
        return (*top.path, len(top.value))
    return (*top.path, top.key) if top.key is not None else top.path


def _yaml_node(event: yaml.NodeEvent, stack: list[_Frame], result: list[Document]) -> None:
    path = _next_path(stack)
    if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
        raise PolicyError(
            "SRC_ALIAS",
            path,
            "yaml anchors and aliases are not allowed",
            "write the repeated value out in full",
        )
    is_key = bool(stack) and isinstance(stack[-1].value, dict) and stack[-1].key is None
    if isinstance(event, yaml.ScalarEvent):
        value = _scalar(event, path)
        if is_key:
            _set_key(stack[-1], value, path)
        else:
            _attach(value, stack, result)
        return
    if is_key:
        raise PolicyError("SRC_KEY", path, "a map key must be text, not a map or a list")
    if len(stack) >= MAX_DEPTH:
        raise PolicyError("SRC_DEPTH", path, f"nesting is deeper than {MAX_DEPTH} levels")
    tag: str | None = getattr(event, "tag", None)
    if isinstance(event, yaml.MappingStartEvent):
        _check_tag(tag, ("map",), path)
        stack.append(_Frame({}, path))
    else:
        _check_tag(tag, ("seq",), path)
        stack.append(_Frame([], path))


def _check_tag(tag: str | None, allowed: tuple[str, ...], path: ErrorPath) -> None:
    if tag is None or tag == "!" or tag in {_TAG + a for a in allowed}:
        return
    raise PolicyError(
        "SRC_TAG",
        path,
        f"yaml tag {quote(tag, 64)} is not allowed",
        "remove the tag; only plain values",
    )


# An explicit core-schema tag must agree with what the text resolves to.
_TAGGED: dict[str, Callable[[Document, str], bool]] = {
    _TAG + "null": lambda value, _text: value is None,
    _TAG + "bool": lambda value, _text: isinstance(value, bool),
    _TAG + "int": lambda value, text: isinstance(value, NumberText) and bool(_INT.fullmatch(text)),
    _TAG + "float": lambda value, _text: isinstance(value, NumberText),
}


def _scalar(event: yaml.ScalarEvent, path: ErrorPath) -> Document:
    text: str = event.value
    tag = event.tag
    # libyaml marks a plain scalar with style `''`, the pure-Python parser with None.
    if tag is None and not event.style:
        return _plain(text, path)
    if tag is None or tag == "!" or tag == _TAG + "str":
        return text
    fits = _TAGGED.get(tag)
    if fits is None:
        _check_tag(tag, (), path)
    value = _plain(text, path)
    if fits is None or not fits(value, text):
        raise PolicyError(
            "SRC_TAG", path, f"{quote(text, 64)} does not match its tag {quote(tag, 64)}"
        )
    return value


def _plain(text: str, path: ErrorPath) -> Document:
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text) or _FLOAT.fullmatch(text):
        return NumberText(text)
    if _NOT_FINITE.fullmatch(text):
        raise _not_finite(text, path)
    return text


def _not_finite(text: str, path: ErrorPath) -> PolicyError:
    return PolicyError("SRC_NUMBER", path, f"{quote(text, 64)} is not a finite number")


def _set_key(frame: _Frame, key: Document, path: ErrorPath) -> None:
    if not isinstance(key, str) or isinstance(key, NumberText):
        raise PolicyError(
            "SRC_KEY", path, f"map key {quote(_show(key), 64)} is not text", "put the key in quotes"
        )
    assert isinstance(frame.value, dict)
    if key in frame.value:
        raise PolicyError(
            "SRC_DUPLICATE_KEY", (*frame.path, key), f"key {quote(key, 64)} appears twice"
        )
    frame.key = key


def _attach(value: Document, stack: list[_Frame], result: list[Document]) -> None:
    if not stack:
        result.append(value)
        return
    top = stack[-1]
    if isinstance(top.value, list):
        top.value.append(value)
    else:
        assert top.key is not None
        top.value[top.key] = value
        top.key = None


def _show(value: Document) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    return _tree(raw, (), 0, _Budget(what))


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
    return _tree(raw, (), 0, _Budget(what))


class _Budget:
    """Counts the values of one document against `MAX_VALUES`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.left = MAX_VALUES

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _too_many(self.what)


def _too_many(what: str) -> PolicyError:
    return PolicyError(
        "SRC_TOO_LARGE",
        (),
        f"{what} holds more than {MAX_VALUES} values",
        "a node config or overlay for 10,000 routes holds about 200,000",
    )


def _tree(raw: object, path: ErrorPath, depth: int, budget: _Budget) -> Document:
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
        raise _not_finite(raw, path)
    if isinstance(raw, NumberText):
        if raw.lstrip("+-").lower() in _NOT_FINITE_TEXT:
            raise _not_finite(raw, path)
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
