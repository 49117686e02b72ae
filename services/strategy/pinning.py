"""Pinning (seed 002 §4.4): with a large position, nail the reducing side to the touch.

When |position| exceeds ``threshold``·netMax, the side that reduces it is rebuilt:

* layer 0 is pinned at the best price of its side (or stays inside the spread if the model was
  already more aggressive), with ``sizeMultiplier`` times the base size;
* the next ``nearLayers``−1 layers follow it with the model's spacing, moving with the market;
* ``farLayers`` layers of ``farSize`` sit at fixed prices from ``farMinPct`` to ``farMaxPct`` away
  from the mid at the moment pinning began (the anchor). They do not move, so they are not
  cancelled and re-placed on every tick, unless the mid drifts more than ``farTolerance`` from the
  anchor, which re-anchors them once.

Pinning releases when |position| falls below ``release``·netMax (hysteresis) or the position flips.
"""

from __future__ import annotations

import msgspec

from common.messages import Side
from common.params.strategy import PinningParams
from services.strategy.context import Market
from services.strategy.layers import Ladder, side_levels
from services.strategy.legs import Level, reducing_side
from services.strategy.state import PinState


def update_pin(st: PinState, m: Market, net_max: float, p: PinningParams) -> PinState:
    """Trigger, keep, re-anchor or release pinning for the current position."""
    if not p.enabled or m.q == 0:
        return PinState()
    load = abs(m.q) / net_max
    side = reducing_side(m.q)
    if st.active and (load < p.release or side != st.side):
        st = PinState()
    if not st.active:
        if load > p.threshold:
            return PinState(active=True, side=side, anchor=m.mid, since_ns=m.now_ns)
        return st
    if abs(m.mid / st.anchor - 1.0) > p.far_tolerance:
        return msgspec.structs.replace(st, anchor=m.mid)
    return st


def pinned_levels(m: Market, st: PinState, inner: float, ld: Ladder, p: PinningParams) -> list[Level]:
    """The pinned side's levels: the nailed layer 0, the near ladder behind it, the fixed far layers."""
    side = reducing_side(m.q)
    first = min(inner, m.best_ask) if side == "SELL" else max(inner, m.best_bid)
    near = side_levels(side, first, p.near_layers, ld, first_size=ld.base_size * p.size_multiplier)
    return near + far_levels(st, p, p.near_layers)


def far_levels(st: PinState, p: PinningParams, first_layer: int) -> list[Level]:
    """``farLayers`` levels spaced evenly from ``farMinPct`` to ``farMaxPct`` beyond the anchor."""
    n = p.far_layers
    side: Side = "SELL" if st.side == "SELL" else "BUY"
    sign = 1.0 if side == "SELL" else -1.0
    width = p.far_max_pct - p.far_min_pct
    out = []
    for j in range(n):
        pct = p.far_min_pct + (width * j / (n - 1) if n > 1 else 0.0)
        out.append(Level(side, first_layer + j, st.anchor * (1.0 + sign * pct), p.far_size))
    return out
