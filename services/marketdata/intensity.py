"""Online estimate of the market-order arrival intensity λ(δ) = A·e^(−kδ) per side (reference
mm-theory §2.6).

Every sampling interval (100 ms by default) records, for each side, the *arrival depth*: the
farthest a market trade of that side reached from the mid at the start of that interval, in ticks
(buy aggressors above the mid hit the asks, sell aggressors below it hit the bids). A quote resting
δ ticks from the mid would have been hit in that interval if that side's arrival depth went
strictly past δ (a trade at the quote's own price is excluded: no queue position). Over a rolling
window, λ_side(δ) is the number of intervals whose depth passed δ per second. The grid is
δ = 0.5, 1.5, …, K − 0.5 ticks (a one-tick spread puts the mid half a tick from the touch), and
``log λ = log A − kδ`` is fitted by least squares on the grid points with positive counts.
A is per second *and per side* (what one quote on one side sees: the models' A), k per tick.

Each side is fitted on its own (``a_bid``/``k_bid``: sells hitting our bids; ``a_ask``/``k_ask``),
and ``a``/``k`` on the mean of the two sides' rates (the symmetric models' A and k; fitting both
sides pooled as one would count an interval reached by either side, about twice a side's rate).

Guards: a side is fitted only once its window holds ``min_arrivals`` intervals that reached the
touch and at least three grid points with counts; k is held inside [``k_min``, ``k_max``] per tick
(outside, a fit on a few sweeps says more about the noise than the market). Fallback: until a fit
succeeds the figures stay 0.0 (the strategy then uses its configured A and k, and says so in the
decision record: ``intensity_fixed``); after that, each keeps its last successful value.
``services.venue.calibrate`` drives this same estimator over a recorded file, so the live figure
and the calibration agree by construction.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from common.messages.base import NS_PER_S


@dataclass(frozen=True, slots=True)
class IntensityConfig:
    """Sampling and fitting of the arrival-intensity estimate; times in seconds, depth in ticks."""

    sample_interval_s: float = 0.1
    window_s: float = 600.0
    max_ticks: int = 70
    refit_interval_s: float = 5.0
    min_window_s: float = 60.0
    min_arrivals: int = 20
    k_min: float = 0.001
    k_max: float = 10.0

    def __post_init__(self) -> None:
        for name in ("sample_interval_s", "window_s", "refit_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"intensity.{name} must be positive, got {getattr(self, name)}")
        if self.max_ticks < 2:
            raise ValueError(f"intensity.max_ticks must be >= 2, got {self.max_ticks}")
        if not 0 <= self.min_window_s <= self.window_s:
            raise ValueError(f"intensity.min_window_s must lie in [0, window_s], got {self.min_window_s}")
        if self.min_arrivals < 1:
            raise ValueError(f"intensity.min_arrivals must be >= 1, got {self.min_arrivals}")
        if not 0 < self.k_min < self.k_max:
            raise ValueError(
                f"intensity.k_min and k_max must satisfy 0 < k_min < k_max, got {self.k_min}, {self.k_max}"
            )


def fit_exponential(
    depths: Sequence[float], rates: Sequence[float], min_points: int = 2
) -> tuple[float, float] | None:
    """OLS of ``log rate = log A − k·depth`` on the positive rates; (A, k), or None if unfittable
    (fewer than ``min_points`` positive rates, or a rate that does not fall with depth)."""
    pts = [(x, math.log(r)) for x, r in zip(depths, rates, strict=True) if r > 0]
    if len(pts) < max(min_points, 2):
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    if slope >= 0:
        return None
    return math.exp(my - slope * mx), -slope


class IntensityEstimator:
    """Arrival depths per interval and side over a rolling window, and the fits to them.

    Drive it with :meth:`on_mid` and :meth:`on_trade` in time order (prices in ticks). The figures
    stay 0.0 until a fit succeeds, then keep their last successful value (see the module's
    fallback).
    """

    def __init__(self, config: IntensityConfig | None = None) -> None:
        self.config = cfg = config or IntensityConfig()
        self._step_ns = round(cfg.sample_interval_s * NS_PER_S)
        self._refit_ns = round(cfg.refit_interval_s * NS_PER_S)
        size = max(1, round(cfg.window_s / cfg.sample_interval_s))
        self._samples: deque[tuple[int, int]] = deque(maxlen=size)  # (bid side, ask side) passed
        self._hist_bid = [0] * (cfg.max_ticks + 1)  # intervals by the grid points sells passed
        self._hist_ask = [0] * (cfg.max_ticks + 1)  # ... and buys
        self._interval_end = 0
        self._next_fit_ns = 0
        self._mid: float | None = None
        self._ref_mid: float | None = None
        self._depth_bid = -math.inf
        self._depth_ask = -math.inf
        self.a = self.k = 0.0
        self.a_bid = self.k_bid = 0.0
        self.a_ask = self.k_ask = 0.0

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
        if ref is None:
            return
        if is_buy:
            self._depth_ask = max(self._depth_ask, price_ticks - ref)
        else:
            self._depth_bid = max(self._depth_bid, ref - price_ticks)

    def advance(self, ts_ns: int) -> None:
        """Close every interval that ended by ``ts_ns``; refit when due."""
        if ts_ns < self._interval_end:
            return
        if not self._interval_end:
            self._interval_end, self._ref_mid = ts_ns + self._step_ns, self._mid
            return
        closed = (ts_ns - self._interval_end) // self._step_ns + 1
        self._record(self._depth_bid, self._depth_ask)
        for _ in range(min(closed - 1, self._samples.maxlen or 0)):
            self._record(-math.inf, -math.inf)
        self._interval_end += closed * self._step_ns
        self._ref_mid, self._depth_bid, self._depth_ask = self._mid, -math.inf, -math.inf
        if ts_ns >= self._next_fit_ns:
            self._next_fit_ns = ts_ns + self._refit_ns
            self.refit()

    def refit(self) -> bool:
        """Fit each side and the mean of both now; False when the pooled figures were kept (too few
        data, or unfittable); a side with enough data of its own is refitted either way."""
        cfg = self.config
        span_s = len(self._samples) * cfg.sample_interval_s
        if not self._samples or span_s < cfg.min_window_s:
            return False
        bid, ask = self.rates_bid(span_s), self.rates_ask(span_s)
        arrivals_bid, arrivals_ask = self._hist_total(self._hist_bid), self._hist_total(self._hist_ask)
        fit_bid, fit_ask = self._fit(bid, arrivals_bid), self._fit(ask, arrivals_ask)
        if fit_bid is not None:
            self.a_bid, self.k_bid = fit_bid
        if fit_ask is not None:
            self.a_ask, self.k_ask = fit_ask
        if fit_bid is None or fit_ask is None:
            return False
        mean = [(b + a) / 2 for b, a in zip(bid, ask, strict=True)]
        both = self._fit(mean, min(arrivals_bid, arrivals_ask))
        if both is None:
            return False
        self.a, self.k = both
        return True

    def _fit(self, rates: list[float], arrivals: int) -> tuple[float, float] | None:
        cfg = self.config
        if arrivals < cfg.min_arrivals:
            return None
        fitted = fit_exponential([j + 0.5 for j in range(cfg.max_ticks)], rates, min_points=3)
        if fitted is None:
            return None
        a, k = fitted
        return a, min(max(k, cfg.k_min), cfg.k_max)

    @staticmethod
    def _hist_total(hist: list[int]) -> int:
        """Intervals whose depth passed the first grid point (reached past the touch)."""
        return sum(hist[1:])

    def rates_bid(self, span_s: float) -> list[float]:
        """λ of the bid side (sells) at each grid point, per second of ``span_s``."""
        return self._rates(self._hist_bid, span_s)

    def rates_ask(self, span_s: float) -> list[float]:
        """λ of the ask side (buys) at each grid point, per second of ``span_s``."""
        return self._rates(self._hist_ask, span_s)

    def _rates(self, hist: list[int], span_s: float) -> list[float]:
        passed, out = 0, [0.0] * self.config.max_ticks
        for j in range(self.config.max_ticks - 1, -1, -1):
            passed += hist[j + 1]
            out[j] = passed / span_s
        return out

    def _record(self, depth_bid: float, depth_ask: float) -> None:
        cap = self.config.max_ticks
        pb = 0 if depth_bid <= 0.5 else min(math.ceil(depth_bid - 0.5), cap)
        pa = 0 if depth_ask <= 0.5 else min(math.ceil(depth_ask - 0.5), cap)
        if len(self._samples) == self._samples.maxlen:
            ob, oa = self._samples[0]
            self._hist_bid[ob] -= 1
            self._hist_ask[oa] -= 1
        self._samples.append((pb, pa))
        self._hist_bid[pb] += 1
        self._hist_ask[pa] += 1
