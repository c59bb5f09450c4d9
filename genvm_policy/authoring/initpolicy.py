"""Starter policies unique to one validator, drawn from its node salt.

Spec: docs/SPEC.md §11 (Starter policies).

Rules:
1. `starter_policy(catalog, salt)` is pure: the same catalog, salt and options
   give the same document and the same bytes of YAML text. Every choice reads
   a stream `(salt, "init/<purpose>")` (§4.4), so nothing else influences it
   and no choice repeats a stream the decision uses.
2. The chains (which routes, in which order, and `max_attempts`) are
   `genvm_policy.authoring.initchains`: only the node's vetted chain for a class unless
   `include_unchained`, in one of `SHAPES` drawn from the salt, with enough
   attempts for the longest chain.
3. The select slot: with an image chain, `tiers` of `has_images` → the image
   chain, then every other request → the text chain; else the text chain.
4. The text names, per chain, the routes left out and those past
   `max_attempts`.
5. Parameters stay in safe bounds: a temperature jitter of `[−lo, hi]`
   milli-units with `lo`, `hi` in `JITTER`; the stock failure plan plus one
   retry on a server error after a pause in `BACKOFF`, and next route on a
   network error. Nothing else a contract can observe differs from the stock
   script: no text filters (the model reads stock's text) unless
   `text_filters` asks for one of `RECIPES`, and no
   `use_max_completion_tokens` mutation (every attempt carries the model's
   configured flag, SPEC §8.4).
6. The text says per chain how its order departs from the node's. The result
   is admitted by `admit(document, catalog)`; the YAML text loads to the same
   document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.authoring.initchains import SHAPES, Chain, max_attempts, shape_of, starter_chains
from genvm_policy.authoring.initchains import position as _position
from genvm_policy.core.catalog import Catalog, Route, catalog_identity
from genvm_policy.core.numeric import format_units
from genvm_policy.core.prng import Stream

__all__ = [
    "BACKOFF",
    "JITTER",
    "RECIPES",
    "SHAPES",
    "Chain",
    "max_attempts",
    "shape_of",
    "starter_chains",
    "starter_policy",
]

JITTER = (20, 100)
"""Each end of the temperature jitter, in milli-units: drawn from this range."""

BACKOFF = (250, 50, 16)
"""The pause before a server retry: `first + step × below(count)` milliseconds."""

RECIPES: tuple[tuple[str, ...], ...] = (
    ("NFKC", "RmZeroWidth", "NormalizeWS"),
    ("RmZeroWidth", "NFKC", "NormalizeWS"),
    ("NFC", "RmZeroWidth", "NormalizeWS"),
    ("RmZeroWidth", "NormalizeWS", "NFKC"),
)
"""Text-filter recipes a starter policy draws from when asked (`text_filters`); each
strips zero-width characters and normalises white space, as the stock prompt filter
does, but they also reach template variables, which stock never filters."""


def _route_text(route: Route) -> str | list[str]:
    # `provider/model` splits at the first slash, so a slash in the provider needs the pair.
    if "/" in route.provider:
        return [route.provider, route.model]
    return f"{route.provider}/{route.model}"


def starter_policy(
    catalog: Catalog,
    salt: bytes,
    *,
    catalog_id: str | None = None,
    include_unchained: bool = False,
    text_filters: bool = False,
) -> tuple[dict[str, Any], str]:
    """A starter policy for `catalog` unique to `salt`: (document, commented YAML).

    `catalog_id` may pass a precomputed catalog identity (it is only shown in
    the text); `include_unchained` adds the routes outside the node's chains
    (rule 2); `text_filters` opts in to one of `RECIPES` (rule 5), which no
    other draw depends on. Raises `PRNG_KEY` unless `salt` has 1 … 64 bytes (a
    node salt has 32).
    """
    text, image = starter_chains(catalog, salt, include_unchained=include_unchained)
    jitter = Stream(salt, "init/jitter")
    low, high = (JITTER[0] + jitter.below(JITTER[1] - JITTER[0] + 1) for _ in range(2))
    recipe = RECIPES[Stream(salt, "init/filters").below(len(RECIPES))] if text_filters else ()
    first, step, count = BACKOFF
    backoff = first + step * Stream(salt, "init/backoff").below(count)
    select: dict[str, Any] = {"chain": [_route_text(r) for r in text.routes]}
    if image.routes:
        select = {
            "tiers": [
                {
                    "filter": "has_images",
                    "select": {"chain": [_route_text(r) for r in image.routes]},
                },
                {"filter": "true", "select": select},
            ]
        }
    temperature = [format_units(-low, 3), format_units(high, 3)]
    attempts = max_attempts(text, image)
    filters = [{"text_filters": list(recipe)}] if recipe else []
    document: dict[str, Any] = {
        "version": 2,
        "select": select,
        "mutate": [*filters, {"jitter": {"temperature": temperature}}],
        "on_failure": {
            "overloaded": "next",
            "server": {"retry": {"attempts": 1, "backoff_ms": backoff, "then": "next"}},
            "network": "next",
        },
        "max_attempts": attempts,
    }
    shown = catalog_id or catalog_identity(catalog)
    knobs = _Knobs(shape_of(salt), recipe, temperature, backoff, attempts)
    return document, _render(shown, text, image, knobs)


# -- the commented YAML text -------------------------------------------------


@dataclass(frozen=True)
class _Knobs:
    shape: str
    recipe: tuple[str, ...]
    temperature: list[str]
    backoff: int
    attempts: int


HEADER = """\
# Starter policy written by `genvm-policy init`: unique to this validator.
#
# Catalog: {catalog}
{drawn}
#
# Edit it freely, then check it and preview its decisions:
#   genvm-policy check policy.yaml --catalog NODE_CONFIG [--overlay OVERLAY]
#   genvm-policy explain --catalog NODE_CONFIG [--overlay OVERLAY] --policy policy.yaml
version: 2

