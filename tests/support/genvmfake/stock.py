"""Models of GenVM's stock LLM scripts, written from GENVM.md §4 ("Stock default script") and §7.

Three scripts, each a pure function of the node's config, one call's arguments, the
budget and the scripted provider outcomes:

- `v1-default`: the older line's default script.
- `v2-default`: the newer line's default script (with the newest line's budget and
  statistics when the profile is `v2-new`).
- `v2-greybox`: the node's greybox script as GENVM.md §7 describes it: the
  `meta.greybox` chain of the request's kind (image when it has images), lower
  position first; everything §7 leaves unpublished (fall-through, final error) is
  taken from the newer default script, which it is built on.

Rules:
1. Candidates are `lib-llm`'s capability filter: json and bool need JSON support,
   images need vision. Order is each script's own; the V1 `pairs` order is not
   modelled (`order` returns backend bytes order and no test may depend on it).
2. Newer line: the `ExecPrompt` prompt is filtered (NFKC, RmZeroWidth, NormalizeWS)
   before anything else; empty → the non-fatal `EMPTY_PROMPT`, `ctx = {}`. Then the
   budget (profile `v2-new` with a positive `genPerTimeUnit`): a spent allowance or
   a timeout under one second exhausts; a timeout in (1, 60] s is sent.
3. Messages: the prompt is the user message; json adds the system message
   `respond with a valid json object`; templates fill `#{name}` from the flat args
   (a missing one stays), through Lua's gsub replacement rules in the older line (a
   `%` other than `%%`, `%0`, `%1` is an error) and literally in the newer one.
4. Fall-through: older line on an overloaded status only, any other module error
   re-raised as is; newer line on any module error. A non-module error is re-raised
   at once in both. No candidate left: fatal `NO_PROVIDER_FOR_PROMPT`.
5. Every request carries the model's own `use_max_completion_tokens`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .config import GenvmConfig
from .host import filter_text
from .outcomes import Outcome, PlainError, ReadingBody, SendingRequest, StatusNotOk, Success

__all__ = ["JSON_INSTRUCTION", "SCRIPTS", "StockCall", "StockResult", "StockSent", "run_stock"]

SCRIPTS = ("v1-default", "v2-default", "v2-greybox")
JSON_INSTRUCTION = "respond with a valid json object"
STOCK_FILTERS = ["NFKC", "RmZeroWidth", "NormalizeWS"]
OVERLOADED = frozenset({408, 429, 503, 504, 529})
TEMPLATES = {
    "EqComparative": ("eq_comparative", "bool"),
    "EqNonComparativeValidator": ("eq_non_comparative_validator", "bool"),
    "EqNonComparativeLeader": ("eq_non_comparative_leader", "text"),
}


@dataclass(frozen=True)
class StockSent:
    """One request the stock script sends, as a contract's model reads it."""

    provider: str
    model: str
    format: str
    system: str | None
    user: str
    use_max_completion_tokens: bool
    timeout: float | None


@dataclass(frozen=True)
class StockCall:
    """One entry-point call: `entry` is "prompt" or a template name."""

    entry: str
    args: Mapping[str, Any]
    remaining_gen: int = 1_000_000
    gen_per_time_unit: int = 1000
    spent_over: bool = False  # the session has already spent its allowance


@dataclass
class StockResult:
    """What the stock script ends the call with, and what it sent."""

    kind: str  # "ok" | "user_error" | "fatal_error" | "exhausted"
    causes: list[str] = field(default_factory=list)
    message: str = ""
    data: Any = None
    sent: list[StockSent] = field(default_factory=list)


class _Raised(Exception):
    """A plain Lua error of the stock script (its text is what GenVM reports)."""


def _gsub_replacement(value: str, placeholder: str) -> str:
    # Lua 5.3's gsub with a replacement string and no captures (rule 3).
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        nxt = value[i + 1] if i + 1 < len(value) else ""
        if nxt == "%":
            out.append("%")
        elif nxt in ("0", "1"):
            out.append(placeholder)
        elif nxt.isdigit():
            raise _Raised(f"invalid capture index %{nxt}")
        else:
            raise _Raised("invalid use of '%' in replacement string")
        i += 2
    return "".join(out)


