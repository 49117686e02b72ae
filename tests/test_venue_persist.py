"""A venue that remembers (issue 13 item 8): accounts, orders and trade history survive the
venue's restart; ids go on; a state saved under other filters is refused."""

from __future__ import annotations

import signal
from decimal import Decimal
from pathlib import Path

import pytest

from services.venue import persist
from services.venue.exchange import Exchange
from services.venue.orderbook import SELL
from tests.test_venue_engine import SYM, limit, make_exchange
from tests.venue_proc import VenueProc, resting_buy

D = Decimal


def _round_trip(ex: Exchange, **cfg: object) -> tuple[Exchange, dict[str, object]]:
    """``ex`` saved, encoded, decoded and restored into a fresh exchange of the same config."""
    data = persist.encode(persist.snapshot(ex))
    fresh, _ = make_exchange(**cfg)
    snap = persist._decoder.decode(data)
    return fresh, persist.restore(fresh, snap)


def test_balances_positions_orders_and_history_come_back_exactly_and_ids_go_on() -> None:
    ex, clock = make_exchange()
    a, b = ex.accounts["a"], ex.accounts["b"]
    ex.place(a, limit("BUY", "999.5", "2.000", cid="bid-1"))  # rests
    ex.place(b, limit("SELL", "1001.0", "1.500", cid="ask-1"))  # rests
    ex.place(a, limit("BUY", "1001.0", "0.400", tif="IOC", cid="take-1"))  # a takes 0.4 of b's ask
    clock.t += 1000
    ex.market_trade(SYM, SELL, ex.symbols[SYM].sym.parse_price("999.50"), 3)  # 0.003 hits a's bid
    before_ids = ex._order_ids.value
    got, info = _round_trip(ex)
    assert info["open_orders"] == 2 and info["accounts_left_out"] == []
    ga, gb = got.accounts["a"], got.accounts["b"]
    assert ga.balances == a.balances and gb.balances == b.balances
    # a: +0.4 at 1001.0 then +0.003 at 999.5: 0.403, entry (400.4 + 2.9985) / 0.403; b: -0.4 at 1001
    assert ga.positions[SYM].qty == D("0.403") and gb.positions[SYM].qty == D("-0.4")
    assert ga.positions[SYM].entry == a.positions[SYM].entry == (D("400.4") + D("2.9985")) / D("0.403")
    assert got.trades == ex.trades and list(got.income["a"]) == list(ex.income["a"])
    # the open orders rest on the book again at their price, with what is left of them
    bid = got.by_client[("a", SYM, "bid-1")]
    assert bid.is_open and bid.qty - bid.executed == 1997
    assert got.symbols[SYM].book.top(SELL) == ex.symbols[SYM].book.top(SELL)
    assert got.open_exposure(got.accounts["a"], SYM) == ex.open_exposure(a, SYM)
    # a closed order is still there to query; the next id is new
    assert got.by_client[("a", SYM, "take-1")].status == "FILLED"
    new = got.place(got.accounts["a"], limit("BUY", "990.0", "0.020", cid="after"))
    assert new["orderId"] == before_ids
    assert got.symbols[SYM].trade_ids.value == ex.symbols[SYM].trade_ids.value
    # and the restored bid still trades: a sell sweeping to 999.5 fills it as a maker
    got.market_trade(SYM, SELL, got.symbols[SYM].sym.parse_price("999.50"), 1000)
    assert got.by_client[("a", SYM, "bid-1")].executed > bid.executed - 1000


def test_a_state_saved_under_another_tick_size_is_refused(tmp_path: Path) -> None:
    ex, _ = make_exchange()
    path = tmp_path / "venue_state.json"
    persist.write(path, persist.encode(persist.snapshot(ex)))
    snap = persist.read(path)
    assert snap is not None
    snap.symbols[SYM].tick = D("0.001")
    fresh, _ = make_exchange()
    with pytest.raises(persist.VenueStateError, match=f"{SYM} was saved with tick 0.001"):
        persist.restore(fresh, snap, path)
    path.write_text("{not json")
    with pytest.raises(persist.VenueStateError, match="make venue-reset"):
        persist.read(path)


