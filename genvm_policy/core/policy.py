"""Policy terms: the op registry, the canonical normal form and the identity.

Spec: docs/SPEC.md §7 (Policy language), §7.3 (Normal form).

Rules:
1. A term is an array `[op, arg, …]`; `OPS` below is the whole grammar: each
   op's sort, its argument kinds in order, and the spec section of its meaning.
2. A policy's canonical value is the map `{"version", "filter", "score",
   "select", "mutate", "on_failure", "max_attempts"}`; every slot is present.
3. Normalisation applies the algebra's equations so equivalent spellings meet:
   `all`/`any`/`sum`/`min`/`max` are flattened, deduplicated (not `sum`) and
   sorted by canonical bytes; identities are dropped (`true` in `all`, `false`
   in `any`, a zero constant in `sum`); absorbing elements win; constants in a
   `sum` are folded into one; a one-child group is its child, an empty one its
   identity; `not not p` is `p`; set-valued arguments (names, routes) are
   sorted by bytes and deduplicated.
4. Identity = `identity("policy", policy_value(p))` (§3).
5. Every text and map key of an authored policy is in NFC (§7.4): `check_nfc`
   raises `POL_NFC` at the path of the first one that is not, before admission
   reads anything, so the canonical encoding never meets non-NFC text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import Path, PolicyError, quote
from genvm_policy.core.identity import identity
from genvm_policy.core.numeric import add

__all__ = [
    "BUILTIN_FIELDS",
    "CLASSES",
    "CLASS_GROUPS",
    "COMPARISONS",
    "FITS_CONTEXT",
    "LIMITS",
    "OPS",
    "PARAMS",
    "REQUEST_FACTS",
    "TEXT_FILTERS",
    "VERSION",
    "Policy",
    "Term",
    "check_nfc",
    "normalize",
    "policy_from_value",
    "policy_identity",
    "policy_value",
]

Term = list[Any]

# op -> (sort, argument kinds, spec section).  Kinds: P predicate, S scorer,
# L selector, M mutation, A action; a trailing `*` means "the rest, one or
# more"; `text`, `texts` (sorted set), `routes` (sorted set of [provider,
# model]), `rvals` (sorted [provider, model, int]), `int`, `dec` ([mantissa,
# exponent] decimal), `tiers` ([[P, L], …] in order), `param`, `filters`,
# `cmp` (a comparison name of COMPARISONS), `fact` (a name of REQUEST_FACTS).
OPS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # predicates (§8.1)
    "true": ("P", (), "§8.1"),
    "false": ("P", (), "§8.1"),
    "needs": ("P", (), "§8.1"),
    "json": ("P", (), "§8.1"),
    "image": ("P", (), "§8.1"),
    "has_tee": ("P", (), "§8.1"),
    "no_log": ("P", (), "§8.1"),
    "provider_in": ("P", ("texts",), "§8.1"),
    "model_in": ("P", ("texts",), "§8.1"),
    "route_in": ("P", ("routes",), "§8.1"),
    "family_in": ("P", ("texts",), "§8.1"),
    "tier_at_least": ("P", ("text",), "§8.1"),
    "has": ("P", ("text",), "§8.1"),
    "lt": ("P", ("text", "dec"), "§8.1"),
    "le": ("P", ("text", "dec"), "§8.1"),
    "eq": ("P", ("text", "dec"), "§8.1"),
    "ge": ("P", ("text", "dec"), "§8.1"),
    "gt": ("P", ("text", "dec"), "§8.1"),
    "format_in": ("P", ("texts",), "§8.1"),
    "entry_in": ("P", ("texts",), "§8.1"),
    "has_images": ("P", (), "§8.1"),
    "role_in": ("P", ("texts",), "§8.1"),
    "tier_in": ("P", ("texts",), "§8.1"),
    "request": ("P", ("cmp", "fact", "int"), "§8.1"),
    "fits_context": ("P", ("int", "int"), "§8.1"),
    "all": ("P", ("P*",), "§8.1"),
    "any": ("P", ("P*",), "§8.1"),
    "not": ("P", ("P",), "§8.1"),
    # scorers (§8.2)
    "const": ("S", ("int",), "§8.2"),
    "field": ("S", ("text", "dec"), "§8.2"),
    "route_value": ("S", ("rvals", "int"), "§8.2"),
    "neg": ("S", ("S",), "§8.2"),
    "scale": ("S", ("int", "int", "S"), "§8.2"),
    "sum": ("S", ("S*",), "§8.2"),
    "min": ("S", ("S*",), "§8.2"),
    "max": ("S", ("S*",), "§8.2"),
    "gate": ("S", ("P", "S"), "§8.2"),
    "normalize": ("S", ("int", "S"), "§8.2"),
    # selectors (§8.3)
    "argmax": ("L", (), "§8.3"),
    "chain": ("L", ("routes_ordered",), "§8.3"),
    "greybox": ("L", (), "§8.3"),
    "stock": ("L", (), "§8.3"),
    "top_k": ("L", ("int", "L"), "§8.3"),
    "weighted": ("L", ("S",), "§8.3"),
    "sample": ("L", ("int",), "§8.3"),
    "tiers": ("L", ("tiers",), "§8.3"),
    # mutations (§8.4)
    "set": ("M", ("param", "int"), "§8.4"),
    "clamp": ("M", ("param", "int", "int"), "§8.4"),
    "jitter": ("M", ("param", "int", "int"), "§8.4"),
    "text_filters": ("M", ("filters",), "§8.4"),
    "use_max_completion_tokens": ("M", (), "§8.4"),
    "when": ("M", ("P", "M*"), "§8.4"),
    # failure actions (§10)
    "next": ("A", (), "§10"),
    "next_same_family": ("A", (), "§10"),
    "retry": ("A", ("int", "int", "A"), "§10"),
    "skip_provider": ("A", (), "§10"),
    "abort": ("A", (), "§10"),
}

# Admission limits (§7.4).  name -> bound.
LIMITS: dict[str, int] = {
    "depth": 16,  # nesting of terms
    "nodes": 1024,  # terms in the whole policy
    "list": 256,  # items in any one list
    # Hard cap on provider calls per LLM call; small because the node hashes
    # the ordered routes into every decision identity (§9).
    "max_attempts": 16,
    "retry_attempts": 5,  # extra calls one retry action may make
    "backoff_ms": 60_000,  # longest pause before a retry
    "factor": 1_000_000,  # |k| and d of `scale`; R of `normalize`
    "spread": 1 << 20,  # `sample` spread
    "top_k": 64,
}

# The error classes of §10, in their canonical order.
CLASSES: tuple[str, ...] = (
    "rate_limited",
    "unavailable",
    "timeout",
    "auth",
    "bad_request",
    "not_found",
    "context_overflow",
    "content_filter",
    "server",
    "network",
    "non_user",
    "unknown",
)
# Names a failure plan may use for several classes at once (§10.1): a version-1
# policy's `overloaded` keeps its meaning, the three classes it was split into.
CLASS_GROUPS: dict[str, tuple[str, ...]] = {
    "overloaded": ("rate_limited", "unavailable", "timeout"),
}
# The language version a canonical value carries (§7.3); documents may say 1 or 2.
VERSION = 2

# Numeric route fields every catalog has: name -> (scale, lowest, highest).
# Operator-declared fields (the catalog's `fields`) add to these.  The bounds
# are the language's, narrower than the catalog's: they keep interval analysis
# useful (a price up to 10^6 USD per million tokens, a context up to 2^32
# tokens); `bind` rejects a route whose value lies outside them.
BUILTIN_FIELDS: dict[str, tuple[int, int, int]] = {
    "price_in": (6, 0, 10**12),
    "price_out": (6, 0, 10**12),
    "context": (0, 0, 2**32),
    "priority": (0, -(2**31), 2**31),
    "greybox_text": (0, 0, 2**31),
    "greybox_image": (0, 0, 2**31),
}

# Call parameters a mutation may touch: name -> (scale, lowest, highest).
PARAMS: dict[str, tuple[int, int, int]] = {
    "temperature": (3, 0, 2000),
    "max_tokens": (0, 1, 2**32 - 1),
    # Unset unless a `set` gives it; sent only where the GenVM line can (SPEC §8.4).
    "top_p": (3, 0, 1000),
}

# Text filters the host applies, as GenVM's `filter_text` names them.
TEXT_FILTERS: tuple[str, ...] = ("NFC", "NFKC", "NormalizeWS", "RmZeroWidth")

COMMUTATIVE = ("all", "any", "sum", "min", "max")
SET_ARGS = (
    "provider_in",
    "model_in",
    "family_in",
    "format_in",
    "entry_in",
    "role_in",
    "tier_in",
    "route_in",
)
COMPARISONS = ("lt", "le", "eq", "ge", "gt")
# Numeric request facts a `request` comparison reads (§6): name -> (lowest, highest).
# They are written like route fields (`{le: {prompt_bytes: 40000}}`), so an
# operator may not declare a field of these names.
REQUEST_FACTS: dict[str, tuple[int, int]] = {
    "prompt_bytes": (0, 2**32 - 1),
    "images": (0, 16),
    "max_tokens": (1, 2**32 - 1),
}
# `fits_context {bytes_per_token, reserve}` bounds: bytes per token 1 … 64, a
# reserve of tokens up to 2^32, so the sum it compares stays below 2^35.
FITS_CONTEXT = {"bytes_per_token": (1, 64), "reserve": (0, 2**32)}


@dataclass(frozen=True)
class Policy:
    """An admitted policy in normal form (§7.3); `value` is its canonical value."""

    filter: Term
    score: Term
    select: Term
    mutate: tuple[Term, ...]
    on_failure: tuple[tuple[str, Term], ...]  # every class of CLASSES, in that order
    max_attempts: int

    @property
    def value(self) -> dict[str, Any]:
        """Shorthand for `policy_value(self)`."""
        return policy_value(self)

    @cached_property
    def identity(self) -> str:
        """`policy_identity(self)`, computed once per admitted policy."""
        return identity("policy", policy_value(self))


def policy_value(policy: Policy) -> dict[str, Any]:
    """The canonical value of a policy (rule 2)."""
    return {
        "version": VERSION,
        "filter": policy.filter,
        "score": policy.score,
        "select": policy.select,
        "mutate": list(policy.mutate),
        "on_failure": dict(policy.on_failure),
        "max_attempts": policy.max_attempts,
    }


def policy_identity(policy: Policy) -> str:
    """`identity("policy", policy_value(p))` (rule 4)."""
    return policy.identity


def _key(term: Any) -> bytes:
    return encode(term)


def _sorted_unique(items: list[Any]) -> list[Any]:
    seen: dict[bytes, Any] = {}
    for item in items:
        seen[_key(item)] = item
    return [seen[k] for k in sorted(seen)]


def normalize(term: Term) -> Term:
    """Apply the equations of rule 3 bottom-up; the result is a fixed point."""
    op = term[0]
    if op in SET_ARGS:
        items = _sorted_unique(list(term[1]))
        return ["false"] if not items else [op, items]
    if op == "route_value":
        # One weight per route; admission rejects duplicates, so sorting is enough.
        return [op, sorted(term[1], key=_key), term[2]]
    if op == "not":
        inner = normalize(term[1])
        if inner[0] == "not":
            return list(inner[1])
        if inner[0] in ("true", "false"):
            return ["false" if inner[0] == "true" else "true"]
        return ["not", inner]
    if op in COMMUTATIVE:
        return _group(op, [normalize(child) for child in term[1:]])
    if op in ("neg", "gate", "normalize", "scale", "top_k", "weighted"):
        return [*term[:-1], normalize(term[-1])]
    if op == "tiers":
        return [op, [[normalize(p), normalize(sel)] for p, sel in term[1]]]
    if op == "when":
        return [op, normalize(term[1]), *(normalize(m) for m in term[2:])]
    if op == "retry":
        return [op, term[1], term[2], normalize(term[3])]
    return list(term)


def _group(op: str, children: list[Term]) -> Term:
    flat: list[Term] = []
    for child in children:
        flat.extend(child[1:] if child[0] == op else [child])
    if op in ("all", "any"):
        unit, zero = ("true", "false") if op == "all" else ("false", "true")
        if any(c[0] == zero for c in flat):
            return [zero]
        flat = [c for c in flat if c[0] != unit]
        flat = _sorted_unique(flat)
        if not flat:
            return [unit]
    elif op == "sum":
        total = 0
        rest: list[Term] = []
        for c in flat:
            if c[0] == "const":
                total = add(total, c[1])
            else:
                rest.append(c)
        flat = sorted(rest, key=_key)
        if total != 0 or not flat:
            flat = sorted([*flat, ["const", total]], key=_key)
    else:
        flat = _sorted_unique(flat)
    return flat[0] if len(flat) == 1 else [op, *flat]


def check_nfc(document: object) -> None:
    """Raise `POL_NFC` at the first text or key not in NFC (rule 5, SPEC §7.4).

    The walk is depth first, map entries in key bytes order, so the path is the
    same whatever order the file wrote them in; it uses a stack, not recursion,
    so a deep document cannot exhaust Python's stack here.
    """
    stack: list[tuple[Path, object]] = [((), document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            # Keys that are not text are left to admission, which refuses them.
            items = [(k, v) for k, v in node.items() if isinstance(k, str)]
            items.sort(key=lambda item: item[0].encode("utf-8", "surrogatepass"), reverse=True)
            for key, value in items:
                # The key is checked at its entry's path, before the entry's value.
                stack += [((*path, key), value), ((*path, key), key)]
        elif isinstance(node, list):
            stack.extend(((*path, i), item) for i, item in reversed(list(enumerate(node))))
        if isinstance(node, str) and not unicodedata.is_normalized("NFC", node):
            raise PolicyError(
                "POL_NFC",
                path,
                f"text {quote(node, 64)} is not in unicode nfc",
                "save the file in nfc (composed) form",
            )


# -- reading the canonical value back ----------------------------------------------


def _value_error(path: tuple[str | int, ...], message: str) -> PolicyError:
    return PolicyError("HOOK_VALUE", path, message)


def _map(value: object, keys: tuple[str, ...], path: tuple[str | int, ...]) -> dict[str, Any]:
    if not isinstance(value, dict) or sorted(value) != sorted(keys):
        raise _value_error(path, "expected a map with the keys " + ", ".join(sorted(keys)))
    return value


def policy_from_value(value: Value) -> Policy:
    """The policy whose canonical value (SPEC §7.3) is `value`; `HOOK_VALUE` otherwise."""
    keys = ("version", "filter", "score", "select", "mutate", "on_failure", "max_attempts")
    top = _map(value, keys, ("policy",))
    plan = _map(top["on_failure"], CLASSES, ("policy", "on_failure"))
    if not isinstance(top["mutate"], list):
        raise _value_error(("policy", "mutate"), "expected a list of mutations")
    slots: list[tuple[tuple[str | int, ...], object, str]] = [
        (("policy", "filter"), top["filter"], "P"),
        (("policy", "score"), top["score"], "S"),
        (("policy", "select"), top["select"], "L"),
        *((("policy", "mutate", n), m, "M") for n, m in enumerate(top["mutate"])),
        *((("policy", "on_failure", c), plan[c], "A") for c in CLASSES),
    ]
    for path, term, sort in slots:
        op = term[0] if isinstance(term, list) and term else None
        if not isinstance(op, str) or OPS.get(op, ("",))[0] != sort:
            raise _value_error(path, f"expected a term of sort {quote(sort)}")
    cap = top["max_attempts"]
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= LIMITS["max_attempts"]:
        raise _value_error(("policy", "max_attempts"), "expected an integer within the limit")
    policy = Policy(
        top["filter"],
        top["score"],
        top["select"],
        tuple(top["mutate"]),
        tuple((c, plan[c]) for c in CLASSES),
        top["max_attempts"],
    )
    if policy_value(policy) != value:
        raise _value_error(("policy",), "the policy value is not in canonical form")
    return policy
