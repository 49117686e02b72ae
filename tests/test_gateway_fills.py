"""Fills exactly once across the user stream, TRADE_LITE and userTrades replays; positions from fills."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.binance.user import AccountUpdate, OrderTradeUpdate, TradeLite, user_event_decoder
from common.messages import Fill
from common.params.gateway import OmsParams
from services.gateway.client_ids import ClientIds
from services.gateway.oms import Effects, Oms
from services.gateway.orders import NewOrder

T0 = 1_763_000_000_000_000_000
MS = 1_000_000


def make_oms(**params: Any) -> Oms:
    return Oms(ClientIds("mm", "s1"), OmsParams(**params))


def place(oms: Oms, side: str = "BUY", qty: str = "1.000") -> str:
    order = NewOrder("ETHUSDC", "BUY" if side == "BUY" else "SELL", Decimal("2000.00"), Decimal(qty), 0)
    rec, _ = oms.submit(order, T0)
    return rec.client_id


def decode(payload: dict[str, Any]) -> Any:
    return user_event_decoder.decode(json.dumps(payload))


def trade_event(
    cid: str, t: int, qty: str, cum: str, status: str, price: str, ap: str, ts: int, side: str = "BUY"
) -> OrderTradeUpdate:
    o = {"s": "ETHUSDC", "c": cid, "S": side, "o": "LIMIT", "f": "GTX", "q": "1.000", "p": "2000.00",
         "ap": ap, "x": "TRADE", "X": status, "i": 77, "l": qty, "z": cum, "L": price, "T": ts, "t": t,
         "m": True, "R": False, "rp": "0.25", "N": "USDC", "n": "0.004"}  # fmt: skip
    ev = decode({"e": "ORDER_TRADE_UPDATE", "E": ts, "T": ts, "o": o})
    assert isinstance(ev, OrderTradeUpdate)
    return ev


def lite(cid: str, t: int, qty: str, price: str, ts: int, side: str = "BUY") -> TradeLite:
    ev = decode({"e": "TRADE_LITE", "E": ts, "T": ts, "s": "ETHUSDC", "q": "1.000", "p": "2000.00", "m": True,
                 "c": cid, "S": side, "L": price, "l": qty, "t": t, "i": 77})  # fmt: skip
    assert isinstance(ev, TradeLite)
    return ev


def user_trade(t: int, qty: str, price: str, T: int, side: str = "BUY") -> dict[str, Any]:
    return {"id": t, "orderId": 77, "symbol": "ETHUSDC", "side": side, "price": price, "qty": qty,
            "commission": "0.004", "commissionAsset": "USDC", "realizedPnl": "0.25", "maker": True,
            "time": T, "buyer": side == "BUY", "positionSide": "BOTH"}  # fmt: skip


def new_event(cid: str) -> OrderTradeUpdate:
    o = {"s": "ETHUSDC", "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTX", "q": "1.000", "p": "2000.00",
         "x": "NEW", "X": "NEW", "i": 77, "T": 999}  # fmt: skip
    ev = decode({"e": "ORDER_TRADE_UPDATE", "E": 999, "T": 999, "o": o})
    assert isinstance(ev, OrderTradeUpdate)
    return ev


def fill_key(f: Fill) -> tuple[object, ...]:
    return (f.symbol, f.trade_id, f.side, f.price, f.qty, f.fee, f.fee_asset, f.realized_pnl, f.is_maker)


def ack(cid: str) -> dict[str, Any]:
    return {"orderId": 77, "clientOrderId": cid, "symbol": "ETHUSDC", "status": "NEW", "side": "BUY",
            "price": "2000.00", "origQty": "1.000", "executedQty": "0", "timeInForce": "GTX"}  # fmt: skip


def test_one_trade_seen_on_every_path_is_one_fill() -> None:
    oms = make_oms()
    cid = place(oms)
    oms.on_answer(cid, "place", ack(cid), T0)
    fills = []
    for eff in (
        oms.on_trade_lite(lite(cid, 5, "0.400", "2000.00", 1000), T0 + MS),
        oms.on_order_trade_update(
            trade_event(cid, 5, "0.400", "0.400", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0 + 2 * MS
        ),
        oms.on_user_trade(user_trade(5, "0.400", "2000.00", 1000), T0 + 3 * MS),
        oms.on_order_trade_update(
            trade_event(cid, 5, "0.400", "0.400", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0 + 4 * MS
        ),
    ):
        fills += eff.fills
    assert len(fills) == 1
    assert fill_key(fills[0]) == (
        "ETHUSDC", 5, "BUY", Decimal("2000.00"), Decimal("0.4"), Decimal("0.004"), "USDC", Decimal("0.25"),
        True,
    )  # fmt: skip
    assert oms.positions["ETHUSDC"].qty == Decimal("0.4")


def test_trade_lite_advances_the_order_but_waits_for_the_full_event_to_publish_the_fill() -> None:
    oms = make_oms()
    cid = place(oms)
    eff = oms.on_trade_lite(lite(cid, 5, "0.400", "2000.00", 1000), T0 + MS)
    assert eff.fills == [] and [u.state for u in eff.updates] == ["PartiallyFilled"]
    assert oms.orders[cid].ts_first_fill_ns == T0 + MS
    eff = oms.on_order_trade_update(
        trade_event(cid, 5, "0.400", "0.400", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0 + 2 * MS
    )
    assert len(eff.fills) == 1 and eff.fills[0].fee == Decimal("0.004") and eff.updates == []


def test_trade_lite_can_publish_the_fill_first_when_configured() -> None:
    oms = make_oms(fills_from_trade_lite=True)
    cid = place(oms)
    eff = oms.on_trade_lite(lite(cid, 5, "0.400", "2000.00", 1000), T0 + MS)
    assert len(eff.fills) == 1 and eff.fills[0].fee == 0 and eff.fills[0].is_maker
    eff = oms.on_order_trade_update(
        trade_event(cid, 5, "0.400", "0.400", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0 + 2 * MS
    )
    assert eff.fills == []


def test_a_replayed_trade_of_an_unknown_order_is_still_one_fill() -> None:
    oms = make_oms()
    e1 = oms.on_user_trade(user_trade(9, "0.100", "2001.00", 1000), T0)
    e2 = oms.on_user_trade(user_trade(9, "0.100", "2001.00", 1000), T0 + MS)
    assert len(e1.fills) == 1 and e2.fills == [] and e1.fills[0].client_order_id == ""


def test_fills_published_before_a_restart_are_not_published_again_by_the_replay() -> None:
    before = make_oms()
    published = before.on_user_trade(user_trade(9, "0.100", "2001.00", 1000), T0).fills
    after = make_oms()
    after.remember_fills(published)
    assert after.on_user_trade(user_trade(9, "0.100", "2001.00", 1000), T0 + MS).fills == []
    assert len(after.on_user_trade(user_trade(10, "0.100", "2001.00", 1001), T0 + MS).fills) == 1


def test_both_halves_of_a_self_trade_are_fills() -> None:
    oms = make_oms()
    buy, sell = place(oms, "BUY"), place(oms, "SELL")
    e1 = oms.on_order_trade_update(
        trade_event(buy, 7, "0.100", "0.100", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0
    )
    e2 = oms.on_order_trade_update(
        trade_event(sell, 7, "0.100", "0.100", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000, side="SELL"),
        T0,
    )
    assert len(e1.fills) == len(e2.fills) == 1
    assert oms.positions["ETHUSDC"].qty == 0


def account_update(qty: str, entry: str, T: int) -> AccountUpdate:
    ev = decode({"e": "ACCOUNT_UPDATE", "E": T, "T": T, "a": {"m": "ORDER", "B": [],
                 "P": [{"s": "ETHUSDC", "pa": qty, "ep": entry, "up": "0", "ps": "BOTH"}]}})  # fmt: skip
    assert isinstance(ev, AccountUpdate)
    return ev


# ---- any order, any duplication -------------------------------------------------------------------

TRADES = [(11, "0.300", "2000.00", 1000), (12, "0.500", "1999.90", 1001), (13, "0.200", "1999.80", 1002)]


def all_events(cid: str) -> list[tuple[str, Any]]:
    """Every message one order's life produces, on every path, and the venue's final position."""
    cum = Decimal(0)
    notional = Decimal(0)
    events: list[tuple[str, Any]] = [("answer", ack(cid)), ("otu", new_event(cid))]
    for t, qty, price, ts in TRADES:
        cum += Decimal(qty)
        notional += Decimal(qty) * Decimal(price)
        status = "FILLED" if cum == 1 else "PARTIALLY_FILLED"
        ap = str(notional / cum)
        events.append(("otu", trade_event(cid, t, qty, str(cum), status, price, ap, ts)))
        events.append(("lite", lite(cid, t, qty, price, ts)))
        events.append(("rest", user_trade(t, qty, price, ts)))
    events.append(("account", account_update("1", "1999.91", TRADES[-1][3])))
    return events


def feed(oms: Oms, cid: str, kind: str, ev: Any, now: int) -> Effects:
    if kind == "answer":
        return oms.on_answer(cid, "place", ev, now)
    if kind == "otu":
        return oms.on_order_trade_update(ev, now)
    if kind == "lite":
        return oms.on_trade_lite(ev, now)
    if kind == "account":
        return oms.on_account_update(ev, now)
    return oms.on_user_trade(ev, now)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_interleaving_and_duplication_gives_the_same_fills_and_final_state(data: st.DataObject) -> None:
    oms = make_oms()
    cid = place(oms)
    events = all_events(cid)
    order = data.draw(st.permutations(range(len(events))))
    dups = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=10))
    sequence = list(order)
    for d in dups:
        sequence.insert(data.draw(st.integers(0, len(sequence))), d)
    fills: list[Fill] = []
    for i, k in enumerate(sequence):
        kind, ev = events[k]
        fills += feed(oms, cid, kind, ev, T0 + i * MS).fills
    assert sorted(fill_key(f) for f in fills) == sorted(
        ("ETHUSDC", t, "BUY", Decimal(p), Decimal(q), Decimal("0.004"), "USDC", Decimal("0.25"), True)
        for t, q, p, _ in TRADES
    )
    rec = oms.orders[cid]
    assert (rec.state, rec.filled, rec.venue_id) == ("Filled", Decimal(1), 77)
    assert rec.avg_price == Decimal("1999.91")
    assert not rec.busy
    pos = oms.positions["ETHUSDC"]
    assert (pos.qty, pos.entry, pos.realized, pos.fees) == (
        Decimal(1), Decimal("1999.91"), Decimal("0.75"), Decimal("0.012")
    )  # fmt: skip


# ---- positions -----------------------------------------------------------------------------------


def test_average_entry_follows_binance_adds_reduces_and_flips() -> None:
    oms = make_oms()
    steps = [("BUY", "1", "100", (1, 100)), ("BUY", "1", "110", (2, 105)), ("SELL", "1", "120", (1, 105)),
             ("SELL", "2", "130", (-1, 130)), ("BUY", "1", "90", (0, 0))]  # fmt: skip
    for t, (side, qty, price, (want_qty, want_entry)) in enumerate(steps, start=1):
        oms.on_user_trade(user_trade(t, qty, price, 1000 + t, side), T0 + t)
        pos = oms.positions["ETHUSDC"]
        assert (pos.qty, pos.entry) == (Decimal(want_qty), Decimal(want_entry)), t


def test_the_venue_position_overwrites_ours_and_reports_drift() -> None:
    oms = make_oms()
    oms.on_user_trade(user_trade(1, "0.5", "2000", 1000), T0)
    eff = oms.on_account_update(account_update("0.7", "2001", 1500), T0 + MS)
    assert [(d.local, d.venue) for d in eff.drifts] == [(Decimal("0.5"), Decimal("0.7"))]
    assert [(p.qty, p.entry_price) for p in eff.positions] == [(Decimal("0.7"), Decimal(2001))]


def test_a_venue_figure_that_already_includes_a_fill_is_not_counted_twice() -> None:
    oms = make_oms()
    cid = place(oms)
    oms.on_account_update(account_update("0.3", "2000", 1000), T0)  # arrives before the trade event
    oms.on_order_trade_update(
        trade_event(cid, 11, "0.300", "0.300", "PARTIALLY_FILLED", "2000.00", "2000.00", 1000), T0 + MS
    )
    assert oms.positions["ETHUSDC"].qty == Decimal("0.3")


def test_a_venue_figure_older_than_our_last_fill_is_skipped() -> None:
    oms = make_oms()
    oms.on_user_trade(user_trade(1, "0.5", "2000", 2000), T0)
    row = {"symbol": "ETHUSDC", "positionAmt": "0", "entryPrice": "0", "updateTime": 1500, "markPrice": "1"}
    eff = oms.on_position_risk(row, T0 + MS)
    assert [a.kind for a in eff.anomalies] == ["stale_venue_position"]
    assert oms.positions["ETHUSDC"].qty == Decimal("0.5")
