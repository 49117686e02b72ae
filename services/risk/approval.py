"""From a strategy target to the approved quote set: the mode gate, latency widening, exposure, churn.

The gate comes first: before the rebuild, for a symbol without limits or instrument, and in the
modes ``halted`` and ``killed``, nothing is approved. Then, for a strategy target only, a venue
latency above ``latencyMs`` drops the ``latencyWidenLayers`` innermost quotes of each side (a slow
venue fills stale inner quotes first), and a venue error rate on our orders above
``errorRateThrottle`` keeps only the ``errorThrottleLayers`` innermost quotes and slows the churn
budget (:mod:`services.risk.errors`). Then :func:`~services.risk.exposure.shape` with the symbol's
caps, then the churn budget (:mod:`services.risk.behaviour`), whose partial merge is shaped again
because old and new quotes mixed may not fit the caps together.

:func:`reshape` re-applies gate and caps to the last approved set (never widening, never adding):
after a fill, a mode change or a move of the global room, what rests must still fit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from common.instrument import round_down
from common.messages import Instrument, Quote, RiskMode
from common.params.risk import RiskParams, SymbolRiskParams
from services.risk import accounts, errors
from services.risk.behaviour import budget, cost, diff, fits, merge
from services.risk.exposure import Caps, Clip, shape
from services.risk.margin import notional_cap, room
from services.risk.modes import mode_of, top_hold, worse
from services.risk.state import EngineState, SymbolState

MODE = "mode"
"""The clip rule of a target emptied by the gate (its hold has its own events)."""


class Limits(NamedTuple):
    """Everything an approval of one symbol needs besides the quotes."""

    name: str
    s: SymbolState
    p: SymbolRiskParams
    inst: Instrument
    caps: Caps


class Approved(NamedTuple):
    """The approved quotes, what was clipped, the mode, their churn against the last approved set
    (None: not counted yet) and how many changes the churn budget held back."""

    quotes: list[Quote]
    clips: list[Clip]
    mode: RiskMode
    spent: tuple[int, int] | None = None
    deferred: int = 0


def effective_mode(st: EngineState, name: str) -> RiskMode:
    """The worse of the account's mode and the symbol's own."""
    s = st.symbols.get(name)
    own = mode_of(s.holds) if s is not None else "normal"
    return worse(mode_of(st.account.holds), own)


def gate(
    st: EngineState, name: str, p: RiskParams, inst: Instrument | None, equity: Decimal | None, now_ns: int
) -> Limits | Approved:
    """The symbol's limits when it may quote; otherwise the empty approval and why."""
    mode = effective_mode(st, name)
    sp = p.symbols.get(name)
    why = ""
    if not st.ready:
        mode, why = "halted", "not ready: waiting for the rebuild"
    elif sp is None:
        mode, why = "halted", f"no risk limits for {name}"
    elif inst is None:
        mode, why = "halted", f"instrument of {name} unknown"
    elif mode in ("halted", "killed"):
        why = _hold_reason(st, name)
    if why or sp is None or inst is None:
        return Approved([], [Clip(MODE, why, {})], mode)
    caps = _caps(st, name, p, sp, inst, equity, mode == "reduce_only", now_ns)
    return Limits(name, st.symbols[name], sp, inst, caps)


def approve(lim: Limits, quotes: list[Quote], mode: RiskMode, now_ns: int) -> Approved:
    """A strategy target through widening, caps and the churn budget.

    The merge mixes quotes that each passed :func:`shape` under these limits: only the caps are
    applied again.
    """
    s, p = lim.s, lim.p
    clips: list[Clip] = []
    if s.market.latency_ms > p.latency_ms and p.latency_widen_layers:
        quotes = _widen(quotes, p.latency_widen_layers, s.market.latency_ms, clips)
    err = errors.rate(s.market, now_ns, p.error_rate_min_orders)
    slow = 1.0
    if err is not None and err > p.error_rate_throttle:
        quotes, slow = _fewer(quotes, p.error_throttle_layers, err, clips), p.error_throttle_budget
    shaped, more = shape(quotes, lim.inst, s.book.qty, lim.caps)
    clips += more
    prev = s.approved.quotes if s.approved is not None else []
    amend = p.change_cost == "amend"
    d = diff(prev, shaped, amend)
    cancel_slow = slow
    icr = errors.quick_cancel_ratio(s.market, now_ns, p.quick_cancel_min_orders)
    hold = icr is not None and icr > p.max_quick_cancel_ratio
    if icr is not None and hold:
        cancel_slow = min(slow, p.quick_cancel_budget)
        text = f"quick-cancel ratio {icr:.0%} over 10 min: cancel budget slowed"
        clips.append(Clip("cancel_ratio", text, {"quick_cancel_ratio": icr}))
    left = budget(
        s.churn,
        now_ns,
        max(1, int(p.max_actions_per_second * slow)),
        max(1, int(p.max_cancels_per_minute * cancel_slow)),
        max(1, int(p.max_actions_per_minute * slow)),
    )
    if fits(d, left):
        return Approved(shaped, clips, mode, (d.actions, d.cancels))
    merged, deferred, spent = merge(d, left, amend, hold_removals=hold)
    final, capped = shape(merged, lim.inst, s.book.qty, lim.caps, checked=True)
    if deferred:
        text = f"churn budget: {deferred} change(s) kept their previous quote (left {left.actions} actions, "
        figures: dict[str, float] = {
            "deferred": deferred,
            "actions_left": left.actions,
            "cancels_left": left.cancels,
        }
        clips.append(Clip("churn", text + f"{left.cancels} cancels)", figures))
    return Approved(final, clips, mode, cost(prev, final, amend) if capped else spent, deferred)


