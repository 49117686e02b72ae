"""Risk on a spot symbol (issue 13, item 4): the wallet bounds what rests, apart from the margin.

Hand-worked: the spot wallet holds 4 ETH and 5,000 USDT. Asks of 3 and 3 ETH may total the 4 ETH
held: the outer one shrinks to 1. Bids may total what 5,000 USDT buys at the best ask, 2,690.00:
5000 / 2690 = 1.85873..., 1.8587 on the 0.0001 step: a bid of 1 and the next shrunk to 0.8587. The
spot wallet is no margin: the account's equity stays the futures wallet alone.
"""

from __future__ import annotations

from decimal import Decimal

from common.messages import Account, Balance, Instrument, Quote
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import T0_NS, account, features, feed, instrument, loose, mark, target

D = Decimal
SPOT = Instrument(
    symbol="ETHUSDT", market="spot", base_asset="ETH", quote_asset="USDT", price_tick=D("0.01"),
    qty_step=D("0.0001"), min_qty=D("0.0001"), max_qty=D(9000), min_notional=D(5), ts_event=0, ts_init=0,
)  # fmt: skip


def _engine(wallet: dict[str, str] | None) -> RiskEngine:
    e = RiskEngine(loose(("ETHUSDC", "ETHUSDT")), {"ETHUSDC": instrument("ETHUSDC"), "ETHUSDT": SPOT})
    for s in ("ETHUSDC", "ETHUSDT"):
        e.on_feed_status(feed(s))
        e.on_features(features(s, 2689.995, T0_NS))  # best ask 2690.00
        e.on_mark(mark(s, "2689.995", T0_NS))  # spot: marketdata-spot's mid
    e.on_account(account("10000"))
    if wallet is not None:
        bal = [Balance(asset=a, wallet=D(v), available=D(v)) for a, v in wallet.items()]
        e.on_account(Account(balances=bal, market="spot", ts_event=T0_NS, ts_init=T0_NS))
    e.mark_ready(T0_NS)
    return e


QUOTES = [
    Quote(side="SELL", price=D("2700.00"), qty=D("3"), layer=0),
    Quote(side="SELL", price=D("2710.00"), qty=D("3"), layer=1),
    Quote(side="BUY", price=D("2680.00"), qty=D("1"), layer=0),
    Quote(side="BUY", price=D("2670.00"), qty=D("1"), layer=1),
]


def test_spot_quotes_are_held_to_the_base_and_quote_the_wallet_holds() -> None:
    e = _engine({"ETH": "4", "USDT": "5000"})
    out = e.check(target("ETHUSDT", QUOTES), T0_NS)
    approved = out.targets[0]
    assert sorted((q.side, q.price, q.qty) for q in approved.quotes) == [
        ("BUY", D("2670.00"), D("0.8587")),
        ("BUY", D("2680.00"), D("1")),
        ("SELL", D("2700.00"), D("3")),
        ("SELL", D("2710.00"), D("1")),
    ]
    assert any(c.startswith("spot_balance") for c in approved.clipped), approved.clipped
    assert e.state(T0_NS).figures["account.equity"] == 10000.0  # the spot wallet is not margin


def test_nothing_rests_on_spot_before_the_wallet_is_known() -> None:
    e = _engine(None)
    assert e.check(target("ETHUSDT", QUOTES), T0_NS).targets[0].quotes == []
