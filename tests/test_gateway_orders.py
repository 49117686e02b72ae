"""The order state machine through the OMS: our requests, venue answers, the user stream, in any order."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from common.binance.errors import classify
from common.binance.user import OrderTradeUpdate, user_event_decoder
from services.gateway.client_ids import ClientIds
from services.gateway.oms import Oms
from services.gateway.orders import NewOrder

T0 = 1_763_000_000_000_000_000
MS = 1_000_000
S = 1_000 * MS
LATER = T0 + 3600 * S  # a clock past every query back-off


def make_oms() -> Oms:
    return Oms(ClientIds("mm", "s1"))


def quote(layer: int = 0, side: str = "BUY", price: str = "2000.00", qty: str = "1.000") -> NewOrder:
    return NewOrder(
        symbol="ETHUSDC",
        side="BUY" if side == "BUY" else "SELL",
        price=Decimal(price),
        qty=Decimal(qty),
        layer=layer,
        tif="GTX",
    )


def answer(cid: str, status: str = "NEW", oid: int = 77, **kw: Any) -> dict[str, Any]:
    """A REST / WS-API order object as Binance sends it (decimals as strings)."""
    body = {
        "orderId": oid,
        "clientOrderId": cid,
        "symbol": "ETHUSDC",
        "status": status,
        "side": "BUY",
        "price": "2000.00",
        "origQty": "1.000",
        "executedQty": "0",
        "timeInForce": "GTX",
        "type": "LIMIT",
        "reduceOnly": False,
        "updateTime": 1000,
    }
    body.update(kw)
    return body


def otu(cid: str, x: str, X: str, oid: int = 77, **kw: Any) -> OrderTradeUpdate:
    """An ORDER_TRADE_UPDATE decoded by the user stream's own decoder."""
    o = {
        "s": "ETHUSDC",
        "c": cid,
        "S": "BUY",
        "o": "LIMIT",
        "f": "GTX",
        "q": "1.000",
        "p": "2000.00",
        "ap": "0",
        "x": x,
        "X": X,
        "i": oid,
        "l": "0",
        "z": "0",
        "L": "0",
        "T": 1000,
        "t": 0,
        "m": False,
        "R": False,
        "rp": "0",
        "er": "0",
    }
    o.update(kw)
    event = user_event_decoder.decode(
        json.dumps({"e": "ORDER_TRADE_UPDATE", "E": o["T"], "T": o["T"], "o": o})
    )
    assert isinstance(event, OrderTradeUpdate)
    return event


def submitted(oms: Oms, **kw: Any) -> str:
    rec, eff = oms.submit(quote(**kw), T0, target_ns=T0 - 5 * MS)
    assert [u.state for u in eff.updates] == ["PendingNew"]
    return rec.client_id


def acked(oms: Oms) -> str:
    cid = submitted(oms)
    oms.on_answer(cid, "place", answer(cid), T0 + MS)
    return cid


def states(eff: Any) -> list[str]:
    return [u.state for u in eff.updates]


# ---- place ------------------------------------------------------------------------------------------


def test_a_place_goes_pending_new_then_new_on_the_ack_with_its_latency_record() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_answer(cid, "place", answer(cid), T0 + 2 * MS)
    assert states(eff) == ["New"]
    assert eff.updates[0].venue_order_id == 77
    rec = oms.orders[cid]
    assert not rec.busy
    assert rec.latency_ns() == {"target_to_sent": 5 * MS, "sent_to_ack": 2 * MS}


def test_the_stream_new_before_the_rest_ack_yields_one_update() -> None:
    oms = make_oms()
    cid = submitted(oms)
    assert states(oms.on_order_trade_update(otu(cid, "NEW", "NEW"), T0 + MS)) == ["New"]
    assert oms.orders[cid].busy  # the place answer is still awaited
    assert states(oms.on_answer(cid, "place", answer(cid), T0 + 2 * MS)) == []
    assert not oms.orders[cid].busy


