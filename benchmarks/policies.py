"""The four policies of issue 13, admitted the way an operator's policy is.

`stock-greybox` is the built-in (docs/SPEC.md §9.3); the three others are
authored policy files beside this module (`policies/*.yaml`), loaded through
the same loader as the CLI and admitted against the catalog they run on.
"""

from __future__ import annotations

from pathlib import Path

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.policy import Policy
from genvm_policy.loaders.sources import load_document

__all__ = ["NAMES", "STOCK", "load"]

STOCK = "stock-greybox"
"""The baseline every real policy is compared with."""

NAMES = (STOCK, "scored-argmax", "tiered-weighted", "sampled-jitter")
"""The policies, stock first."""

_DIR = Path(__file__).resolve().parent / "policies"


def load(name: str, catalog: Catalog) -> Policy:
    """The admitted policy `name`, bound-checked against `catalog` (§7.4)."""
    if name == STOCK:
        return builtin(STOCK)
    return admit(load_document(_DIR / f"{name}.yaml", what="policy"), catalog)
