"""The venue's matching engine, pure: price-time priority, post-only, STP, queue models, and
hypothesis properties (never crossed, quantity conserved, a fill never exceeds its order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config_sections import SimVenueConfig, VenueAccountConfig
from services.venue.errors import VenueError
from services.venue.exchange import Exchange, PublicTrade, UserEvent
from services.venue.orderbook import BUY, SELL, OrderBook, Resting
from services.venue.queue import PowerProbQueue, RiskAverseQueue

SYM = "ETHUSDC"


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000

    def __call__(self) -> int:
        return self.t


def make_exchange(**cfg: object) -> tuple[Exchange, Clock]:
    clock = Clock()
    conf = SimVenueConfig(
        accounts=[
            VenueAccountConfig(name="a", balances={"USDC": Decimal(10**7)}),
            VenueAccountConfig(
                name="b", api_key_env="B_KEY", api_secret_env="B_SECRET", balances={"USDC": Decimal(10**7)}
            ),
        ],
        **cfg,  # type: ignore[arg-type]
    )
    ex = Exchange(conf, {"a": ("ka", "sa"), "b": ("kb", "sb")}, clock)
    ex.set_mark(SYM, Decimal(1000), Decimal(1000))
    return ex, clock


def limit(side: str, price: str, qty: str, tif: str = "GTC", cid: str = "", **kw: str) -> dict[str, str]:
    p = {
        "symbol": SYM,
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "price": price,
        "quantity": qty,
        **kw,
    }
    if cid:
        p["newClientOrderId"] = cid
    return p


def fills(ex: Exchange, account: str) -> list[dict[str, object]]:
    return [
        e.payload["o"]
        for e in ex.outbox
        if isinstance(e, UserEvent)
        and e.account == account
        and e.payload["e"] == "ORDER_TRADE_UPDATE"
        and e.payload["o"]["x"] == "TRADE"
    ]


def test_earlier_order_at_a_price_fills_first_and_better_prices_before_worse() -> None:
    ex, _ = make_exchange()
    a, b = ex.accounts["a"], ex.accounts["b"]
    ex.place(a, limit("BUY", "999.00", "1.000", cid="first"))
    ex.place(a, limit("BUY", "999.00", "1.000", cid="second"))
    ex.place(a, limit("BUY", "999.50", "0.500", cid="better"))
    ex.drain()
    ex.place(b, {"symbol": SYM, "side": "SELL", "type": "MARKET", "quantity": "1.200"})
    got = [(f["c"], f["l"], f["L"]) for f in fills(ex, "a")]
    assert got == [("better", "0.500", "999.50"), ("first", "0.700", "999.00")]


def test_post_only_that_would_take_is_rejected_with_5022_and_leaves_no_record() -> None:
    ex, _ = make_exchange()
    a, b = ex.accounts["a"], ex.accounts["b"]
    ex.place(b, limit("SELL", "1000.00", "1.000"))
    n = len(ex.orders)
    with pytest.raises(VenueError) as e:
        ex.place(a, limit("BUY", "1000.00", "0.100", tif="GTX", cid="pox"))
    assert e.value.code == -5022
    assert len(ex.orders) == n and ("a", SYM, "pox") not in ex.by_client


def test_our_order_joins_behind_the_displayed_size_and_fills_when_trades_consume_it() -> None:
    ex, _ = make_exchange(queue_model="risk_averse")
    a = ex.accounts["a"]
    ex.market_levels(SYM, [(BUY, 99900, 3000), (SELL, 100100, 3000)])
    ex.place(a, limit("BUY", "999.00", "1.000", cid="q"))
    ex.drain()
    ex.market_trade(SYM, SELL, 99900, 2000)  # 3.0 ahead: nothing for us yet
    assert fills(ex, "a") == []
    ex.market_trade(SYM, SELL, 99900, 1500)  # 1.0 ahead consumed, 0.5 reaches us
    assert [(f["c"], f["l"]) for f in fills(ex, "a")] == [("q", "0.500")]


def test_cancellations_behind_us_do_not_advance_us_in_the_risk_averse_model() -> None:
    q = RiskAverseQueue()
    assert q.on_depth(5.0, 10, 8, 0) == 5.0  # 2 canceled, assumed behind
    assert q.on_depth(5.0, 10, 3, 0) == 3.0  # can't be more ahead than displayed


def test_power_probability_queue_advances_more_the_closer_we_are_to_the_back() -> None:
    q = PowerProbQueue(2.0)
    near_front = q.on_depth(1.0, 10, 8, 0)
    near_back = q.on_depth(9.0, 10, 8, 0)
    assert near_front == pytest.approx(1.0 - (1 - 81 / 82) * 2, abs=1e-9)
    assert near_back < 9.0 and 9.0 - near_back > 1.0 - near_front
    assert q.on_depth(4.0, 10, 12, 0) == 4.0  # increases join behind


def test_self_trade_prevention_expire_maker_by_default() -> None:
    ex, _ = make_exchange()
    a = ex.accounts["a"]
    ex.place(a, limit("SELL", "1000.00", "1.000", cid="mk"))
    ex.place(a, limit("BUY", "1000.00", "1.000", cid="tk"))
    assert ex.by_client[("a", SYM, "mk")].status == "EXPIRED_IN_MATCH"
    assert ex.by_client[("a", SYM, "tk")].status == "NEW"
    assert ex.accounts["a"].positions.get(SYM) is None


def test_reduce_only_that_would_increase_is_rejected_with_2022() -> None:
    ex, _ = make_exchange()
    with pytest.raises(VenueError) as e:
        ex.place(ex.accounts["a"], limit("BUY", "990.00", "1.000", reduceOnly="true"))
    assert e.value.code == -2022


def test_filters_answer_binances_codes() -> None:
    ex, _ = make_exchange()
    a = ex.accounts["a"]
    cases = {
        "-1111": limit("BUY", "990.005", "1.000"),
        "-4003": limit("BUY", "990.00", "0.000"),
        "-4005": limit("BUY", "990.00", "20000.000"),
        "-4164": limit("BUY", "990.00", "0.005"),
        "-4016": limit("BUY", "1100.00", "1.000"),
        "-4024": limit("SELL", "900.00", "1.000"),
        "-1121": {**limit("BUY", "990.00", "1.000"), "symbol": "NOPE"},
        "-4120": {"symbol": SYM, "side": "BUY", "type": "STOP_MARKET", "quantity": "1"},
        "-1102": {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1"},
    }
    for code, params in cases.items():
        with pytest.raises(VenueError) as e:
            ex.place(a, params)
        assert str(e.value.code) == code, (code, e.value)


def test_max_num_orders_and_margin_are_enforced() -> None:
    eth = SimVenueConfig().symbols[0]
    ex, _ = make_exchange(symbols=[eth.model_copy(update={"max_num_orders": 3})])
    a = ex.accounts["a"]
    for i in range(3):
        ex.place(a, limit("BUY", f"99{i}.00", "0.100"))
    with pytest.raises(VenueError) as e:
        ex.place(a, limit("BUY", "980.00", "0.100"))
    assert e.value.code == -2025
    ex, _ = make_exchange()
    ex.accounts["a"].balances["USDC"] = Decimal(1)
    with pytest.raises(VenueError) as e:
        ex.place(ex.accounts["a"], limit("SELL", "1001.00", "1.000"))
    assert e.value.code == -2019


def test_modify_loses_priority_and_a_crossing_post_only_modify_cancels() -> None:
    ex, _ = make_exchange()
    a, b = ex.accounts["a"], ex.accounts["b"]
    ex.place(a, limit("BUY", "999.00", "1.000", tif="GTX", cid="x"))
    ex.place(a, limit("BUY", "999.00", "1.000", tif="GTX", cid="y"))
    ex.modify(
        a,
        {"symbol": SYM, "origClientOrderId": "x", "side": "BUY", "quantity": "1.000", "price": "999.00"}
        | {"quantity": "1.001"},
    )
    ex.drain()
    ex.place(b, {"symbol": SYM, "side": "SELL", "type": "MARKET", "quantity": "1.000"})
    assert [f["c"] for f in fills(ex, "a")] == ["y"]
    ex.place(b, limit("SELL", "1000.00", "1.000"))
    ex.modify(
        a, {"symbol": SYM, "origClientOrderId": "x", "side": "BUY", "quantity": "1.001", "price": "1000.00"}
    )
    assert ex.by_client[("a", SYM, "x")].status == "CANCELED"


def test_funding_moves_the_wallet_by_minus_qty_times_mark_times_rate() -> None:
    ex, clock = make_exchange(funding_interval_s=8.0)
    a, b = ex.accounts["a"], ex.accounts["b"]
    ex.place(b, limit("SELL", "1000.00", "2.000"))
    ex.place(a, limit("BUY", "1000.00", "2.000"))
    before = a.wallet("USDC")
    clock.t = ex.next_funding_ms
    ex.drain()
    ex.tick()
    ev = [e.payload for e in ex.drain() if isinstance(e, UserEvent) and e.account == "a"]
    assert a.wallet("USDC") - before == -(Decimal(2) * Decimal(1000) * Decimal("0.0001"))
    assert ev[0]["a"]["m"] == "FUNDING_FEE" and Decimal(ev[0]["a"]["B"][0]["wb"]) == a.wallet("USDC")


def test_countdown_cancels_everything_when_not_refreshed() -> None:
    ex, clock = make_exchange()
    a = ex.accounts["a"]
    ex.place(a, limit("BUY", "990.00", "1.000"))
    ex.countdown(a, SYM, 5000)
    clock.t += 4000
    ex.tick()
    assert len(ex.open_orders(a, SYM)) == 1
    clock.t += 1001
    ex.tick()
    assert ex.open_orders(a, SYM) == []


# ---- properties ---------------------------------------------------------------------------

op = st.one_of(
    st.tuples(
        st.just("limit"),
        st.sampled_from("ab"),
        st.sampled_from([BUY, SELL]),
        st.integers(99_980, 100_020),
        st.integers(1, 3000),
        st.sampled_from(["GTC", "IOC", "GTX", "FOK"]),
    ),
    st.tuples(st.just("market"), st.sampled_from("ab"), st.sampled_from([BUY, SELL]), st.integers(1, 3000)),
    st.tuples(st.just("cancel"), st.sampled_from("ab"), st.integers(0, 50)),
    st.tuples(st.just("levels"), st.integers(99_700, 100_300), st.integers(0, 5000), st.integers(0, 5000)),
    st.tuples(
        st.just("tape"), st.sampled_from([BUY, SELL]), st.integers(99_800, 100_200), st.integers(1, 4000)
    ),
)


def _apply(ex: Exchange, o: tuple[object, ...], placed: list[int]) -> None:
    kind = o[0]
    try:
        if kind == "limit":
            _, acct, side, px, qty, tif = o
            r = ex.place(
                ex.accounts[str(acct)],
                limit(
                    "BUY" if side == BUY else "SELL",
                    f"{int(px) / 100:.2f}",
                    f"{int(qty) / 1000:.3f}",
                    tif=str(tif),
                ),
            )
            placed.append(r["orderId"])
        elif kind == "market":
            _, acct, side, qty = o
            ex.place(
                ex.accounts[str(acct)],
                {
                    "symbol": SYM,
                    "side": "BUY" if side == BUY else "SELL",
                    "type": "MARKET",
                    "quantity": f"{int(qty) / 1000:.3f}",
                },
            )
        elif kind == "cancel" and placed:
            _, acct, i = o
            ex.cancel(ex.accounts[str(acct)], {"symbol": SYM, "orderId": str(placed[int(i) % len(placed)])})
        elif kind == "levels":
            # The market model never crosses itself: its bid sits below its ask.
            _, mid, bq, aq = o
            ex.market_levels(SYM, [(BUY, int(mid) - 1, int(bq)), (SELL, int(mid) + 1, int(aq))])
        elif kind == "tape":
            _, aggr, px, qty = o
            ex.market_trade(SYM, int(aggr), int(px), int(qty))  # type: ignore[arg-type]
    except VenueError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=10, max_size=80))
def test_matching_properties_hold_for_any_sequence_of_orders_and_market_events(
    ops: list[tuple[object, ...]],
) -> None:
    ex, _ = make_exchange()
    placed: list[int] = []
    trades: dict[int, list[tuple[str, int, str]]] = {}
    for o in ops:
        _apply(ex, o, placed)
        book = ex.symbols[SYM].book
        # our resting orders never cross the other side (a market-only cross is the model's business)
        our_bids = [r.price for lv in book.bids.levels.values() for r in lv.orders]
        our_asks = [r.price for lv in book.asks.levels.values() for r in lv.orders]
        ba, bb = book.asks.best(), book.bids.best()
        assert not our_bids or ba is None or max(our_bids) < ba
        assert not our_asks or bb is None or min(our_asks) > bb
        for e in ex.drain():
            if (
                isinstance(e, UserEvent)
                and e.payload["e"] == "ORDER_TRADE_UPDATE"
                and e.payload["o"]["x"] == "TRADE"
            ):
                f = e.payload["o"]
                trades.setdefault(f["t"], []).append((f["S"], round(Decimal(f["l"]) * 1000), f["f"]))
                if f["f"] == "GTX":
                    assert f["m"] is True, "a post-only order took liquidity"
            elif isinstance(e, PublicTrade):
                assert e.qty > 0
    for o in ex.orders.values():
        assert 0 <= o.executed <= o.qty
        if o.is_open:
            assert o.resting is not None and o.resting.remaining == o.qty - o.executed
    # both sides of a trade between two of our orders carry the same size
    for legs in trades.values():
        if len(legs) == 2:
            assert {legs[0][0], legs[1][0]} == {"BUY", "SELL"} and legs[0][1] == legs[1][1]
    # the running open-order totals equal a recount
    for (name, sym), agg in ex.open_agg.items():
        opens = ex.open_orders(ex.accounts[name], sym)
        assert agg[0] == sum(o.qty - o.executed for o in opens if o.side > 0 and not o.reduce_only)
        assert agg[1] == sum(o.qty - o.executed for o in opens if o.side < 0 and not o.reduce_only)
        assert agg[2] == sum((o.qty - o.executed) * o.price for o in opens if o.side > 0)
        assert agg[3] == sum((o.qty - o.executed) * o.price for o in opens if o.side < 0)
    # positions equal the sum of each account's signed fills
    for name, acct in ex.accounts.items():
        signed = sum(Decimal(t["qty"]) * (1 if t["buyer"] else -1) for t in ex.trades[name])
        pos = acct.positions.get(SYM)
        assert (pos.qty if pos else Decimal(0)) == signed


def test_book_displayed_size_is_other_size_plus_our_orders() -> None:
    book = OrderBook()
    book.set_market(BUY, 100, 50)
    book.add(Resting(1, "a", BUY, 100, 7))
    assert book.top(BUY) == (100, 57)
    assert sorted(book.take_changes()) == [(BUY, 100, 57)]


def test_orders_of_different_symbols_never_share_an_id() -> None:
    ex, _ = make_exchange()
    ex.set_mark("BTCUSDC", Decimal(61000), Decimal(61000))
    a, b = ex.accounts["a"], ex.accounts["b"]
    eth = ex.place(a, limit("BUY", "999.00", "1.000", cid="eth-bid"))
    btc = ex.place(
        a,
        {
            "symbol": "BTCUSDC",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": "60000.0",
            "quantity": "0.010",
            "newClientOrderId": "btc-bid",
        },
    )
    assert eth["orderId"] != btc["orderId"]
    ex.place(b, {"symbol": SYM, "side": "SELL", "type": "MARKET", "quantity": "1.000"})
    assert ex.by_client[("a", SYM, "eth-bid")].status == "FILLED"
    assert ex.by_client[("a", "BTCUSDC", "btc-bid")].status == "NEW"
    assert [t["symbol"] for t in ex.trades["a"]] == [SYM]
