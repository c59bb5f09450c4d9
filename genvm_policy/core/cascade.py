"""The failure cascade: run a decision's attempts over an injected call function.

Spec: docs/SPEC.md §10 (Cascade).

Rules:
1. A failed call is classified by `classify`: the kinds in `KIND_FIRST` win,
   then the error body's code (`BODY_CLASS`), then the HTTP status
   (`STATUS_CLASS`; any other 5xx is `unavailable` when its body could not be
   read, else `server`), then the remaining kinds (`KIND_CLASS`), else
   `unknown`. What the host glue read (kind, status, body code, Retry-After)
   is the whole input, so a logged failure classifies the same on replay.
2. The policy's plan maps each class to an action: `next`, `next_same_family`
   (the next planned route with the same family, else the next), `retry`
   (up to `attempts` more calls to the same route, pausing `backoff_ms`
   before each, or the failure's Retry-After when it gives one; a longer
   Retry-After ends the retries at once; then its follow-up action),
   `skip_provider` (this provider's later routes are passed over) or `abort`.
3. Bound: the whole call makes at most `max_attempts` (≤ 16) provider calls,
   retries included, and never calls past the end of the planned attempts; a
   hostile plan cannot loop.
4. When the routes or the budget run out the outcome is GenVM's user error
   `NO_PROVIDER_FOR_PROMPT`; `abort` ends with the class of the last failure.
5. Sans-I/O: the provider call and the pause are functions passed in.
6. An attempt's parameters are computed (`decision.attempt`) only when the
   route is called, once per route however often it is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genvm_policy.core.decision import Attempt, Decision, attempt

__all__ = [
    "BODY_CLASS",
    "KIND_CLASS",
    "KIND_FIRST",
    "SERVER_STATUSES",
    "STATUS_CLASS",
    "Failure",
    "Outcome",
    "Step",
    "Success",
    "classify",
    "run",
]

# Kinds that name their class outright; they outrank everything else.
KIND_FIRST: dict[str, str] = {
    "context_overflow": "context_overflow",
    "content_filter": "content_filter",
}
# The error body's code -> class: OpenAI-style `error.code`, else Anthropic-style
# `error.type`, as the host glue read it.  Providers answer a too-long prompt or a
# filtered one with a plain 400 (or 403, 422): only the body tells them apart.
BODY_CLASS: dict[str, str] = {
    "context_length_exceeded": "context_overflow",
    "string_above_max_length": "context_overflow",
    "request_too_large": "context_overflow",
    "content_filter": "content_filter",
    "content_policy_violation": "content_filter",
}
# HTTP status -> class.  GenVM's overloaded statuses (408, 429, 503, 504, 529)
# are split three ways, so a plan can leave a rate-limited provider at once.
STATUS_CLASS: dict[int, str] = {
    400: "bad_request",
    401: "auth",
    403: "auth",
    404: "not_found",
    408: "timeout",
    413: "context_overflow",
    429: "rate_limited",
    503: "unavailable",
    504: "timeout",
    529: "unavailable",
}
# The kind GenVM gives a reply whose body it could not read (an HTML or empty 5xx).
# The statuses a server error has (5xx): one not in STATUS_CLASS is `server`, or
# `unavailable` when its body could not be read.
SERVER_STATUSES: tuple[int, int] = (500, 599)
UNREADABLE = "READING_BODY"
# Kinds without a status: a failed send (`send_timeout` when it timed out), or
# an error that is not GenVM's user error.
KIND_CLASS: dict[str, str] = {
    "network": "network",
    "send_timeout": "timeout",
    "non_user": "non_user",
}

NO_PROVIDER = "NO_PROVIDER_FOR_PROMPT"


@dataclass(frozen=True)
class Success:
    """A provider answered; `data` is passed back untouched."""

    data: object


@dataclass(frozen=True)
class Failure:
    """A provider call failed, as the host glue read it.

    `kind` is the host's kind of failure, `status` the HTTP status if any,
    `code` the body's error code when it is one of `BODY_CLASS`, and
    `retry_after_ms` the reply's Retry-After (whole seconds, in ms) if any.
    """

    kind: str
    status: int | None = None
    code: str | None = None
    retry_after_ms: int | None = None


@dataclass(frozen=True)
class Step:
    """One provider call in the trace: which attempt, which try, what came of it."""

    attempt: int
    provider: str
    model: str
    result: str  # "ok" or the error class
    action: str  # the action taken ("done" on success)


@dataclass(frozen=True)
class Outcome:
    """The end of a call: the answer, or the final error class and GenVM code."""

    ok: bool
    data: object
    error_class: str | None
    code: str | None  # NO_PROVIDER_FOR_PROMPT, "abort", or None on success
    trace: tuple[Step, ...]


def classify(failure: Failure) -> str:
    """The error class of a failed call (rule 1)."""
    if failure.kind in KIND_FIRST:
        return KIND_FIRST[failure.kind]
    if failure.code in BODY_CLASS:
        return BODY_CLASS[failure.code]
    if failure.status is not None:
        if failure.status in STATUS_CLASS:
            return STATUS_CLASS[failure.status]
        if SERVER_STATUSES[0] <= failure.status <= SERVER_STATUSES[1]:
            return "unavailable" if failure.kind == UNREADABLE else "server"
    return KIND_CLASS.get(failure.kind, "unknown")


def run(
    decision: Decision,
    call: Callable[[Attempt], Success | Failure],
    wait: Callable[[int], None] = lambda ms: None,
) -> Outcome:
    """Walk the attempts under the failure plan (rules 2-5)."""
    plan = dict(decision.on_failure)
    routes = decision.routes
    trace: list[Step] = []
    skipped: set[str] = set()
    last: str | None = None
    pos = 0
    while pos < len(routes) and len(trace) < decision.max_attempts:
        if routes[pos][0] in skipped:
            pos += 1
            continue
        a = attempt(decision, pos)
        retries: int | None = None
        while True:
            result = call(a)
            if isinstance(result, Success):
                trace.append(Step(pos, a.provider, a.model, "ok", "done"))
                return Outcome(True, result.data, None, None, tuple(trace))
            last = classify(result)
            action = plan[last]
            if action[0] == "retry":
                retries = action[1] if retries is None else retries
                pause = action[2] if result.retry_after_ms is None else result.retry_after_ms
                if retries > 0 and len(trace) + 1 < decision.max_attempts and pause <= action[2]:
                    retries -= 1
                    trace.append(Step(pos, a.provider, a.model, last, "retry"))
                    wait(pause)
                    continue
                action = action[3]
            trace.append(Step(pos, a.provider, a.model, last, action[0]))
            break
        if action[0] == "abort":
            return Outcome(False, None, last, "abort", tuple(trace))
        if action[0] == "skip_provider":
            skipped.add(a.provider)
        nxt = pos + 1
        if action[0] == "next_same_family":
            same = [
                k
                for k in range(pos + 1, len(routes))
                if routes[k][2] == a.family and routes[k][0] not in skipped
            ]
            nxt = same[0] if same else nxt
        pos = nxt
    return Outcome(False, None, last, NO_PROVIDER, tuple(trace))