# filter: nothing beyond the capability needs every policy has (a JSON or bool
# answer needs JSON support, an image needs vision), so it is left out.

# select: the failover order. {which}
# Where the node config has a greybox chain for a class (`meta.greybox`), only
# its routes are listed, so this node calls no model its operator did not vet.
# The order is {shape}.
# Each line says the route's place in the node's own order (`node #N`).
# Reorder or delete lines to change it; a route the request cannot use is
# passed over.
"""

DRAWN = {
    False: "# Every choice below (the order of the routes, the temperature jitter, the\n"
    "# pause before a retry) was drawn from this node's secret salt, so two\n"
    "# validators get different, equally sane policies and this node gets the same\n"
    "# one each time. The salt is not in this file.",
    True: "# Every choice below (the order of the routes, the temperature jitter, the\n"
    "# text filters, the pause before a retry) was drawn from this node's secret\n"
    "# salt, so two validators get different, equally sane policies and this node\n"
    "# gets the same one each time. The salt is not in this file.",
}
"""The header's paragraph on the salt, without and with text filters."""

SHAPE_TEXT = {
    "groups": "the node's order of classes of equivalent routes (same family, same\n"
    "# greybox position, or an input price in the same power of ten), each class\n"
    "# shuffled by the salt",
    "weighted": "drawn by the salt one route at a time, the node's earlier choices\n"
    "# weighted more (the n-th of the routes left weighs one less than the one before)",
    "spread": "drawn by the salt family by family: one route of each family in\n"
    "# turn, so a failover tries another family first",
}

STOCK_TEXT = """\

# mutate: the parameters of every attempt, applied in order. Only sampling
# varies: the model reads the texts the node's stock script sends, and each
# model gets `max_completion_tokens` as the node config says.
# (`genvm-policy init --text-filters` adds text filters drawn from the salt;
# they change what the model reads, so they are left out unless asked for.)
mutate:
"""

FILTERED_TEXT = """\

# mutate: the parameters of every attempt, applied in order. Each model gets
# `max_completion_tokens` as the node config says.
mutate:
  # Text filters (asked for with `init --text-filters`, drawn from the salt):
  # the model reads text that differs from what the stock script sends. In
  # the newer GenVM line they run on each template variable's value, which
  # stock never filters: white space runs collapse (a leader's JSON answer
  # inside `EqComparative` loses its indentation), zero-width characters go,
  # NFKC (where named) folds look-alikes (`\ufb01` becomes `fi`); and again on
  # the prompt, which stock already filters. The older line ignores them.
  # Delete this entry to send exactly the stock text.
  - text_filters: [{recipe}]
"""

FOOTER = """\
  # Temperature moves by a seeded step in this range (in units, 0.001 each),
  # so validators do not all send the same request; it stays within 0 … 2.
  - jitter:
      temperature: ["{low}", "{high}"]

# on_failure: what a failed call does next. Overloaded (rate limited,
# unavailable or timed out): the next route, as the stock scripts do; a
# server error: one retry after a pause, then the next
# route; a network error: the next route; anything else stops the call.
on_failure:
  overloaded: next
  server:
    retry: {{attempts: 1, backoff_ms: {backoff}, then: next}}
  network: next

# max_attempts: at most this many provider calls per LLM call, retries
# included: enough for the longest chain above to be tried in full{cover}.
max_attempts: {attempts}
"""