def reshape(lim: Limits, quotes: list[Quote], mode: RiskMode) -> Approved:
    """The last approved quotes under the current caps (only removes or shrinks)."""
    shaped, clips = shape(quotes, lim.inst, lim.s.book.qty, lim.caps)
    return Approved(shaped, clips, mode)


def _caps(
    st: EngineState,
    name: str,
    p: RiskParams,
    sp: SymbolRiskParams,
    inst: Instrument,
    equity: Decimal | None,
    reduce_only: bool,
    now_ns: int,
) -> Caps:
    step = inst.qty_step
    net, rule = round_down(sp.net_max, step), "netMax"
    cap, cap_rule = notional_cap(p, equity)
    mark = st.symbols[name].book.mark
    left = room(st, name, cap, mark, step)
    if left < net:
        net, rule = left, cap_rule
    own = accounts.room(st, p, name, mark, step)
    if own is not None and own < net:
        net, rule = own, "account_notional"
    s = st.symbols[name]
    buy, sell = outside(s, now_ns, int(sp.outside_order_grace_seconds * 1e9))
    single = round_down(sp.single_max, step)
    if inst.market != "spot":
        return Caps(net, rule, single, reduce_only, buy, sell)
    # a bid rests below the best ask (post-only): the quote held buys at least this much
    ask = Decimal(repr(s.market.best_ask)) if s.market.best_ask > 0 else mark
    buy_room, sell_room = accounts.spot_room(st, inst, buy, sell, ask)
    return Caps(net, rule, single, reduce_only, buy, sell, buy_room, sell_room)


def outside(s: SymbolState, now_ns: int, grace_ns: int) -> tuple[Decimal, Decimal]:
    """Open size per side of live orders the target does not account for: orders without a layer
    (flatten, reduce, foreign, adopted), and pending cancels or unacknowledged orders older than
    ``grace_ns`` (a replacement in flight is normal for a moment; one that lingers is exposure)."""
    buy = sell = Decimal(0)
    for o in s.orders.values():
        lingering = o.state in ("PendingCancel", "PendingNew") and now_ns - o.since_ns > grace_ns
        if o.layer < 0 or lingering:
            if o.side == "BUY":
                buy += o.open_qty
            else:
                sell += o.open_qty
    return buy, sell


def _widen(quotes: list[Quote], layers: int, ms: float, clips: list[Clip]) -> list[Quote]:
    """Drop the ``layers`` innermost quotes of each side."""
    bids = sorted((q for q in quotes if q.side == "BUY"), key=lambda q: q.price, reverse=True)
    asks = sorted((q for q in quotes if q.side == "SELL"), key=lambda q: q.price)
    kept = bids[layers:] + asks[layers:]
    if len(kept) < len(quotes):
        text = f"latency {ms:.0f} ms: {len(quotes) - len(kept)} innermost quote(s) dropped"
        clips.append(Clip("latency_widen", text, {"latency_ms": ms, "dropped": len(quotes) - len(kept)}))
    return kept


def _fewer(quotes: list[Quote], layers: int, rate: float, clips: list[Clip]) -> list[Quote]:
    """Keep the ``layers`` innermost quotes of each side (:mod:`services.risk.errors`); the clip is
    recorded whenever the throttle is on, so the operator sees it even when nothing was dropped."""
    bids = sorted((q for q in quotes if q.side == "BUY"), key=lambda q: q.price, reverse=True)
    asks = sorted((q for q in quotes if q.side == "SELL"), key=lambda q: q.price)
    kept = bids[:layers] + asks[:layers]
    dropped = len(quotes) - len(kept)
    text = f"venue error rate {rate:.0%}: {dropped} outer quote(s) dropped, churn budget slowed"
    clips.append(Clip("error_throttle", text, {"error_rate": rate, "dropped": dropped}))
    return kept


def _hold_reason(st: EngineState, name: str) -> str:
    """``rule: reason`` of the hold that sets the symbol's effective mode."""
    s = st.symbols.get(name)
    top = top_hold([*st.account.holds.values(), *(s.holds.values() if s is not None else ())])
    return f"{top.rule}: {top.reason}" if top is not None else ""
