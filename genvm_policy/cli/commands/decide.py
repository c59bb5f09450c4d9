"""`genvm-policy decide`: one decision for one request, as JSON or a table.

Spec: docs/SPEC.md §9 (Decision). Shell: reads the catalog, the policy and an
optional request file; the JSON printed with `--json` is deterministic bytes
(sorted keys, no floats, one line).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from genvm_policy.cli.commands.check import POLICY_HELP, add_catalog_options, load_policy
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.catalog import Catalog, catalog_identity
from genvm_policy.core.decision import Decision, decide, decision_report
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import format_units
from genvm_policy.core.policy import Policy
from genvm_policy.core.request import (
    ENTRIES,
    FORMATS,
    ROLES,
    Request,
    make_request,
    request_from_value,
    request_value,
)
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.routability import describe_term

__all__ = ["DEFAULT_SEED", "add_request_options", "register", "render", "request_of"]

DEFAULT_SEED = bytes(32)
"""The seed when `--seed` is absent: 32 zero bytes, so runs repeat."""


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """The inputs shared by `decide` and `explain`."""
    add_catalog_options(parser, required=True)
    parser.add_argument("--policy", required=True, metavar="POLICY", help=POLICY_HELP)
    parser.add_argument("--entry", choices=ENTRIES, help="entry point (default prompt)")
    parser.add_argument("--format", choices=FORMATS, help="response format")
    parser.add_argument("--images", type=int, metavar="N", help="number of images")
    parser.add_argument("--prompt-bytes", type=int, metavar="N", help="prompt size in bytes")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="the answer's token cap")
    parser.add_argument(
        "--role", choices=ROLES, help="this node's part: leader, validator (default unknown)"
    )
    parser.add_argument("--seed", metavar="HEX", help="the call key: 1 to 64 bytes as hex")
    parser.add_argument("--request", metavar="FILE", help="a request as a map (YAML/TOML/JSON)")


def request_of(args: argparse.Namespace) -> Request | None:
    """The request the flags describe, or None when no request input is given."""
    flags = {
        "entry": args.entry,
        "format": args.format,
        "images": args.images,
        "prompt_bytes": args.prompt_bytes,
        "max_tokens": args.max_tokens,
        "role": args.role,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if args.request is None and not given:
        return None
    if args.request is None:
        # No request file: GenVM's defaults for the entry point (a template
        # gets 1000 max tokens, a prompt 8000) apply to what the flags leave out.
        return make_request(**given)
    base = request_from_value(load_document(args.request, what="request"))
    fields: dict[str, Any] = {
        "entry": base.entry,
        "format": None if "entry" in given else base.format,
        "images": base.images,
        "prompt_bytes": base.prompt_bytes,
        "temperature": base.temperature,
        "max_tokens": base.max_tokens,
        "role": base.role,
    }
    fields.update(given)
    return make_request(**fields)


def seed_of(args: argparse.Namespace) -> bytes:
    """The `--seed` bytes; `PRNG_KEY` unless 1 … 64 bytes of hex."""
    if args.seed is None:
        return DEFAULT_SEED
    try:
        seed = bytes.fromhex(args.seed)
    except ValueError:
        seed = b""
    if not 1 <= len(seed) <= 64:
        raise PolicyError(
            "PRNG_KEY",
            (),
            f"`--seed {args.seed}` is not 1 to 64 bytes of hex",
            "e.g. `--seed 00ff17`",
        )
    return seed


def inputs(args: argparse.Namespace) -> tuple[Catalog, Policy, str]:
    """Load the catalog and admit the policy against it; also the catalog identity."""
    from genvm_policy.cli.commands.check import catalog_of

    catalog = catalog_of(args)
    assert catalog is not None  # --catalog is required by the parser
    return catalog, load_policy(args.policy, catalog), catalog_identity(catalog)


def render(request: Request, d: Decision) -> str:
    """A readable table of one decision."""
    lines = [
        f"request  entry={request.entry} format={request.format} images={request.images} "
        f"prompt_bytes={request.prompt_bytes} temperature={format_units(request.temperature, 3)} "
        f"max_tokens={request.max_tokens} role={request.role}",
        "  attempts (in order):",
    ]
    for n, a in enumerate(d.attempts):
        p = a.params
        extra = (" max_completion_tokens" if p.use_max_completion_tokens else "") + (
            " filters=" + ",".join(p.text_filters) if p.text_filters else ""
        )
        lines.append(
            f"    {n + 1:>2}. {a.provider}/{a.model}  temperature="
            f"{format_units(p.temperature, 3)} max_tokens={p.max_tokens} "
            f"seed={p.seed}{extra}"
        )
    if not d.attempts:
        lines.append("    (none: the call fails with NO_PROVIDER_FOR_PROMPT)")
    lines.append("  rejected:")
    for provider, model, reason in d.rejected:
        lines.append(f"    {provider}/{model}  fails {describe_term(reason)}")
    lines.append("  scores (integers; a price field counts micro-USD per million tokens):")
    for provider, model, points in d.scores:
        lines.append(f"    {points:>20}  {provider}/{model}")
    lines.append("  identities:")
    for name, value in (
        ("catalog", d.catalog_id),
        ("policy", d.policy_id),
        ("request", d.request_id),
        ("seed", d.seed_id),
        ("decision", d.identity),
    ):
        lines.append(f"    {name:<9} {value}")
    return "\n".join(lines)


# `--runtime` names: the reference, the Lua runtime in lupa's Lua 5.3 / 5.4
# states stripped to GenVM's sandbox (`lua` is the Lua GenVM embeds), the same
# runtime under mlua 0.10.3 (GenVM's own embedding) and under Debian's
# stand-alone `lua5.3`, an independent build.
RUNTIMES = ("python", "lua53", "lua54", "lua", "mlua", "lua-standalone")


def lua_report(
    version: str, catalog: Catalog, policy: Policy, request: Request, seed: bytes
) -> dict[str, Any]:
    """The decision report computed by the Lua runtime (`dispatch/`) in `version`.

    `version` is a `lupa` engine (`lua53`, `lua54`), `mlua` or `lua-standalone`.

    The inputs cross as canonical CBOR and the report comes back the same way,
    so the printed JSON is built from the same value whatever the runtime.
    """
    from genvm_policy.core.catalog import catalog_value
    from genvm_policy.core.encoding import decode, encode
    from genvm_policy.core.request import request_value
    from genvm_policy.node.runtimes import MissingInterpreter, vector_runner

    case = {
        "catalog": catalog_value(catalog),
        "policy": policy.value,
        "request": request_value(request),
        "seed": seed,
    }
    try:
        result = decode(vector_runner(version)("decision", encode(case)))
    except (MissingInterpreter, RuntimeError) as err:
        raise PolicyError(
            "RUNTIME_UNAVAILABLE",
            ("--runtime",),
            f"the runtime `{version}` cannot run here: {err}",
            "`genvm-policy doctor` lists what this machine lacks and the command that adds it",
        ) from None
    assert isinstance(result, dict)
    if "error" in result:
        error = result["error"]
        assert isinstance(error, dict)
        raise PolicyError(
            str(error["code"]),
            [p for p in error["path"] if isinstance(p, str | int)],
            f"the Lua runtime ({version}) refused the decision",
        )
    report = result["output"]
    assert isinstance(report, dict)
    return report


def _decide(args: argparse.Namespace) -> int:
    catalog, policy, catalog_id = inputs(args)
    request = request_of(args) or make_request()
    seed = seed_of(args)
    d = decide(catalog, policy, request, seed, catalog_id=catalog_id)
    runtime = "lua53" if args.runtime == "lua" else args.runtime
    if runtime != "python" and not args.json:
        raise PolicyError(
            "CLI_USAGE", ("--runtime",), "`--runtime` other than python needs `--json`"
        )
    if args.json:
        if runtime == "python":
            report = decision_report(d)
        else:
            report = lua_report(runtime, catalog, policy, request, seed)
        report["request"] = request_value(request)
        print(json.dumps(report, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    else:
        print(render(request, d))
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `decide --catalog NODE_CONFIG --policy POLICY [request options] [--json]`."""
    parser = subparsers.add_parser(
        "decide",
        help="decide one call: ordered attempts, rejections, scores, identities",
        **teach(
            "Run the policy on one request and print the decision: the ordered attempts "
            "with their parameters, the rejected routes, the scores and the identities. With "
            "--json the decision is one line of JSON, byte for byte the same in every runtime.",
            "genvm-policy decide --catalog /opt/genlayer-node --policy policy.yaml --format json",
            "genvm-policy decide --catalog NODE --policy policy.yaml --json --runtime lua53",
        ),
    )
    add_request_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="python",
        help="which runtime decides: the Python reference (default), or the Lua runtime in "
        "lupa's Lua 5.3 (`lua53`, `lua`: what GenVM embeds) or 5.4, under mlua 0.10.3 "
        "(`mlua`: GenVM's own embedding, built from dispatch/mlua-host) or under Debian's "
        "stand-alone lua5.3 (`lua-standalone`); the JSON is byte-identical",
    )
    parser.set_defaults(handler=_decide)
