"""genvm-policy: the deterministic greybox adapter for GenLayer validators.

The folders are the layers, each importing only those before it: `core` (the
pure evaluation of SPEC §0–§10), `authoring` (GenVM's config, the overlay and
the authored policy into core values), `loaders` (files), `vectors` (the golden
vectors), `node` (what a validator runs and its checks), `operator` (installing
on a node), `analysis` (diversity, display only) and `cli` (the commands).

`__all__` is the surface for embedding the reference: build a catalog, admit a
policy, bind it, make a request, decide, and run the cascade. Its names load on
first use, so `import genvm_policy.core.…` never pulls in the authoring layer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genvm_policy.authoring.admission import admit
    from genvm_policy.authoring.catalog_build import build_catalog
    from genvm_policy.core.cascade import run
    from genvm_policy.core.catalog import Catalog, catalog_from_value
    from genvm_policy.core.decision import decide
    from genvm_policy.core.errors import PolicyError
    from genvm_policy.core.interpreter import bind
    from genvm_policy.core.policy import Policy, policy_from_value
    from genvm_policy.core.request import Request, make_request, request_from_value

__all__ = [
    "SPEC_VERSION",
    "Catalog",
    "Policy",
    "PolicyError",
    "Request",
    "__version__",
    "admit",
    "bind",
    "build_catalog",
    "catalog_from_value",
    "decide",
    "make_request",
    "policy_from_value",
    "request_from_value",
    "run",
]

__version__ = "0.1.0"
SPEC_VERSION = 2

# public name -> the module that defines it
_SURFACE = {
    "admit": "authoring.admission",
    "build_catalog": "authoring.catalog_build",
    "run": "core.cascade",
    "Catalog": "core.catalog",
    "catalog_from_value": "core.catalog",
    "decide": "core.decision",
    "PolicyError": "core.errors",
    "bind": "core.interpreter",
    "Policy": "core.policy",
    "policy_from_value": "core.policy",
    "Request": "core.request",
    "make_request": "core.request",
    "request_from_value": "core.request",
}


def __getattr__(name: str) -> object:
    """Load a name of the public surface from its layer on first use."""
    if name not in _SURFACE:
        raise AttributeError(f"module 'genvm_policy' has no attribute {name!r}")
    return getattr(import_module(f"genvm_policy.{_SURFACE[name]}"), name)