def test_a_fill_before_the_ack_is_not_undone_by_the_late_new_ack() -> None:
    oms = make_oms()
    cid = submitted(oms)
    trade = otu(cid, "TRADE", "PARTIALLY_FILLED", l="0.400", z="0.400", L="2000.00", t=5, ap="2000.00")
    eff = oms.on_order_trade_update(trade, T0 + MS)
    assert states(eff) == ["PartiallyFilled"] and len(eff.fills) == 1
    assert states(oms.on_answer(cid, "place", answer(cid), T0 + 2 * MS)) == []
    assert oms.orders[cid].state == "PartiallyFilled"
    assert oms.orders[cid].ts_first_fill_ns == T0 + MS


def test_partial_then_full_fill_publishes_each_trade_with_fee_pnl_and_maker_flag() -> None:
    oms = make_oms()
    cid = acked(oms)
    e1 = oms.on_order_trade_update(
        otu(
            cid,
            "TRADE",
            "PARTIALLY_FILLED",
            l="0.400",
            z="0.400",
            L="2000.00",
            t=5,
            n="0.01",
            N="USDC",
            m=True,
            rp="0",
            ap="2000.00",
        ),
        T0 + 2 * MS,
    )
    e2 = oms.on_order_trade_update(
        otu(cid, "TRADE", "FILLED", l="0.600", z="1.000", L="2000.00", t=6, m=True, rp="1.5", ap="2000.00"),
        T0 + 3 * MS,
    )
    assert states(e1) == ["PartiallyFilled"] and states(e2) == ["Filled"]
    f1, f2 = e1.fills[0], e2.fills[0]
    assert (f1.trade_id, f1.qty, f1.fee, f1.fee_asset, f1.is_maker) == (
        5,
        Decimal("0.4"),
        Decimal("0.01"),
        "USDC",
        True,
    )
    assert (f2.fee, f2.fee_asset, f2.realized_pnl) == (Decimal(0), "", Decimal("1.5"))  # n absent: no fee
    assert f1.layer == 0 and f1.client_order_id == cid
    assert e2.updates[0].filled_qty == Decimal("1.000")
    assert oms.orders[cid].final


def test_a_post_only_rejection_just_disappears_as_rejected() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_error(cid, "place", classify(400, -5022, "Order would immediately match and take."), T0 + MS)
    assert states(eff) == ["Rejected"]
    assert (eff.updates[0].reason, eff.updates[0].error_code) == ("post_only", -5022)
    assert oms.working("ETHUSDC") == []


def test_other_place_rejections_carry_the_venue_message() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_reject(cid, "place", -2019, "Margin is insufficient.", T0 + MS)
    assert states(eff) == ["Rejected"] and eff.updates[0].reason == "Margin is insufficient."


def test_an_unknown_place_outcome_stays_pending_until_a_query_finds_the_order() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_error(cid, "place", classify(503, 0, "Unknown error, please check your request."), T0 + MS)
    assert states(eff) == []
    assert [r.client_id for r in oms.unresolved(LATER)] == [cid]
    assert oms.orders[cid].busy
    assert states(oms.resolve(cid, answer(cid), T0 + 2 * MS)) == ["New"]
    assert oms.unresolved(LATER) == [] and not oms.orders[cid].busy


def test_an_unknown_place_not_found_stays_live_until_the_horizon_then_is_rejected() -> None:
    """A place whose answer was lost may still land until the venue's recvWindow has passed:
    "no such order" before then settles nothing (the order stays live for every cap); after the
    7 s horizon (OmsParams default, more than the 5 s recvWindow) it is Rejected, not_found."""
    oms = make_oms()
    cid = submitted(oms)
    oms.on_unknown(cid, "place", T0 + MS)
    eff = oms.resolve(cid, None, T0 + 300 * MS)
    assert states(eff) == [] and oms.orders[cid].state == "PendingNew" and oms.orders[cid].unknown
    assert oms.exposure("ETHUSDC").resting_buy == Decimal("1.000")
    assert oms.unresolved(T0 + 400 * MS) == []  # asked again only after the back-off (250 ms)
    assert [r.client_id for r in oms.unresolved(T0 + 551 * MS)] == [cid]
    eff = oms.resolve(cid, None, T0 + 7 * S + MS)
    assert states(eff) == ["Rejected"] and eff.updates[0].reason == "not_found"
    assert oms.exposure("ETHUSDC").resting_buy == 0


