"""Errors the user can cause: one base class, one registry of stable codes.

Spec: docs/SPEC.md §0 (Errors).

Rules:
1. Every error a user can cause is a `PolicyError` with a code from `CODES`,
   a path into the offending input and a plain one-line message; advice that
   does not fit the message goes into `hint`.
2. Codes are stable: a code is never renamed or reused for another rule; the
   Lua runtime raises the same (code, path) pair for the same input.
3. A path is a tuple of segments: text for map keys, integers for array
   positions. `render_path` prints it for people; vectors store the tuple.
4. A message is one line: user text goes in through `quote`, which escapes
   controls, line and paragraph separators, spaces other than U+0020 and
   format characters (zero-width, bidi overrides); `PolicyError` applies the
   same escape to the whole message and hint, so text quoted without `quote`
   cannot break a line either.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["CODES", "Path", "PolicyError", "quote", "render_path"]

Path = tuple[str | int, ...]

# code -> raised when.  Grouped by the spec section that owns the rule.
CODES: dict[str, str] = {
    # -- command line -----------------------------------------------------
    "CLI_USAGE": "command-line options are combined in a way the command does not accept",
    # -- §1 numeric --------------------------------------------------------
    "NUM_SYNTAX": "a decimal or integer text does not follow the number grammar",
    "NUM_INEXACT": "a decimal needs more fractional digits than its quantity's scale",
    "NUM_RANGE": "a value or an intermediate result leaves ±(2^53 − 1) or its declared bounds",
    "NUM_FLOAT": "a binary float arrives where only an exact integer or decimal text is allowed",
    "NUM_DIV_ZERO": "an integer division has a zero divisor",
    "NUM_TYPE": "a number is required and something else was given",
    "NUM_SCALE": "a declared decimal scale is outside 0 … 9",
    # -- §2 encoding -------------------------------------------------------
    "CBOR_TYPE": "a value outside the restricted data model is encoded",
    "CBOR_TEXT": "a text string is not valid UTF-8 (a lone surrogate included)",
    "CBOR_NFC": "a text string is valid UTF-8 but not in Unicode NFC (reference runtime only)",
    "CBOR_RANGE": "an integer is outside ±(2^53 − 1)",
    "CBOR_MALFORMED": "the input is not well-formed CBOR (reserved argument, stray break)",
    "CBOR_KEY": "a map key is not text",
    "CBOR_DUPLICATE_KEY": "a map holds the same key twice",
    "CBOR_DEPTH": "nesting is deeper than the encoding limit",
    "CBOR_TRUNCATED": "the input ends inside an item",
    "CBOR_TRAILING": "bytes follow the single top-level item",
    "CBOR_NON_CANONICAL": "the input is well-formed but not in canonical form",
    "CBOR_UNSUPPORTED": "the input uses a major type, tag, float or simple value outside the model",
    # -- §3 identity -------------------------------------------------------
    "ID_KIND": "an identity is asked for an unknown kind",
    "ID_SYNTAX": "an identity text is not `sha256:` followed by 64 lower-case hex digits",
    # -- §4 prng -----------------------------------------------------------
    "PRNG_LABEL": "a stream label is empty, too long or holds a NUL byte",
    "PRNG_BOUND": "a bounded draw asks for a range outside 1 … 2^53",
    "PRNG_KEY": "a seed or salt has the wrong length",
    "PRNG_MATERIAL": "per-call material is missing a field or has a wrong one",
    "PRNG_INDEX": "a stream block index is outside 0 … 2^32 − 1",
    # -- §5 catalog: source files ------------------------------------------
    "SRC_IO": "an input file is missing or cannot be read",
    "SRC_FORMAT": "an input file's name ends in none of .yaml, .yml, .json, .toml",
    "SRC_TOO_LARGE": "an input file is larger than 8 MiB (checked before parsing)",
    "SRC_ENCODING": "an input file is not valid UTF-8, or a text escape is an unpaired surrogate",
    "SRC_SYNTAX": "an input file does not parse (at a line and column) or holds two documents",
    "SRC_DUPLICATE_KEY": "a map in an input file holds the same key twice",
    "SRC_ALIAS": "a YAML file uses an anchor or an alias",
    "SRC_TAG": "a YAML tag is outside the core schema or does not match its value",
    "SRC_KEY": "a map key in an input file is not text",
    "SRC_NUMBER": "a number token is NaN or an infinity",
    "SRC_VALUE": "a value is outside the data model (a TOML date or time)",
    "SRC_DEPTH": "an input file nests maps and lists deeper than 64 levels",
    # -- §5 catalog: node config -------------------------------------------
    "CAT_SHAPE": "the node config has no `backends` map",
    "CAT_TYPE": "a node config entry has the wrong type (map, text, boolean)",
    "CAT_INTEGER": "a greybox or backend priority is not an integer token in its range",
    "CAT_NAME": "a provider or model name is empty, over 256 bytes, not NFC or holds a control",
    "CAT_TOO_MANY": "the node config offers more than 10,000 routes",
    "CAT_EMPTY": "no backend of the node config offers a route",
    # -- §5 catalog: overlay -----------------------------------------------
    "OVL_VERSION": "the overlay's `version` is missing or not 1",
    "OVL_UNKNOWN_FIELD": "the overlay holds a key its schema does not define",
    "OVL_MISSING": "the overlay lacks a required key",
    "OVL_TYPE": "an overlay value has the wrong type",
    "OVL_NAME": "a tier or field name breaks its naming rule or is declared twice",
    "OVL_TIER": "a tier or default tier names a tier not declared in `tiers`",
    "OVL_FIELD": "a fact sets an operator field that `fields` does not declare",
    "OVL_BOUNDS": "a declared field's `min` is greater than its `max`",
    "OVL_UNKNOWN_ROUTE": "an overlay entry names a model or route the node config does not offer",
    # -- install on a node (docs/INSTALL.md) --------------------------------
    "YAML_NOT_BLOCK_MAPPING": "a config to edit as text is not one plain top-level block mapping",
    "YAML_KEY_ABSENT": "a top-level key to read or replace is missing from the config",
    "YAML_KEY_AMBIGUOUS": "a top-level key to read or replace appears more than once",
    "YAML_NOT_SCALAR": "a top-level value to read or replace is not a one-line scalar",
    "NODE_NOT_GENVM": "PATH is neither a node root, a version folder nor a GenVM tree",
    "NODE_VERSION_AMBIGUOUS": "a node root holds several versions and none is named or linked",
    "NODE_VERSION_UNKNOWN": "`--version-dir` names no version folder, or PATH has no versions",
    "NODE_LINE_UNKNOWN": "the GenVM tree shows evidence for neither or both GenVM lines",
    "NODE_CONFIG_UNREADABLE": "the LLM config cannot be read as UTF-8 text",
    "INSTALL_BUNDLE": "a bundle names a file outside the allowed places, or a bad mode or metadata",
    "INSTALL_FOREIGN_STATE": "the installer's folder holds files it did not write",
    "INSTALL_MANIFEST": "the install manifest is unreadable or has an unknown format",
    "INSTALL_BACKUP_MISSING": "a file must be restored but its backup is missing or altered",
    "INSTALL_IO": "the file system refused a read or write the installer needs",
    "INSTALL_VERIFY": "the installed files failed verification before the switch",
    "INSTALL_LOCKED": "another install, revert or status holds the tree's lock past `--wait`",
    "INSTALL_SYMLINK": "a path to write is a link leading out of the GenVM tree, unallowed",
    "INSTALL_CONFIG_CHECK": "the switched config does not read back as the one change",
    "RELOAD_URL": "the manager URL is malformed, or not loopback without `--allow-remote`",
    "RELOAD_UNREACHABLE": "the GenVM manager did not answer (refused, timed out)",
    "RELOAD_REFUSED": "the GenVM manager answered with an error or an unexpected result",
    "RELOAD_LINE": "a reload through the manager is asked for a GenVM line that has none",
    "RELOAD_UNCONFIRMED": "after a restart, `GET /status` does not show the LLM module running",
    # -- operator commands: install, replay (docs/OPERATOR.md) ---------------
    "INSTALL_SALT": "install finds no node salt file (none given and none beside the policy)",
    "REPLAY_EMPTY": "a log given to `replay` holds no decision record of the hook",
    "RUNTIME_UNAVAILABLE": "a command asks for a Lua runtime this machine cannot run "
    "(the stand-alone interpreter is not installed, or it stopped)",
    # -- §6 request ---------------------------------------------------------
    "REQ_FIELD": "a request field is unknown, of the wrong kind, or not allowed with its entry",
    # -- §7 policy language and admission -------------------------------------
    "POL_TYPE": "a policy value has the wrong shape (a map, list, text or op was expected)",
    "POL_KEY": "a policy map holds an unknown key or lacks a required one",
    "POL_OP": "an op name is not in the op table",
    "POL_SORT": "an op of one sort stands where another sort is expected",
    "POL_ARITY": "an op is given an argument it does not take, or lacks one, or a list is empty",
    "POL_VALUE": "a name is outside its fixed set, or a range has its ends reversed",
    "POL_FIELD": "a policy names a numeric field the catalog does not declare",
    "POL_ROUTE": "a route text is malformed, or names a route, provider or model the catalog lacks",
    "POL_TIER": "a policy names a tier the catalog does not declare",
    "POL_DUPLICATE": "a route or text filter is listed twice where order or weight matters",
    "POL_LIMIT": "the policy is nested too deep, has too many terms or too long a list",
    "POL_BOUND": "interval analysis (at admission, or at bind over the catalog's values) cannot "
    "prove a scorer, or the sum of a `weighted` selector's weights, stays within ±(2^53 − 1)",
    "POL_UNROUTABLE": "install or `check --catalog` finds a request class the policy leaves "
    "without any route while the node offers one, and it is not accepted knowingly",
    # -- golden vectors (docs/VECTORS.md) -----------------------------------
    "VEC_FORMAT": "a vector file breaks the format (field, type, count, kind, name, input shape)",
    "VEC_IO": "a vector directory or file is missing or cannot be read or written",
    "VEC_TABLES": "docs/SPEC.md misses a generated table's marker lines or names an unknown one",
    "VEC_FROZEN": "a frozen regression file is missing, changed or not listed in its `INDEX`, "
    "or an `INDEX` line breaks the numbering",
    # -- the GenVM hook, compiled policy and bundle (docs/HOOK.md) -------------
    "HOOK_FORMAT": "a compiled policy file is not the data-only chunk of format 1",
    "HOOK_VALUE": "a compiled policy decodes to a value of the wrong shape",
    "HOOK_IDENTITY": "an identity recorded in a compiled policy does not match its content",
    "HOOK_SALT": "a node salt is not 32 bytes (raw) or 64 lower-case hex digits",
    "HOOK_BUNDLE": "the hook cannot be bundled (a runtime module or a path is unusable)",
    "HOOK_RECORD": "a decision record logged by the hook is malformed or unknown",
    # -- §11 starter policies and §12 diversity -----------------------------------
    "INIT_EXISTS": "`init` would replace an existing policy file and `--force` is not given",
    "INIT_IO": "`init` cannot create its folder, the salt file or the policy file",
    "INIT_SALT_MODE": "an existing salt file can be read or written by group or others",
    "DIV_INPUT": "`diversity` gets neither or both of a policy folder and `--generate N`, or N "
    "is outside 1 … 100,000",
    "DIV_EMPTY": "a policy folder for `diversity` holds no policy file, or cannot be listed",
    "DIV_REQUESTS": "a requests file is not a non-empty list or map of at most 1,000 requests",
    "DIV_IO": "`diversity` cannot write its SVG or JSON file",
    # -- §7.4 admission: text of a policy (hardening) -------------------------------
    "POL_COST": "one decision of the policy may cost more than the limit for its catalog's size",
    "POL_NFC": "a text or map key of an authored policy is not in Unicode NFC",
}


def render_path(path: Sequence[str | int]) -> str:
    """Render a path for people: `backends.openai.models["gpt-4o"]`, `$` for the root."""
    out = "$"
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", seg):
            out += f".{seg}"
        else:
            out += "[" + _quote(seg) + "]"
    return out


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _quote(text: str) -> str:
    """Quote `text` as a JSON string with non-ASCII kept, as the Lua runtime does."""
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# Categories a reader cannot see, or that break or reorder a line of text:
# controls (Cc), format characters (Cf: zero-width, bidi overrides, BOM), the
# line and paragraph separators (Zl, Zp) that `str.splitlines` breaks at, and
# spaces (Zs) other than U+0020, which pass for it.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(text: str) -> str:
    if text.isprintable():
        return text  # the common case: `isprintable` is false for every hidden category
    out = []
    for ch in text:
        if unicodedata.category(ch) in _HIDDEN and ch != " ":
            code = ord(ch)
            wide = f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
            out.append(_NAMED.get(ch, wide))
        else:
            out.append(ch)
    return "".join(out)


def quote(value: object, limit: int | None = None) -> str:
    """`value` as text between backticks for a message, on one line (rule 4).

    Hidden characters become `\\n`, `\\t`, `\\r`, `\\uXXXX` or `\\UXXXXXXXX`;
    with `limit`, text longer than `limit` characters is cut and ends in `…`.
    """
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return "`" + _escape(text) + "`"


class PolicyError(Exception):
    """An error the user caused, with a stable code, a path and a plain message."""

    def __init__(
        self, code: str, path: Sequence[str | int], message: str, hint: str | None = None
    ) -> None:
        if code not in CODES:
            # A programming error, not a user error: every code must be registered.
            raise KeyError(f"unregistered error code {code}")
        self.code = code
        self.path: Path = tuple(path)
        self.message = _escape(message)
        self.hint = None if hint is None else _escape(hint)
        super().__init__(self.render())

    def render(self) -> str:
        """One line for people: `CODE at $.path: message`, then the hint if any."""
        text = f"{self.code} at {render_path(self.path)}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def at(self, *prefix: str | int) -> PolicyError:
        """Return the same error with `prefix` put in front of its path."""
        return PolicyError(self.code, (*prefix, *self.path), self.message, self.hint)

    def as_value(self) -> dict[str, object]:
        """The language-neutral form vectors store: code and path segments."""
        return {"code": self.code, "path": list(self.path)}
