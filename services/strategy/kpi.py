"""The passive band's KPIs (seed 003 §1.2) as a small pure accumulator the service turns into metrics.

* time in band: share of observed time during which every resting order was inside the band;
* two-sided time: share of time with at least one valid order (in band, at least minOrderValue)
  on each side;
* min-value share: share of placed orders worth at least minOrderValue;
* fill ratio: fills per placed order (the seed wants this below 0.5%);
* response: from the resting orders leaving the band (the price moved) to all of them back inside
  and two-sided, per excursion: the share within ``RESPONSE_TARGET_NS`` (100 ms) and the longest.

Time is integrated piecewise-constant: each observation closes the interval since the previous one
with the previous state of the book, so the shares are exact for the sequence of published sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from common.messages import Quote
from common.params.strategy import PassiveBandParams


def in_band(price: float, ref: float, p: PassiveBandParams) -> bool:
    """Whether a price lies within [bandMin, bandMax] of the reference (relative distance)."""
    d = abs(price - ref) / ref
    return p.band_min <= d <= p.band_max


RESPONSE_TARGET_NS = 100_000_000
"""Seed 003: a price change detected, the orders adjusted within 100 ms."""


class BandKpi(msgspec.Struct, frozen=True, kw_only=True):
    """Accumulated band KPIs of one symbol; every method returns a new value."""

    observed_ns: int = 0
    in_band_ns: int = 0
    two_sided_ns: int = 0
    orders: int = 0
    orders_min_value: int = 0
    fills: int = 0
    last_ns: int = 0
    last_in_band: bool = False
    last_two_sided: bool = False
    responses: int = 0
    responses_in_time: int = 0
    response_max_ns: int = 0

    def observe(self, now_ns: int, ref: float, quotes: Sequence[Quote], p: PassiveBandParams) -> BandKpi:
        """Close the interval since the last observation, then remember the current book's state."""
        dt = max(now_ns - self.last_ns, 0) if self.last_ns else 0
        inside = [in_band(float(q.price), ref, p) for q in quotes]
        valid_sides = {q.side for q, ok in zip(quotes, inside, strict=True) if ok and _value_ok(q, p)}
        return msgspec.structs.replace(
            self,
            observed_ns=self.observed_ns + dt,
            in_band_ns=self.in_band_ns + (dt if self.last_in_band else 0),
            two_sided_ns=self.two_sided_ns + (dt if self.last_two_sided else 0),
            last_ns=now_ns,
            last_in_band=bool(inside) and all(inside),
            last_two_sided=valid_sides == {"BUY", "SELL"},
        )

    def placed(self, quotes: Sequence[Quote], p: PassiveBandParams) -> BandKpi:
        """Count newly placed orders and how many meet the minimum order value."""
        meeting = sum(1 for q in quotes if _value_ok(q, p))
        return msgspec.structs.replace(
            self, orders=self.orders + len(quotes), orders_min_value=self.orders_min_value + meeting
        )

    def responded(self, took_ns: int) -> BandKpi:
        """One excursion out of the band ended after ``took_ns``."""
        return msgspec.structs.replace(
            self,
            responses=self.responses + 1,
            responses_in_time=self.responses_in_time + (took_ns <= RESPONSE_TARGET_NS),
            response_max_ns=max(self.response_max_ns, took_ns),
        )

    def filled(self, count: int = 1) -> BandKpi:
        """Count fills of the band's orders."""
        return msgspec.structs.replace(self, fills=self.fills + count)

    def ratios(self) -> dict[str, float]:
        """The five KPIs as fractions (0 before anything was observed; the response share 1 while
        no excursion happened)."""
        return {
            "time_in_band": _share(self.in_band_ns, self.observed_ns),
            "two_sided_time": _share(self.two_sided_ns, self.observed_ns),
            "min_value_share": _share(self.orders_min_value, self.orders),
            "fill_ratio": _share(self.fills, self.orders),
            "response_within_100ms": _share(self.responses_in_time, self.responses)
            if self.responses
            else 1.0,
        }

    def summary(self) -> str:
        """One line for ``mmctl status`` and the console: the five KPIs against seed 003's targets."""
        r = self.ratios()
        return (
            f"in_band={r['time_in_band']:.2%} two_sided={r['two_sided_time']:.2%} "
            f"min_value={r['min_value_share']:.2%} fill={r['fill_ratio']:.2%} "
            f"adjust<=100ms={r['response_within_100ms']:.0%} (max {self.response_max_ns / 1e6:.0f} ms)"
        )


def _value_ok(q: Quote, p: PassiveBandParams) -> bool:
    return float(q.price * q.qty) >= p.min_order_value


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
