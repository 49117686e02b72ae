"""Account-wide exposure: the global notional and leverage room, margin ratio, distance to liquidation.

* Global notional (seed 002 §4.5) and leverage: the worst-case notional of every symbol
  (``max(|pos + bids|, |pos − asks|) × mark``, with the resting quotes risk last approved) may not
  exceed ``totalNotionalMax`` nor ``leverageMax`` × equity. A symbol's share is what the others
  leave; as a worst-case |position| it tightens netMax, so once the room is gone every symbol
  stops adding and only its reducing quotes pass.
* ``margin_ratio`` (account): maintenance margin over equity (Binance's margin ratio) at or above
  ``marginRatioMax`` makes everything reduce-only.
* ``liquidation`` (symbol): a cross-margin estimate of the liquidation price — the adverse mark move
  that would take equity down to the maintenance margin, the other positions held still and the
  maintenance margin taken as it is. Within ``liqDistanceMinPct`` of the mark: reduce-only.
"""

from __future__ import annotations

from decimal import Decimal

from common.instrument import round_down
from common.params.risk import RiskParams
from services.risk.context import AccountView, SymbolView
from services.risk.modes import ACCOUNT
from services.risk.state import ZERO, EngineState, SymbolState


def worst_notional(s: SymbolState) -> Decimal:
    """The symbol's largest |position| if every approved bid, or every approved ask, filled, × mark."""
    b = s.book
    price = b.mark if b.mark > 0 else b.entry
    return max(abs(b.qty + s.bid_total), abs(b.qty - s.ask_total)) * price


def notional_cap(p: RiskParams, eq: Decimal | None) -> tuple[Decimal, str]:
    """The account's worst-case notional limit and the rule that sets it."""
    if eq is None:
        return p.total_notional_max, "total_notional_max"
    lev = p.leverage_max * max(eq, ZERO)
    return (lev, "leverage") if lev < p.total_notional_max else (p.total_notional_max, "total_notional_max")


def room(st: EngineState, name: str, cap: Decimal, mark: Decimal, step: Decimal) -> Decimal:
    """The worst-case |position| that the notional cap leaves to ``name``, in base units on the step."""
    others = sum((worst_notional(s) for n, s in st.symbols.items() if n != name), ZERO)
    if mark <= 0:
        return ZERO
    return round_down(max(cap - others, ZERO) / mark, step)


def margin_rule(a: AccountView) -> None:
    """Reduce-only everywhere while the margin ratio is at or above the limit."""
    acct, eq = a.st.account, a.equity
    if eq is None:
        return
    ratio = float(acct.maint / eq) if eq > 0 else (0.0 if acct.maint <= 0 else float("inf"))
    limit = a.p.margin_ratio_max

    def explain() -> tuple[str, dict[str, float]]:
        why = f"margin ratio {ratio:.2%} (maint {acct.maint:.2f} / equity {eq:.2f}) vs {limit:.0%}"
        return why, {"margin_ratio": min(ratio, 1e9), "limit": limit}

    a.ch.condition(ACCOUNT, acct.holds, "margin_ratio", ratio >= limit, ratio < limit, "reduce_only", explain)


def liquidation_rule(v: SymbolView) -> None:
    """Reduce-only on a symbol whose mark is close to its estimated liquidation price."""
    b, eq, limit = v.s.book, v.equity, v.p.liq_distance_min_pct
    if eq is None or not b.qty or b.mark <= 0:
        dist = liq = 1.0
    else:
        dist = float((eq - v.acct.maint) / (abs(b.qty) * b.mark))
        liq = float(b.mark) * (1 - dist if b.qty > 0 else 1 + dist)

    def explain() -> tuple[str, dict[str, float]]:
        why = f"mark {b.mark} is {dist:.2%} from the estimated liquidation price {liq:.2f} (min {limit:.0%})"
        return why, {"distance": dist, "liquidation_price": liq, "limit": limit}

    v.ch.condition(v.name, v.s.holds, "liquidation", dist <= limit, dist > limit, "reduce_only", explain)
