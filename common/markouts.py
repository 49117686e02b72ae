"""Markouts: how far the market's mid moved for us a while after each fill, in basis points.

One definition for the backtester's summary and the session report: for a fill at ``price`` and
the first mid sampled at or after the fill's time + ``h``, the markout is
``(mid − price)/price`` for a buy and ``(price − mid)/price`` for a sell (negative: the market
moved against the fill, adverse selection); the figure is their mean weighted by size. Fills with
no mid sampled ``h`` after them (too close to the end) are left out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

HORIZONS_S = (1, 5, 30)


def markout_bps(
    fills: Iterable[tuple[int, str, float, float]], mid_ns: list[int], mid_px: list[float], horizon_s: float
) -> float | None:
    """The size-weighted mean markout of ``fills`` (ts_ns, side, price, qty) ``horizon_s`` later,
    against mids sampled at ``mid_ns`` (ascending); None when no fill has a mid that late."""
    h = int(horizon_s * 1e9)
    num = den = 0.0
    for ts_ns, side, price, qty in fills:
        i = bisect.bisect_left(mid_ns, ts_ns + h)
        if i >= len(mid_ns) or price <= 0:
            continue
        move = (mid_px[i] - price) / price
        num += (move if side == "BUY" else -move) * qty
        den += qty
    return num / den * 1e4 if den else None
