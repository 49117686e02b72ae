"""Time-weighted statistics over irregular event times: decayed volatility and flow, windowed TWAP/VWAP.

Market events arrive at irregular times, so every average here weighs by elapsed time, not by
event count. Timestamps are integer nanoseconds supplied by the caller; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections import deque

from common.messages.base import NS_PER_S

LN2 = math.log(2.0)


def decay_rate(half_life_s: float) -> float:
    """The exponential decay rate per nanosecond for a half-life given in seconds."""
    if half_life_s <= 0:
        raise ValueError(f"half-life must be positive, got {half_life_s}")
    return LN2 / (half_life_s * NS_PER_S)


class DecayedVolatility:
    """Std of log returns per √second, from returns weighted by ``exp(-λ·age)``.

    Each return r over an interval dt enters as r² beside dt; the estimate is
    ``sqrt(Σ w·r² / Σ w·dt)``, so irregular steps are weighted by the time they cover and a quiet
    stretch (r = 0) lowers the estimate as it should. Returns are not de-meaned (at these horizons
    the drift is noise). Multiply by the mid for price units per √s.
    """

    __slots__ = ("_rate", "_sum_dt", "_sum_r2")

    def __init__(self, half_life_s: float) -> None:
        self._rate = decay_rate(half_life_s)
        self._sum_r2 = 0.0
        self._sum_dt = 0.0

    def update(self, r: float, dt_ns: int) -> None:
        """Add one log return ``r`` that took ``dt_ns`` nanoseconds."""
        w = math.exp(-self._rate * dt_ns)
        self._sum_r2 = self._sum_r2 * w + r * r
        self._sum_dt = self._sum_dt * w + dt_ns / NS_PER_S

    @property
    def value(self) -> float:
        """Std per √s (0.0 before any time has passed)."""
        return math.sqrt(self._sum_r2 / self._sum_dt) if self._sum_dt > 0 else 0.0


class DecayedFlow:
    """Trade-flow imbalance: decayed signed volume over decayed volume, in [-1, 1]."""

    __slots__ = ("_last_ns", "_rate", "_signed", "_total")

    def __init__(self, half_life_s: float) -> None:
        self._rate = decay_rate(half_life_s)
        self._signed = 0.0
        self._total = 0.0
        self._last_ns = 0

    def update(self, qty: float, is_buy: bool, ts_ns: int) -> None:
        """Add one trade of ``qty`` with its aggressor side."""
        w = math.exp(-self._rate * max(ts_ns - self._last_ns, 0)) if self._last_ns else 1.0
        self._signed = self._signed * w + (qty if is_buy else -qty)
        self._total = self._total * w + qty
        self._last_ns = ts_ns

    @property
    def value(self) -> float:
        """Imbalance (both sums decay alike, so the ratio needs no query time)."""
        return self._signed / self._total if self._total > 0 else 0.0


class Twap:
    """Time-weighted average of a step function (the mid) over the last ``window_s`` seconds.

    The value holds from one update to the next. Before a full window has passed, the average
    covers the time seen so far.
    """

    __slots__ = ("_area", "_segments", "_window_ns")

    def __init__(self, window_s: float) -> None:
        self._window_ns = int(window_s * NS_PER_S)
        self._segments: deque[tuple[int, float]] = deque()  # (start ns, value); the last is open
        self._area = 0.0  # Σ value·duration of the closed segments, in value·ns

    def update(self, value: float, ts_ns: int) -> None:
        """The value becomes ``value`` at ``ts_ns``."""
        segs = self._segments
        if segs:
            start, last = segs[-1]
            if value == last or ts_ns < start:
                return
            self._area += last * (ts_ns - start)
        segs.append((ts_ns, value))
        self._evict(ts_ns)

    def value(self, now_ns: int) -> float:
        """The average over ``[now - window, now]`` (0.0 before the first update)."""
        self._evict(now_ns)
        segs = self._segments
        if not segs:
            return 0.0
        first_start, first = segs[0]
        last_start, last = segs[-1]
        now_ns = max(now_ns, last_start)
        lo = max(first_start, now_ns - self._window_ns)
        if now_ns <= lo:
            return last
        area = self._area + last * (now_ns - last_start) - first * (lo - first_start)
        return area / (now_ns - lo)

    def _evict(self, now_ns: int) -> None:
        segs, lo = self._segments, now_ns - self._window_ns
        while len(segs) > 1 and segs[1][0] <= lo:
            start, value = segs.popleft()
            self._area -= value * (segs[0][0] - start)
        if len(segs) == 1:
            self._area = 0.0  # only the open segment is left: no float residue


class Vwap:
    """Volume-weighted average trade price over the last ``window_s`` seconds."""

    __slots__ = ("_notional", "_qty", "_trades", "_window_ns")

    def __init__(self, window_s: float) -> None:
        self._window_ns = int(window_s * NS_PER_S)
        self._trades: deque[tuple[int, float, float]] = deque()  # (ts ns, price·qty, qty)
        self._notional = 0.0
        self._qty = 0.0

    def update(self, price: float, qty: float, ts_ns: int) -> None:
        """Add one trade."""
        self._trades.append((ts_ns, price * qty, qty))
        self._notional += price * qty
        self._qty += qty
        self._evict(ts_ns)

    def value(self, now_ns: int) -> float:
        """The VWAP of trades in ``(now - window, now]``; 0.0 when there were none."""
        self._evict(now_ns)
        return self._notional / self._qty if self._trades and self._qty > 0 else 0.0

    def _evict(self, now_ns: int) -> None:
        trades, lo = self._trades, now_ns - self._window_ns
        while trades and trades[0][0] <= lo:
            _, notional, qty = trades.popleft()
            self._notional -= notional
            self._qty -= qty
        if not trades:
            self._notional = self._qty = 0.0  # no float residue carried into the next window
