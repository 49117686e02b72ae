"""Funding bias: lean the quotes against the side that will pay funding at the next funding time.

On a perpetual, longs pay ``rate × mark`` per unit at each funding time when the rate is positive.
Holding inventory into funding therefore costs that much, so the reservation price moves by the
predicted payment: down when the rate is positive (sell more readily, buy less), up when it is
negative. The shift ramps in linearly over ``horizonS`` before the funding time, so quotes glide
instead of jumping, and it is zero when no funding time is known or it has passed.
"""

from __future__ import annotations

from common.messages import Features
from common.messages.base import NS_PER_MS
from common.params.strategy import FundingBiasParams


def funding_weight(now_ns: int, next_funding_ms: int, horizon_s: float) -> float:
    """0 beyond the horizon, rising linearly to 1 at the funding time; 0 when unknown or past."""
    if next_funding_ms <= 0:
        return 0.0
    left_s = (next_funding_ms * NS_PER_MS - now_ns) / 1e9
    if left_s < 0 or left_s > horizon_s:
        return 0.0
    return 1.0 - left_s / horizon_s


def funding_bias(f: Features, now_ns: int, mid: float, p: FundingBiasParams) -> float:
    """The reservation shift in price units: −strength · weight · rate · mid."""
    if not p.enabled or f.funding_rate == 0.0:
        return 0.0
    return -p.strength * funding_weight(now_ns, f.next_funding_time_ms, p.horizon_s) * f.funding_rate * mid
