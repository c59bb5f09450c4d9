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


_HINT = "compile the policy again with `genvm-policy compile`"
_SORT_NAME = {"P": "predicate", "S": "scorer", "L": "selector", "M": "mutation", "A": "action"}
_TERM_ARGS = frozenset(_SORT_NAME)
_PAIRS = {"routes": 2, "routes_ordered": 2, "rvals": 3}


def _bad(code: str, path: Path, message: str) -> PolicyError:
    return PolicyError(code, path, message, _HINT)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _texts(v: object, path: Path, n: int = 0) -> list[Any]:
    """A list of text, or with `n`, of `n`-item rows: two texts, then an integer."""
    if not isinstance(v, list):
        raise _bad("POL_TYPE", path, "expected a list")
    for i, row in enumerate(v):
        if not n:
            if not isinstance(row, str):
                raise _bad("POL_TYPE", (*path, i), "expected text")
            continue
        if not isinstance(row, list) or len(row) != n:
            raise _bad("POL_TYPE", (*path, i), f"expected a list of {n} items")
        for j in (0, 1):
            if not isinstance(row[j], str):
                raise _bad("POL_TYPE", (*path, i, j), "expected text")
        if n == 3 and not _is_int(row[2]):
            raise _bad("POL_TYPE", (*path, i, 2), "expected an integer")
    return v


def _check_arg(k: str, v: object, path: Path, depth: int) -> None:
    """One argument of kind `k` (the kinds of `OPS`)."""
    if k in _TERM_ARGS:
        _check_term(v, k, path, depth + 1)
    elif k == "text" and not isinstance(v, str):
        raise _bad("POL_TYPE", path, "expected text")
    elif k in ("texts", "filters"):
        names = _texts(v, path)
        for i, name in enumerate(names if k == "filters" else ()):
            if name not in TEXT_FILTERS:
                raise _bad("POL_VALUE", (*path, i), f"{quote(name)} is not a text filter")
    elif k in _PAIRS:
        _texts(v, path, _PAIRS[k])
    elif k == "int" and not _is_int(v):
        raise _bad("POL_TYPE", path, "expected an integer")
    elif k == "dec" and not (
        isinstance(v, list) and len(v) == 2 and _is_int(v[0]) and _is_int(v[1])
        and -9 <= v[1] <= 0
    ):  # fmt: skip  # one condition, laid out by hand
        raise _bad("POL_TYPE", path, "expected a decimal [mantissa, exponent]")
    elif k in ("cmp", "fact", "param"):
        allowed = {"cmp": COMPARISONS, "fact": REQUEST_FACTS, "param": PARAMS}[k]
        if not isinstance(v, str) or v not in allowed:
            what = {"cmp": "comparison", "fact": "request fact", "param": "call parameter"}[k]
            raise _bad("POL_VALUE", path, f"{quote(v, 64)} is not a {what}")
    elif k == "tiers":
        if not isinstance(v, list):
            raise _bad("POL_TYPE", path, "expected a list")
        for i, row in enumerate(v):
            if not isinstance(row, list) or len(row) != 2:
                raise _bad("POL_TYPE", (*path, i), "expected a [filter, select] pair")
            _check_term(row[0], "P", (*path, i, 0), depth + 1)
            _check_term(row[1], "L", (*path, i, 1), depth + 1)


def _check_term(t: object, sort: str, path: Path, depth: int) -> None:
    """`t` is a term of `sort`, `depth` deep: its op, sort, arity, then each argument."""
    if depth > LIMITS["depth"]:
        raise _bad("POL_LIMIT", path, f"the term is nested more than {LIMITS['depth']} deep")
    if not isinstance(t, list) or not t or not isinstance(t[0], str):
        raise _bad("POL_TYPE", path, f"expected a {_SORT_NAME[sort]} term")
    if t[0] not in OPS:
        raise _bad("POL_OP", (*path, 0), f"unknown op {quote(t[0], 64)}")
    op_sort, kinds, _ = OPS[t[0]]
    if op_sort != sort:
        raise _bad(
            "POL_SORT", path, f"`{t[0]}` is a {_SORT_NAME[op_sort]}, not a {_SORT_NAME[sort]}"
        )
    rest = bool(kinds) and kinds[-1].endswith("*")
    n = len(t) - 1
    if (rest and n < len(kinds)) or (not rest and n != len(kinds)):
        more = " or more" if rest else ""
        raise _bad("POL_ARITY", path, f"`{t[0]}` takes {len(kinds)}{more} arguments, not {n}")
    for i, arg in enumerate(t[1:], 1):
        _check_arg(kinds[min(i, len(kinds)) - 1].rstrip("*"), arg, (*path, i), depth)


def policy_from_value(value: Value) -> Policy:
    """The policy whose canonical value (SPEC §7.3) is `value`, every term checked.

    The checks of SPEC "Lua runtime notes" 2, in the Lua runtime's order, so both
    report the same `(code, path)`: the top-level keys (`POL_TYPE`, `POL_KEY`,
    the byte-least unknown key first), `version` (`POL_VALUE`), the filter,
    score and select terms, the mutations, the failure plan in `CLASSES`
    order, then `max_attempts` (`POL_LIMIT`). Normal form is admission's.
    """
    keys = ("version", "filter", "score", "select", "mutate", "on_failure", "max_attempts")
    if not isinstance(value, dict):
        raise _bad("POL_TYPE", (), "a policy must be a map")
    unknown = sorted((k for k in value if k not in keys), key=lambda k: str(k).encode())
    if unknown:
        raise _bad("POL_KEY", (str(unknown[0]),), f"unknown policy key {quote(unknown[0], 64)}")
    for key in keys:
        if key not in value:
            raise _bad("POL_KEY", (key,), f"the policy has no `{key}`")
    if not _is_int(value["version"]) or value["version"] != VERSION:
        raise _bad("POL_VALUE", ("version",), f"the policy version must be `{VERSION}`")
    for slot, sort in (("filter", "P"), ("score", "S"), ("select", "L")):
        _check_term(value[slot], sort, (slot,), 1)
    mutations = value["mutate"]
    if not isinstance(mutations, list):
        raise _bad("POL_TYPE", ("mutate",), "expected a list of mutations")
    for n, m in enumerate(mutations):
        _check_term(m, "M", ("mutate", n), 1)
    plan = value["on_failure"]
    if not isinstance(plan, dict):
        raise _bad("POL_TYPE", ("on_failure",), "expected a map of error classes")
    for c in CLASSES:
        if c not in plan:
            raise _bad("POL_KEY", ("on_failure", c), f"the failure plan has no `{c}`")
        _check_term(plan[c], "A", ("on_failure", c), 1)
    if len(plan) != len(CLASSES):
        raise _bad("POL_KEY", ("on_failure",), "the failure plan names an unknown class")
    cap = value["max_attempts"]
    if not _is_int(cap) or not 1 <= cap <= LIMITS["max_attempts"]:
        raise _bad(
            "POL_LIMIT",
            ("max_attempts",),
            f"`max_attempts` must be an integer in 1 … {LIMITS['max_attempts']}",
        )
    return Policy(
        value["filter"],
        value["score"],
        value["select"],
        tuple(mutations),
        tuple((c, plan[c]) for c in CLASSES),
        cap,
    )
