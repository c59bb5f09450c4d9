"""The Python model of the GenVM hook: what it decides per call, and its decision records.

Spec: docs/HOOK.md §4 (availability and drift), §5 (per-call seed), §6 (the
request), §7 (stock fallback), §8 (the decision record).

Rules:
1. Availability: the hook decides over the compiled catalog's routes that GenVM
   offers now with the same view facts. A catalog route GenVM lacks is
   *unavailable*; one whose view facts differ is *drift*; both are left out
   (`restrict`), and the record lists them. A route GenVM offers that the
   catalog lacks is drift too, but it changes nothing: it was never a candidate.
2. The decision's catalog identity stays the compiled catalog's: the record's
   lists say exactly which routes were left out, so `restrict` recomputes the rest.
3. Per-call material is the canonical map `{tx_id, node_address, session,
   call}`: text (an integer as its decimal text) or null, and the session's
   call counter from 0. The call key is `call_key(salt, material)` (SPEC §4.2);
   without a node salt the hook uses `PUBLIC_SALT` and says so (`salt: none`).
4. Stock fallback: `stock-greybox` over the catalog made from the GenVM view
   (`stock_catalog`); its `stock` selector follows the node's chains where it
   has them and the newer line's priority order where it has none, so the
   fallback routes on every node GenVM can route (SPEC §9.3).
5. `check_record` recomputes a record from (catalog, policy, salt) and names
   the first field that differs, or None when the record is exactly what the
   reference decides and what the cascade does with the logged outcomes.
6. A `reraised` record (HOOK.md §9) ends where an error was raised: its steps
   are a prefix of that cascade's trace, possibly empty, whose last step is
   either as the plan took it (a host function raised after it, e.g. the
   pause of a retry or the next attempt's text filter) or `non_user` with the
   action `reraise` (the provider's error was not a module error, or its
   decoder raised).
7. Only decided calls leave a record: a newer-line prompt that the stock
   filters leave empty ends in `EMPTY_PROMPT` before any decision, and a
   template the older line's stock cannot fill (a `%` in a value) fails
   before one (HOOK.md §6). An `exhausted` record is decided but has no
   attempts: the budget ended the call before any provider call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.cascade import Failure, Success, run
from genvm_policy.core.catalog import VIEW_KEYS, Catalog, Route, catalog_identity
from genvm_policy.core.decision import Attempt, decide
from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.family import family_of
from genvm_policy.core.policy import Policy
from genvm_policy.core.prng import call_key, seed_commitment
from genvm_policy.core.request import make_request, request_identity

__all__ = [
    "FAULT_MESSAGE",
    "JSON_INSTRUCTION",
    "PUBLIC_SALT",
    "RECORD_MESSAGE",
    "STATS_ADD",
    "STATS_FILE",
    "STATS_TABLE",
    "STOCK_FILTERS",
    "STOCK_KIND",
    "STOCK_TIERS",
    "TEMPLATE_KEY",
    "TIMEOUT_FACTOR",
    "TIMEOUT_MICROS",
    "UNROUTABLE_MESSAGE",
    "call_material",
    "check_record",
    "excluded_routes",
    "restrict",
    "stock_catalog",
    "stock_policy",
]

PUBLIC_SALT = bytes(32)
"""The salt used when the node salt is missing: public, so seeds are predictable."""

RECORD_MESSAGE = "genvm-policy decision"
"""The `message` of every decision record the hook logs."""

UNROUTABLE_MESSAGE = "genvm-policy unroutable"
"""The `message` of the hook's one load-time line naming the request classes its policy
plans no route for on the routes GenVM offers (SPEC §9.4; `classes`, `mode`)."""

FAULT_MESSAGE = "genvm-policy fallback"
"""The `message` of the hook's lines saying it fell back to the stock policy, or why a
call's decision failed (`fault`, `detail`)."""

STOCK_KIND = "genvm"
"""The provider kind of every stock-catalog route: GenVM never shows the real one."""

STOCK_TIERS = ("basic", "standard", "premium")
"""The tiers of the stock catalog (rule 4), low to high; no route has one."""

# -- what a call keeps of the line's stock script (HOOK.md §6, §10) --------------------
# GenVM's own texts and bounds (../shared/GENVM.md §4), which the hook's `parity.lua`
# reads from tables.lua; the suite's stock model keeps its own copy, written from
# GENVM.md, so that the stock-parity tests compare two readings of it.

JSON_INSTRUCTION = "respond with a valid json object"
"""The system message lib-llm's prompt transform gives a json request."""

STOCK_FILTERS = ("NFKC", "RmZeroWidth", "NormalizeWS")
"""The filters the newer line's stock script applies to every `ExecPrompt` prompt first."""

TEMPLATE_KEY = {
    "EqComparative": "eq_comparative",
    "EqNonComparativeLeader": "eq_non_comparative_leader",
    "EqNonComparativeValidator": "eq_non_comparative_validator",
}
"""Template entry -> its key in `__llm.templates`."""

TIMEOUT_FACTOR = (3, 2)
"""A call's timeout is the budget's remaining time units ÷ `genPerTimeUnit` × 3/2 s."""

TIMEOUT_MICROS = (1_000_000, 60_000_000)
"""The timeouts sent, in microseconds: under the first the call exhausts, past the last
none is sent; the one sent is floored to the microsecond."""

STATS_FILE = "stats.sqlite"
"""The statistics database in GenVM's `data_dir` (newest line)."""