def _fill(template: str | None, args: Mapping[str, Any], v1: bool) -> str:
    text = template or ""
    for name, value in sorted(args.items()):  # the test args never nest placeholders
        placeholder = "#{" + name + "}"
        if placeholder in text:
            text = text.replace(
                placeholder, _gsub_replacement(str(value), placeholder) if v1 else str(value)
            )
    return text


def _candidates(config: GenvmConfig, fmt: str, images: int, script: str) -> list[tuple[str, str]]:
    def capable(m: Any) -> bool:
        return (fmt == "text" or m.supports_json) and (images == 0 or m.supports_image)

    if script == "v2-greybox":
        chain = "image" if images else "text"
        found = []
        for name, backend in config.backends.items():
            for mid, m in backend.models.items():
                meta = m.meta if isinstance(m.meta, dict) else {}
                pos = (meta.get("greybox") or {}).get(chain)
                if type(pos) is int and capable(m):
                    found.append((pos, name, mid))
        return [(n, mid) for _, n, mid in sorted(found)]
    picked = []
    for name, backend in config.backends.items():
        models = [mid for mid, m in backend.models.items() if capable(m)]
        if models:
            meta = backend.meta if isinstance(backend.meta, dict) else {}
            prio = meta.get("priority", 0) if script == "v2-default" else 0
            picked.append((prio if type(prio) is int else 0, name, models[0]))
    # Newer default: priority high first, ties by backend name descending.
    picked.sort(key=lambda t: (t[0], t[1].encode()), reverse=True)
    return [(n, mid) for _, n, mid in picked]


def _failure_kind(out: Outcome) -> tuple[str, int | None]:
    if isinstance(out, StatusNotOk):
        return "STATUS_NOT_OK", out.status
    if isinstance(out, ReadingBody):
        return "READING_BODY", out.status
    if isinstance(out, SendingRequest):
        return "SENDING_REQUEST", None
    return "DESERIALIZING", None


def run_stock(
    script: str,
    profile: str,
    config: GenvmConfig,
    call: StockCall,
    outcome: Callable[[str, str], Outcome],
) -> StockResult:
    """The stock script `script`'s result for `call` on `config` under `profile` (rules 1-5).

    `outcome(provider, model)` answers each provider call, as the fake's scripts do;
    `data` of a success is its `text`, `json` or `result` by the format.
    """
    v1 = script == "v1-default"
    args = dict(call.args)
    if call.entry == "prompt":
        fmt = "json" if args.get("response_format") == "json" else "text"
        user = str(args.get("prompt", ""))
        if not v1:
            user = filter_text(user, STOCK_FILTERS)
            if user == "":
                return StockResult("user_error", ["EMPTY_PROMPT"])
        system = JSON_INSTRUCTION if fmt == "json" else None
        images = len(args.get("images") or [])
    else:
        key, fmt = TEMPLATES[call.entry]
        tpl = config.templates.get(key, {})
        try:
            system = _fill(tpl.get("system"), args, v1)
            user = _fill(tpl.get("user"), args, v1)
        except _Raised as err:
            return StockResult("fatal_error", message=str(err))
        images = 0
    timeout: float | None = None
    if profile == "v2-new" and not v1 and call.gen_per_time_unit > 0:
        if call.spent_over:
            return StockResult("exhausted")
        t = Fraction(call.remaining_gen, call.gen_per_time_unit) * 3 / 2
        if 0 < t <= 60:
            if t < 1:
                return StockResult("exhausted")
            timeout = float(t)
    result = StockResult("fatal_error", ["NO_PROVIDER_FOR_PROMPT"])
    for provider, model in _candidates(config, fmt, images, script):
        m = config.backends[provider].models[model]
        result.sent.append(
            StockSent(provider, model, fmt, system, user, m.use_max_completion_tokens, timeout)
        )
        out = outcome(provider, model)
        if isinstance(out, Success):
            data = {"text": out.text, "json": out.json, "bool": out.result}[fmt]
            return StockResult("ok", data=data, sent=result.sent)
        if isinstance(out, PlainError):
            return StockResult("fatal_error", message=out.message, sent=result.sent)
        kind, status = _failure_kind(out)
        if v1 and status not in OVERLOADED:
            return StockResult("fatal_error", [kind], sent=result.sent)
    return result
