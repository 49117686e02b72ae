"""Anti-flicker: publish a new quote set only when it really differs from the last one published.

Every publication makes the gateway cancel and replace orders, which costs rate budget, loses queue
position and, done too often, draws the venue's attention (seed 000 §3.2, seed 002 "ErrFlicker").
A set differs when a quote appears or disappears, a size or flag changes, or a price moves by more
than ``publishToleranceTicks``. A differing set waits until ``quoteIntervalMs`` has passed since the
last publication, except when it is empty (cancel promptly) or the risk mode changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.strategy.legs import Leg

NS_PER_MS = 1_000_000


def differs(new: Sequence[Leg], old: Sequence[Leg], tolerance_ticks: int) -> bool:
    """Whether two sets (in the engine's canonical order) differ by more than the price tolerance."""
    if len(new) != len(old):
        return True
    for a, b in zip(new, old, strict=True):
        if a.side != b.side or a.layer != b.layer or a.steps != b.steps or a.reduce_only != b.reduce_only:
            return True
        if abs(a.ticks - b.ticks) > tolerance_ticks:
            return True
    return False


def should_publish(
    new: Sequence[Leg],
    old: Sequence[Leg],
    mode_changed: bool,
    since_last_ns: int,
    tolerance_ticks: int,
    interval_ms: int,
) -> bool:
    """The publish decision: a real change, and either urgent or past the quote interval."""
    if mode_changed:
        return True
    if not differs(new, old, tolerance_ticks):
        return False
    return not new or since_last_ns >= interval_ms * NS_PER_MS
