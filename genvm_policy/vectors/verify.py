"""Building vector files from the reference and replaying them in a runtime.

Spec: docs/VECTORS.md ("Pass rule").

Rules:
1. A runner maps `(kind, canonical bytes of a case input)` to the canonical
   bytes of its result; a case passes when those bytes equal the canonical
   bytes of the expected result, and fails otherwise, reported with its name
   and the first differing field.
2. A file that breaks the format fails as one case, named after the file, so
   a broken file can never pass silently; its cases are not replayed.
3. A kind whose `runtimes` leaves out the runner's family is counted as not
   run; only executed cases count as passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genvm_policy.core import encoding
from genvm_policy.core.errors import PolicyError
from genvm_policy.vectors.format import Case, VectorFile, read_file
from genvm_policy.vectors.kinds import Kind, spec_sections
from genvm_policy.vectors.run import run

__all__ = ["Report", "Runner", "build", "first_difference", "python_runner", "verify_file"]

Runner = Callable[[str, bytes], bytes]


@dataclass
class Report:
    """The outcome of replaying vector files in one runtime."""

    passed: int = 0
    failed: int = 0
    not_run: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Report) -> None:
        """Fold `other` into this report."""
        self.passed += other.passed
        self.failed += other.failed
        self.not_run += other.not_run
        self.failures += other.failures

    @property
    def ok(self) -> bool:
        """True when nothing failed and at least one case ran."""
        return self.failed == 0 and self.passed > 0


def build(kind: Kind) -> VectorFile:
    """The vector file of `kind`: its generated inputs with the reference's results."""
    cases = tuple(
        Case(name, description, data, run(kind.name, data))
        for name, description, data in kind.generate()
    )
    return VectorFile(kind.name, kind.spec, kind.runtimes, cases)


def python_runner(kind: str, data: bytes) -> bytes:
    """The reference as a runner (rule 1)."""
    return encoding.encode(run(kind, encoding.decode(data)))


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.hex()
        return f"h'{text[:64]}…'" if len(text) > 64 else f"h'{text}'"
    if isinstance(value, str):
        return f"`{value[:60]}`"
    if isinstance(value, dict | list):
        return "a map" if isinstance(value, dict) else f"a list of {len(value)}"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def first_difference(want: Any, got: Any, where: str = "") -> str:
    """The first field where `got` differs from `want`, as `where: expected …, got …`."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if (
                key not in got
                or key not in want
                or encoding.encode(want[key]) != encoding.encode(got[key])
            ):
                inner = f"{where}.{key}" if where else key
                if key in want and key in got:
                    return first_difference(want[key], got[key], inner)
                return f"{inner}: expected {_show(want.get(key))}, got {_show(got.get(key))}"
    if isinstance(want, list) and isinstance(got, list):
        for index, (a, b) in enumerate(zip(want, got, strict=False)):
            if encoding.encode(a) != encoding.encode(b):
                return first_difference(a, b, f"{where}[{index}]")
        return f"{where}: expected {len(want)} items, got {len(got)}"
    return f"{where or 'result'}: expected {_show(want)}, got {_show(got)}"


def _replay(file: VectorFile, runner: Runner, report: Report) -> None:
    for case in file.cases:
        want = encoding.encode(case.expected)
        got = runner(file.kind, encoding.encode(case.input))
        if got == want:
            report.passed += 1
            continue
        report.failed += 1
        try:
            detail = first_difference(case.expected, encoding.decode(got))
        except PolicyError as err:
            detail = f"the runner's result is not canonical CBOR ({err.code})"
        report.failures.append(f"FAIL {file.kind}/{case.name}: {detail}")


def verify_file(name: str, data: bytes, runner: Runner, family: str) -> Report:
    """Replay the vector file `name` (its bytes `data`) with `runner` of `family` (rules 1–3)."""
    report = Report()
    try:
        file = read_file(data, spec_sections())
    except PolicyError as err:
        report.failed = 1
        report.failures.append(f"FAIL {name}: {err.render()}")
        return report
    if family not in file.runtimes:
        report.not_run = len(file.cases)
        return report
    _replay(file, runner, report)
    return report
