"""`genvm-policy explain`: the decision for sample requests, and what failures would do.

Spec: docs/SPEC.md §8.3 (Select), §9 (Decision), §10 (Cascade). Shell: with no
request options it explains every sample request (`SAMPLES`): text, json, bool,
image and each template.

Rules:
1. Every route of the catalog is listed with where it ended: its attempt
   number, rejected by the filter (the first part of the filter as written
   that fails it, in the file's spelling; for `needs` the capability it
   lacks), cut by the selector (what cut it) or cut by `max_attempts` (its
   place in the whole order).
2. The failure plan is printed per class, with the `overloaded` group's
   classes named together when they share an action.
3. `--outcomes` (text) or `--outcomes-file` (a map of route to a list of
   outcomes) scripts the provider calls and runs them through the cascade the
   hook runs (`genvm_policy.core.cascade.run`): each call, its action and the end.
"""

from __future__ import annotations

import argparse
from typing import Any

from genvm_policy.cli.commands.decide import (
    add_request_options,
    inputs,
    render,
    request_of,
    seed_of,
)
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.cascade import Failure, Outcome, Success, run
from genvm_policy.core.decision import Attempt, Decision, decide
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import CLASS_GROUPS, CLASSES, Term
from genvm_policy.core.request import Request, make_request
from genvm_policy.core.selection import select
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.routability import describe_term

__all__ = [
    "SAMPLES",
    "authored_parts",
    "outcome_of",
    "parse_outcomes",
    "register",
    "routes_table",
    "simulate",
]

SAMPLES: tuple[Request, ...] = (
    make_request(format="text"),
    make_request(format="json"),
    make_request(format="bool"),
    make_request(format="text", images=1),
    make_request(entry="EqComparative"),
    make_request(entry="EqNonComparativeLeader"),
    make_request(entry="EqNonComparativeValidator"),
)

# Outcome words of `--outcomes`, as the hook's failure reading would report them.
WORDS: dict[str, Failure] = {
    "network": Failure("network"),
    "timeout": Failure("send_timeout"),
    "unreadable": Failure("READING_BODY", 502),
    "context_length_exceeded": Failure("STATUS_NOT_OK", 400, "context_length_exceeded"),
    "content_filter": Failure("STATUS_NOT_OK", 400, "content_filter"),
    "non_user": Failure("non_user"),
}
OUTCOMES_HINT = (
    "write `provider/model=OUTCOME,…`; OUTCOME is `ok`, an HTTP status (`429`, "
    "`503+retry_after=2` for a Retry-After in seconds) or one of " + ", ".join(WORDS)
)


def _cut_by(term: Term) -> str:
    """What leaves a survivor out of the selector's order (§8.3)."""
    op = term[0]
    if op == "chain":
        return "not in the chain"
    if op == "greybox":
        return "no greybox position for this request"
    if op == "weighted":
        return "weight 0 or less"
    if op == "top_k":
        return f"past top_k {term[1]} (or cut inside it)"
    if op == "tiers":
        return "no tier placed it"
    return "left out by the selector"


def _needs_gap(route: Any, request: Request) -> str:
    missing = [
        what
        for what, need, has in (
            ("JSON support", request.needs_json, route.json),
            ("image support", request.needs_image, route.image),
        )
        if need and not has
    ]
    return "lacks " + " and ".join(missing)


