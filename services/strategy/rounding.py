"""Fast, exact rounding of model prices and sizes onto an instrument's tick and step grid.

The models work in floats; every published price and size is an integer number of ticks and steps,
turned into an exact ``Decimal`` once per quote.

Prices: the float path ``floor(price / tick)`` is exact except when the quotient lies within float
error of an integer; there the exact ``Decimal`` helper of :mod:`common.instrument` decides, so the
result always equals ``price_for_side`` on the float's shortest decimal form: a bid never rounds up,
an ask never rounds down.

Sizes: a size within a millionth of a step of a whole number of steps is that number (so
2.3 × 0.02 = 0.045999999999999996 is 0.046, not 0.045); otherwise it rounds down (or up when a
minimum must be met). Sizes carry no direction to protect, and the caps work on the rounded steps.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

from common.instrument import price_for_side, round_up
from common.messages import Instrument

EDGE = 1e-7
"""Price quotients closer than this to an integer take the exact path."""
FLOAT_EXACT_LIMIT = 1e8
"""Beyond this many ticks float error could reach EDGE: always the exact path."""
SIZE_SNAP = 1e-6
"""Sizes this close (in steps) to a whole number of steps snap to it."""


class Grid(NamedTuple):
    """An instrument's filters as floats and integers, derived once per decision."""

    inst: Instrument
    tick: Decimal
    step: Decimal
    tick_f: float
    step_f: float
    min_qty_steps: int
    max_qty_steps: int
    min_notional: float


def grid_of(inst: Instrument) -> Grid:
    """The rounding grid of one instrument."""
    min_steps = int(round_up(inst.min_qty, inst.qty_step) / inst.qty_step)
    max_steps = int(inst.max_qty / inst.qty_step)
    return Grid(
        inst,
        inst.price_tick,
        inst.qty_step,
        float(inst.price_tick),
        float(inst.qty_step),
        max(min_steps, 1),
        max_steps,
        float(inst.min_notional),
    )


def _floor_clear(x: float) -> int | None:
    """``floor(x)`` when x is clear of an integer by more than float error, else None (exact path)."""
    n = math.floor(x)
    frac = x - n
    if EDGE < frac < 1.0 - EDGE and x < FLOAT_EXACT_LIMIT:
        return n
    return None


def bid_ticks(price: float, g: Grid) -> int:
    """A bid price rounded down to the tick, in ticks."""
    n = _floor_clear(price / g.tick_f)
    return n if n is not None else int(price_for_side(g.inst, "BUY", price) / g.tick)


def ask_ticks(price: float, g: Grid) -> int:
    """An ask price rounded up to the tick, in ticks."""
    n = _floor_clear(price / g.tick_f)
    return n + 1 if n is not None else int(price_for_side(g.inst, "SELL", price) / g.tick)


def side_ticks(side: str, price: float, g: Grid) -> int:
    """Directional rounding: bids down, asks up, so rounding never makes a quote more aggressive."""
    return bid_ticks(price, g) if side == "BUY" else ask_ticks(price, g)


def steps_down(size: float, g: Grid) -> int:
    """A size rounded down to the step (snapping to a step it is within float error of), in steps."""
    return max(math.floor(size / g.step_f + SIZE_SNAP), 0)


def steps_up(size: float, g: Grid) -> int:
    """A size rounded up to the step (at least what was asked, e.g. a minimum order value), in steps."""
    return max(math.ceil(size / g.step_f - SIZE_SNAP), 0)


def notional_ok(ticks: int, steps: int, g: Grid) -> bool:
    """Whether price × qty reaches the instrument's minimum notional (exact at the boundary)."""
    if g.min_notional <= 0:
        return True
    value = ticks * g.tick_f * steps * g.step_f
    if value > g.min_notional * (1 + 1e-9):
        return True
    if value < g.min_notional * (1 - 1e-9):
        return False
    return g.tick * ticks * (g.step * steps) >= g.inst.min_notional


def price_of(ticks: int, g: Grid) -> Decimal:
    """The exact price of a number of ticks, with the tick's exponent (as ``price_for_side`` gives)."""
    return g.tick * ticks


def qty_of(steps: int, g: Grid) -> Decimal:
    """The exact quantity of a number of steps, with the step's exponent."""
    return g.step * steps
