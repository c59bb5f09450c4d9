"""Mutate: the parameters of one attempt on one route (§8.4).

Spec: docs/SPEC.md §8.4 (Mutate), §9 rule 2. `genvm_policy.core.decision` computes
an attempt's parameters on demand through `mutate`.

Rules:
1. Mutate runs per attempt `a` (0-based) with the route in scope, the
   mutations in order; `when` asks the predicate of `genvm_policy.core.predicate`.
2. The jitters of one parameter read only that parameter's part of attempt
   `a`'s jitter block (block 0 of `mutate/jitter/<a>`, bytes `8·j … 8·j + 7`,
   `j` its `JITTER_PART`), then, if they need more, its own stream
   `mutate/jitter/<a>/<param>`: adding or removing one parameter's jitter never
   moves another's, and the common case (at most one jitter per parameter)
   costs one block per attempt, however many parameters jitter.
3. The provider seed of attempt `a` is the `a`-th `u53()` of the stream
   `attempt/seed`, read straight from block `a // 4`, so attempt `a` costs the
   same whether or not the attempts before it were computed.
4. `use_max_completion_tokens` is always the route's own flag, as GenVM's stock
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

__all__ = ["JITTER_PART", "Params", "mutate", "provider_seed"]

# Parameter -> its part of an attempt's jitter block (rule 2): 8 bytes each, so
# two draws below 2^32, or one above it, before the parameter's own stream.
JITTER_PART: dict[str, int] = {"temperature": 0, "max_tokens": 1, "top_p": 2}
PART_BYTES = 8


@dataclass(frozen=True)
class Params:
    """The exact parameters of one attempt; every number an integer."""

    temperature: int
    max_tokens: int
    seed: int
    use_max_completion_tokens: bool
    text_filters: tuple[str, ...]
    top_p: int | None = None  # milli-units; None: not sent

    def value(self) -> dict[str, Any]:
        """The canonical map of these parameters (§9)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "use_max_completion_tokens": self.use_max_completion_tokens,
            "text_filters": list(self.text_filters),
            "top_p": self.top_p,
        }


def provider_seed(seed: bytes, attempt: int) -> int:
    """The `attempt`-th `u53()` of the stream `attempt/seed` (rule 3): four per block."""
    block = stream_block(seed, "attempt/seed", attempt // 4)
    at = attempt % 4 * 8
    return int.from_bytes(block[at : at + 8], "big") >> 11


def mutate(b: Bound, i: int, attempt: int, req: Request, seed: bytes) -> Params:
    """Apply the mutate slot for attempt `attempt` on route `i` (rules 1-3).

    A pure function of its arguments: any attempt can be computed alone.
    """
    state: dict[str, Any] = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "use_max_completion_tokens": bool(b.routes[i].max_completion_tokens),
        "text_filters": (),
        "top_p": None,
    }
    _apply(list(b.policy.mutate), b, i, req, state, _Jitters(seed, attempt))
    return Params(
        state["temperature"],
        state["max_tokens"],
        provider_seed(seed, attempt),
        state["use_max_completion_tokens"],
        state["text_filters"],
        state["top_p"],
    )


class _Jitters:
    """The jitter streams of one attempt, one per parameter (rule 2)."""

    def __init__(self, seed: bytes, attempt: int) -> None:
        self._seed = seed
        self._label = f"mutate/jitter/{attempt}"
        self._block: bytes | None = None
        self._streams: dict[str, Stream] = {}

    def stream(self, param: str) -> Stream:
        """`param`'s stream: its part of the shared block, then its own blocks."""
        if param not in self._streams:
            if self._block is None:
                self._block = stream_block(self._seed, self._label, 0)
            at = JITTER_PART[param] * PART_BYTES
            head = self._block[at : at + PART_BYTES]
            self._streams[param] = Stream(self._seed, f"{self._label}/{param}", head)
        return self._streams[param]


def _apply(
    terms: list[Term],
    b: Bound,
    i: int,
    req: Request,
    state: dict[str, Any],
    jitters: _Jitters,
) -> None:
    for term in terms:
        op = term[0]
        if op == "set":
            state[term[1]] = term[2]
        elif op in ("clamp", "jitter") and state[term[1]] is None:
            # `clamp` and `jitter` of an unset parameter (`top_p`): it stays unset,
            # and draws nothing from its part.
            pass
        elif op == "clamp":
            state[term[1]] = max(term[2], min(term[3], state[term[1]]))
        elif op == "jitter":
            param = term[1]
            step = term[2] + jitters.stream(param).below(term[3] - term[2] + 1)
            _, lo, hi = PARAMS[param]
            state[param] = max(lo, min(hi, state[param] + step))
        elif op == "text_filters":
            state["text_filters"] = tuple(term[1])
        elif op == "use_max_completion_tokens":
            pass  # rule 4: the route's flag is already the state
        elif holds(term[1], b, i, req):  # "when"
            _apply(list(term[2:]), b, i, req, state, jitters)
