"""Built-in policies, named so the CLI and the hook can use them without a file.

Spec: docs/SPEC.md §9.3 (The stock-greybox policy).

Rules:
1. `stock-greybox` reproduces the node's stock greybox behaviour: the
   `meta.greybox` chain (text, or image when the request has images, lower
   position first, ties by provider then model bytes), the capability filter
   every policy has, next route on an overloaded status and stop on anything
   else (the default plan), GenVM's own prompt text filters and the route's
   `use_max_completion_tokens`.
2. Built-ins are authored documents admitted like any file, so they have
   ordinary identities.
"""

from __future__ import annotations

from genvm_policy.admission import admit
from genvm_policy.errors import PolicyError
from genvm_policy.policy import Policy

__all__ = ["BUILTINS", "builtin"]

BUILTINS: dict[str, dict[str, object]] = {
    "stock-greybox": {
        "select": "stock",
        "mutate": [
            {"text_filters": ["NFKC", "RmZeroWidth", "NormalizeWS"]},
            "use_max_completion_tokens",
        ],
        "on_failure": {"overloaded": "next"},
        "max_attempts": 8,
    },
}


def builtin(name: str) -> Policy:
    """The admitted built-in policy `name`; `POL_VALUE` when there is none."""
    if name not in BUILTINS:
        raise PolicyError(
            "POL_VALUE",
            (),
            f"no built-in policy `{name}`",
            "built-ins: " + ", ".join(sorted(BUILTINS)),
        )
    return admit(BUILTINS[name])
