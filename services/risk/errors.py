"""The venue's error rate on our orders, and the noise-reduction switch it drives (seed 001 §11:
"at a high error rate or high latency, automatically lower the quoting frequency and the layers").

Each order's first outcome at the venue is one sample: accepted (``New``, or filled at once) or
rejected. Both counts decay with a time constant of :data:`WINDOW_S`, so the rate is that of about
the last minute, and a quiet spell forgets old errors. Above ``errorRateThrottle`` (once at least
``errorRateMinOrders`` outcomes are counted) the approval keeps only the ``errorThrottleLayers``
innermost quotes of each side and runs the churn budget at ``errorThrottleBudget`` of its size:
fewer orders, sent more slowly, until the venue accepts them again. The latency rule beside it
drops the innermost layers instead (a slow venue fills stale inner quotes first).
"""

from __future__ import annotations

import math

from services.risk.state import Market

WINDOW_S = 60.0
ACCEPTED = ("New", "PartiallyFilled", "Filled")


def _decay(m: Market, now_ns: int) -> None:
    if m.outcomes_ns and now_ns > m.outcomes_ns:
        f = math.exp(-(now_ns - m.outcomes_ns) / 1e9 / WINDOW_S)
        m.outcomes *= f
        m.errors *= f
    m.outcomes_ns = max(m.outcomes_ns, now_ns)


def record(m: Market, rejected: bool, now_ns: int) -> None:
    """One order's outcome at ``now_ns``."""
    _decay(m, now_ns)
    m.outcomes += 1.0
    m.errors += 1.0 if rejected else 0.0


def rate(m: Market, now_ns: int, min_orders: float) -> float | None:
    """The decayed share of rejected orders at ``now_ns``; None with fewer than ``min_orders``."""
    _decay(m, now_ns)
    return m.errors / m.outcomes if m.outcomes + 1e-6 >= min_orders else None
