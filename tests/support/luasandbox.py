"""Lua states stripped to GenVM's sandbox, for tests: re-exported from the package.

The builder lives in `genvm_policy.node.runtimes` (the CLI's `lua53`/`lua54`
runtimes use it too); existing tests keep importing it from here.
"""

from __future__ import annotations

from genvm_policy.node.runtimes import DISPATCH, ROOT, VERSIONS, new_state

__all__ = ["DISPATCH", "ROOT", "VERSIONS", "new_state"]
