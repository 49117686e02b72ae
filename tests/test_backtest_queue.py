"""Queue position in the backtester, against cases worked by hand from the models' definitions
(reference/mm-theory.md §3.1, hftbacktest's RiskAdverseQueueModel and power-probability model).

Our bid of 0.010 joins the best bid (2680.00) behind 5.000 of other size. The level then grows to
8.000 (3.000 behind us), then 2.000 is cancelled (8.000 → 6.000), then a sell of 4.000 trades at
2680.00.

* risk-averse: a cancel is never ahead of us: ahead stays min(5.000, 6.000) = 5.000; the 4.000
  trade leaves 1.000 ahead: no fill.
* power-probability, n = 2: the cancel was behind us with p = 3²/(3² + 5²) = 9/34, so ahead
  = 5 − (1 − 9/34)·2 = 3.5294; the 4.000 trade reaches us with 0.4706 left: our 0.010 fills whole.
* a second trade of 1.000 after the first (risk-averse): 1.000 ahead left, exactly used up by it,
  nothing left for us: still no fill; a third of 0.005 fills 0.005 of ours.
"""

from __future__ import annotations

from decimal import Decimal

from common.config import load_settings
from services.backtest.data import DEPTH, TRADE, MarketData
from services.backtest.engine import Backtest, BacktestConfig, Latency, for_symbol
from services.backtest.fixed import FixedQuoter, reference_settings
from services.venue.orderbook import BUY, SELL

MS = 1_000_000
T0 = 1_723_161_600_000_000_000
BID = 268_000  # 2680.00


def _market(trades: list[tuple[int, int]]) -> MarketData:
    start = [(BUY, BID - i, 5000) for i in range(20)] + [(SELL, BID + 1 + i, 5000) for i in range(20)]
    md = MarketData("ETHUSDC", Decimal("0.01"), Decimal("0.001"), start, source="hand-made")
    md.add(T0 + 500 * MS, T0 + 500 * MS, DEPTH, ((BUY, BID, 8000),))  # joins behind us
    md.add(T0 + 700 * MS, T0 + 700 * MS, DEPTH, ((BUY, BID, 6000),))  # a cancel
    level = 6000
    for t_ms, qty in trades:
        t = T0 + t_ms * MS
        md.add(t, t, TRADE, (SELL, BID, qty))
        level -= qty
        md.add(t, t, DEPTH, ((BUY, BID, level),))  # the trade, as the depth stream shows it after
    md.add(T0 + 3_000 * MS, T0 + 3_000 * MS, DEPTH, ((BUY, BID - 19, 5001),))  # the end
    return md


def _fills(queue: str, trades: list[tuple[int, int]]) -> list[tuple[int, str, str]]:
    s = reference_settings(for_symbol(load_settings("paper"), "ETHUSDC", "ETHUSDC"), "ETHUSDC")
    cfg = BacktestConfig(settings=s, latency=Latency(entry_ns=MS, response_ns=MS), queue_model=queue,
                         queue_power=2.0, use_risk=False)  # fmt: skip
    bt = Backtest(_market(trades), cfg, strategy=FixedQuoter("ETHUSDC", Decimal("0.010"), 0, 5))
    rec = bt.run()
    return [((f["ts_ns"] - T0) // MS, f["price"], f["qty"]) for f in rec.fills]


def test_risk_averse_a_cancel_never_advances_us_so_the_trade_does_not_reach_us() -> None:
    assert _fills("risk_averse", [(900, 4000)]) == []


def test_power_probability_a_cancel_partly_ahead_advances_us_and_the_trade_fills_us() -> None:
    assert _fills("power_prob", [(900, 4000)]) == [(901, "2680.00", "0.010")]  # 1 ms response


def test_risk_averse_trades_use_up_the_size_ahead_exactly_then_fill_us_in_part() -> None:
    got = _fills("risk_averse", [(900, 4000), (1100, 1000), (1300, 5)])
    assert got == [(1301, "2680.00", "0.005")]