STATS_TABLE = (
    "CREATE TABLE IF NOT EXISTS provider_stats (model TEXT PRIMARY KEY, "
    "errors INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, "
    "output_tokens INTEGER NOT NULL DEFAULT 0)"
)
"""The statistics table, as the stock script makes it."""

STATS_ADD = (
    "INSERT INTO provider_stats (model, errors, input_tokens, output_tokens) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (model) DO UPDATE SET "
    "errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens"
)
"""How a session's counts are added to a model's row."""


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def call_material(host_data: Mapping[str, object], session: object, call: int) -> dict[str, Value]:
    """The per-call material of rule 3 from `ctx.host_data`, the session id and the counter."""
    return {
        "tx_id": _text(host_data.get("tx_id")),
        "node_address": _text(host_data.get("node_address")),
        "session": _text(session),
        "call": call,
    }


def excluded_routes(
    catalog_view: Any, live_view: Any
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`(unavailable, drift)` of rule 1: catalog routes GenVM lacks or shows otherwise.

    Both arguments are GenVM views (SPEC §5.6), e.g. `genvm_view(catalog)` and
    `view_from_providers(...)`.
    """
    live = {(r["provider"], r["model"]): r for r in live_view["routes"]}
    unavailable, drift = [], []
    for r in catalog_view["routes"]:
        key = (r["provider"], r["model"])
        if key not in live:
            unavailable.append(key)
        elif any(live[key][k] != r[k] for k in VIEW_KEYS):
            drift.append(key)
    return unavailable, drift


def restrict(catalog: Catalog, excluded: Iterable[tuple[str, str]]) -> Catalog:
    """The catalog without the `excluded` routes (rule 1); tiers and fields unchanged."""
    gone = set(excluded)
    kept = tuple(r for r in catalog.routes if (r.provider, r.model) not in gone)
    return replace(catalog, routes=kept)


def stock_catalog(view: Any) -> Catalog:
    """The catalog the stock fallback decides over: the GenVM view's routes, nothing more."""
    routes = tuple(
        Route(
            **{k: r[k] for k in VIEW_KEYS},
            kind=STOCK_KIND,
            family=family_of(r["provider"], r["model"])[0],
            tier=None,
            price_in=None,
            price_out=None,
            context=None,
            has_tee=False,
            no_log=False,
            fields=(),
        )
        for r in view["routes"]
    )
    return Catalog(routes, STOCK_TIERS, None, ())


def stock_policy(catalog: Catalog) -> tuple[str, Policy]:
    """The stock fallback's name and policy for `catalog` (rule 4): one for every node.

    `catalog` is kept in the signature so that a record's stock name is checked
    against the node it came from.
    """
    del catalog
    return "stock-greybox", builtin("stock-greybox")


def _routes(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, list | dict) or (isinstance(value, dict) and value):
        raise PolicyError("HOOK_RECORD", (), "a route list must be a list")
    return [(p, m) for p, m in value] if isinstance(value, list) else []


def _outcomes(steps: list[dict[str, Any]]) -> list[Success | Failure]:
    out: list[Success | Failure] = []
    for s in steps:
        if s["result"] == "ok":
            out.append(Success(None))
        else:
            # What the hook's classifier read is logged with the step (SPEC §10.1).
            out.append(
                Failure(
                    s.get("kind", s["result"]),
                    s.get("status"),
                    s.get("code"),
                    s.get("retry_after_ms"),
                )
            )
    return out


def check_record(
    record: Mapping[str, Any], catalog: Catalog, policy: Policy, salt: bytes
) -> str | None:
    """The first field of `record` the reference computes otherwise, or None (rule 5).

    `catalog` and `policy` are the compiled ones (or, for a stock record, the
    stock catalog of the GenVM view and its stock policy); `salt` is the node salt.
    """
    material = record["material"]
    full = {k: material.get(k) for k in ("tx_id", "node_address", "session", "call")}
    key = call_key(PUBLIC_SALT if record.get("salt") == "none" else salt, full)
    if seed_commitment(key) != record["seed"]:
        return "seed"
    # The record holds the canonical request value (temperature in milli-units).
    request = make_request(**record["request"])
    ids = record["identities"]
    if request_identity(request) != ids["request"]:
        return "identities.request"
    catalog_id = catalog_identity(catalog)
    if catalog_id != ids["catalog"]:
        return "identities.catalog"
    gone = _routes(record["unavailable"]) + _routes(record["drift"])
    d = decide(restrict(catalog, gone), policy, request, key, catalog_id=catalog_id)
    if d.policy_id != ids["policy"]:
        return "identities.policy"
    if d.identity != ids["decision"]:
        return "identities.decision"
    steps = record["attempts"] if isinstance(record["attempts"], list) else []
    if record["outcome"].get("kind") == "exhausted":
        # The budget was spent before any provider call: nothing else to replay.
        return "attempts" if steps else None
    outcomes = iter(_outcomes(steps))

    def call(_: Attempt) -> Success | Failure:
        return next(outcomes, Failure("unknown"))

    trace = run(d, call).trace
    got = [(s["provider"], s["model"], s["result"], s.get("action")) for s in steps]
    want = [(s.provider, s.model, s.result, s.action) for s in trace]
    if record["outcome"].get("kind") == "reraised":
        # The call ended where an error was raised: the logged steps are a prefix of
        # the plan's trace (none when a host filter raised before the first call);
        # the last is `non_user`/`reraise` when the provider's error was not decoded.
        want = want[: len(got)]
        if got and got[-1][2:] == ("non_user", "reraise"):
            want[-1] = (*want[-1][:2], "non_user", "reraise")
    if got != want:
        return "attempts"
    return None
