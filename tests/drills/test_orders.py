"""Drills of the order path: cumulative caps, flatten inside the caps, unknown outcomes (an HTML 5xx,
a 200 that is not JSON, a late NEW), malformed user events, self-trade prevention, trust on the bus."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import zmq

from common import topics
from common.bus import Publisher
from common.messages import Flatten, OmsEvent, Query, Quote, ReducePosition, TargetQuotes
from tests.cluster import Cluster, FakeRisk
from tests.drills.support import (
    SYM,
    follows,
    hit,
    open_orders,
    order_updates,
    published_fills,
    quotes,
    rest_quotes,
    trades,
    venue_position,
)
from tests.helpers import wait_until

CAP = Decimal("0.5")  # support.CAPS: ETHUSDC max_position
NOTIONAL = Decimal(500)  # support.CAPS: max_order_notional


def _bids_resting(c: Cluster) -> Decimal:
    return sum((Decimal(o["origQty"]) for o in open_orders(c) if o["side"] == "BUY"), Decimal(0))


def test_six_bids_of_0_4_under_a_0_5_cap_never_rest_beyond_the_cap(gw: Cluster, risk: FakeRisk) -> None:
    """The review's case: exposure was computed once per pass, so 6 bids of 0.4 went out under a 0.5
    cap. Each admitted order now counts for the next: the venue never holds more than the cap."""
    mid = quotes(gw, [-0.01])[0].price
    bids = [
        Quote(side="BUY", price=mid - Decimal("0.50") * i, qty=Decimal("0.150"), layer=i) for i in range(6)
    ]
    risk.set_target(SYM, bids)  # 6 × 0.15 = 0.9 wanted against a cap of 0.5
    wait_until(lambda: _bids_resting(gw) == Decimal("0.450"), 20, what="three bids resting")
    time.sleep(1.5)  # more passes: still no more than the cap
    assert _bids_resting(gw) == Decimal("0.450")
    sent = {u.layer for u in order_updates(gw) if u.state == "PendingNew" and u.side == "BUY"}
    assert sent == {0, 1, 2}, sent  # layers 3-5 never left (0-2 may go again after a cancel)


def test_flatten_sends_slices_inside_the_notional_cap(gw: Cluster, risk: FakeRisk) -> None:
    q = quotes(gw, [-0.0005, -0.0006], qty="0.150")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    hit(gw, "SELL", str(min(x.price for x in q)))
    wait_until(lambda: venue_position(gw) == Decimal("0.300"), 10)
    risk.set_target(SYM, [])
    t0 = time.monotonic()
    reply = gw.request("gateway", Flatten(symbol=SYM, maker_wait_s=0.0), timeout=30)
    assert reply.ok, reply.error
    assert venue_position(gw) == 0
    sent = [u for u in order_updates(gw, t0) if u.layer < 0 and u.state == "PendingNew"]
    assert len(sent) >= 2 and all(u.price * u.qty <= NOTIONAL and u.reduce_only for u in sent), sent


def test_a_taker_reduction_carries_self_trade_prevention(gw: Cluster, risk: FakeRisk) -> None:
    """The gateway's takers are sent with selfTradePreventionMode (EXPIRE_MAKER by default)."""
    q = quotes(gw, [-0.0005], qty="0.150")
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    hit(gw, "SELL", str(q[0].price))
    wait_until(lambda: venue_position(gw) == Decimal("0.150"), 10)
    risk.set_target(SYM, [])
    t0 = time.monotonic()
    cmd = ReducePosition(symbol=SYM, qty=Decimal("0.150"), mode="taker")
    reply = gw.request("gateway", cmd, timeout=30)
    assert reply.ok, reply.error
    ioc = [
        u
        for u in order_updates(gw, t0)
        if u.layer < 0 and u.state == "PendingNew" and u.time_in_force == "IOC"
    ]
    assert ioc, order_updates(gw, t0)
    order = gw.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId=ioc[0].client_order_id)
    assert order["selfTradePreventionMode"] == "EXPIRE_MAKER", order
    _close_by_hand(gw)


