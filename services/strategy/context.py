"""What a model sees: one consistent snapshot of market, position and grid, as floats.

Built once per decision from the engine's inputs, so models never touch ``Decimal`` or the raw
``Features`` encoding (volatility keys, units) in their inner loops.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from common.messages import Features, Quote
from services.strategy.rounding import Grid


class Market(NamedTuple):
    """The decision's inputs as floats; ``q`` is the signed position in base units (long > 0)."""

    symbol: str
    now_ns: int
    features: Features
    grid: Grid
    mid: float
    best_bid: float
    best_ask: float
    q: float
    q_steps: int
    entry: float
    last_fill_ns: int
    last_fill_side: str
    working: tuple[Quote, ...]

    def passive(self, side: str, price: float) -> float:
        """A price a post-only order can rest at: a bid below the best ask, an ask above the best bid.

        The bound is half a tick inside, so directional rounding lands exactly one tick from the
        other side's best whatever the float noise.
        """
        half = 0.5 * self.grid.tick_f
        return min(price, self.best_ask - half) if side == "BUY" else max(price, self.best_bid + half)

    def touch_ticks(self, side: str) -> int:
        """The best price of a side, in ticks."""
        return round((self.best_bid if side == "BUY" else self.best_ask) / self.grid.tick_f)


def vol_of(f: Features, key: str) -> float | None:
    """``Features.vol[key]``, the std of mid log returns per √s, or None when absent or not positive."""
    v = f.vol.get(key)
    return v if v is not None and v > 0 and math.isfinite(v) else None


def sign(x: float) -> float:
    """−1, 0 or 1."""
    return (x > 0) - (x < 0)