def test_an_order_rejected_as_not_found_revives_when_it_lands_late() -> None:
    oms = make_oms()
    cid = submitted(oms)
    oms.on_unknown(cid, "place", T0 + MS)
    oms.resolve(cid, None, T0 + 8 * S)
    assert oms.orders[cid].state == "Rejected"
    eff = oms.on_order_trade_update(otu(cid, "NEW", "NEW"), T0 + 9 * S)
    assert states(eff) == ["New"] and [a.kind for a in eff.anomalies] == ["revived_order"]
    assert oms.exposure("ETHUSDC").resting_buy == Decimal("1.000")
    assert [r.client_id for r in oms.working("ETHUSDC")] == [cid]


def test_a_rejection_the_venue_reported_never_revives() -> None:
    oms = make_oms()
    cid = submitted(oms)
    oms.on_reject(cid, "place", -5022, "would take", T0 + MS)
    eff = oms.on_order_trade_update(otu(cid, "NEW", "NEW"), T0 + 2 * MS)
    assert oms.orders[cid].state == "Rejected" and "New" not in states(eff)


def test_a_malformed_success_answer_makes_the_outcome_unknown_not_pending_forever() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_answer(cid, "place", {"orderId": "twelve"}, T0 + MS)
    assert [a.kind for a in eff.anomalies] == ["malformed_answer"]
    rec = oms.orders[cid]
    assert rec.unknown == {"place"} and not rec.inflight
    assert [r.client_id for r in oms.unresolved(T0 + 2 * MS)] == [cid]


def test_an_unknown_place_outcome_is_settled_by_the_stream_without_a_query() -> None:
    oms = make_oms()
    cid = submitted(oms)
    oms.on_unknown(cid, "place", T0 + MS)
    oms.on_order_trade_update(otu(cid, "NEW", "NEW"), T0 + 2 * MS)
    assert oms.unresolved(LATER) == [] and not oms.orders[cid].busy


def test_a_duplicate_client_id_is_queried_not_rejected() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.on_reject(cid, "place", -4116, "ClientOrderId is duplicated.", T0 + MS)
    assert [a.kind for a in eff.anomalies] == ["duplicate_client_id"]
    assert oms.orders[cid].state == "PendingNew" and oms.unresolved(LATER)


# ---- cancel -----------------------------------------------------------------------------------------


def test_a_cancel_goes_pending_cancel_then_canceled() -> None:
    oms = make_oms()
    cid = acked(oms)
    assert states(oms.request_cancel(cid, T0 + 2 * MS)) == ["PendingCancel"]
    eff = oms.on_answer(cid, "cancel", answer(cid, "CANCELED"), T0 + 3 * MS)
    assert states(eff) == ["Canceled"] and eff.updates[0].reason == "canceled"
    assert states(oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + 4 * MS)) == []


def test_the_stream_cancel_before_the_answer_yields_one_update() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_cancel(cid, T0 + 2 * MS)
    assert states(oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + 3 * MS)) == ["Canceled"]
    assert states(oms.on_answer(cid, "cancel", answer(cid, "CANCELED"), T0 + 4 * MS)) == []


def test_a_cancel_of_an_order_no_longer_open_is_resolved_by_query_as_filled() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_cancel(cid, T0 + 2 * MS)
    eff = oms.on_error(cid, "cancel", classify(400, -2011, "Unknown order sent."), T0 + 3 * MS)
    assert states(eff) == [] and oms.orders[cid].state == "PendingCancel"
    assert [r.client_id for r in oms.unresolved(LATER)] == [cid]
    eff = oms.resolve(cid, answer(cid, "FILLED", executedQty="1.000", avgPrice="2000.00"), T0 + 4 * MS)
    assert states(eff) == ["Filled"] and eff.updates[0].filled_qty == Decimal(1)


def test_a_cancel_refused_for_another_reason_returns_the_order_to_working() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_cancel(cid, T0 + 2 * MS)
    eff = oms.on_error(cid, "cancel", classify(429, -1003, "Too many requests."), T0 + 3 * MS)
    assert states(eff) == ["New"] and not oms.orders[cid].busy