def test_the_venue_process_remembers_orders_balances_and_trades_across_its_restart(tmp_path: Path) -> None:
    venue = VenueProc(tmp_path, "persist_interval_s = 0.2\n").start()
    try:
        bid = venue.signed("GET", "/fapi/v1/ticker/bookTicker", symbol="ETHUSDC").json()["bidPrice"]
        far = str((D(bid) * D("0.98")).quantize(D("0.01")))
        r = venue.signed(
            "POST", "/fapi/v1/order", **resting_buy("ETHUSDC", "0.050", far, newClientOrderId="keep-1")
        )
        assert r.status_code == 200, r.text
        oid = r.json()["orderId"]
        taker = {"symbol": "ETHUSDC", "side": "BUY", "type": "MARKET", "quantity": "0.010"}
        assert venue.signed("POST", "/fapi/v1/order", **taker).status_code == 200
        trades = venue.signed("GET", "/fapi/v1/userTrades", symbol="ETHUSDC").json()
        account = venue.signed("GET", "/fapi/v3/account").json()
        venue.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        venue.proc.wait(15)  # type: ignore[union-attr]
        venue.start()
        still = venue.signed("GET", "/fapi/v1/openOrders", symbol="ETHUSDC").json()
        assert [(o["orderId"], o["clientOrderId"], o["price"]) for o in still] == [(oid, "keep-1", far)]
        assert venue.signed("GET", "/fapi/v1/userTrades", symbol="ETHUSDC").json() == trades
        again = venue.signed("GET", "/fapi/v3/account").json()
        assert [(x["asset"], x["walletBalance"]) for x in again["assets"]] == [
            (x["asset"], x["walletBalance"]) for x in account["assets"]
        ]
        assert again["positions"][0]["positionAmt"] == account["positions"][0]["positionAmt"]
        assert D(again["positions"][0]["positionAmt"]) == D("0.010")
        r = venue.signed(
            "POST", "/fapi/v1/order", **resting_buy("ETHUSDC", "0.050", far, newClientOrderId="new-1")
        )
        assert r.json()["orderId"] > oid  # ids go on
    finally:
        venue.stop()


@pytest.mark.system
def test_after_a_venue_restart_the_gateway_reconciles_with_the_orders_it_left(tmp_path: Path) -> None:
    """The gateway dies (kill -9, so nothing is cancelled), the venue restarts and remembers its
    orders; the new gateway's start-up reconciliation finds them and every order on the venue is
    one its OMS knows, with no more resting than the strategy's ladder."""
    from common.messages import GetSnapshot
    from tests.cluster import Cluster
    from tests.helpers import wait_until

    no_recorder = {"MM_GATEWAY__RECORDER_WAIT_S": "0", "MM_RISK__RECORDER_WAIT_S": "0"}
    c = Cluster(tmp_path, "[simvenue]\npersist_interval_s = 0.2\n", no_recorder)
    try:
        c.start("venue", "marketdata", "gateway", "risk", "strategy")
        wait_until(lambda: len(c.open_orders("ETHUSDC")) >= 4, 40, what="the ladder resting")
        c.kill("gateway")  # SIGKILL: its orders stay
        left = {o["clientOrderId"] for o in c.open_orders("ETHUSDC")}
        c.kill("venue", signal.SIGTERM)
        c.start("venue")
        back = {o["clientOrderId"] for o in c.open_orders("ETHUSDC")}
        assert back <= left and back, (back, left)  # remembered, nothing new
        for cid in left - back:  # the market may fill one between our read and the venue's stop
            status = c.signed("GET", "/fapi/v1/order", symbol="ETHUSDC", origClientOrderId=cid)["status"]
            assert status == "FILLED", (cid, status)
        c.start("gateway")

        def second_boot() -> str:
            boots = c.log("gateway").split("service_boot")
            return boots[2] if len(boots) == 3 and "gateway_reconciled" in boots[2] else ""

        second = wait_until(second_boot, 30, what="the new gateway's start-up reconciliation")
        reconciled = second.split("gateway_reconciled")[1].splitlines()[0]
        assert "open_orders=0" not in reconciled, reconciled  # it found what it had left

        def known() -> bool:
            reply = c.request("gateway", GetSnapshot(what="oms"))
            if not reply.ok:
                return False
            ours = {o["client_order_id"] for o in reply.result["orders"]}
            at_venue = {o["clientOrderId"] for o in c.open_orders("ETHUSDC")}
            return bool(at_venue) and at_venue <= ours

        wait_until(known, 30, what="every venue order known to the new gateway's OMS")
    finally:
        c.stop()


def test_spot_wallets_and_orders_come_back_with_what_they_lock(tmp_path: Path) -> None:
    from tests.test_venue_spot import SPOT

    venue = VenueProc(tmp_path, "persist_interval_s = 0.2\n" + SPOT).start()
    try:
        bid = D(venue.signed("GET", "/api/v3/ticker/bookTicker", symbol="ETHUSDT").json()["bidPrice"])
        price = str(bid - D("3.00"))
        order = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.0500",
                 "price": price, "newClientOrderId": "spot-keep"}  # fmt: skip
        r = venue.signed("POST", "/api/v3/order", **order)
        assert r.status_code == 200, r.text
        before = venue.signed("GET", "/api/v3/account").json()["balances"]
        venue.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        venue.proc.wait(15)  # type: ignore[union-attr]
        venue.start()
        assert venue.signed("GET", "/api/v3/account").json()["balances"] == before
        still = venue.signed("GET", "/api/v3/openOrders", symbol="ETHUSDT").json()
        assert [(o["orderId"], o["clientOrderId"], o["price"]) for o in still] == [
            (r.json()["orderId"], "spot-keep", price)
        ]
        gone = venue.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", origClientOrderId="spot-keep").json()
        assert gone["status"] == "CANCELED"
        after = {b["asset"]: b for b in venue.signed("GET", "/api/v3/account").json()["balances"]}
        assert D(after["USDT"]["locked"]) == 0  # the restored lock was released exactly
    finally:
        venue.stop()
