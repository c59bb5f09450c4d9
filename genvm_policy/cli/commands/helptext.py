"""The shape of every sub-command's `--help`: a description that says what it does, then examples.

Shell module of the CLI. Each `add_parser` call takes `**teach(description,
example, ...)`, so `--help` reads the same everywhere: the description wrapped
to the terminal's usual width, then an `examples:` block of one or two command
lines printed as written.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

__all__ = ["teach"]

_WIDTH = 79


def teach(description: str, *examples: str) -> dict[str, Any]:
    """Keyword arguments for `add_parser`: the description and the examples, laid out."""
    paragraphs = [textwrap.fill(" ".join(p.split()), _WIDTH) for p in description.split("\n\n")]
    lines = ["examples:", *(f"  {example}" for example in examples)]
    return {
        "description": "\n\n".join(paragraphs),
        "epilog": "\n".join(lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
