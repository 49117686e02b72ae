"""Phase 1, zero-inventory market making (seed 000 §2.1).

Flat (within one minQty of ``targetInventory``): one order of ``size`` on each side, ``offsetTicks``
behind the touch. Off target after a fill: no more orders on the side that would add; one maker
order closes the whole deviation at the touch of the reducing side (reduce-only when it reduces the
position), and if the position is still off target ``takerAfterMs`` after the fill (or after the
deviation was first seen), a taker :class:`~common.messages.ReducePosition` closes it, asked again
every ``takerAfterMs`` until the position is back. With ``closeAfterFill`` off, the model keeps
quoting both sides whatever the position.
"""

from __future__ import annotations

import msgspec

from common.messages import ReducePosition, Side
from common.messages.base import NS_PER_MS
from common.params.strategy import Phase1Params, SymbolStrategy
from services.strategy.context import Market
from services.strategy.legs import LAYER_CLOSE, Level, steps_size
from services.strategy.models import ModelOutput
from services.strategy.rounding import qty_of
from services.strategy.state import Phase1State, StrategyState


def deviation_steps(m: Market, p: Phase1Params) -> int:
    """Signed distance of the position from the target, in steps (0 when within one minQty)."""
    dev = m.q_steps - round(p.target_inventory / m.grid.step_f)
    return 0 if abs(dev) < m.grid.min_qty_steps else dev


def flat_levels(m: Market, p: Phase1Params) -> list[Level]:
    """One order a side, ``offsetTicks`` behind the touch (counted in ticks, exact)."""
    bid = m.touch_ticks("BUY") - p.offset_ticks
    ask = m.touch_ticks("SELL") + p.offset_ticks
    return [Level("BUY", 0, 0.0, p.size, ticks=bid), Level("SELL", 0, 0.0, p.size, ticks=ask)]


def reduces(m: Market, dev: int) -> bool:
    """Whether closing the deviation only shrinks the position (then it may be reduce-only or taker)."""
    return m.q_steps != 0 and (m.q_steps > 0) == (dev > 0) and abs(dev) <= abs(m.q_steps)


def close_level(m: Market, dev: int) -> Level:
    """The maker close of a deviation, at the touch of the side that closes it."""
    side: Side = "SELL" if dev > 0 else "BUY"
    size = steps_size(abs(dev), m.grid)
    return Level(side, LAYER_CLOSE, 0.0, size, reduce_only=reduces(m, dev), ticks=m.touch_ticks(side))


def close_timer(
    st: Phase1State, m: Market, dev: int, p: Phase1Params
) -> tuple[Phase1State, list[ReducePosition]]:
    """Start, run or clear the maker-then-taker timer; a taker request when it expires.

    Only a deviation that reduces the position is ever closed by a taker; one that would add to
    it (a non-zero target not yet reached) waits for the maker order.
    """
    if dev == 0:
        return Phase1State(), []
    since = st.off_since_ns or m.now_ns
    start = max(since, m.last_fill_ns, st.taker_sent_ns)
    if not reduces(m, dev) or m.now_ns - start < p.taker_after_ms * NS_PER_MS:
        return Phase1State(off_since_ns=since, taker_sent_ns=st.taker_sent_ns), []
    reduce = ReducePosition(
        symbol=m.symbol, qty=qty_of(abs(dev), m.grid), mode="taker", reason="phase1_close"
    )
    return Phase1State(off_since_ns=since, taker_sent_ns=m.now_ns), [reduce]


def quote(m: Market, p: SymbolStrategy, st: StrategyState) -> ModelOutput:
    """The Phase 1 decision."""
    ph = p.phase1
    dev = deviation_steps(m, ph)
    inputs = {
        "mid": m.mid,
        "microprice": m.features.microprice,
        "position": m.q,
        "deviation": dev * m.grid.step_f,
    }
    if dev == 0 or not ph.close_after_fill:
        state = msgspec.structs.replace(st, phase1=Phase1State())
        return ModelOutput(flat_levels(m, ph), inputs, [], [], state)
    timer, actions = close_timer(st.phase1, m, dev, ph)
    flags = ["closing"] + (["taker_close"] if actions else [])
    state = msgspec.structs.replace(st, phase1=timer)
    return ModelOutput([close_level(m, dev)], inputs, flags, actions, state)
