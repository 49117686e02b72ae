"""The catalogue of rules and the order they run in at every evaluation.

At each ``check()`` and ``tick()``, once the engine is ready:

1. the UTC day roll (:mod:`loss`): the day's figures restart, ``daily_loss`` and ``drawdown`` lift;
2. per configured symbol, in this order:

   * market (:mod:`market`): ``feed``, ``market_data``, ``book_mark``, ``latency`` (halted while the
     cause lasts), ``shock`` (halted for ``haltSeconds``);
   * loss (:mod:`loss`): ``pnl_band`` (reduce-only), ``stop_loss`` (halted until resumed, flatten);
   * bands (:mod:`bands`): ``drawdown_band`` reductions, ``reduce_only_threshold`` (reduce-only),
     ``market_trigger`` taker reductions;
   * margin (:mod:`margin`): ``liquidation`` (reduce-only);

3. the account (all accounts together): ``daily_loss`` and ``drawdown`` (halted until the next
   day), ``margin_ratio`` (reduce-only);
4. each account with its own limits (:mod:`accounts`): ``account_daily_loss`` (its symbols halted
   until the next day), ``account_margin_ratio`` (its symbols reduce-only).

The operator's holds (``kill``, ``pause``) come from :mod:`commands`; the clipping rules
(``netMax``, ``singleMax``, ``total_notional_max``, ``account_notional``, ``leverage``,
``latency_widen``, ``churn``, ``filters``, ``grid``, ``reduce_only``) act on each approval (:mod:`approval`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from common.messages import Instrument
from common.params.risk import RiskParams
from services.risk import accounts
from services.risk.bands import band_rules
from services.risk.context import AccountView, SymbolView
from services.risk.loss import account_loss_rules, roll_if_new_day, symbol_loss_rules
from services.risk.margin import liquidation_rule, margin_rule
from services.risk.market import market_rules
from services.risk.modes import Changes
from services.risk.state import EngineState


def evaluate(
    st: EngineState, p: RiskParams, instruments: Mapping[str, Instrument], eq: Decimal | None, now_ns: int
) -> Changes:
    """Every rule at ``now_ns`` (nothing before the engine is ready); ``eq`` is the account's equity."""
    ch = Changes(now_ns)
    if not st.ready:
        return ch
    roll_if_new_day(st, now_ns, ch)
    for name, sp in p.symbols.items():
        v = SymbolView(name, sp, st.symbol(name), st.account, instruments.get(name), eq, now_ns, ch)
        market_rules(v)
        symbol_loss_rules(v)
        band_rules(v)
        liquidation_rule(v)
    a = AccountView(p, st, eq, now_ns, ch)
    account_loss_rules(a)
    margin_rule(a)
    accounts.rules(st, p, ch)
    return ch
