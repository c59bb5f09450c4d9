"""Where the GenVM-shaped fixture configs live.

The shared fixtures beside the repository (`../shared/fixtures/genvm/`) are the
ones to test against when they are there; `tests/data/genvm/` holds copies of
them so a clone without that folder still runs every test.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "fixtures" / "genvm"
GENVM_FIXTURES = SHARED if SHARED.is_dir() else ROOT / "tests" / "data" / "genvm"
