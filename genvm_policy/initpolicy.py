"""Starter policies unique to one validator, drawn from its node salt.

Spec: docs/SPEC.md §11 (Starter policies).

Rules:
1. `starter_policy(catalog, salt)` is pure: the same catalog and salt give the
   same document and the same bytes of YAML text. Every choice reads a stream
   `(salt, "init/<purpose>")` (§4.4), so nothing else influences it and no
   choice repeats a stream the decision uses.
2. Two routes of a chain are *equivalent* when they share a family, share a
   greybox position for that chain, or have input prices in the same power of
   ten (routes without a price share one band); classes are the connected
   groups of that relation.
   Classes keep the stock order (greybox position, then price, then provider
   and model bytes, by their first member); inside a class the order of the
   families and then of each family's routes is a Fisher–Yates shuffle.
3. The text chain lists every route (the capability filter drops what a
   request cannot use); the image chain lists the routes that accept images.
   A chain keeps its first `LIMITS["list"]` routes.
4. Parameters stay in safe bounds: a temperature jitter of `[−lo, hi]`
   milli-units with `lo`, `hi` in `JITTER`; one of `RECIPES` as text filters;
   the route's `use_max_completion_tokens`; the stock failure plan plus one
   retry on a server error after a pause in `BACKOFF`, and next route on a
   network error.
5. The result is admitted by `admit(document, catalog)`; the YAML text loads
   to the same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.catalog import Catalog, Route, catalog_identity
from genvm_policy.numeric import format_units
from genvm_policy.policy import LIMITS
from genvm_policy.prng import Stream

__all__ = ["BACKOFF", "JITTER", "RECIPES", "Chain", "starter_chains", "starter_policy"]

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
"""Text-filter recipes a starter policy draws from; each strips zero-width
characters and normalises white space, so each is as safe as the stock one."""

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Chain:
    """One drawn chain: routes in order, each with its class number (1-based)."""

    routes: tuple[Route, ...]
    classes: tuple[int, ...]


def _position(route: Route, image: bool) -> int | None:
    return route.greybox_image if image else route.greybox_text


def _band(route: Route) -> int:
    # Powers of ten of micro-USD: 0.10–0.99 USD per million is one band. With no
    # price known nothing says a route is dearer, so unpriced routes share band 0.
    return 0 if route.price_in is None else len(str(route.price_in))


def _stock_key(route: Route, image: bool) -> tuple[bool, int, bool, int, bytes, bytes]:
    position = _position(route, image)
    price = route.price_in
    return (
        position is None,
        position or 0,
        price is None,
        price or 0,
        route.provider.encode(),
        route.model.encode(),
    )


def _classes(routes: list[Route], image: bool) -> list[list[Route]]:
    """Connected groups of equivalent routes (rule 2), in stock order."""
    parent = list(range(len(routes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, object], int] = {}
    for i, route in enumerate(routes):
        keys: list[tuple[str, object]] = [("family", route.family)]
        if _position(route, image) is not None:
            keys.append(("position", _position(route, image)))
        keys.append(("band", _band(route)))
        for key in keys:
            j = first.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[Route]] = {}
    for i, route in enumerate(routes):
        groups.setdefault(root(i), []).append(route)
    return sorted(groups.values(), key=lambda g: _stock_key(g[0], image))


def _shuffle(items: list[Any], stream: Stream) -> list[Any]:
    """Fisher–Yates: for i = n−1 down to 1, swap items i and below(i + 1)."""
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = stream.below(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def _chain(routes: list[Route], image: bool, stream: Stream) -> Chain:
    ordered = sorted(routes, key=lambda r: _stock_key(r, image))
    picked: list[Route] = []
    numbers: list[int] = []
    for n, group in enumerate(_classes(ordered, image), start=1):
        families: dict[str, list[Route]] = {}
        for route in group:
            families.setdefault(route.family, []).append(route)
        for family in _shuffle(list(families), stream):
            for route in _shuffle(families[family], stream):
                picked.append(route)
                numbers.append(n)
    cap = LIMITS["list"]
    return Chain(tuple(picked[:cap]), tuple(numbers[:cap]))


def starter_chains(catalog: Catalog, salt: bytes) -> tuple[Chain, Chain]:
    """The text chain and the image chain drawn from `salt` (rules 2 and 3)."""
    routes = sorted(catalog.routes, key=lambda r: (r.provider.encode(), r.model.encode()))
    text = _chain(routes, False, Stream(salt, "init/chain/text"))
    image = _chain([r for r in routes if r.image], True, Stream(salt, "init/chain/image"))
    return text, image


def _route_text(route: Route) -> str | list[str]:
    # `provider/model` splits at the first slash, so a slash in the provider needs the pair.
    if "/" in route.provider:
        return [route.provider, route.model]
    return f"{route.provider}/{route.model}"


def starter_policy(
    catalog: Catalog, salt: bytes, *, catalog_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """A starter policy for `catalog` unique to `salt`: (document, commented YAML).

    `catalog_id` may pass a precomputed catalog identity (it is only shown in
    the text). Raises `PRNG_KEY` unless `salt` has 1 … 64 bytes (a node salt
    has 32).
    """
    text, image = starter_chains(catalog, salt)
    jitter = Stream(salt, "init/jitter")
    low, high = (JITTER[0] + jitter.below(JITTER[1] - JITTER[0] + 1) for _ in range(2))
    recipe = RECIPES[Stream(salt, "init/filters").below(len(RECIPES))]
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
    document: dict[str, Any] = {
        "version": 2,
        "select": select,
        "mutate": [
            {"text_filters": list(recipe)},
            "use_max_completion_tokens",
            {"jitter": {"temperature": temperature}},
        ],
        "on_failure": {
            "overloaded": "next",
            "server": {"retry": {"attempts": 1, "backoff_ms": backoff, "then": "next"}},
            "network": "next",
        },
        "max_attempts": MAX_ATTEMPTS,
    }
    shown = catalog_id or catalog_identity(catalog)
    return document, _render(shown, text, image, recipe, temperature, backoff)


# -- the commented YAML text -------------------------------------------------
HEADER = """\
# Starter policy written by `genvm-policy init`: unique to this validator.
#
# Catalog: {catalog}
# Every choice below (the order of equivalent routes, the temperature jitter,
# the prompt text filters, the pause before a retry) was drawn from this node's
# secret salt, so two validators get different, equally sane policies and this
# node gets the same one each time. The salt is not in this file.
#
# Edit it freely, then check it and preview its decisions:
#   genvm-policy check policy.yaml --catalog NODE_CONFIG [--overlay OVERLAY]
#   genvm-policy explain --catalog NODE_CONFIG [--overlay OVERLAY] --policy policy.yaml
version: 2

