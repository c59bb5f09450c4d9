"""The chains of a starter policy: which routes, in which order, drawn from the salt.

Spec: docs/SPEC.md §11 (Starter policies), rules 2, 3 and 6; the document and its
commented text are `genvm_policy.authoring.initpolicy`.

Rules:
1. The vetted chain of a class is the node's own: the routes with a
   `meta.greybox` position for it (text, or image for requests with images).
   When the node has one, the chain holds only its routes and names the
   others as left out, unless `include_unchained` appends them (in the
   node's order). Without one, the text chain lists every route and the
   image chain every route that accepts images.
2. The node's order is the stock key: position, then input price, then
   provider and model bytes. A chain's order is one of `SHAPES`, drawn once
   per salt from `init/shape`; each chain draws from its own stream
   (`init/chain/text`, `init/chain/image`):
   - `groups`: classes of equivalent routes (same family, same position, or
     input prices in the same power of ten; unpriced routes share one band)
     keep the node's order; inside each class the families, then each
     family's routes, are Fisher–Yates shuffled.
   - `weighted`: routes drawn one by one without replacement, the `i`-th
     left in the node's order (from 0) with weight `n − i`: the node's early
     choices lead more often, none always.
   - `spread`: the families and each family's routes are shuffled, then one
     route of each family in turn, so a failover first changes family.
   A chain keeps its first `LIMITS["list"]` routes.
3. `max_attempts` covers the longest chain: `min(16, max(8, length))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.core.catalog import Catalog, Route
from genvm_policy.core.policy import LIMITS
from genvm_policy.core.prng import Stream

__all__ = [
    "ATTEMPTS",
    "SHAPES",
    "Chain",
    "max_attempts",
    "position",
    "shape_of",
    "starter_chains",
]

SHAPES = ("groups", "weighted", "spread")
"""The chain shapes of rule 2, in the order `below(3)` indexes them."""

ATTEMPTS = (8, 16)
"""`max_attempts` is at least the stock 8 and at most the policy limit 16."""


@dataclass(frozen=True)
class Chain:
    """One drawn chain: routes in order, the node's order of the same routes, what is out."""

    routes: tuple[Route, ...]
    node: tuple[Route, ...]
    vetted: bool
    """Whether the node has a chain for this class (rule 1)."""
    left_out: tuple[Route, ...]
    """The node's routes for this class the chain leaves out (rule 1), in the node's order."""
    unchained: int = 0
    """How many of `routes` have no position in the node's chain (`include_unchained`)."""


def position(route: Route, image: bool) -> int | None:
    """`route`'s place in the node's text or image chain (`meta.greybox`), None outside it."""
    return route.greybox_image if image else route.greybox_text


def _band(route: Route) -> int:
    # Powers of ten of micro-USD: 0.10–0.99 USD per million is one band. With no
    # price known nothing says a route is dearer, so unpriced routes share band 0.
    return 0 if route.price_in is None else len(str(route.price_in))


def _stock_key(route: Route, image: bool) -> tuple[bool, int, bool, int, bytes, bytes]:
    place = position(route, image)
    price = route.price_in
    return (
        place is None,
        place or 0,
        price is None,
        price or 0,
        route.provider.encode(),
        route.model.encode(),
    )


def _classes(routes: list[Route], image: bool) -> list[list[Route]]:
    """Connected groups of equivalent routes (rule 2, `groups`), in the node's order."""
    parent = list(range(len(routes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, object], int] = {}
    for i, route in enumerate(routes):
        keys: list[tuple[str, object]] = [("family", route.family)]
        if position(route, image) is not None:
            keys.append(("position", position(route, image)))
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


def _families(routes: list[Route]) -> dict[str, list[Route]]:
    families: dict[str, list[Route]] = {}
    for route in routes:
        families.setdefault(route.family, []).append(route)
    return families


def _groups(ordered: list[Route], image: bool, stream: Stream) -> list[Route]:
    picked: list[Route] = []
    for group in _classes(ordered, image):
        families = _families(group)
        for family in _shuffle(list(families), stream):
            picked.extend(_shuffle(families[family], stream))
    return picked


def _weighted(ordered: list[Route], stream: Stream) -> list[Route]:
    left = list(ordered)
    picked: list[Route] = []
    while left:
        n = len(left)
        x = stream.below(n * (n + 1) // 2)  # weights n, n − 1, …, 1 in the node's order
        i = 0
        while x >= n - i:
            x -= n - i
            i += 1
        picked.append(left.pop(i))
    return picked


def _spread(ordered: list[Route], stream: Stream) -> list[Route]:
    families = _families(ordered)
    queues = [_shuffle(families[f], stream) for f in _shuffle(list(families), stream)]
    picked: list[Route] = []
    for turn in range(max(map(len, queues), default=0)):
        picked.extend(q[turn] for q in queues if turn < len(q))
    return picked


def _chain(routes: list[Route], image: bool, shape: str, stream: Stream, wide: bool) -> Chain:
    node = sorted(routes, key=lambda r: _stock_key(r, image))
    vetted = [r for r in node if position(r, image) is not None]
    used = vetted if vetted else node
    if shape == "weighted":
        picked = _weighted(used, stream)
    elif shape == "spread":
        picked = _spread(used, stream)
    else:
        picked = _groups(used, image, stream)
    out = [r for r in node if position(r, image) is None] if vetted else []
    if wide:
        picked, out = picked + out, []
    kept = picked[: LIMITS["list"]]
    extra = max(0, len(kept) - len(used))
    return Chain(tuple(kept), tuple(node), bool(vetted), tuple(out), extra)


def starter_chains(
    catalog: Catalog, salt: bytes, *, include_unchained: bool = False
) -> tuple[Chain, Chain]:
    """The text chain and the image chain drawn from `salt` (rules 1 and 2)."""
    routes = sorted(catalog.routes, key=lambda r: (r.provider.encode(), r.model.encode()))
    shape = shape_of(salt)
    wide = include_unchained
    text = _chain(routes, False, shape, Stream(salt, "init/chain/text"), wide)
    images = [r for r in routes if r.image]
    image = _chain(images, True, shape, Stream(salt, "init/chain/image"), wide)
    return text, image


def shape_of(salt: bytes) -> str:
    """The chain shape `salt` draws (rule 2)."""
    return SHAPES[Stream(salt, "init/shape").below(len(SHAPES))]


def max_attempts(text: Chain, image: Chain) -> int:
    """Enough attempts for the longest chain, within the policy's bounds (rule 3)."""
    return min(ATTEMPTS[1], max(ATTEMPTS[0], len(text.routes), len(image.routes)))