def _quote(text: str) -> str:
    """A YAML double-quoted scalar: escapes keep every byte of the name."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable() and ch not in "\u2028\u2029":
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _printable(text: str) -> str:
    # A comment ends at a line break, so unprintable characters show as `?`.
    return "".join(c if c.isprintable() else "?" for c in text)


def _name(route: Route) -> str:
    return _printable(f"{route.provider}/{route.model}")


def _departure(chain: Chain, image: bool, indent: str, attempts: int) -> list[str]:
    """Comment lines: how the chain's order departs from the node's (rule 6)."""
    which = "image" if image else "text"
    rank = {(r.provider, r.model): n for n, r in enumerate(chain.node, start=1)}
    places = [rank[(r.provider, r.model)] for r in chain.routes]
    if not chain.vetted:
        lines = [f"the node has no {which} chain: every route is listed in a drawn order"]
    elif places == sorted(places):
        lines = [f"the same order as the node's {which} chain"]
    else:
        lines = [
            f"departs from the node's {which} chain: tries node #"
            + ", #".join(map(str, places[:16])),
        ]
        if places[0] == 1:
            lines.append("first choice: the node's own first choice")
        else:
            where = f"attempt {places.index(1) + 1}" if 1 in places else "past the list limit"
            lines.append(
                f"first choice {_name(chain.routes[0])}, the node's #{places[0]}; the node's "
                f"first, {_name(chain.node[0])}, is {where}"
            )
    if chain.left_out:
        lines.append(
            f"left out (no {which} position in the node config): "
            + ", ".join(map(_name, chain.left_out))
        )
        lines.append("`genvm-policy init --include-unchained` lists them after the chain")
    if chain.unchained:
        lines.append(f"the last {chain.unchained} routes have no {which} position (asked for)")
    if len(chain.routes) > attempts:
        lines.append(
            f"never tried (past max_attempts {attempts}): "
            + ", ".join(map(_name, chain.routes[attempts:]))
        )
    return [f"{indent}# {line}" for line in lines]


def _chain_lines(chain: Chain, image: bool, indent: str, attempts: int) -> list[str]:
    rank = {(r.provider, r.model): n for n, r in enumerate(chain.node, start=1)}
    lines = [*_departure(chain, image, indent, attempts), f"{indent}chain:"]
    for route in chain.routes:
        written = _route_text(route)
        item = (
            _quote(written)
            if isinstance(written, str)
            else "[" + ", ".join(_quote(t) for t in written) + "]"
        )
        position = _position(route, image)
        facts = [f"node #{rank[(route.provider, route.model)]}", f"family {route.family}"]
        if position is not None:
            facts.append(f"greybox {position}")
        if route.price_in is not None:
            facts.append(f"price_in {format_units(route.price_in, 6)}")
        lines.append(f"{indent}  - {item}  # {_printable(', '.join(facts))}")
    return lines


def _render(catalog: str, text: Chain, image: Chain, knobs: _Knobs) -> str:
    n = knobs.attempts
    if image.routes:
        which = "Image requests follow the image chain, every\n# other request the text chain."
        body = [
            "  tiers:",
            "    - filter: has_images  # requests with images",
            "      select:",
            *_chain_lines(image, True, "        ", n),
            '    - filter: "true"  # every other request',
            "      select:",
            *_chain_lines(text, False, "        ", n),
        ]
    else:
        which = "No route accepts images, so one chain serves\n# every request."
        body = _chain_lines(text, False, "  ", n)
    longest = max(len(text.routes), len(image.routes))
    cover = "" if longest <= n else f" (its routes past {n} are named above)"
    return (
        HEADER.format(
            catalog=catalog,
            drawn=DRAWN[bool(knobs.recipe)],
            which=which,
            shape=SHAPE_TEXT[knobs.shape],
        )
        + "select:\n"
        + "\n".join(body)
        + "\n"
        + (FILTERED_TEXT.format(recipe=", ".join(knobs.recipe)) if knobs.recipe else STOCK_TEXT)
        + FOOTER.format(
            low=knobs.temperature[0],
            high=knobs.temperature[1],
            backoff=knobs.backoff,
            attempts=n,
            cover=cover,
        )
    )
