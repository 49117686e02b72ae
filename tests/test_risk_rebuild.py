"""Risk after a restart and with orders outside the target: positions are the gateway's truth, the
day's fills count once, both legs of a self-trade count, lingering orders count against netMax."""

from __future__ import annotations

from decimal import Decimal

from common.messages import OrderUpdate, Position
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import (
    PRICES,
    T0_NS,
    S,
    account,
    feed,
    feed_market,
    fill,
    instrument,
    ladder,
    loose,
    ready_engine,
    target,
)

D = Decimal


def _engine_rebuilt(position: str, fills: list, wallet: str = "10000") -> RiskEngine:
    """A restarted engine rebuilt the way the shell does: day fills, then the gateway's truth."""
    e = RiskEngine(loose(ETHUSDC={"netMax": 0.21}), {"ETHUSDC": instrument("ETHUSDC")})
    e.on_feed_status(feed("ETHUSDC"))
    feed_market(e, "ETHUSDC", PRICES["ETHUSDC"], T0_NS)
    e.restore_day(fills, T0_NS)
    e.on_position(
        Position(
            symbol="ETHUSDC", qty=D(position), entry_price=PRICES["ETHUSDC"], ts_event=T0_NS, ts_init=T0_NS
        )
    )
    e.on_account(account(wallet))
    e.mark_ready(T0_NS)
    return e


def _fig(e: RiskEngine, name: str) -> float:
    return e.state(T0_NS).figures[name]


def test_a_rebuild_takes_the_gateways_position_and_does_not_replay_the_days_fills_on_top() -> None:
    """The review's case: a true position of 0.20 made of today's buys; replaying them on top of
    the gateway's 0.20 gave 0.40 and room for 0.21 more bids (worst case 0.41 against netMax 0.21)."""
    buys = [fill("ETHUSDC", "BUY", "2680", "0.10", 1), fill("ETHUSDC", "BUY", "2680", "0.10", 2)]
    e = _engine_rebuilt("0.20", buys)
    approved = e.check(target("ETHUSDC", ladder("ETHUSDC", "2680.00", 4, "0.03")), T0_NS + S).targets[0]
    bids = sum((q.qty for q in approved.quotes if q.side == "BUY"), D(0))
    assert bids == D("0.01")  # 0.20 + 0.01 = netMax 0.21
    # the same fills arriving live again (the gateway's catch-up) move nothing
    for f in buys:
        e.on_fill(f)
    assert _fig(e, "ETHUSDC.position") == 0.20


def test_sells_of_the_day_do_not_zero_a_rebuilt_position() -> None:
    sells = [fill("ETHUSDC", "SELL", "2680", "0.10", 3), fill("ETHUSDC", "SELL", "2680", "0.10", 4)]
    e = _engine_rebuilt("0.20", sells)
    assert _fig(e, "ETHUSDC.position") == 0.20


def test_a_rebuild_counts_the_days_fees_once_and_leaves_the_wallet_alone() -> None:
    """Equity is the wallet (which already holds today's realized PnL and fees) plus unrealized:
    the replay must not add the day's PnL a second time."""
    fills = [
        fill("ETHUSDC", "BUY", "2680", "0.10", 1, fee="0.5"),
        fill("ETHUSDC", "BUY", "2680", "0.10", 1, fee="0.5"),
    ]
    e = _engine_rebuilt("0.10", fills)
    assert _fig(e, "ETHUSDC.pnl_day") == -0.5  # one trade listed twice: its fee once
    assert _fig(e, "account.equity") == 10000.0  # the wallet already holds it; no mark: no unrealized


def test_both_legs_of_a_self_trade_are_booked() -> None:
    """A self-trade gives our buy and our sell the same trade id: two fills, both count."""
    e = ready_engine(loose(ETHUSDC={"netMax": 1}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680", "0.10", 7, fee="0.1"))
    e.on_fill(fill("ETHUSDC", "SELL", "2680", "0.10", 7, fee="0.1"))
    assert _fig(e, "ETHUSDC.position") == 0.0 and _fig(e, "ETHUSDC.fees") == 0.2


def _order(cid: str, side: str, qty: str, state: str, layer: int, ts: int) -> OrderUpdate:
    return OrderUpdate(
        symbol="ETHUSDC", client_order_id=cid, side=side, price=D("2670"), qty=D(qty), state=state,  # type: ignore[arg-type]
        layer=layer, ts_event=ts, ts_init=ts,
    )  # fmt: skip


def test_orders_outside_the_target_count_against_net_max_once_they_linger() -> None:
    """A flatten's order (no layer) counts at once; a pending cancel only after its 1 s grace (a
    replacement in flight is normal for a moment); a final state frees the room."""
    e = ready_engine(loose(ETHUSDC={"netMax": 0.21}))

    def bids(t: int) -> Decimal:
        out = e.check(target("ETHUSDC", ladder("ETHUSDC", "2680.00", 10, "0.03"), target_id=t), T0_NS + t * S)
        return sum((q.qty for q in out.targets[0].quotes if q.side == "BUY"), D(0))

    assert bids(1) == D("0.21")
    e.on_order(_order("mm-x", "BUY", "0.05", "New", -1, T0_NS + S))
    assert bids(2) == D("0.16")
    e.on_order(_order("mm-a", "BUY", "0.03", "PendingCancel", 0, T0_NS + 2 * S))
    assert bids(2) == D("0.16")  # within the grace
    assert bids(4) == D("0.13")  # lingering for 2 s
    e.on_order(_order("mm-a", "BUY", "0.03", "Canceled", 0, T0_NS + 4 * S))
    e.on_order(_order("mm-x", "BUY", "0.05", "Filled", -1, T0_NS + 4 * S))
    assert bids(5) == D("0.21")
