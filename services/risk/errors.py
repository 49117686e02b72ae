"""How the venue sees our order flow: its error rate on our orders, which drives the noise-reduction
switch, and our quick-cancel ratio, which the churn budget keeps under a limit.

The error rate (seed 001 §11:
"at a high error rate or high latency, automatically lower the quoting frequency and the layers").

Each order's first outcome at the venue is one sample: accepted (``New``, or filled at once, or
refused with -5022 because the market moved onto a post-only price: an ordinary outcome for a
maker, not an error) or rejected (any other error code; an order the gateway held back without
sending it is no outcome). Both counts decay with a time constant of :data:`WINDOW_S`, so the
rate is that of about the last minute, and a quiet spell forgets old errors. Above
``errorRateThrottle`` (once at least ``errorRateMinOrders`` outcomes are counted) the approval keeps
only the ``errorThrottleLayers`` innermost quotes of each side and runs the churn budget at
``errorThrottleBudget`` of its size: fewer orders, sent more slowly, until the venue accepts them
again. The latency rule beside it
drops the innermost layers instead (a slow venue fills stale inner quotes first).

The quick-cancel ratio is Binance Futures' "Invalid Cancellation Ratio" (quantitative rules): of
our resting (GTC/GTX/GTD) orders accepted in the last 10 minutes, the share canceled less than
5 s after acceptance; Binance restricts a symbol at 0.99 once the order count is high (seed 000
§3.2: limit the cancel share). Above ``maxQuickCancelRatio`` (once ``quickCancelMinOrders`` are
counted) the approval runs the cancel budget at ``quickCancelBudget`` of its size, so quotes stay
where they rest (amends still move them) until the ratio comes down.
"""

from __future__ import annotations

import math

from services.risk.state import Market

WINDOW_S = 60.0
ACCEPTED = ("New", "PartiallyFilled", "Filled")
POST_ONLY_WOULD_TAKE = -5022
"""Binance's answer to a post-only (GTX) order that would have taken: counted as accepted."""


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


CANCEL_WINDOW_NS = 600 * 1_000_000_000
QUICK_NS = 5 * 1_000_000_000
RESTING = ("GTC", "GTX", "GTD")


def _prune(xs: list[int], now_ns: int) -> None:
    cut = now_ns - CANCEL_WINDOW_NS
    i = 0
    while i < len(xs) and xs[i] < cut:
        i += 1
    del xs[:i]


def placed(m: Market, now_ns: int) -> None:
    """A resting order of ours the venue accepted at ``now_ns``."""
    m.resting_placed.append(now_ns)
    _prune(m.resting_placed, now_ns)


def canceled(m: Market, born_ns: int, now_ns: int) -> None:
    """One of them canceled at ``now_ns``; a quick cancel when it lived under 5 s."""
    if born_ns and now_ns - born_ns < QUICK_NS:
        m.quick_cancels.append(now_ns)
        _prune(m.quick_cancels, now_ns)


def quick_cancel_ratio(m: Market, now_ns: int, min_orders: int) -> float | None:
    """Quick cancels over resting orders placed in the last 10 minutes; None under ``min_orders``."""
    _prune(m.resting_placed, now_ns)
    _prune(m.quick_cancels, now_ns)
    n = len(m.resting_placed)
    return len(m.quick_cancels) / n if n >= min_orders else None
