"""From model levels to the legs that may be published: round, filter, cap, mark reduce-only.

Rules, applied in integers of ticks and steps:

* each level is rounded (bids down, asks up, sizes down unless the model asks for a minimum) and
  kept post-only-safe (a bid below the best ask, an ask above the best bid);
* a leg the model sized above zero is raised to minQty and, unless it is reduce-only, to the
  minimum notional at its price (rounded up to the step), so a layer whose decayed size falls
  below the venue's minimum still exists at the minimum instead of vanishing; a leg must then have
  a positive price, at least minQty and, unless reduce-only, the minimum notional;
* netMax is a worst-case cap: with every bid filled the position stays ≤ netMax, with every ask
  filled ≥ −netMax. Each side is capped from the inside out; the leg that crosses the cap shrinks
  to fit when it still passes the filters, and the legs beyond it are dropped;
* ladder legs are never reduce-only in the normal mode: netMax already bounds the worst case, and
  a flag that flips with every fill (an amend cannot change it) would turn each fill into a cancel
  and a new order. Only a model's own reduce-only legs (a take-profit, a close) carry the flag;
* reduce-only legs never add up to more than the position: on the reducing side they are kept
  inside out up to |position| (the one that crosses shrinks to the rest), and a reduce-only leg on
  the side that would add (or with no position) is dropped. The venue would refuse both (-2022);
* in the risk mode ``reduce_only`` only the reducing side is kept, capped at the position.

The result is in canonical order: bids from the best down, then asks from the best up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from services.strategy.context import Market
from services.strategy.legs import Leg, Level, to_leg
from services.strategy.rounding import SIZE_SNAP, Grid, notional_ok


def finalize(levels: Iterable[Level], m: Market, net_steps: int, reduce_only_mode: bool) -> list[Leg]:
    """The publishable legs of a model's levels (see the module rules)."""
    g = m.grid
    bid_cap = m.touch_ticks("SELL") - 1
    ask_floor = m.touch_ticks("BUY") + 1
    bids: list[Leg] = []
    asks: list[Leg] = []
    for level in levels:
        leg = to_leg(level, g)
        if leg.side == "BUY" and leg.ticks > bid_cap:
            leg = leg._replace(ticks=bid_cap)
        elif leg.side == "SELL" and leg.ticks < ask_floor:
            leg = leg._replace(ticks=ask_floor)
        if level.size > 0:
            leg = _at_least_minimum(leg, g)
        if _valid(leg, g):
            (bids if leg.side == "BUY" else asks).append(leg)
    bids.sort(key=lambda x: (-x.ticks, x.layer))
    asks.sort(key=lambda x: (x.ticks, x.layer))
    return _cap_sides(bids, asks, m.q_steps, net_steps, reduce_only_mode, g)


def _at_least_minimum(leg: Leg, g: Grid) -> Leg:
    """``leg`` raised to minQty and, unless reduce-only, to the minimum notional at its price."""
    if leg.steps >= g.min_qty_steps and (
        leg.reduce_only or leg.ticks * g.tick_f * leg.steps * g.step_f > g.min_notional * 1.000001
    ):
        return leg  # the common case: clear of both minimums (the float margin covers rounding)
    need = g.min_qty_steps
    if not leg.reduce_only and g.min_notional > 0 and leg.ticks > 0:
        steps = max(math.ceil(g.min_notional / (leg.ticks * g.tick_f * g.step_f) - SIZE_SNAP), 1)
        while not notional_ok(leg.ticks, steps, g):  # float error at the boundary: the exact check
            steps += 1
        need = max(need, steps)
    return leg if leg.steps >= need else leg._replace(steps=min(need, g.max_qty_steps))


def _valid(leg: Leg, g: Grid) -> bool:
    if leg.ticks <= 0 or leg.steps < g.min_qty_steps:
        return False
    if leg.reduce_only or leg.ticks * g.tick_f * leg.steps * g.step_f > g.min_notional * 1.000001:
        return True
    return notional_ok(leg.ticks, leg.steps, g)


def _cap_sides(
    bids: list[Leg], asks: list[Leg], q: int, net: int, reduce_only_mode: bool, g: Grid
) -> list[Leg]:
    if reduce_only_mode:
        if q > 0:
            return _cap(asks, q, g, force_reduce=True)
        if q < 0:
            return _cap(bids, -q, g, force_reduce=True)
        return []
    bid_room, ask_room = net - q, net + q
    bids = _reduce_within(bids, max(-q, 0), g)
    asks = _reduce_within(asks, max(q, 0), g)
    return _cap(bids, bid_room, g) + _cap(asks, ask_room, g)


def _reduce_within(legs: list[Leg], position: int, g: Grid) -> list[Leg]:
    """The side's legs with its reduce-only ones, inside out, summing to at most ``position`` steps
    (0 on the side that would add): the crossing one shrinks to the rest, the ones beyond go."""
    out: list[Leg] = []
    left = position
    for leg in legs:
        kept = leg
        if leg.reduce_only:
            if left <= 0:
                continue
            if leg.steps > left:
                kept = leg._replace(steps=left)
                if not _valid(kept, g):
                    continue
            left -= kept.steps
        out.append(kept)
    return out


def _cap(legs: list[Leg], room: int, g: Grid, force_reduce: bool = False) -> list[Leg]:
    """Keep legs inside out while their total fits in ``room`` steps (all reduce-only if forced)."""
    out: list[Leg] = []
    used = 0
    for leg in legs:
        kept = leg if leg.steps <= room - used else leg._replace(steps=room - used)
        if kept is not leg and not _valid(kept._replace(reduce_only=kept.reduce_only or force_reduce), g):
            break
        used += kept.steps
        if force_reduce and not kept.reduce_only:
            kept = kept._replace(reduce_only=True)
        out.append(kept)
        if used >= room:
            break
    return out
