"""The registry of vector kinds: one row per kind, the table the docs list.

Spec: docs/VECTORS.md ("Kinds"). Adding a kind takes one row here, one
generator (case inputs), one reference runner (`run.RUNNERS`) and, when the
Lua runtime implements its section, one Lua runner in `dispatch/vectors/runner.lua`.

Rules:
1. `runtimes` names the runtime families that must replay the kind:
   `python` always; `lua` when the Lua runtime implements the section. A kind
   without `lua` pins a rule the spec gives to the reference alone (decimal
   text is parsed only at admission, SPEC §1.4).
2. The order of `KINDS` is the order files are generated and verified in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genvm_policy.vectors.generate import Generated, gen_cbor, gen_decimal, gen_numeric
from genvm_policy.vectors.generate_admission import gen_admission
from genvm_policy.vectors.generate_catalog import gen_catalog, gen_family, gen_request
from genvm_policy.vectors.generate_flow import gen_cascade, gen_decision, gen_mutate
from genvm_policy.vectors.generate_hash import (
    gen_hmac,
    gen_identity,
    gen_prng,
    gen_seed,
    gen_sha256,
)
from genvm_policy.vectors.generate_policy import (
    gen_predicate,
    gen_scorer,
    gen_selector,
)

__all__ = ["KINDS", "Kind", "spec_sections"]


@dataclass(frozen=True)
class Kind:
    """One vector kind: its name, the SPEC section it pins, who replays it, its cases."""

    name: str
    spec: str
    runtimes: tuple[str, ...]
    generate: Callable[[], Generated]
    description: str


BOTH = ("python", "lua")

KINDS: tuple[Kind, ...] = (
    Kind("numeric", "§1.2", BOTH, gen_numeric,
         "checked add, sub, mul, neg, floordiv and check at and past ±MAX; host floats and text"),
    Kind("decimal", "§1.4", ("python",), gen_decimal,
         "decimal text to units at each scale, exactness, syntax and range rejections"),
    Kind("cbor", "§2", BOTH, gen_cbor,
         "canonical encodings and decodings; every encoder and decoder rejection with its path"),
    Kind("identity", "§3", BOTH, gen_identity,
         "identities of every kind, unknown kinds, identity text parsing"),
    Kind("sha256", "§4", BOTH, gen_sha256, "SHA-256 of FIPS examples and lengths 0 … 130"),
    Kind("hmac", "§4", BOTH, gen_hmac, "HMAC-SHA256 of RFC 4231 and keys around the block size"),
    Kind("prng", "§4.4", BOTH, gen_prng,
         "stream bytes, u32/u53 and bounded draws, many labels; key, label, bound, index errors"),
    Kind("seed", "§4.2", BOTH, gen_seed,
         "call keys from salt and material, seed commitments, and their rejections"),
    Kind("family", "§5.8", BOTH, gen_family,
         "model ids to families: every step of the rule, routers, fixture routes, the table"),
    Kind("catalog", "§5.5", BOTH, gen_catalog,
         "catalog and GenVM view identities; views of `__llm.providers`; Lua decoder rejections"),
    Kind("request", "§6", BOTH, gen_request,
         "request values, defaults and identities; each limit at and past its edge"),
    Kind("admission", "§7.4", ("python",), gen_admission,
         "authored policies at and past every admission bound; normal forms and identities"),
    Kind("predicate", "§8.1", BOTH, gen_predicate,
         "every predicate op on routes × requests: survivors and first failing reasons"),
    Kind("scorer", "§8.2", BOTH, gen_scorer,
         "every scorer op over whole, one-route and empty populations; sums at the bound"),
    Kind("selector", "§8.3", BOTH, gen_selector,
         "each selector's failover order: byte-order ties, chains, top_k, weighted, sample, tiers"),
    Kind("mutate", "§8.4", BOTH, gen_mutate,
         "parameters per attempt and route for set, clamp, jitter, text filters, when"),
    Kind("cascade", "§10", BOTH, gen_cascade,
         "scripted provider outcomes to the calls made and the outcome, per class and action"),
    Kind("decision", "§9", BOTH, gen_decision,
         "end-to-end decision reports: example policies and stock-greybox on GenVM catalogs"),
)  # fmt: skip  # a table laid out by hand in rows


def spec_sections() -> dict[str, str]:
    """Each kind's name mapped to the SPEC section it pins."""
    return {kind.name: kind.spec for kind in KINDS}
