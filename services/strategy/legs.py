"""The two forms a quote takes inside the engine: a model :class:`Level` and an on-grid :class:`Leg`.

Models speak floats (``Level``); the engine rounds each level once onto the instrument's grid
(``Leg``: integer ticks and steps), applies the caps, compares with the last published set in
integers, and only then builds the exact ``Decimal`` :class:`~common.messages.Quote`.

Layer numbers: ladders use 0 … maxLayers−1 from the inside out (pinned far layers continue the
count); special orders use the fixed numbers below, so the gateway keys every order stably.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from common.messages import Quote, Side
from services.strategy.rounding import EDGE, FLOAT_EXACT_LIMIT, SIZE_SNAP, Grid, side_ticks

LAYER_TAKE_PROFIT = 100
"""ASMM's take-profit order (reduce-only, the whole position)."""
LAYER_GRIND_REENTRY = 101
"""Grinding's maker re-entry after a taker slice."""
LAYER_CLOSE = 102
"""Phase 1's maker close of a fill."""


class Level(NamedTuple):
    """A quote as a model wants it: float price and size.

    ``size_up`` rounds the size up instead of down (a minimum order value must be met);
    ``ticks`` > 0 is a price already on the grid (an order kept where it rests).
    """

    side: Side
    layer: int
    price: float
    size: float
    reduce_only: bool = False
    size_up: bool = False
    ticks: int = 0


class Leg(NamedTuple):
    """A quote on the grid: price in ticks, size in steps."""

    side: Side
    layer: int
    ticks: int
    steps: int
    reduce_only: bool = False


def to_leg(level: Level, g: Grid) -> Leg:
    """Round a level: bid prices down, ask prices up, sizes down (or up when ``size_up``).

    The common case is inlined (this runs for every layer of every decision); prices within float
    error of a tick, and sizes, follow :mod:`services.strategy.rounding` exactly.
    """
    ticks = level.ticks
    if not ticks:
        x = level.price / g.tick_f
        n = math.floor(x)
        if EDGE < x - n < 1.0 - EDGE and x < FLOAT_EXACT_LIMIT:
            ticks = n if level.side == "BUY" else n + 1
        else:
            ticks = side_ticks(level.side, level.price, g)
    y = level.size / g.step_f
    steps = math.ceil(y - SIZE_SNAP) if level.size_up else math.floor(y + SIZE_SNAP)
    return Leg(level.side, level.layer, ticks, min(steps, g.max_qty_steps), level.reduce_only)


def to_quote(leg: Leg, g: Grid) -> Quote:
    """The exact, publishable quote of a leg (post-only always: the strategy never takes by quote)."""
    return Quote(
        side=leg.side,
        price=g.tick * leg.ticks,
        qty=g.step * leg.steps,
        layer=leg.layer,
        reduce_only=leg.reduce_only,
    )


def reducing_side(q: float) -> Side:
    """The side that reduces a signed position (SELL when long)."""
    return "SELL" if q > 0 else "BUY"


def steps_size(steps: int, g: Grid) -> float:
    """The float size of a whole number of steps (rounding snaps it back to exactly ``steps``)."""
    return steps * g.step_f