def _flow(value: object) -> str:
    """An authored value in YAML flow style, as the operator wrote it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def authored_parts(source: str, catalog: Any) -> list[tuple[str, Term]]:
    """The filter parts of the policy file `source` as written, each with its term.

    Empty for a built-in or a filter that is not a list: the reasons are then the
    normal form's.
    """
    from genvm_policy.authoring.admission import admit
    from genvm_policy.authoring.builtin import BUILTINS

    if source in BUILTINS:
        return []
    doc = load_document(source, what="policy")
    items = doc.get("filter") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        items = [] if items is None else [items]
    return [(_flow(item), admit({"filter": [item]}, catalog).filter) for item in items]


def routes_table(d: Decision, written: list[tuple[str, Term]] | None = None) -> list[str]:
    """Every route and where it ended (rule 1)."""
    from genvm_policy.core.predicate import holds

    b = d.bound
    by_rank = dict(zip(d.survivors, d.values, strict=True))
    whole = select(b, list(d.survivors), by_rank, d.request, d.seed)
    place = {rank: n for n, rank in enumerate(whole)}
    reasons = dict(d.failed)
    lines = ["  routes (every one, where it ended):"]
    for rank, route in enumerate(b.routes):
        name = f"{route.provider}/{route.model}"
        if rank in reasons:
            reason = reasons[rank]
            why = describe_term(reason)
            if reason == ["needs"]:
                why = "needs: " + _needs_gap(route, d.request)
            else:
                # The first part as written that fails (each part holds `needs` too,
                # which this route has: it failed a later part).
                failing = [
                    text for text, term in written or () if not holds(term, b, rank, d.request)
                ]
                why = failing[0] if failing else why
            lines.append(f"    {name}  rejected: {why}")
        elif rank not in place:
            lines.append(f"    {name}  cut by the selector: {_cut_by(b.policy.select)}")
        elif place[rank] >= len(d.ranks):
            lines.append(
                f"    {name}  cut by max_attempts {d.max_attempts} "
                f"(place {place[rank] + 1} of {len(whole)})"
            )
        else:
            lines.append(f"    {name}  attempt {place[rank] + 1}")
    return lines


def plan_table(d: Decision) -> list[str]:
    """The failure plan per class (rule 2)."""
    plan = dict(d.on_failure)
    lines = ["  on failure:"]
    shown: set[str] = set()
    for group, members in CLASS_GROUPS.items():
        actions = {describe_term(plan[c]) for c in members}
        if len(actions) == 1:
            lines.append(f"    {group} ({', '.join(members)}): {actions.pop()}")
            shown.update(members)
    for c in CLASSES:
        if c not in shown:
            lines.append(f"    {c}: {describe_term(plan[c])}")
    return lines


def outcome_of(text: str, path: tuple[str | int, ...]) -> Success | Failure:
    """One scripted outcome word (rule 3)."""
    word, _, after = text.strip().partition("+retry_after=")
    if word == "ok" and not after:
        return Success(None)
    retry = None
    if after:
        if not after.isdigit() or len(after) > 4:
            raise PolicyError(
                "CLI_USAGE", path, f"`{text}`: Retry-After is whole seconds", OUTCOMES_HINT
            )
        retry = int(after) * 1000
    if word.isdigit() and len(word) == 3:
        return Failure("STATUS_NOT_OK", int(word), None, retry)
    if word in WORDS and retry is None:
        return WORDS[word]
    raise PolicyError("CLI_USAGE", path, f"unknown outcome `{text}`", OUTCOMES_HINT)


def parse_outcomes(text: str | None, file: str | None) -> dict[str, list[Success | Failure]]:
    """Route → its outcomes in call order, from `--outcomes` or `--outcomes-file` (rule 3)."""
    script: dict[str, list[Success | Failure]] = {}
    if text is not None:
        for n, item in enumerate(t for t in text.split(",") if t.strip()):
            route, sep, word = item.partition("=")
            if not sep or "/" not in route:
                raise PolicyError(
                    "CLI_USAGE",
                    ("--outcomes", n),
                    f"`{item}` is not `provider/model=OUTCOME`",
                    OUTCOMES_HINT,
                )
            script.setdefault(route.strip(), []).append(outcome_of(word, ("--outcomes", n)))
    if file is not None:
        doc = load_document(file, what="outcomes")
        if not isinstance(doc, dict):
            raise PolicyError(
                "CLI_USAGE", (), "the outcomes file must map routes to outcomes", OUTCOMES_HINT
            )
        for route, words in doc.items():
            items = words if isinstance(words, list) else [words]
            script.setdefault(str(route), []).extend(
                outcome_of(str(w), (str(route), k)) for k, w in enumerate(items)
            )
    return script


def simulate(d: Decision, script: dict[str, list[Success | Failure]]) -> list[str]:
    """The cascade over the scripted outcomes, as the hook runs it (rule 3).

    A route's outcomes are used in order; past its last one (or for a route
    not scripted) it answers.
    """
    used: dict[str, int] = {}
    waits: list[int] = []

    def call(a: Attempt) -> Success | Failure:
        key = f"{a.provider}/{a.model}"
        n = used.get(key, 0)
        used[key] = n + 1
        given = script.get(key, [])
        return given[n] if n < len(given) else Success(None)

    out: Outcome = run(d, call, waits.append)
    lines = ["  simulated calls (scripted outcomes, the hook's cascade):"]
    pauses = iter(waits)
    for n, step in enumerate(out.trace, 1):
        pause = f" after {next(pauses)} ms" if step.action == "retry" else ""
        lines.append(
            f"    {n:>2}. attempt {step.attempt + 1} {step.provider}/{step.model}: "
            f"{step.result} -> {step.action}{pause}"
        )
    if out.ok:
        end = "answered"
    elif out.code == "abort":
        end = f"aborted on {out.error_class}: the provider's error reaches the contract"
    else:
        end = f"NO_PROVIDER_FOR_PROMPT (last class {out.error_class or 'none'})"
    lines.append(f"    outcome: {end}")
    return lines


def _explain(args: argparse.Namespace) -> int:
    catalog, policy, catalog_id = inputs(args)
    one = request_of(args)
    seed = seed_of(args)
    script = parse_outcomes(args.outcomes, args.outcomes_file)
    written = authored_parts(args.policy, catalog)
    print(f"policy {args.policy}")
    for request in (one,) if one is not None else SAMPLES:
        d = decide(catalog, policy, request, seed, catalog_id=catalog_id)
        print()
        print(render(request, d))
        print("\n".join(routes_table(d, written) + plan_table(d)))
        if args.outcomes is not None or args.outcomes_file is not None:
            print("\n".join(simulate(d, script)))
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `explain` with the inputs of `decide` and the scripted outcomes."""
    parser = subparsers.add_parser(
        "explain",
        help="show decisions for sample requests (or one request), and simulate failures",
        **teach(
            "Admit the policy against the node's catalog and show, per request, the ordered "
            "attempts with parameters, every route and where it ended (its attempt, the part "
            "of the filter that rejected it, or what cut it), the failure plan, scores and "
            "identities. Without request options every sample request is shown: text, json, "
            "bool, image and each template. With --outcomes (or --outcomes-file) it runs the "
            "failure cascade the hook runs on scripted provider answers.",
            "genvm-policy explain --catalog /opt/genlayer-node --policy ~/genvm-policy/policy.yaml",
            "genvm-policy explain --catalog NODE --policy policy.yaml --entry EqComparative",
            "genvm-policy explain --catalog NODE --policy policy.yaml --format json "
            "--outcomes 'router/openai/gpt-4.1-mini=429,gateway/x=ok'",
        ),
    )
    add_request_options(parser)
    parser.add_argument(
        "--outcomes",
        metavar="LIST",
        help="scripted provider outcomes: provider/model=OUTCOME, comma-separated, in call "
        "order per route (ok, 429, 503+retry_after=2, network, timeout, unreadable, "
        "context_length_exceeded, content_filter); unscripted calls answer",
    )
    parser.add_argument(
        "--outcomes-file",
        metavar="FILE",
        help="the same as a YAML/TOML/JSON map: provider/model: [OUTCOME, …]",
    )
    parser.set_defaults(handler=_explain)