# filter: nothing beyond the capability needs every policy has (a JSON or bool
# answer needs JSON support, an image needs vision), so it is left out.

# select: the failover order. {which}
# Equivalent routes (same family, same greybox position, or an input price in
# the same power of ten) form a class; classes keep the stock order (greybox
# position, then price), and the order inside each class was drawn from the
# salt. Reorder or delete lines to change it; a route the request cannot use
# is passed over.
select:
"""

FOOTER = """\

# mutate: the parameters of every attempt, applied in order.
mutate:
  # The host cleans the prompt with these text filters (drawn from recipes
  # that all strip zero-width characters and normalise white space).
  - text_filters: [{recipe}]
  # Routes that need `max_completion_tokens` get it, as the node config says.
  - use_max_completion_tokens
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

# max_attempts: at most this many provider calls per LLM call, retries included.
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


def _chain_lines(chain: Chain, image: bool, indent: str) -> list[str]:
    lines = [f"{indent}chain:"]
    for route, number in zip(chain.routes, chain.classes, strict=True):
        written = _route_text(route)
        item = (
            _quote(written)
            if isinstance(written, str)
            else "[" + ", ".join(_quote(t) for t in written) + "]"
        )
        position = _position(route, image)
        facts = [f"class {number}", f"family {route.family}"]
        if position is not None:
            facts.append(f"greybox {position}")
        if route.price_in is not None:
            facts.append(f"price_in {format_units(route.price_in, 6)}")
        # A comment ends at a line break, so unprintable characters show as `?`.
        note = "".join(c if c.isprintable() else "?" for c in ", ".join(facts))
        lines.append(f"{indent}  - {item}  # {note}")
    return lines


def _render(
    catalog: str,
    text: Chain,
    image: Chain,
    recipe: tuple[str, ...],
    temperature: list[str],
    backoff: int,
) -> str:
    if image.routes:
        which = "Image requests follow the image chain, every\n# other request the text chain."
        body = [
            "  tiers:",
            "    - filter: has_images  # requests with images",
            "      select:",
            *_chain_lines(image, True, "        "),
            '    - filter: "true"  # every other request',
            "      select:",
            *_chain_lines(text, False, "        "),
        ]
    else:
        which = "No route accepts images, so one chain serves\n# every request."
        body = _chain_lines(text, False, "  ")
    return (
        HEADER.format(catalog=catalog, which=which)
        + "\n".join(body)
        + "\n"
        + FOOTER.format(
            recipe=", ".join(recipe),
            low=temperature[0],
            high=temperature[1],
            backoff=backoff,
            attempts=MAX_ATTEMPTS,
        )
    )
