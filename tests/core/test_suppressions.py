"""Every suppression names its code and its reason (STYLE 13).

Walks the comments of every Python file of the repository (the package, tests,
benchmarks, scripts) with `tokenize`, so a suppression spelled inside a string
is not one. A `# type: ignore` names its error codes in brackets and is followed
by `# reason`; a `# noqa` names its rule codes and a reason. `fmt: skip` and
`fmt: off` have no codes: a `fmt: skip` is followed by `# reason` or stands under
a comment line that names it (above the statement it keeps), and a `fmt: off`
stands under a comment line.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ("genvm_policy", "tests", "benchmarks", "scripts")

TYPE_IGNORE = re.compile(r"type: ignore(?P<codes>\[[a-z-]+(, ?[a-z-]+)*\])?(?P<rest>.*)")
NOQA = re.compile(r"noqa(?P<codes>: ?[A-Z]+[0-9]+(, ?[A-Z]+[0-9]+)*)?(?P<rest>.*)")
REASON = re.compile(r"\s+(#\s*)?\S")


def python_files() -> list[Path]:
    """Every Python file of the trees above, and setup.py."""
    found = [ROOT / "setup.py"]
    for tree in TREES:
        found += sorted(p for p in (ROOT / tree).rglob("*.py") if "__pycache__" not in p.parts)
    return found


def findings(source: str, name: str = "<snippet>") -> list[str]:
    """The suppressions of `source` without a code or a reason, as `name:line: what`."""
    lines = source.splitlines()
    # The first line of the statement that ends on each line: a `fmt: skip` keeps it.
    starts: dict[int, int] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt) and node.end_lineno is not None:
            starts[node.end_lineno] = min(starts.get(node.end_lineno, node.lineno), node.lineno)
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        text = tok.string.lstrip("#").strip()
        above = lines[line - 2].strip() if line > 1 else ""
        what = None
        if text.startswith("type: ignore"):
            m = TYPE_IGNORE.match(text)
            assert m is not None
            if not m["codes"]:
                what = "type: ignore without an error code"
            elif not REASON.match(m["rest"]):
                what = "type: ignore without a reason"
        elif text.startswith("noqa"):
            m = NOQA.match(text)
            assert m is not None
            if not m["codes"]:
                what = "noqa without a rule code"
            elif not REASON.match(m["rest"]):
                what = "noqa without a reason"
        elif text.startswith("fmt: skip"):
            head = starts.get(line, line)
            over = lines[head - 2].strip() if head > 1 else ""
            explained = over.startswith("#") and "fmt: skip" in over
            if not REASON.match(text[len("fmt: skip") :]) and not explained:
                what = "fmt: skip without a reason"
        elif text.startswith("fmt: off") and not above.startswith("#"):
            what = "fmt: off without a comment above"
        if what is not None:
            found.append(f"{name}:{line}: {what}")
    return found


@pytest.mark.parametrize("path", python_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_suppression_says_why(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    assert findings(path.read_text(encoding="utf-8"), rel) == []


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("x = f()  # type: ignore\n", "without an error code"),
        ("x = f()  # type: ignore[arg-type]\n", "type: ignore without a reason"),
        ("f = lambda: 0  # noqa\n", "without a rule code"),
        ("f = lambda: 0  # noqa: E731\n", "noqa without a reason"),
        ("X = [\n    1,  2,\n]  # fmt: skip\n", "fmt: skip without a reason"),
        ("x = 1\n# fmt: off\nX = [1,  2]\n# fmt: on\n", "fmt: off without a comment above"),
    ],
)
def test_a_bare_suppression_is_found(snippet: str, finding: str) -> None:
    found = findings(snippet)
    assert len(found) == 1 and finding in found[0]


@pytest.mark.parametrize(
    "snippet",
    [
        "x = f()  # type: ignore[arg-type]  # bad on purpose\n",
        "x = f()  # type: ignore[index, call-overload]  # the shape is checked above\n",
        "f = lambda: 0  # noqa: E731 (a one-line callback)\n",
        "X = [\n    1,  2,\n]  # fmt: skip  # a table laid out by hand in rows\n",
        "# A table laid out by hand: `fmt: skip` keeps it.\nX = [1,  2]  # fmt: skip\n",
        "# A table laid out by hand: `fmt: skip` keeps it.\nX = [\n    1,  2]  # fmt: skip\n",
        "# One row per entry, laid out by hand:\n# fmt: off\nX = [1,  2]\n# fmt: on\n",
        "x = '# type: ignore'\n",
    ],
)
def test_a_suppression_with_its_reason_passes(snippet: str) -> None:
    assert findings(snippet) == []
