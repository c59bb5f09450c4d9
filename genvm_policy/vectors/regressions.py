"""The frozen regressions: divergences kept as vector files that are never regenerated.

Spec: docs/VECTORS.md ("Regressions"). The files live in `vectors/regressions/`
beside the generated kinds; the CLI reads and writes them, this module only
judges bytes and text.

Rules:
1. A regression file is a vector file of an existing kind, in the format of
   `format.py`, replayed by every runner exactly as the generated files are.
   Its case names start with `r<NNNN>.`, the number of its file.
2. `INDEX` lists every regression file, one line each, as `sha256sum` prints
   it: 64 lower-case hex digits of the file's SHA-256, two spaces, the file
   name. Line `n` (from 1) names the file numbered `n`: `<NNNN>-<slug>.cbor`
   with `NNNN` the four digits of `n`, so an entry moved or taken out of the
   middle breaks the numbering.
3. The set is append-only: a listed file that is missing or whose bytes
   changed, a file the index does not list, and a line that breaks rule 2 are
   each `VEC_FROZEN`, one error per breach, in index order and then name order.
4. `freeze` is how a file is made: the reference computes each case's expected
   result once; after that only the bytes in the index count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import PolicyError
from genvm_policy.vectors.format import NAME, Case, VectorFile, write_file
from genvm_policy.vectors.kinds import KINDS
from genvm_policy.vectors.run import run

__all__ = ["FOLDER", "INDEX", "check", "entry_line", "freeze", "next_name"]

FOLDER = "regressions"
"""The folder of `vectors/` that holds the frozen files."""

INDEX = "INDEX"
"""The index file of that folder (rule 2)."""

FILE_NAME = re.compile(r"([0-9]{4})-[a-z0-9][a-z0-9-]{0,63}\.cbor")
LINE = re.compile(r"([0-9a-f]{64})  (\S+)")


RESTORE = (
    "frozen regressions are append-only: restore the file and `INDEX` from version control, "
    "and add a new regression at the end of `INDEX` instead"
)
LIST = "list a new regression at the end of `INDEX` (docs/VECTORS.md §8), or remove the file"


def _frozen(name: str, message: str, hint: str = RESTORE) -> PolicyError:
    return PolicyError("VEC_FROZEN", (FOLDER, name), message, hint=hint)


def entry_line(name: str, data: bytes) -> str:
    """The index line of the regression file `name` holding `data` (rule 2), with its newline."""
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


def check(index: str | None, files: Mapping[str, bytes]) -> list[PolicyError]:
    """Every breach of rules 2-3 by `index` (the text of `INDEX`, None when absent) and
    `files` (each other entry of the folder by name, with its bytes)."""
    if index is None:
        return [_frozen(INDEX, "the regressions folder has no `INDEX`", LIST)] if files else []
    errors: list[PolicyError] = []
    listed: set[str] = set()
    lines = index.split("\n")
    if lines[-1] != "":
        errors.append(_frozen(INDEX, "`INDEX` must end with a newline"))
    for number, line in enumerate(lines[:-1] if lines[-1] == "" else lines, start=1):
        found = LINE.fullmatch(line)
        name = found.group(2) if found else ""
        numbered = FILE_NAME.fullmatch(name)
        if found is None or numbered is None or int(numbered.group(1)) != number:
            errors.append(
                _frozen(
                    INDEX,
                    f"line {number} must be `<sha-256>  {number:04d}-<slug>.cbor`, "
                    f"not `{line[:80]}`",
                )
            )
            continue
        listed.add(name)
        if name not in files:
            errors.append(_frozen(name, f"`{name}` is listed on line {number} but missing"))
        elif hashlib.sha256(files[name]).hexdigest() != found.group(1):
            errors.append(_frozen(name, f"`{name}` differs from the bytes `INDEX` froze"))
    for name in sorted(files):
        if name not in listed:
            errors.append(_frozen(name, f"`{name}` is not listed in `INDEX`", LIST))
    return errors


def next_name(index: str, slug: str) -> str:
    """The file name the next regression takes: one past the last line of `index`."""
    number = index.count("\n") + 1
    name = f"{number:04d}-{slug}.cbor"
    if FILE_NAME.fullmatch(name) is None:
        raise ValueError(f"the slug {slug!r} makes the file name {name!r}, which breaks rule 2")
    return name


def freeze(name: str, kind: str, cases: list[tuple[str, str, Value]]) -> bytes:
    """The bytes of the regression file `name`: `(case, description, input)` of `kind`,
    each expected result computed by the reference now (rule 4)."""
    found = FILE_NAME.fullmatch(name)
    if found is None:
        raise ValueError(f"{name!r} breaks the regression file naming rule")
    (row,) = [k for k in KINDS if k.name == kind]
    prefix = f"r{found.group(1)}."
    built = []
    for case, description, data in cases:
        full = prefix + case
        if NAME.fullmatch(full) is None:
            raise ValueError(f"the case name {full!r} breaks the naming rule")
        built.append(Case(full, description, data, run(kind, data)))
    return write_file(VectorFile(row.name, row.spec, row.runtimes, tuple(built)))
