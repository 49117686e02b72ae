"""Target reconciliation: keep within tolerance, amend, replace, cancel, place, batch, never re-touch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.messages import Instrument, Quote, TargetQuotes
from common.params.gateway import ReconcileParams
from services.gateway.orders import OrderRecord
from services.gateway.reconcile import (
    PRIORITY_CANCEL,
    PRIORITY_QUOTE,
    PRIORITY_REDUCE,
    CancelOrders,
    ModifyOrders,
    PlaceOrders,
    Plan,
    plan,
)

NOW = 1_763_000_000_000_000_000
INST = Instrument(
    symbol="ETHUSDC",
    price_tick=Decimal("0.01"),
    qty_step=Decimal("0.001"),
    min_price=Decimal("0.01"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal(10000),
    min_notional=Decimal(10),
)
PARAMS = ReconcileParams()


def q(side: str, price: str, qty: str = "0.010", layer: int = 0, **kw: Any) -> Quote:
    return Quote(
        side="BUY" if side == "BUY" else "SELL", price=Decimal(price), qty=Decimal(qty), layer=layer, **kw
    )


def target(*quotes: Quote, target_id: int = 9) -> TargetQuotes:
    return TargetQuotes(symbol="ETHUSDC", target_id=target_id, quotes=list(quotes))


def order(cid: str, side: str, price: str, qty: str = "0.010", layer: int = 0, **kw: Any) -> OrderRecord:
    kw.setdefault("status", "New")
    return OrderRecord(
        client_id=cid,
        symbol="ETHUSDC",
        side="BUY" if side == "BUY" else "SELL",
        price=Decimal(price),
        qty=Decimal(qty),
        layer=layer,
        venue_id=1,
        **kw,
    )


def run(t: TargetQuotes, working: list[OrderRecord], params: ReconcileParams = PARAMS) -> Plan:
    return plan(t, working, INST, params, NOW)


def kinds(p: Plan) -> list[tuple[str, int, int]]:
    return [(type(a).__name__, a.priority, len(a.items)) for a in p.actions]


def test_an_empty_book_places_every_quote_post_only_in_one_batch() -> None:
    p = run(target(q("BUY", "1999.00"), q("SELL", "2001.00")), [])
    assert kinds(p) == [("PlaceOrders", PRIORITY_QUOTE, 2)]
    items = p.actions[0].items
    assert isinstance(items[0], type(items[1]))
    assert all(getattr(n, "tif", None) == "GTX" for n in items)
    assert all(getattr(n, "target_id", None) == 9 for n in items)


def test_orders_within_tolerance_are_kept() -> None:
    working = [order("a", "BUY", "1999.01", "0.0105"), order("b", "SELL", "2001.00", "0.010", layer=0)]
    p = run(target(q("BUY", "1999.00"), q("SELL", "2001.00")), working)
    assert p.actions == () and sorted(p.kept) == ["a", "b"]


def test_a_price_beyond_tolerance_is_amended_keeping_the_client_id() -> None:
    p = run(target(q("BUY", "1998.50")), [order("a", "BUY", "1999.00")])
    assert kinds(p) == [("ModifyOrders", PRIORITY_QUOTE, 1)]
    amend = p.actions[0].items[0]
    assert (getattr(amend, "client_id", ""), getattr(amend, "price", 0)) == ("a", Decimal("1998.50"))


def test_a_size_beyond_tolerance_is_amended_and_a_partial_fill_is_counted_in() -> None:
    working = [order("a", "BUY", "1999.00", "0.050", filled=Decimal("0.030"), status="PartiallyFilled")]
    p = run(target(q("BUY", "1999.00", "0.040")), working)
    amend = p.actions[0].items[0]
    assert isinstance(p.actions[0], ModifyOrders) and getattr(amend, "qty", 0) == Decimal("0.070")


def test_without_amend_an_order_out_of_tolerance_is_canceled_and_replaced() -> None:
    p = run(target(q("BUY", "1998.50")), [order("a", "BUY", "1999.00")], ReconcileParams(amend=False))
    assert kinds(p) == [("CancelOrders", PRIORITY_CANCEL, 1), ("PlaceOrders", PRIORITY_QUOTE, 1)]
    assert p.actions[0].items == ("a",)


def test_a_reduce_only_flip_cannot_be_amended_and_goes_first_among_new_orders() -> None:
    p = run(target(q("SELL", "2001.00", reduce_only=True)), [order("a", "SELL", "2001.00")])
    assert kinds(p) == [("CancelOrders", PRIORITY_CANCEL, 1), ("PlaceOrders", PRIORITY_REDUCE, 1)]
    assert getattr(p.actions[1].items[0], "reduce_only", False)


def test_a_quote_that_is_not_post_only_goes_gtc_and_does_not_match_a_gtx_order() -> None:
    p = run(target(q("BUY", "1999.00", post_only=False)), [order("a", "BUY", "1999.00", tif="GTX")])
    assert kinds(p) == [("CancelOrders", PRIORITY_CANCEL, 1), ("PlaceOrders", PRIORITY_QUOTE, 1)]
    assert getattr(p.actions[1].items[0], "tif", "") == "GTC"


def test_orders_no_longer_wanted_are_canceled() -> None:
    working = [order("a", "BUY", "1999.00"), order("b", "SELL", "2001.00")]
    p = run(target(), working)
    assert kinds(p) == [("CancelOrders", PRIORITY_CANCEL, 2)] and set(p.actions[0].items) == {"a", "b"}


def test_pending_orders_are_never_touched_and_cover_their_quote() -> None:
    working = [
        order("new", "BUY", "1990.00", status="PendingNew", inflight={"place"}),
        order("mod", "SELL", "2010.00", intent="modify", pending_price=Decimal("2011"),
              pending_qty=Decimal("0.01"), inflight={"modify"}),
        order("unk", "BUY", "1980.00", layer=1, unknown={"cancel"}, intent="cancel"),
        order("acked", "SELL", "2020.00", layer=1, inflight={"modify"}),
    ]  # fmt: skip
    t = target(
        q("BUY", "1999.00"), q("SELL", "2001.00"), q("BUY", "1989.00", layer=1), q("SELL", "2012.00", layer=1)
    )
    p = run(t, working)
    touched = {i for a in p.actions for i in a.items if isinstance(i, str)}
    touched |= {getattr(i, "client_id", "") for a in p.actions for i in a.items}
    assert touched.isdisjoint({"new", "mod", "unk", "acked"})
    assert set(p.waiting) == {"new", "mod", "unk", "acked"}
    # the order being canceled covers nothing: its layer is placed anew; the others cover theirs
    assert kinds(p) == [("PlaceOrders", PRIORITY_QUOTE, 1)]
    assert getattr(p.actions[0].items[0], "price", 0) == Decimal("1989.00")


def test_foreign_orders_and_our_command_orders_are_left_alone() -> None:
    flatten = order("mm-s1-ETHUSDC-s_-9", "SELL", "2001.00", layer=-1, reduce_only=True)
    p = run(target(), [order("web_1", "BUY", "1999.00", owned=False), flatten])
    assert p.actions == ()


def test_quotes_that_fail_the_filters_are_skipped_with_the_filter() -> None:
    p = run(target(q("BUY", "1999.005"), q("BUY", "1999.00", "0.001", layer=1)), [])
    assert sorted(why for _, why in p.skipped) == ["MIN_NOTIONAL", "PRICE_FILTER"]
    assert p.actions == ()


def test_places_stop_at_the_symbols_open_order_limit() -> None:
    inst = INST.__class__(**{**{f: getattr(INST, f) for f in INST.__struct_fields__}, "max_num_orders": 3})
    working = [order("a", "BUY", "1990.00", layer=5), order("web", "BUY", "1000.00", owned=False)]
    quotes = [q("BUY", "1990.00", layer=5)] + [q("SELL", f"{2001 + i}.00", layer=i) for i in range(3)]
    p = plan(target(*quotes), working, inst, PARAMS, NOW)
    assert kinds(p) == [("PlaceOrders", PRIORITY_QUOTE, 1)]
    assert [why for _, why in p.skipped] == ["MAX_NUM_ORDERS", "MAX_NUM_ORDERS"]


def test_the_inner_layer_is_matched_first_and_same_layer_is_preferred() -> None:
    working = [order("l0", "BUY", "1999.00", layer=0), order("l1", "BUY", "1998.00", layer=1)]
    p = run(target(q("BUY", "1998.99", layer=0), q("BUY", "1997.50", layer=1)), working)
    assert p.kept == ("l0",)
    assert [getattr(i, "client_id", "") for a in p.actions for i in a.items] == ["l1"]


# ---- batching -----------------------------------------------------------------------------------


def ladder(n: int, side: str = "BUY") -> list[Quote]:
    sign = -1 if side == "BUY" else 1
    return [q(side, f"{2000 + sign * (i + 1)}.00", layer=i) for i in range(n)]


def test_places_batch_by_five_and_a_lone_remainder_goes_single() -> None:
    assert [len(a.items) for a in run(target(*ladder(12)), []).actions] == [5, 5, 2]
    assert [len(a.items) for a in run(target(*ladder(11)), []).actions] == [5, 5, 1]
    assert [
        len(a.items) for a in run(target(*ladder(7)), [], ReconcileParams(batch_min_items=3)).actions
    ] == [
        5,
        1,
        1,
    ]


def test_cancels_batch_by_ten() -> None:
    working = [order(f"c{i}", "BUY", f"{1900 - i}.00", layer=i) for i in range(23)]
    p = run(target(), working)
    assert [len(a.items) for a in p.actions] == [10, 10, 3]
    assert all(isinstance(a, CancelOrders) for a in p.actions)


def test_modifies_batch_by_five() -> None:
    working = [order(f"m{i}", "BUY", f"{1900 - i}.00", layer=i) for i in range(6)]
    p = run(target(*ladder(6)), working)
    assert [(type(a).__name__, len(a.items)) for a in p.actions] == [("ModifyOrders", 5), ("ModifyOrders", 1)]


def test_actions_come_cancels_first_then_reduce_only_then_quotes() -> None:
    working = [order("gone", "SELL", "2050.00", layer=7), order("move", "BUY", "1990.00", layer=0)]
    quotes = [
        q("BUY", "1995.00", layer=0),
        q("SELL", "2001.00", layer=0, reduce_only=True),
        q("BUY", "1994.00", layer=1),
    ]
    p = run(target(*quotes), working)
    assert [a.priority for a in p.actions] == sorted(a.priority for a in p.actions)
    assert kinds(p) == [
        ("CancelOrders", PRIORITY_CANCEL, 1),
        ("PlaceOrders", PRIORITY_REDUCE, 1),
        ("ModifyOrders", PRIORITY_QUOTE, 1),
        ("PlaceOrders", PRIORITY_QUOTE, 1),
    ]


@settings(max_examples=100, deadline=None)
@given(
    n_orders=st.integers(0, 30),
    n_quotes=st.integers(0, 30),
    offset=st.integers(-5, 5),
    busy=st.sets(st.integers(0, 29)),
)
def test_every_order_is_touched_at_most_once_and_busy_ones_never(
    n_orders: int, n_quotes: int, offset: int, busy: set[int]
) -> None:
    working = [
        order(
            f"o{i}",
            "BUY",
            f"{1990 - i + offset}.00",
            layer=i,
            inflight={"place"} if i in busy else set(),
        )
        for i in range(n_orders)
    ]
    p = run(target(*ladder(n_quotes)), working)
    touched = [i for a in p.actions for i in a.items if isinstance(i, str)]
    touched += [
        getattr(i, "client_id", "") for a in p.actions if isinstance(a, ModifyOrders) for i in a.items
    ]
    assert len(touched) == len(set(touched))
    assert not {f"o{i}" for i in busy} & set(touched)
    for a in p.actions:
        assert len(a.items) <= (10 if isinstance(a, CancelOrders) else 5)
    placed = sum(len(a.items) for a in p.actions if isinstance(a, PlaceOrders))
    amended = sum(len(a.items) for a in p.actions if isinstance(a, ModifyOrders))
    canceled = sum(len(a.items) for a in p.actions if isinstance(a, CancelOrders))
    n_busy = len([i for i in busy if i < n_orders])
    # every wanted quote is served exactly once: kept, amended onto, placed, or covered by a busy order
    assert len(p.kept) + amended + placed == n_quotes - min(n_busy, n_quotes)
    # every settled order is kept, amended or canceled
    assert len(p.kept) + amended + canceled == n_orders - n_busy
