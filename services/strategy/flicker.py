"""Anti-flicker: publish a new quote set only when it really differs from the last one published.

Every publication makes the gateway modify, cancel or place orders, which costs rate budget, loses
queue position and, done too often, draws the venue's attention (seed 000 §3.2, seed 002
"ErrFlicker").

First each leg is *anchored* (:func:`anchored`): a leg of the same side, layer, size and flag as
one last published keeps that price while the model's new price is within the leg's tolerance,
``max(publishToleranceTicks, publishToleranceRatio × its distance from the mid)``, and the old
price is still post-only-safe. So a far layer (hundreds of ticks out) rests while the market
wanders, and only the inner layers follow it; the gateway sees the same price and leaves the order
alone.

Within the rate budget (:func:`within_budget`): a publication costs one order action per quote
that is new, moved or removed (the gateway amends a moved quote in place). Over the last minute the
publications may cost at most ``maxActionsPerMinute``; when a set would cost more, its price moves
are kept from the innermost quote outward while they fit and the others stay where they were
published. New quotes, size and flag changes, removals and a quote whose old price would now take
always go (they follow the position, bound the exposure or keep the set post-only). So the
strategy plans within the budget, and risk's churn budget, one step further down the same chain
(checked when the settings load), rarely needs to clip.

Then a set differs when a quote appears or disappears, a size or flag changes, or a price moved
(beyond its tolerance, since it was not anchored). A differing set waits until ``quoteIntervalMs``
has passed since the last publication, except when it is empty (cancel promptly) or the risk mode
changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.messages.base import NS_PER_MS
from services.strategy.legs import Leg


def anchored(
    new: Sequence[Leg],
    old: Sequence[Leg],
    mid_ticks: float,
    tolerance_ticks: int,
    ratio: float,
    bid_cap: int,
    ask_floor: int,
) -> list[Leg]:
    """``new`` with each leg kept at its last published price while that is within the leg's
    tolerance and still passive (a bid at most ``bid_cap``, an ask at least ``ask_floor``)."""
    if not old:
        return list(new)
    last = {(leg.side, leg.layer): leg for leg in old}
    out: list[Leg] = []
    for leg in new:
        prev = last.get((leg.side, leg.layer))
        if (
            prev is not None
            and prev.ticks != leg.ticks
            and prev.steps == leg.steps
            and prev.reduce_only == leg.reduce_only
            and abs(prev.ticks - leg.ticks) <= max(tolerance_ticks, int(ratio * abs(leg.ticks - mid_ticks)))
            and (prev.ticks <= bid_cap if leg.side == "BUY" else prev.ticks >= ask_floor)
        ):
            out.append(prev)
        else:
            out.append(leg)
    return out


NS_PER_MINUTE = 60_000_000_000


def cost(new: Sequence[Leg], old: Sequence[Leg]) -> int:
    """Order actions to go from ``old`` to ``new``: each new, changed or removed quote is one."""
    before = {(leg.side, leg.layer): leg for leg in old}
    after = {(leg.side, leg.layer) for leg in new}
    changed = sum(1 for leg in new if before.get((leg.side, leg.layer)) != leg)
    return changed + sum(1 for key in before if key not in after)


def within_budget(
    new: Sequence[Leg], old: Sequence[Leg], left: int, mid_ticks: float, bid_cap: int, ask_floor: int
) -> tuple[list[Leg], int]:
    """``new`` costing at most ``left`` actions where only price moves can wait (see the module
    docstring; a quote whose old price would now take, a bid above ``bid_cap`` or an ask below
    ``ask_floor``, must move), and how many price moves waited."""
    total = cost(new, old)
    if total <= left:
        return list(new), 0
    before = {(leg.side, leg.layer): leg for leg in old}

    def moved_only(leg: Leg) -> bool:
        prev = before.get((leg.side, leg.layer))
        return (
            prev is not None
            and prev.ticks != leg.ticks
            and (prev.steps, prev.reduce_only) == (leg.steps, leg.reduce_only)
            and (prev.ticks <= bid_cap if leg.side == "BUY" else prev.ticks >= ask_floor)
        )

    moves = [i for i, leg in enumerate(new) if moved_only(leg)]
    room = left - (total - len(moves))  # what the must-go changes leave for the moves
    out = list(new)
    waited = 0
    for i in sorted(moves, key=lambda i: abs(new[i].ticks - mid_ticks)):
        if room > 0:
            room -= 1
        else:
            out[i] = before[(new[i].side, new[i].layer)]
            waited += 1
    return out, waited


def spent_in_minute(spent: tuple[tuple[int, int], ...], now_ns: int) -> tuple[tuple[int, int], ...]:
    """The entries of the minute ending at ``now_ns`` (``spent`` is in time order)."""
    cut = now_ns - NS_PER_MINUTE
    i = 0
    while i < len(spent) and spent[i][0] <= cut:
        i += 1
    return spent[i:] if i else spent


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
