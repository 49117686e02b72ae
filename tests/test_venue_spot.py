"""The venue's spot market (/api/v3) through Binance's current official spot SDK, unmodified
(``binance-sdk-spot``): a LIMIT_MAKER placed, queried and cancelled; one that would take refused
with -2010; balances locked and released exactly; a taking order's fill and commission as Binance
books them (the buyer pays commission in the base asset it receives)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import BadRequestError
from binance_sdk_spot.rest_api.models import NewOrderSideEnum, NewOrderTimeInForceEnum, NewOrderTypeEnum
from binance_sdk_spot.spot import Spot

from tests.venue_proc import KEY, SECRET, VenueProc

D = Decimal
SPOT = """
[[simvenue.spot_symbols]]
symbol = "ETHUSDT"
base_asset = "ETH"
quote_asset = "USDT"
price_tick = "0.01"
qty_step = "0.0001"
min_qty = "0.0001"
max_qty = "9000"
market_max_qty = "1000"
min_notional = "5"
start_price = "2680"
level_qty = "5"
"""


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VenueProc, Any]]:
    with VenueProc(tmp_path_factory.mktemp("spot"), "persist = false\n" + SPOT) as venue:
        client = Spot(ConfigurationRestAPI(api_key=KEY, api_secret=SECRET, base_path=venue.url, retries=0))
        yield venue, client.rest_api


def _data(resp: Any) -> Any:
    return resp.data()


def _balances(api: Any) -> dict[str, tuple[Decimal, Decimal]]:
    acct = _data(api.get_account())
    return {b.asset: (D(b.free), D(b.locked)) for b in acct.balances}


def _touch(api: Any) -> tuple[Decimal, Decimal]:
    t = _data(api.ticker_book_ticker(symbol="ETHUSDT")).actual_instance
    return D(t.bid_price), D(t.ask_price)


def test_exchange_info_lists_the_spot_symbol_with_binances_spot_filters(spot: tuple[VenueProc, Any]) -> None:
    _, api = spot
    info = _data(api.exchange_info(symbol="ETHUSDT"))
    sym = info.symbols[0]
    assert (sym.symbol, sym.base_asset, sym.quote_asset) == ("ETHUSDT", "ETH", "USDT")
    assert "LIMIT_MAKER" in sym.order_types
    filters = {f.actual_instance.filter_type: f.actual_instance for f in sym.filters}
    assert D(filters["PRICE_FILTER"].tick_size) == D("0.01")
    assert D(filters["LOT_SIZE"].step_size) == D("0.0001")
    assert D(filters["NOTIONAL"].min_notional) == D(5)


def test_a_limit_maker_rests_locks_its_quote_and_cancels_back(spot: tuple[VenueProc, Any]) -> None:
    _, api = spot
    before = _balances(api)["USDT"]
    bid, _ = _touch(api)
    price = bid - D("1.00")
    buy, maker = NewOrderSideEnum.BUY, NewOrderTypeEnum.LIMIT_MAKER
    placed = _data(
        api.new_order(symbol="ETHUSDT", side=buy, type=maker, quantity=0.05, price=float(price),
                      new_client_order_id="maker-1")
    )  # fmt: skip
    assert (placed.status, placed.type, placed.client_order_id) == ("NEW", "LIMIT_MAKER", "maker-1")
    free, locked = _balances(api)["USDT"]
    assert locked - before[1] == price * D("0.05") and before[0] - free == price * D("0.05")
    got = _data(api.get_order(symbol="ETHUSDT", orig_client_order_id="maker-1"))
    assert (got.order_id, got.status, D(got.price), D(got.orig_qty)) == (
        placed.order_id,
        "NEW",
        price,
        D("0.05"),
    )
    opened = _data(api.get_open_orders(symbol="ETHUSDT"))
    assert [o.order_id for o in opened] == [placed.order_id]
    gone = _data(api.delete_order(symbol="ETHUSDT", order_id=placed.order_id))
    assert gone.status == "CANCELED"
    assert _balances(api)["USDT"] == before
    assert _data(api.get_open_orders(symbol="ETHUSDT")) == []


def test_a_limit_maker_that_would_take_is_refused_with_2010_and_leaves_no_order(
    spot: tuple[VenueProc, Any],
) -> None:
    _, api = spot
    _, ask = _touch(api)
    with pytest.raises(BadRequestError) as exc:
        api.new_order(
            symbol="ETHUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT_MAKER, quantity=0.01,
            price=float(ask + D("0.50")), new_client_order_id="would-take",
        )  # fmt: skip
    # the SDK carries Binance's code as status_code and its msg as error_message
    assert (exc.value.status_code, exc.value.error_message) == (
        -2010,
        "Order would immediately match and take.",
    )
    with pytest.raises(BadRequestError) as exc:
        api.get_order(symbol="ETHUSDT", orig_client_order_id="would-take")
    assert exc.value.status_code == -2013


def test_a_taking_buy_fills_and_pays_commission_in_the_base_asset(spot: tuple[VenueProc, Any]) -> None:
    _, api = spot
    before = _balances(api)
    _, ask = _touch(api)
    placed = _data(api.new_order(symbol="ETHUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                 time_in_force=NewOrderTimeInForceEnum.IOC, quantity=0.02,
                                 price=float(ask + D("5.00")), new_client_order_id="taker-1"))  # fmt: skip
    assert placed.status == "FILLED" and D(placed.executed_qty) == D("0.02")
    trades = [t for t in _data(api.my_trades(symbol="ETHUSDT")) if t.order_id == placed.order_id]
    assert sum(D(t.qty) for t in trades) == D("0.02")
    cost = sum(D(t.quote_qty) for t in trades)
    fee = sum(D(t.commission) for t in trades)
    assert all(t.commission_asset == "ETH" and not t.is_maker and t.is_buyer for t in trades)
    assert fee == D("0.02") * D("0.001")  # the taker rate on the base received
    after = _balances(api)
    assert after["ETH"][0] - before["ETH"][0] == D("0.02") - fee
    assert before["USDT"][0] - after["USDT"][0] == cost
    assert after["USDT"][1] == before["USDT"][1]  # an IOC locks nothing once it is done


# binance-common calls aiohttp's ws_connect with a float timeout, which aiohttp now deprecates
@pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning")
def test_the_ws_api_places_and_cancels_and_pushes_user_data_to_its_signature_subscription(
    spot: tuple[VenueProc, Any],
) -> None:
    """``userDataStream.subscribe.signature`` (spot's user data since listenKeys are gone), then
    ``order.place`` and ``order.cancel``: the SDK's user-data stream sees executionReport NEW and
    CANCELED and the balances locked and released (outboundAccountPosition)."""
    import asyncio

    from binance_common.configuration import ConfigurationWebSocketAPI
    from binance_sdk_spot.websocket_api.models import OrderPlaceSideEnum, OrderPlaceTypeEnum

    venue, api = spot
    bid, ask = _touch(api)
    price = bid - D("2.00")
    events: list[Any] = []

    async def go() -> tuple[Any, Any, Any]:
        conf = ConfigurationWebSocketAPI(
            api_key=KEY, api_secret=SECRET, stream_url=venue.ws + "/spot/ws-api/v3"
        )
        client = Spot(config_ws_api=conf)
        conn = await client.websocket_api.create_connection()
        try:
            sub = await conn.user_data_stream_subscribe_signature()
            sub.stream.on("message", events.append)
            buy, maker = OrderPlaceSideEnum.BUY, OrderPlaceTypeEnum.LIMIT_MAKER
            placed = (
                await conn.order_place(symbol="ETHUSDT", side=buy, type=maker, price=float(price),
                                       quantity=0.01, new_client_order_id="ws-maker-1")
            ).data()  # fmt: skip
            canceled = (await conn.order_cancel(symbol="ETHUSDT", orig_client_order_id="ws-maker-1")).data()
            for _ in range(100):  # the events follow their answers on the same connection
                if len(events) >= 4:
                    break
                await asyncio.sleep(0.05)
            # the SDK answers a refused request with the error as its data
            taking = float(ask + D("1.00"))
            refused = (
                await conn.order_place(symbol="ETHUSDT", side=buy, type=maker, price=taking, quantity=0.01)
            ).data()
            return placed, canceled, refused
        finally:
            await conn.close_connection()

    placed, canceled, refused = asyncio.run(go())
    assert placed.result.status == "NEW" and placed.result.client_order_id == "ws-maker-1"
    assert canceled.result.status == "CANCELED" and canceled.result.orig_client_order_id == "ws-maker-1"
    assert refused == {"error": {"code": -2010, "msg": "Order would immediately match and take."}}
    reports = [e.actual_instance for e in events if type(e.actual_instance).__name__ == "ExecutionReport"]
    assert [(r.x, r.X, r.c if r.x == "NEW" else r.C) for r in reports] == [
        ("NEW", "NEW", "ws-maker-1"),
        ("CANCELED", "CANCELED", "ws-maker-1"),  # Binance: on a cancel, C is the order's id
    ]
    assert reports[1].c == canceled.result.client_order_id != "ws-maker-1"  # c: the cancel's own
    positions = [
        e.actual_instance for e in events if type(e.actual_instance).__name__ == "OutboundAccountPosition"
    ]
    usdt = [next(b for b in p.B if b.a == "USDT") for p in positions]
    assert D(usdt[0].l) - D(usdt[1].l) == price * D("0.01")  # locked at NEW, released at CANCELED


def test_spot_streams_follow_spots_book_procedure_and_match_the_book_ticker(
    spot: tuple[VenueProc, Any],
) -> None:
    """The product's own spot book sync on the venue's ``@depth@100ms`` and the REST snapshot
    stays live (spot's rules: drop ``u <= lastUpdateId``, then each ``U`` is the last ``u`` + 1),
    and every bookTicker whose ``u`` ends an applied diff matches the synced book's top."""
    import asyncio

    import msgspec
    import websockets

    from common.binance.market import BookTicker, DepthSnapshot, DepthUpdate
    from services.marketdata.sync import BookSync

    venue, _ = spot
    url = venue.ws + "/spot/stream?streams=ethusdt@depth@100ms/ethusdt@bookTicker"

    async def collect() -> tuple[list[tuple[str, dict[str, Any]]], DepthSnapshot]:
        got: list[tuple[str, dict[str, Any]]] = []
        async with websockets.connect(url) as ws:
            snap = None
            deadline = asyncio.get_running_loop().time() + 3.0
            while asyncio.get_running_loop().time() < deadline:
                frame = json.loads(await ws.recv())
                got.append((frame["stream"], frame["data"]))
                if snap is None and len(got) >= 3:  # the stream is buffered first, as the procedure says
                    r = venue.signed("GET", "/api/v3/depth", symbol="ETHUSDT", limit=5000)
                    snap = msgspec.json.decode(r.content, type=DepthSnapshot)
        assert snap is not None
        return got, snap

    frames, snap = asyncio.run(collect())
    sync = BookSync("spot", D("0.01"), D("0.0001"))
    top_at: dict[int, tuple[tuple[D, D] | None, tuple[D, D] | None]] = {}
    tickers: list[BookTicker] = []
    snapped = False
    for stream, data in frames:
        if stream.endswith("@bookTicker"):
            assert set(data) == {"u", "s", "b", "B", "a", "A"}  # spot's bookTicker: no e, E or T
            tickers.append(msgspec.convert(data, BookTicker))
            continue
        assert "pu" not in data and "T" not in data
        ev = msgspec.convert(data, DepthUpdate)
        sync.on_event(ev)
        if not snapped and ev.u >= snap.lastUpdateId:
            sync.on_snapshot(snap)
            snapped = True
        if sync.book_valid:
            b, a = sync.book.best_bid(), sync.book.best_ask()
            top_at[sync.last_update_id] = (
                (sync.book.price(b[0]), sync.book.qty(b[1])) if b else None,
                (sync.book.price(a[0]), sync.book.qty(a[1])) if a else None,
            )
    assert sync.book_valid and sync.resyncs == 0
    checkable = [t for t in tickers if t.u in top_at]
    mismatches = [t for t in checkable if ((D(t.b), D(t.B)), (D(t.a), D(t.A))) != top_at[t.u]]
    assert len(checkable) >= 3 and mismatches == []


def test_spot_counts_its_own_weight_and_orders_with_spots_windows(tmp_path: Path) -> None:
    """Spot is another host with its own limits: exchangeInfo lists spot's (6,000 weight a minute,
    orders per 10 s and per day), order answers carry X-MBX-ORDER-COUNT-10S and -1D, spot requests
    use none of the futures weight, and the order over the 10 s limit is refused with -1015."""
    with VenueProc(tmp_path, "persist = false\nspot_orders_per_10s = 3\n" + SPOT) as venue:
        limits = venue.signed("GET", "/api/v3/exchangeInfo").json()["rateLimits"]
        assert {(x["rateLimitType"], x["interval"], x["intervalNum"], x["limit"]) for x in limits} >= {
            ("REQUEST_WEIGHT", "MINUTE", 1, 6000), ("ORDERS", "SECOND", 10, 3), ("ORDERS", "DAY", 1, 200000),
        }  # fmt: skip
        bid = D(venue.signed("GET", "/api/v3/ticker/bookTicker", symbol="ETHUSDT").json()["bidPrice"])
        order = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.0100",
                 "price": str(bid - D("5.00"))}  # fmt: skip
        answers = [venue.signed("POST", "/api/v3/order", **order) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["X-MBX-ORDER-COUNT-10S"] for r in answers[:3]] == ["1", "2", "3"]
        assert [r.headers["X-MBX-ORDER-COUNT-1D"] for r in answers[:3]] == ["1", "2", "3"]
        assert answers[3].json() == {
            "code": -1015,
            "msg": "Too many new orders; current limit is 3 orders per 10 SECONDS.",
        }
        futures = venue.signed("GET", "/fapi/v1/ticker/bookTicker", symbol="ETHUSDC")
        # the futures host counted only its own: the start-up ping (1) and this ticker (2), none of
        # spot's exchangeInfo (20), tickers and orders
        assert futures.headers["X-MBX-USED-WEIGHT-1M"] == "3"
