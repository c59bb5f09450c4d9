"""Edit one top-level scalar of a YAML file as text, leaving every other byte alone.

Spec: docs/INSTALL.md §3 (Editing the LLM config).

The installer switches `lua_script_path` in GenVM's LLM config. Loading and
dumping the YAML would reorder keys, drop comments and re-quote strings, and
would pull provider keys through a parser; instead the file is edited as text.

Rules:
1. The document must be a plain block mapping at the top level: every line
   that starts in column 0 is blank, a comment, a leading `---`, or a
   `key:` entry with a plain or quoted key. Anything else is refused
   (`YAML_NOT_BLOCK_MAPPING`).
2. The key must appear exactly once at the top level (`YAML_KEY_ABSENT`,
   `YAML_KEY_AMBIGUOUS`); nested keys of the same name are not entries.
3. Its value must be a one-line scalar: plain, single-quoted or
   double-quoted, optionally followed by a comment. Block scalars, flow
   collections, nested mappings, anchors, aliases, tags and multi-line values
   are refused (`YAML_NOT_SCALAR`).
4. A replacement rewrites only the value's characters: the text before it
   (indentation, spacing), the comment after it and the line ending stay. The
   old quoting style is kept when it can spell the new value; otherwise the
   value is double-quoted.
5. Lines end where the YAML loaders GenVM and this tool use end them: LF, CRLF,
   CR, NEL (U+0085), U+2028 and U+2029; a break is never part of a value.
   Quoted keys and values are decoded by the YAML loader itself, so every
   YAML escape reads as GenVM reads it.
6. `one_change` loads two versions of a file with the YAML loader and says how
   they differ other than in one key's value: the check after every switch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from genvm_policy.core.errors import PolicyError

__all__ = [
    "Scalar",
    "damage",
    "find_scalar",
    "get_scalar",
    "one_change",
    "replace_raw",
    "replace_scalar",
]

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

_KEY = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_.-]*|"(?:[^"\\]|\\.)*"|'(?:[^']|'')*')[ \t]*:(?=[ \t]|$)"""
)
# A plain scalar may not start with a YAML indicator character.
_INDICATORS = "-?:,[]{}#&*!|>'\"%@`"
_PLAIN_SAFE = re.compile(r"[$A-Za-z_/~][A-Za-z0-9_$/.{}~+=@-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@dataclass(frozen=True)
class Scalar:
    """One top-level scalar entry: its decoded value and where its text sits."""

    key: str
    value: str
    raw: str
    style: str  # "plain", "single" or "double"
    line: int  # counted from 1
    start: int  # offset of the value's first character in the whole text
    end: int  # offset just past the value's last character


def _fail_scalar(key: str, line: int, why: str) -> PolicyError:
    return PolicyError(
        "YAML_NOT_SCALAR",
        (key,),
        f"the value of `{key}` on line {line} is {why}, not a one-line scalar",
        hint="write it as one line, e.g. `key: ${exeDir}/../config/script.lua`",
    )


def _decode_quoted(token: str) -> str | None:
    """A quoted scalar as the YAML loader reads it; None when the loader refuses it."""
    try:
        value = yaml.load(token, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    return value if isinstance(value, str) else None


def _decode_key(token: str, line: int) -> str:
    if not token.startswith(("'", '"')):
        return token
    value = _decode_quoted(token)
    if value is None:
        raise PolicyError(
            "YAML_NOT_BLOCK_MAPPING",
            (),
            f"the quoted key on line {line} is not valid YAML",
            hint="fix the key's quoting or escapes; GenVM cannot read this file either",
        )
    return value


def _parse_value(key: str, line: int, rest: str) -> tuple[str, str, str] | None:
    """Parse the text after `key:`; return (value, raw, style) or None if it is empty."""
    body = rest.lstrip(" \t")
    if body == "" or body.startswith("#"):
        return None
    if body.startswith('"'):
        m = re.match(r'"(?:[^"\\]|\\.)*"', body)
        if m is None:
            raise _fail_scalar(key, line, "a double-quoted text that does not end on its line")
        raw = m.group(0)
        decoded = _decode_quoted(raw)
        if decoded is None:
            raise _fail_scalar(key, line, "a double-quoted text with escapes YAML does not allow")
        value = decoded
        style = "double"
    elif body.startswith("'"):
        m = re.match(r"'(?:[^']|'')*'", body)
        if m is None:
            raise _fail_scalar(key, line, "a single-quoted text that does not end on its line")
        raw = m.group(0)
        value = raw[1:-1].replace("''", "'")
        style = "single"
    else:
        if body[0] in _INDICATORS and not (body[0] in "-?:" and body[1:2] not in ("", " ")):
            raise _fail_scalar(key, line, f"a value starting with `{body[0]}`")
        cut = re.search(r"[ \t]#", body)
        raw = (body if cut is None else body[: cut.start()]).rstrip(" \t")
        value = raw
        style = "plain"
    tail = body[len(raw) :].strip(" \t")
    if tail and not tail.startswith("#"):
        raise _fail_scalar(key, line, f"followed by `{tail}`")
    return value, raw, style


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its break (rule 5)."""
    out: list[str] = []
    pos = 0
    for m in _BREAK.finditer(text):
        out.append(text[pos : m.end()])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _body(full: str) -> str:
    """A line without its break."""
    m = _BREAK.search(full)
    return full if m is None else full[: m.start()]


def _blank(line: str) -> bool:
    return line.strip(" \t") == ""


def find_scalar(text: str, key: str) -> Scalar | None:
    """Find the top-level entry `key` (rules 1–3); None when the key is absent."""
    found: list[tuple[int, int, str]] = []  # (line index, offset of the line, text after ':')
    lines = _lines(text)
    first = _first_content(lines)
    offset = 0
    for index, full in enumerate(lines):
        line = _body(full)
        here = offset
        offset += len(full)
        if _blank(line) or line.startswith(("#", " ", "\t")):
            continue
        if index == first and line.rstrip(" \t") == "---":
            continue  # one leading document marker is still a single plain document
        m = _KEY.match(line)
        if m is None:
            shown = line if len(line) <= 40 else line[:40] + "…"
            raise PolicyError(
                "YAML_NOT_BLOCK_MAPPING",
                (),
                f"line {index + 1} (`{shown}`) is not a `key: value` entry of a top-level mapping",
                hint="the file must be one plain YAML mapping; edit it by hand if it is not",
            )
        if _decode_key(m.group("key"), index + 1) == key:
            found.append((index, here + m.end(), line[m.end() :]))
    if not found:
        return None
    if len(found) > 1:
        lines_at = ", ".join(str(f[0] + 1) for f in found)
        raise PolicyError(
            "YAML_KEY_AMBIGUOUS",
            (key,),
            f"the key `{key}` appears {len(found)} times at the top level (lines {lines_at})",
            hint="keep one of them; GenVM would not read this file as intended",
        )
    index, after_colon, rest = found[0]
    parsed = _parse_value(key, index + 1, rest)
    if parsed is None:
        nested = _next_is_indented(lines, index)
        raise _fail_scalar(key, index + 1, "a nested block" if nested else "empty")
    value, raw, style = parsed
    if style == "plain" and _next_is_indented(lines, index):
        raise _fail_scalar(key, index + 1, "a plain text continued on the next lines")
    start = after_colon + (len(rest) - len(rest.lstrip(" \t")))
    return Scalar(key, value, raw, style, index + 1, start, start + len(raw))


def _first_content(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if not _blank(_body(line)) and not line.startswith("#"):
            return index
    return -1


def _next_is_indented(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 :]:
        stripped = _body(line).strip(" \t")
        if stripped == "" or stripped.startswith("#"):
            continue
        return line.startswith((" ", "\t"))
    return False


def get_scalar(text: str, key: str) -> Scalar:
    """Like `find_scalar`, but an absent key is `YAML_KEY_ABSENT`."""
    scalar = find_scalar(text, key)
    if scalar is None:
        raise PolicyError(
            "YAML_KEY_ABSENT",
            (key,),
            f"the top-level key `{key}` is missing",
            hint="add the line to the file, or check that this is GenVM's LLM module config",
        )
    return scalar


def render(value: str, style: str) -> str:
    """Spell `value` in `style` when that style can hold it, else double-quoted (rule 4)."""
    if style == "plain" and _is_plain_safe(value):
        return value
    if style == "single" and not any(_needs_escape(ch) for ch in value):
        return "'" + value.replace("'", "''") + "'"
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _needs_escape(ch):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _needs_escape(ch: str) -> bool:
    """Characters YAML does not allow raw in a one-line quoted scalar (controls, line breaks)."""
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or code in (0x2028, 0x2029, 0xFFFE, 0xFFFF)
        or 0xD800 <= code <= 0xDFFF
    )


def _is_plain_safe(value: str) -> bool:
    if _PLAIN_SAFE.fullmatch(value) is None or value.lower() in _RESERVED:
        return False
    return not value.startswith(("-", "~")) and value != "~"


def replace_raw(text: str, key: str, raw: str) -> str:
    """Put the exact value text `raw` (as `Scalar.raw` gave it) in place of the key's value."""
    scalar = get_scalar(text, key)
    if _parse_value(key, scalar.line, " " + raw) is None:
        raise _fail_scalar(key, scalar.line, "empty")
    return text[: scalar.start] + raw + text[scalar.end :]


def replace_scalar(text: str, key: str, value: str) -> str:
    """Replace the key's value by `value`, keeping its quoting style when possible (rule 4)."""
    scalar = get_scalar(text, key)
    return text[: scalar.start] + render(value, scalar.style) + text[scalar.end :]


def _load(text: str) -> dict[object, object] | str:
    """The document as the YAML loader reads it, or why it cannot be read as a mapping."""
    try:
        value = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        return f"it no longer parses as YAML ({' '.join(str(err).split())[:120]})"
    return value if isinstance(value, dict) else "it is no longer a YAML mapping"


def one_change(before: str, after: str, key: str, value: str) -> str | None:
    """None when `after` reads as `before` with only `key` set to `value` (rule 6), else why not.

    Values are compared by their loaded form's `repr`, so a `.nan` equals itself.
    """
    old, new = _load(before), _load(after)
    if isinstance(new, str):
        return new
    if new.get(key) != value:
        return f"`{key}` does not read as `{value}`"
    if isinstance(old, str):
        return None  # a damaged file put back from its backup: nothing to compare with
    if set(old) != set(new):
        changed = sorted(str(k) for k in set(old) ^ set(new))
        return f"its top-level keys changed ({', '.join(changed[:3])})"
    for name in old:
        if name != key and repr(old[name]) != repr(new[name]):
            return f"the value of `{name}` changed"
    return None


def damage(original: str, now: str) -> str | None:
    """Why `now` looks like a damaged `original` (unparseable, or top-level keys lost), or None.

    Edits that keep every top-level key are the operator's; revert keeps them.
    """
    old, new = _load(original), _load(now)
    if isinstance(new, str):
        return new
    if isinstance(old, str):
        return None
    lost = [str(k) for k in old if k not in new]
    return f"it lost its top-level keys {', '.join(lost[:3])}" if lost else None
