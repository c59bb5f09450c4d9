"""Built-in policies, named so the CLI and the hook can use them without a file.

Spec: docs/SPEC.md §9.3 (The stock-greybox policy).

Rules:
1. `stock-greybox` reproduces the node's stock greybox behaviour: the
   `meta.greybox` chain (text, or image when the request has images, lower
   position first, ties by provider then model bytes), the capability filter
   every policy has, next route on an overloaded status and stop on anything
   else (the default plan); no mutation, so every request carries exactly
   the text and the model flags of the line's stock script (SPEC §8.4).
2. Built-ins are authored documents admitted like any file, so they have
   ordinary identities.
"""

from __future__ import annotations

from genvm_policy.authoring.admission import admit
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy

__all__ = ["BUILTINS", "builtin"]

BUILTINS: dict[str, dict[str, object]] = {
    "stock-greybox": {
        "select": "stock",
        # No mutation: the hook sends stock's text (the line's own prompt filters, template
        # variables as given) and each model's own `use_max_completion_tokens` (SPEC §8.4).
        "mutate": [],
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
