"""Online estimate of the market-order arrival intensity λ(δ) = A·e^(−kδ) (reference mm-theory §2.6).

Every sampling interval (100 ms by default) records the *arrival depth*: the farthest any market
trade reached from the mid at the start of that interval, in ticks (buys above the mid, sells
below). A quote resting δ ticks from the mid would have been hit in that interval if the arrival
depth went strictly past δ (a trade at the quote's own price is excluded: no queue position).
Over a rolling window, λ(δ) is the number of intervals whose depth passed δ per second. The grid
is δ = 0.5, 1.5, …, K − 0.5 ticks (a one-tick spread puts the mid half a tick from the touch),
and ``log λ = log A − kδ`` is fitted by least squares on the grid points with positive counts.
A is per second, k per tick. Unlike hftbacktest's tutorial, the grid is in whole ticks.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class IntensityConfig:
    """Sampling and fitting of the arrival-intensity estimate; times in seconds, depth in ticks."""

    sample_interval_s: float = 0.1
    window_s: float = 600.0
    max_ticks: int = 70
    refit_interval_s: float = 5.0
    min_window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("sample_interval_s", "window_s", "refit_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"intensity.{name} must be positive, got {getattr(self, name)}")
        if self.max_ticks < 2:
            raise ValueError(f"intensity.max_ticks must be >= 2, got {self.max_ticks}")
        if not 0 <= self.min_window_s <= self.window_s:
            raise ValueError(f"intensity.min_window_s must lie in [0, window_s], got {self.min_window_s}")


def fit_exponential(depths: Sequence[float], rates: Sequence[float]) -> tuple[float, float] | None:
    """OLS of ``log rate = log A − k·depth`` on the positive rates; (A, k), or None if unfittable."""
    pts = [(x, math.log(r)) for x, r in zip(depths, rates, strict=True) if r > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    if slope >= 0:
        return None
    return math.exp(my - slope * mx), -slope


class IntensityEstimator:
    """Arrival depths per interval over a rolling window, and the (A, k) fitted to them.

    Drive it with :meth:`on_mid` and :meth:`on_trade` in time order (prices in ticks). ``a`` and
    ``k`` keep their previous values (0.0 at first) until a fit succeeds.
    """

    def __init__(self, config: IntensityConfig | None = None) -> None:
        self.config = cfg = config or IntensityConfig()
        self._step_ns = round(cfg.sample_interval_s * NS_PER_S)
        self._refit_ns = round(cfg.refit_interval_s * NS_PER_S)
        self._samples: deque[int] = deque(maxlen=max(1, round(cfg.window_s / cfg.sample_interval_s)))
        self._hist = [0] * (cfg.max_ticks + 1)  # intervals by the number of grid points passed
        self._interval_end = 0
        self._next_fit_ns = 0
        self._mid: float | None = None
        self._ref_mid: float | None = None
        self._max_depth = -math.inf
        self.a = 0.0
        self.k = 0.0

    @property
    def samples(self) -> int:
        """Intervals in the window."""
        return len(self._samples)

    def on_mid(self, mid_ticks: float, ts_ns: int) -> None:
        """The mid (in ticks) changed at ``ts_ns``."""
        self.advance(ts_ns)
        self._mid = mid_ticks
        if self._ref_mid is None:  # no mid when the interval opened: the first one seen stands in
            self._ref_mid = mid_ticks

    def on_trade(self, price_ticks: float, is_buy: bool, ts_ns: int) -> None:
        """A market trade; ``is_buy`` when the aggressor bought."""
        self.advance(ts_ns)
        ref = self._ref_mid
        if ref is not None:
            depth = price_ticks - ref if is_buy else ref - price_ticks
            self._max_depth = max(self._max_depth, depth)

    def advance(self, ts_ns: int) -> None:
        """Close every interval that ended by ``ts_ns``; refit when due."""
        if ts_ns < self._interval_end:
            return
        if not self._interval_end:
            self._interval_end, self._ref_mid = ts_ns + self._step_ns, self._mid
            return
        closed = (ts_ns - self._interval_end) // self._step_ns + 1
        self._record(self._max_depth)
        for _ in range(min(closed - 1, self._samples.maxlen or 0)):
            self._record(-math.inf)
        self._interval_end += closed * self._step_ns
        self._ref_mid, self._max_depth = self._mid, -math.inf
        if ts_ns >= self._next_fit_ns:
            self._next_fit_ns = ts_ns + self._refit_ns
            self.refit()

    def refit(self) -> bool:
        """Fit (A, k) now from the window; False (values kept) when data are too few or unfittable."""
        cfg = self.config
        n = len(self._samples)
        span_s = n * cfg.sample_interval_s
        if n == 0 or span_s < cfg.min_window_s:
            return False
        fitted = fit_exponential([j + 0.5 for j in range(cfg.max_ticks)], self.rates(span_s))
        if fitted is None:
            return False
        self.a, self.k = fitted
        return True

    def rates(self, span_s: float) -> list[float]:
        """λ at each grid point: intervals whose depth passed it, per second of ``span_s``."""
        passed, out = 0, [0.0] * self.config.max_ticks
        for j in range(self.config.max_ticks - 1, -1, -1):
            passed += self._hist[j + 1]
            out[j] = passed / span_s
        return out

    def _record(self, depth: float) -> None:
        cap = self.config.max_ticks
        passed = 0 if depth <= 0.5 else min(math.ceil(depth - 0.5), cap)
        if len(self._samples) == self._samples.maxlen:
            self._hist[self._samples[0]] -= 1
        self._samples.append(passed)
        self._hist[passed] += 1
