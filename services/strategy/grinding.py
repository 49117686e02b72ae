"""Grinding (seed 002 §4.5): work a near-cap position's cost down in a calm market.

Trigger: |position| above ``threshold``·netMax and a calm market, i.e. the price's standard
deviation over ``stdDevWindowS`` (``Features.vol[volKey]``·√stdDevWindowS) below ``maxStdDev``:
the seed's 30-minute std under 0.38 %.

Action: sell (or buy back) ``takerFraction`` of the position as a taker, and rest a maker
re-entry on the other side ``reentryBps`` better than the price the slice took (below the best bid
when long), of ``reentrySizeMultiplier`` times the slice, never more aggressive than the model's
own inner quote on that side (so it cannot undo the inventory skew); the netMax cap bounds it too.
If the market stays calm the re-entry fills and the inventory is rebuilt at a better average
price. One slice per ``cooldownS``.

Release: the re-entry is withdrawn once an order on its side fills after the slice; grinding stops
when |position| falls below ``release``·netMax, the market stops being calm (or its volatility is
unknown) or the position flips.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from common.messages import ReducePosition
from common.messages.base import NS_PER_S
from common.params.strategy import GrindingParams
from services.strategy.context import Market, vol_of
from services.strategy.legs import LAYER_GRIND_REENTRY, Level, reducing_side
from services.strategy.rounding import qty_of, steps_down
from services.strategy.state import GrindState


class GrindOutcome(NamedTuple):
    """Grinding's new state, its taker request (if any), its re-entry level (if any) and flags."""

    state: GrindState
    actions: list[ReducePosition]
    levels: list[Level]
    flags: list[str]


def grind(
    st: GrindState, m: Market, net_max: float, p: GrindingParams, inner: tuple[float, float]
) -> GrindOutcome:
    """One grinding step: release, trigger a slice, or keep the re-entry resting.

    ``inner`` is the model's (bid, ask) inner quote: the re-entry is never more aggressive than it,
    so grinding never undoes the inventory skew.
    """
    if not p.enabled or m.q == 0:
        return GrindOutcome(GrindState(last_ns=st.last_ns), [], [], [])
    load = abs(m.q) / net_max
    vol = vol_of(m.features, p.vol_key)
    calm = vol is not None and vol * math.sqrt(p.std_dev_window_s) < p.max_std_dev
    if st.active and (load < p.release or not calm or st.side != reducing_side(m.q)):
        st = GrindState(last_ns=st.last_ns)
    actions: list[ReducePosition] = []
    cooled = st.last_ns == 0 or m.now_ns - st.last_ns >= p.cooldown_s * NS_PER_S
    if load > p.threshold and calm and cooled:
        st, actions = _slice(m, p)
    st = _reentry_done(st, m)
    return GrindOutcome(st, actions, _reentry_level(st, inner), ["grinding"] if st.active else [])


def _slice(m: Market, p: GrindingParams) -> tuple[GrindState, list[ReducePosition]]:
    """The taker slice and the re-entry it leaves behind; nothing when the slice rounds below minQty."""
    steps = steps_down(abs(m.q) * p.taker_fraction, m.grid)
    if steps < m.grid.min_qty_steps:
        return GrindState(last_ns=m.now_ns), []
    side = reducing_side(m.q)
    slice_qty = steps * m.grid.step_f
    if side == "SELL":
        price = m.best_bid * (1.0 - p.reentry_bps * 1e-4)
    else:
        price = m.best_ask * (1.0 + p.reentry_bps * 1e-4)
    state = GrindState(
        active=True,
        last_ns=m.now_ns,
        side=side,
        reentry_price=price,
        reentry_size=slice_qty * p.reentry_size_multiplier,
    )
    reduce = ReducePosition(symbol=m.symbol, qty=qty_of(steps, m.grid), mode="taker", reason="grinding")
    return state, [reduce]


def _reentry_done(st: GrindState, m: Market) -> GrindState:
    """Withdraw the re-entry once an order on its side filled after the slice was taken."""
    adding = "BUY" if st.side == "SELL" else "SELL"
    if st.active and st.reentry_size > 0 and m.last_fill_side == adding and m.last_fill_ns > st.last_ns:
        return GrindState(active=True, last_ns=st.last_ns, side=st.side)
    return st


def _reentry_level(st: GrindState, inner: tuple[float, float]) -> list[Level]:
    if not st.active or st.reentry_size <= 0:
        return []
    if st.side == "SELL":
        return [Level("BUY", LAYER_GRIND_REENTRY, min(st.reentry_price, inner[0]), st.reentry_size)]
    return [Level("SELL", LAYER_GRIND_REENTRY, max(st.reentry_price, inner[1]), st.reentry_size)]
