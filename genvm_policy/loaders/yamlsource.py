"""The YAML reader of source files: the parser's events straight into a `Document`.

Spec: docs/SPEC.md §5.1 (Source files), rules 4 to 7. `genvm_policy.loaders.sources`
checks the file's size and encoding and calls `parse_yaml`; the document's
type, limits and shared errors are in `genvm_policy.loaders.sourcetree`.

Rules:
1. The YAML 1.2 core schema (YAML 1.2.2 §10.3.2): a plain scalar is null, a
   boolean, a number token (kept as the `NumberText` it was written as) or
   text; a quoted or block scalar is text. A plain `NaN` or infinity is
   `SRC_NUMBER`. An explicit tag is allowed when it is a core-schema tag or
   `!` and the value matches it; otherwise `SRC_TAG`.
2. The value is built from the parser's events, never from its constructor:
   an anchor or alias is `SRC_ALIAS` at the first one met (so an alias bomb
   costs no more than reading it), a key that is not text is `SRC_KEY`, a
   repeated key is `SRC_DUPLICATE_KEY`, a second document is `SRC_SYNTAX`.
3. Depth and value count are checked as the events arrive (`SRC_DEPTH`,
   `SRC_TOO_LARGE`), so a hostile file stops early. A parser's complaint is
   `SRC_SYNTAX` with the line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import yaml

from genvm_policy.core.errors import Path as ErrorPath
from genvm_policy.core.errors import PolicyError, quote
from genvm_policy.core.numeric import NumberText
from genvm_policy.loaders.sourcetree import MAX_DEPTH, Budget, Document, not_finite

__all__ = ["parse_yaml"]

# YAML 1.2.2 §10.3.2, the core schema: what a plain scalar resolves to.
_NULL = re.compile(r"(?:null|Null|NULL|~)?")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_TAG = "tag:yaml.org,2002:"
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def parse_yaml(text: str, what: str) -> Document:
    """Read the YAML document `text` under the rules of this module; `what` names it."""
    stack: list[_Frame] = []
    result: list[Document] = []
    documents = 0
    budget = Budget(what)
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
                budget.spend(1)
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
        raise not_finite(text, path)
    return text


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