def test_an_unknown_cancel_outcome_resolved_as_still_open_can_be_canceled_again() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_cancel(cid, T0 + 2 * MS)
    oms.on_unknown(cid, "cancel", T0 + 3 * MS)
    assert oms.orders[cid].busy
    assert states(oms.resolve(cid, answer(cid, "NEW"), T0 + 4 * MS)) == ["New"]
    assert states(oms.request_cancel(cid, T0 + 5 * MS)) == ["PendingCancel"]


def test_a_cancel_by_the_venue_alone_is_reported_as_such() -> None:
    oms = make_oms()
    cid = acked(oms)
    eff = oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + 2 * MS)
    assert eff.updates[0].reason == "venue_canceled"


def test_an_expiry_names_its_reason() -> None:
    oms = make_oms()
    cid = acked(oms)
    eff = oms.on_order_trade_update(otu(cid, "EXPIRED", "EXPIRED", er="4"), T0 + 2 * MS)
    assert states(eff) == ["Expired"] and eff.updates[0].reason == "expired:reduce_only_knocked_out"


# ---- modify -----------------------------------------------------------------------------------------


def test_a_modify_goes_pending_modify_then_new_at_the_new_price() -> None:
    oms = make_oms()
    cid = acked(oms)
    assert states(oms.request_modify(cid, Decimal("1999.50"), Decimal("1.000"), T0 + 2 * MS)) == [
        "PendingModify"
    ]
    eff = oms.on_order_trade_update(otu(cid, "AMENDMENT", "NEW", p="1999.50"), T0 + 3 * MS)
    assert states(eff) == ["New"] and eff.updates[0].price == Decimal("1999.50")
    assert oms.orders[cid].busy  # the modify's own answer is still awaited: no second modify yet
    ans = answer(cid, price="1999.50")
    assert states(oms.on_answer(cid, "modify", ans, T0 + 4 * MS)) == []
    assert not oms.orders[cid].busy and oms.orders[cid].client_id == cid


def test_a_gtx_modify_that_would_cross_ends_canceled() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_modify(cid, Decimal("2100.00"), Decimal("1.000"), T0 + 2 * MS)
    eff = oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + 3 * MS)
    assert states(eff) == ["Canceled"] and eff.updates[0].reason == "modify_canceled"
    assert states(oms.on_answer(cid, "modify", answer(cid, "CANCELED"), T0 + 4 * MS)) == []


def test_a_refused_modify_leaves_the_order_as_it_was() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_modify(cid, Decimal("1999.00"), Decimal("1.000"), T0 + 2 * MS)
    eff = oms.on_reject(cid, "modify", -5027, "No need to modify the order.", T0 + 3 * MS)
    assert states(eff) == ["New"] and eff.updates[0].price == Decimal("2000.00")
    assert eff.updates[0].error_code == -5027 and not oms.orders[cid].busy


def test_an_unknown_modify_outcome_is_resolved_by_the_query() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.request_modify(cid, Decimal("1999.00"), Decimal("2.000"), T0 + 2 * MS)
    oms.on_unknown(cid, "modify", T0 + 3 * MS)
    assert oms.orders[cid].state == "PendingModify" and oms.unresolved(LATER)
    eff = oms.resolve(cid, answer(cid, price="1999.00", origQty="2.000"), T0 + 4 * MS)
    assert states(eff) == ["New"]
    assert (eff.updates[0].price, eff.updates[0].qty) == (Decimal("1999.00"), Decimal("2.000"))


# ---- illegal and unexpected -------------------------------------------------------------------------


def test_illegal_requests_are_refused_as_anomalies() -> None:
    oms = make_oms()
    cid = submitted(oms)
    eff = oms.request_modify(cid, Decimal(1), Decimal(1), T0)
    assert [a.kind for a in eff.anomalies] == ["modify_of_busy_order"] and states(eff) == []
    oms.on_answer(cid, "place", answer(cid, "FILLED", executedQty="1.000"), T0 + MS)
    assert [a.kind for a in oms.request_cancel(cid, T0 + 2 * MS).anomalies] == ["cancel_of_final_order"]
    assert [a.kind for a in oms.request_cancel("nope", T0).anomalies] == ["cancel_of_unknown_order"]


