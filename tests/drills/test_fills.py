"""Drills of fills and positions: a lost fill event after a stream gap, a gateway restart that must
neither republish nor lose a fill, a fill on a flat symbol that a position sync must not wipe, and
bans without Retry-After."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

from common.messages import GetSnapshot, Position
from tests.cluster import Cluster, FakeRisk
from tests.drills.support import SYM, fill_our_best, follows, published_fills, quotes, trades, venue_position
from tests.helpers import wait_until


def _venue_keys(c: Cluster, symbol: str = SYM) -> set[tuple[int, str]]:
    return {(t["id"], t["side"]) for t in trades(c, symbol)}


def _published_keys(c: Cluster, symbol: str = SYM) -> list[tuple[int, str]]:
    return [(f.trade_id, f.side) for f in published_fills(c) if f.symbol == symbol]


def test_a_fill_lost_in_a_gap_is_recovered_even_when_a_later_fill_streams_in_first(
    gw: Cluster, risk: FakeRisk
) -> None:
    """The review's case: recovery used to start after the highest trade id seen on the stream, so
    a fill that streamed in after the gap hid the lost one for good."""
    q = quotes(gw, [-0.0005, -0.0006], qty="0.010")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    gw.fault(drop_user_event={"count": 1, "event": "ORDER_TRADE_UPDATE", "execution": "TRADE"})
    fill_our_best(gw, "BUY")  # its TRADE event is lost
    wait_until(lambda: follows(gw, q), 20, what="the bid re-placed")
    fill_our_best(gw, "BUY")  # this one streams in, with a higher trade id
    venue = _venue_keys(gw)
    wait_until(lambda: venue <= set(_published_keys(gw)), 15, what="the lost fill recovered")
    keys = _published_keys(gw)
    assert len(keys) == len(set(keys))  # and nothing twice


def test_a_gateway_restart_neither_republishes_old_fills_nor_loses_new_ones(
    gw: Cluster, risk: FakeRisk
) -> None:
    q = quotes(gw, [-0.0005, 0.004], qty="0.010")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    fill_our_best(gw, "BUY")
    wait_until(lambda: _venue_keys(gw) <= set(_published_keys(gw)), 15)
    wait_until(lambda: follows(gw, q), 20, what="the bid re-placed")
    gw.kill("gateway", signal.SIGKILL)
    try:
        fill_our_best(gw, "BUY")  # while no gateway runs (before the dead-man switch fires)
        t0 = time.monotonic()
    finally:
        gw.start("gateway")
    venue = _venue_keys(gw)
    wait_until(lambda: venue <= set(_published_keys(gw)), 30, what="the fill made while down published")
    keys = _published_keys(gw)
    assert len(keys) == len(set(keys)), "a fill was published twice across the restart"
    again = [f for f in published_fills(gw, t0)]
    assert len(again) == 1, again  # exactly the one made while down
    wait_until(lambda: follows(gw, q), 30, what="quoting again")


def test_a_fill_on_a_flat_symbol_is_not_wiped_by_the_next_position_sync(gw: Cluster, risk: FakeRisk) -> None:
    """The review's case: a symbol positionRisk omits (flat, no orders) was stamped with the local
    clock, newer than the fill, so the fill's position was set back to 0 for up to 5 s."""
    sym = "BTCUSDC"
    assert venue_position(gw, sym) == 0
    q = quotes(gw, [-0.0005], qty="0.002", symbol=sym)
    risk.set_target(sym, q)
    wait_until(lambda: follows(gw, q, sym), 20)
    t0 = time.monotonic()
    fill_our_best(gw, "BUY", sym)
    risk.set_target(sym, [])
    want = venue_position(gw, sym)
    assert want > 0

    def positions() -> list[Decimal]:
        return [p.qty for _, p in gw.heard.since(t0, f"oms.position.{sym}") if isinstance(p, Position)]

    wait_until(lambda: positions() and positions()[-1] == want, 10, what="the fill's position")
    time.sleep(3.0)  # several position syncs (every second here)
    assert all(qty == want for qty in positions()[positions().index(want) :]), positions()
    snap = gw.request("gateway", GetSnapshot(what="oms")).result
    assert Decimal(next(p for p in snap["positions"] if p["symbol"] == sym)["qty"]) == want
    gw.signed(
        "POST",
        "/fapi/v1/order",
        symbol=sym,
        side="SELL",
        type="MARKET",
        quantity=str(want),
        reduceOnly="true",
    )
    wait_until(lambda: venue_position(gw, sym) == 0, 10)


def test_a_418_without_retry_after_holds_until_the_ban_in_its_message_not_two_minutes(
    gw: Cluster, risk: FakeRisk
) -> None:
    q = quotes(gw, [-0.004], qty="0.010")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    q2 = quotes(gw, [-0.005], qty="0.010")  # before the ban: this test reads the book from that IP too
    gw.fault(ban_418={"seconds": 3, "retry_after": False, "ip": "127.0.0.1"})
    t0 = time.monotonic()
    risk.set_target(SYM, q2)
    wait_until(lambda: follows(gw, q2), 20, what="quoting again after the ban")
    took = time.monotonic() - t0
    assert took < 10, f"{took:.1f} s: the ban lasted 3 s, its message said so"


def test_a_ws_api_retry_after_is_respected(gw: Cluster, risk: FakeRisk) -> None:
    q = quotes(gw, [-0.004], qty="0.010")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    gw.fault(ws_api_429={"count": 1, "retry_after_ms": 2000})
    t0 = time.monotonic()
    q2 = quotes(gw, [-0.006], qty="0.010")
    risk.set_target(SYM, q2)
    wait_until(lambda: follows(gw, q2), 20, what="the move made after the wait")
    assert time.monotonic() - t0 >= 1.5  # the 429's retryAfter (2 s) was waited out
    bans = gw.signed("GET", "/fapi/v1/openOrders", symbol=SYM)
    assert isinstance(bans, list)  # and nothing earned a ban
