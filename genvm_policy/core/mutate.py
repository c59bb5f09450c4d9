"""Mutate: the parameters of one attempt on one route (§8.4).

Spec: docs/SPEC.md §8.4 (Mutate), §9 rule 2. `genvm_policy.core.decision` computes
an attempt's parameters on demand through `mutate`.

Rules:
1. Mutate runs per attempt `a` (0-based) with the route in scope, the
   mutations in order; `when` asks the predicate of `genvm_policy.core.predicate`.
2. Every jitter of attempt `a` draws from `mutate/jitter/<a>`; the provider
   seed of attempt `a` is the `a`-th `u53()` of the stream `attempt/seed`,
   read straight from block `a // 4`, so attempt `a` costs the same whether
   or not the attempts before it were computed.
3. `use_max_completion_tokens` is always the route's own flag, as GenVM's stock
   scripts send it: a policy cannot turn it off, and the mutation of that name
   (kept so version-1 policies stay admitted) sets what is already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.core.interpreter import Bound
from genvm_policy.core.policy import PARAMS, Term
from genvm_policy.core.predicate import holds
from genvm_policy.core.prng import Stream, stream_block
from genvm_policy.core.request import Request

__all__ = ["Params", "mutate", "provider_seed"]


@dataclass(frozen=True)
class Params:
    """The exact parameters of one attempt; every number an integer."""

    temperature: int
    max_tokens: int
    seed: int
    use_max_completion_tokens: bool
    text_filters: tuple[str, ...]

    def value(self) -> dict[str, Any]:
        """The canonical map of these parameters (§9)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "use_max_completion_tokens": self.use_max_completion_tokens,
            "text_filters": list(self.text_filters),
        }


def provider_seed(seed: bytes, attempt: int) -> int:
    """The `attempt`-th `u53()` of the stream `attempt/seed` (rule 2): four per block."""
    block = stream_block(seed, "attempt/seed", attempt // 4)
    at = attempt % 4 * 8
    return int.from_bytes(block[at : at + 8], "big") >> 11


def mutate(b: Bound, i: int, attempt: int, req: Request, seed: bytes) -> Params:
    """Apply the mutate slot for attempt `attempt` on route `i` (rules 1, 2).

    A pure function of its arguments: any attempt can be computed alone.
    """
    state: dict[str, Any] = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "use_max_completion_tokens": bool(b.routes[i].max_completion_tokens),
        "text_filters": (),
    }
    streams: dict[str, Stream] = {}
    _apply(list(b.policy.mutate), b, i, attempt, req, seed, state, streams)
    return Params(
        state["temperature"],
        state["max_tokens"],
        provider_seed(seed, attempt),
        state["use_max_completion_tokens"],
        state["text_filters"],
    )


def _apply(
    terms: list[Term],
    b: Bound,
    i: int,
    attempt: int,
    req: Request,
    seed: bytes,
    state: dict[str, Any],
    streams: dict[str, Stream],
) -> None:
    for term in terms:
        op = term[0]
        if op == "set":
            state[term[1]] = term[2]
        elif op == "clamp":
            state[term[1]] = max(term[2], min(term[3], state[term[1]]))
        elif op == "jitter":
            # One stream per attempt, opened on first use: the attempt's jitters
            # share its blocks in the order they apply.
            param = term[1]
            if "jitter" not in streams:
                streams["jitter"] = Stream(seed, f"mutate/jitter/{attempt}")
            step = term[2] + streams["jitter"].below(term[3] - term[2] + 1)
            _, lo, hi = PARAMS[param]
            state[param] = max(lo, min(hi, state[param] + step))
        elif op == "text_filters":
            state["text_filters"] = tuple(term[1])
        elif op == "use_max_completion_tokens":
            pass  # rule 3: the route's flag is already the state
        elif holds(term[1], b, i, req):  # "when"
            _apply(list(term[2:]), b, i, attempt, req, seed, state, streams)