def test_final_states_are_final() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.on_order_trade_update(
        otu(cid, "TRADE", "FILLED", l="1.000", z="1.000", L="2000.00", t=9), T0 + 2 * MS
    )
    eff = oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + 3 * MS)
    assert [a.kind for a in eff.anomalies] == ["canceled_after_filled"] and states(eff) == []
    eff = oms.on_order_trade_update(otu(cid, "AMENDMENT", "NEW", p="1.00"), T0 + 4 * MS)
    assert states(eff) == [] and oms.orders[cid].price == Decimal("2000.00")
    assert states(oms.on_order_trade_update(otu(cid, "NEW", "NEW"), T0 + 5 * MS)) == []
    assert oms.orders[cid].state == "Filled"


def test_unknown_statuses_and_execution_types_are_anomalies_not_crashes() -> None:
    oms = make_oms()
    cid = acked(oms)
    eff = oms.on_order_trade_update(otu(cid, "NEW", "SOMETHING_NEW"), T0 + 2 * MS)
    assert [a.kind for a in eff.anomalies] == ["unknown_status_SOMETHING_NEW"]
    eff = oms.on_order_trade_update(otu(cid, "WEIRD", "NEW"), T0 + 3 * MS)
    assert [a.kind for a in eff.anomalies] == ["unknown_execution_type_WEIRD"]
    assert [a.kind for a in oms.on_answer(cid, "place", {"bad": 1}, T0).anomalies] == ["malformed_answer"]


# ---- adoption and memory ----------------------------------------------------------------------------


def test_an_event_for_an_unknown_id_of_ours_is_adopted_with_its_layer() -> None:
    oms = make_oms()
    cid = ClientIds("mm", "s0").next("ETHUSDC", "SELL", 3)  # an earlier session's order
    eff = oms.on_order_trade_update(otu(cid, "NEW", "NEW", S="SELL"), T0)
    assert [a.kind for a in eff.anomalies] == ["adopted"]
    rec = oms.orders[cid]
    assert (rec.owned, rec.layer, rec.side, rec.state) == (True, 3, "SELL", "New")


def test_a_foreign_order_is_tracked_but_not_owned() -> None:
    oms = make_oms()
    eff = oms.on_order_trade_update(otu("web_manual1", "NEW", "NEW"), T0)
    assert [a.kind for a in eff.anomalies] == ["adopted_foreign"]
    assert not oms.orders["web_manual1"].owned
    assert oms.exposure("ETHUSDC").resting_buy == Decimal(1)


def test_start_up_adoption_from_open_orders() -> None:
    oms = make_oms()
    cid = ClientIds("mm", "s0").next("ETHUSDC", "BUY", 2)
    eff = oms.adopt(answer(cid, "PARTIALLY_FILLED", executedQty="0.300"), T0)
    assert states(eff) == ["PartiallyFilled"]
    rec = oms.orders[cid]
    assert (rec.layer, rec.filled, rec.open_qty, rec.busy) == (2, Decimal("0.3"), Decimal("0.7"), False)


def test_pruned_orders_are_not_readopted_but_their_late_fills_count() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.on_order_trade_update(otu(cid, "CANCELED", "CANCELED"), T0 + MS)
    assert oms.prune(T0 + 120 * 10**9) == 1 and cid not in oms.orders
    late = otu(cid, "TRADE", "PARTIALLY_FILLED", l="0.100", z="0.100", L="2000.00", t=44)
    eff = oms.on_order_trade_update(late, T0 + 121 * 10**9)
    assert cid not in oms.orders and len(eff.fills) == 1 and eff.anomalies == []


def test_snapshot_lists_open_orders_and_positions() -> None:
    oms = make_oms()
    cid = acked(oms)
    oms.on_order_trade_update(
        otu(cid, "TRADE", "PARTIALLY_FILLED", l="0.200", z="0.200", L="2000.00", t=3), T0 + MS
    )
    snap = oms.snapshot(T0 + 2 * MS)
    assert [u.client_order_id for u in snap.updates] == [cid]
    assert [(p.symbol, p.qty) for p in snap.positions] == [("ETHUSDC", Decimal("0.2"))]
