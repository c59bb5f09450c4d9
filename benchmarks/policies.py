"""The four benchmark policies, admitted the way an operator's policy is.

`stock-greybox` is the built-in (docs/SPEC.md §9.3); the three others are
authored policy files beside this module (`policies/*.yaml`), loaded through
the same loader as the CLI and admitted against the catalog they run on.
"""

from __future__ import annotations

from pathlib import Path

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy
from genvm_policy.loaders.sources import load_document

__all__ = ["COSTLIEST", "NAMES", "STOCK", "costliest", "load"]

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


COSTLIEST = "costliest-admitted"
"""The row of the policy nearest the cost bound (docs/SPEC.md §7.5) admission accepts."""


def _costly(k: int) -> dict[str, object]:
    # The term the cost model over-estimates least (benchmarks/README.md, "Cost
    # bound"): `fits_context`, a closure call and a division per route; every route
    # fits, so each comparison runs over the whole catalog.
    return {
        "filter": [{"fits_context": {"bytes_per_token": 4, "reserve": j}} for j in range(k)],
        "max_attempts": 16,
    }


def costliest(catalog: Catalog) -> dict[str, object]:
    """The `_costly` document with the most comparisons admission accepts against `catalog`."""
    lo, hi = 0, 256
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            admit(_costly(mid), catalog)
            lo = mid
        except PolicyError:
            hi = mid - 1
    return _costly(lo)