def _one_order_rests(c: Cluster, q: list[Quote]) -> bool:
    rows = open_orders(c)
    return len(rows) == 1 and follows(c, q)


def test_an_html_502_from_the_edge_is_an_unknown_outcome_found_by_query_not_placed_twice(
    gw: Cluster, risk: FakeRisk
) -> None:
    t0 = time.monotonic()
    gw.fault(html_5xx={"count": 1, "status": 502, "executed": True})
    q = quotes(gw, [-0.004])
    _place_via_rest(gw)
    risk.set_target(SYM, q)
    wait_until(lambda: _one_order_rests(gw, q), 20, what="the order found, once")
    time.sleep(1.5)
    assert len(open_orders(gw)) == 1
    states = [u.state for u in order_updates(gw, t0)]
    assert "Rejected" not in states and states[-1] == "New"


def test_a_200_that_is_not_json_is_settled_by_query_not_left_pending(gw: Cluster, risk: FakeRisk) -> None:
    t0 = time.monotonic()
    gw.fault(non_json_200={"count": 1, "executed": True})
    q = quotes(gw, [-0.004])
    _place_via_rest(gw)
    risk.set_target(SYM, q)
    wait_until(lambda: _one_order_rests(gw, q), 20, what="the order found, once")
    wait_until(lambda: order_updates(gw, t0)[-1].state == "New", 10, what="the record New, not PendingNew")


