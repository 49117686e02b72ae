"""Drawdown bands and reduce-only convergence on one symbol's unrealized loss (seed 001 §4).

* Drawdown bands: when the unrealized loss reaches ``drawdownBands[i]`` the position is reduced by
  ``reduceFractions[i]`` with a ReducePosition in ``reduceMode``. A band fires once; it is released
  when the loss recedes below ``lossReleaseRatio`` × its level (or the position closes), so a
  reduction's own effect on the loss never re-arms it. A jump across several bands fires the
  deepest and counts the shallower ones as passed. No two reductions come closer than
  ``reduceCooldownSeconds``; a band reached during the cool-down fires when it ends.
* Convergence: at an unrealized loss of ``reduceOnlyThreshold`` the symbol goes reduce-only until
  the loss recedes below ``lossReleaseRatio`` × the threshold. While it converges and the mark has
  moved against the entry by more than ``reduceOnlyMarketTriggerPct`` (of the entry price), the
  rest is reduced as taker, once per cool-down. Both kinds of reduction carry
  ``reduceOnlyMaxSlippagePct`` as the bound on the maker price distance and the taker slippage.

Neither acts without a fresh mark (a ``market_data`` hold) or when the symbol is killed.
"""

from __future__ import annotations

from decimal import Decimal

from common.instrument import round_down
from common.messages import Instrument, ReducePosition
from services.risk.context import NS, SymbolView
from services.risk.pnl import upnl
from services.risk.state import ZERO, Book


def band_rules(v: SymbolView) -> None:
    """Release, fire, converge and trigger, in that order."""
    loss = -upnl(v.s.book)
    _release(v, loss)
    if "market_data" in v.s.holds or v.inst is None or _killed(v):
        return
    _fire(v, loss)
    _converge(v, loss)
    _market_trigger(v)


def reduce_qty(b: Book, inst: Instrument, fraction: Decimal) -> Decimal:
    """``fraction`` of |position| down to the step, at least minQty while the position allows."""
    pos = abs(b.qty)
    q = round_down(pos * fraction, inst.qty_step)
    if q < inst.min_qty:
        q = inst.min_qty if pos >= inst.min_qty else ZERO
    return min(q, pos)


def _killed(v: SymbolView) -> bool:
    return "kill" in v.acct.holds


def _release(v: SymbolView, loss: Decimal) -> None:
    st, bands = v.s.bands, v.p.drawdown_bands
    ratio = v.p.loss_release_ratio
    for i in list(st.fired):
        if v.s.book.qty == 0 or i >= len(bands) or loss < bands[i] * ratio:
            st.fired.remove(i)
            level = float(bands[i]) if i < len(bands) else 0.0
            why = f"band {i + 1} released: unrealized loss {loss:.2f}"
            v.ch.note("drawdown_band", "release", v.name, why, {"loss": float(loss), "band": level})


def _fire(v: SymbolView, loss: Decimal) -> None:
    st, p = v.s.bands, v.p
    reached = [i for i, level in enumerate(p.drawdown_bands) if loss >= level and i not in st.fired]
    if not reached or v.now - st.last_reduce_ns < p.reduce_cooldown_seconds * NS:
        return
    assert v.inst is not None
    i = max(reached)
    qty = reduce_qty(v.s.book, v.inst, p.reduce_fractions[i])
    if qty <= 0:
        return
    st.fired = sorted(set(st.fired) | set(range(i + 1)))
    st.last_reduce_ns = v.now
    reason = (
        f"band {i + 1}: unrealized loss {loss:.2f} >= {p.drawdown_bands[i]}, "
        f"reduce {p.reduce_fractions[i]:.0%} = {qty} of {v.s.book.qty}"
    )
    slip = p.reduce_only_max_slippage_pct
    v.ch.act(ReducePosition(symbol=v.name, qty=qty, mode=p.reduce_mode, max_slippage_pct=slip, reason=reason))
    figures = {"loss": float(loss), "band": float(p.drawdown_bands[i]), "qty": float(qty)}
    v.ch.note("drawdown_band", "reduce", v.name, reason, figures)


def _converge(v: SymbolView, loss: Decimal) -> None:
    thr = v.p.reduce_only_threshold
    release = thr * v.p.loss_release_ratio

    def explain() -> tuple[str, dict[str, float]]:
        why = f"unrealized loss {loss:.2f} vs reduce-only at {thr}, lifted below {release}"
        return why, {"loss": float(loss), "threshold": float(thr)}

    v.ch.condition(
        v.name, v.s.holds, "reduce_only_threshold", loss >= thr, loss < release, "reduce_only", explain
    )


def _market_trigger(v: SymbolView) -> None:
    b, p, st = v.s.book, v.p, v.s.bands
    if "reduce_only_threshold" not in v.s.holds or not b.qty or b.entry <= 0 or b.mark <= 0:
        return
    adverse = float((b.entry - b.mark) / b.entry) * (1 if b.qty > 0 else -1)
    cooling = v.now - st.last_taker_ns < p.reduce_cooldown_seconds * NS
    if adverse <= p.reduce_only_market_trigger_pct or cooling:
        return
    assert v.inst is not None
    qty = round_down(abs(b.qty), v.inst.qty_step)
    if qty <= 0:
        return
    st.last_taker_ns = v.now
    reason = f"adverse move {adverse:.2%} since entry {b.entry} > {p.reduce_only_market_trigger_pct:.2%}"
    slip = p.reduce_only_max_slippage_pct
    v.ch.act(ReducePosition(symbol=v.name, qty=qty, mode="taker", max_slippage_pct=slip, reason=reason))
    v.ch.note("market_trigger", "reduce", v.name, reason, {"adverse": adverse, "qty": float(qty)})