def test_a_late_new_after_a_503_is_adopted_not_duplicated(gw: Cluster, risk: FakeRisk) -> None:
    t0 = time.monotonic()
    gw.fault(late_new={"count": 1, "delay_ms": 1500, "answer": "503"})
    q = quotes(gw, [-0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _one_order_rests(gw, q), 20, what="the late order resting")
    time.sleep(2.0)  # the resolver asked meanwhile and heard "no such order": nothing placed twice
    assert len(open_orders(gw)) == 1
    assert [u.state for u in order_updates(gw, t0)][-1] == "New"


def _place_via_rest(c: Cluster) -> None:
    """The html_5xx and non_json_200 faults sit on the REST order path: a dropped WS-API connection
    sends the next order over REST (the gateway's fallback)."""
    c.fault(drop_ws="api")


def test_malformed_numbers_in_user_events_are_counted_and_the_fill_still_arrives(
    gw: Cluster, risk: FakeRisk
) -> None:
    for value in ("abc", "NaN", ""):
        t0 = time.monotonic()
        q = quotes(gw, [-0.0005], qty="0.010")
        risk.set_target(SYM, q)
        wait_until(lambda q=q: follows(gw, q), 20)
        gw.fault(malformed_user={"count": 1000, "value": value})  # the taker's events count too
        hit(gw, "SELL", str(q[0].price))
        venue = {t["id"] for t in trades(gw)}
        wait_until(lambda t0=t0: _malformed_reported(gw, t0), 10, what=f"{value!r} counted")
        wait_until(lambda venue=venue: venue <= {f.trade_id for f in published_fills(gw)}, 15, what="fill")
        gw.check_alive("gateway")
        gw.fault(clear=True)


def _malformed_reported(c: Cluster, since: float) -> bool:
    return any(
        isinstance(m, OmsEvent) and m.kind == "user_event_malformed" for _, m in c.heard.since(since, "oms.")
    )


def test_both_legs_of_a_self_trade_are_published_and_stored_and_our_orders_carry_stp(
    gw: Cluster, risk: FakeRisk
) -> None:
    """A manual IOC from our own account (no self-trade prevention) sweeps into our resting bid: one
    trade id, our buy and our sell. Both legs reach oms.fill and the recorder (fills are keyed by
    symbol, trade id and side). (The gateway's own takers carry selfTradePreventionMode: see the
    flatten drill.)"""
    q = rest_quotes(gw, risk, [-0.00002], qty="0.050")  # a few ticks under the touch: little ahead
    try:
        tid = _sweep_into_our_bid(gw, risk, q)
        sides = lambda: sorted(f.side for f in published_fills(gw) if f.trade_id == tid)  # noqa: E731
        wait_until(lambda: sides() == ["BUY", "SELL"], 15, what="both legs on oms.fill")
        stored = lambda: gw.request("recorder", Query(kind="fills", filters={"symbol": SYM})).result  # noqa: E731
        wait_until(lambda: sorted(f["side"] for f in stored() if f["trade_id"] == tid) == ["BUY", "SELL"], 15,
                   what="both legs stored")  # fmt: skip
    finally:
        risk.set_target(SYM, [])
        _close_by_hand(gw)


def _sweep_into_our_bid(c: Cluster, risk: FakeRisk, q: list[Quote]) -> int:
    """Sell IOC at our bid's price from our own account, with no self-trade prevention, for
    everything bid at or above it and one more (ours included; much more would exceed our margin):
    the id of the trade whose buyer and seller are both ours. A bid the market took or moved away
    from meanwhile is rested again first."""
    for attempt in range(5):
        if not any(o["side"] == "BUY" and Decimal(o["price"]) == q[0].price for o in open_orders(c)):
            q = rest_quotes(c, risk, [-0.00002], qty="0.050")
        price = q[0].price
        book = httpx.get(
            c.venue_url + "/fapi/v1/depth", params={"symbol": SYM, "limit": 1000}, timeout=5
        ).json()
        ahead = sum((Decimal(x) for p, x in book["bids"] if Decimal(p) >= price), Decimal(0))
        qty = (ahead + Decimal(1)).quantize(Decimal("0.001"))  # more would exceed our margin
        r = c.signed("POST", "/fapi/v1/order", symbol=SYM, side="SELL", type="LIMIT", timeInForce="IOC",
                     quantity=str(qty), price=str(price), selfTradePreventionMode="NONE",
                     newClientOrderId=f"manual-sweep-{attempt}")  # fmt: skip
        if r.get("code") == -2019:  # more bid ahead of ours than our margin can sell into: rest anew
            q = rest_quotes(c, risk, [-0.00002], qty="0.050")
            continue
        assert r.get("orderId"), r
        rows = trades(c)
        ours = {t["id"] for t in rows if t["orderId"] == r["orderId"]}
        shared = ours & {t["id"] for t in rows if t["side"] == "BUY"}
        if shared:
            assert len(shared) == 1, rows  # one trade id, both sides ours
            return int(shared.pop())
    raise AssertionError("five sweeps never reached our bid")


def _close_by_hand(c: Cluster) -> None:
    """Close the position with a manual market order of our account (not the gateway's)."""
    pos = venue_position(c)
    if pos:
        c.signed("POST", "/fapi/v1/order", symbol=SYM, side="SELL" if pos > 0 else "BUY", type="MARKET",
                 quantity=str(abs(pos)), reduceOnly="true")  # fmt: skip
    wait_until(lambda: venue_position(c) == 0, 10)


def test_the_gateway_acts_on_risk_topics_only_from_the_risk_service(gw: Cluster, risk: FakeRisk) -> None:
    """A publisher that is not risk (here on the strategy's endpoint, as "strategy") sends a risk
    target with a huge bid: the gateway never hears it; the real risk's target rests."""
    q = quotes(gw, [-0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    ctx = zmq.Context()
    rogue = Publisher(ctx, gw.settings.pub_endpoint("strategy"), "strategy")
    try:
        bad = [Quote(side="BUY", price=q[0].price, qty=Decimal("0.400"), layer=5)]
        for i in range(20):
            rogue.publish(
                topics.risk_target(SYM),
                TargetQuotes(symbol=SYM, target_id=10**6 + i, quotes=bad, origin="risk"),
            )
            time.sleep(0.05)
        time.sleep(1.0)
        assert follows(gw, q)  # only the real target
    finally:
        rogue.close()
        ctx.term()
