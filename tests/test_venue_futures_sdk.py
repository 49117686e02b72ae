"""The venue's USDⓈ-M futures through Binance's current official futures SDK, unmodified
(``binance-sdk-derivatives-trading-usds-futures``; the ``binance-futures-connector`` other tests
use calls itself deprecated): over REST a post-only order placed, queried, listed and cancelled,
one that would take refused with -5022, a taking order filled into a position; over the WebSocket
API an order placed, queried and cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketAPI
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
)

from tests.venue_proc import KEY, SECRET, VenueProc

D = Decimal
SYM = "ETHUSDC"


@pytest.fixture(scope="module")
def futures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VenueProc, Any]]:
    with VenueProc(tmp_path_factory.mktemp("usdm-sdk"), "persist = false\n") as venue:
        conf = ConfigurationRestAPI(api_key=KEY, api_secret=SECRET, base_path=venue.url, retries=0)
        yield venue, DerivativesTradingUsdsFutures(config_rest_api=conf).rest_api


def _touch(api: Any) -> tuple[Decimal, Decimal]:
    t = api.symbol_order_book_ticker(symbol=SYM).data().actual_instance
    return D(t.bid_price), D(t.ask_price)


def test_a_post_only_order_is_placed_queried_listed_and_cancelled(futures: tuple[VenueProc, Any]) -> None:
    _, api = futures
    bid, _ = _touch(api)
    price = bid - D("1.00")
    placed = api.new_order(symbol=SYM, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                           time_in_force=NewOrderTimeInForceEnum.GTX, quantity=0.01, price=float(price),
                           new_client_order_id="sdk-gtx-1").data()  # fmt: skip
    assert (placed.status, placed.client_order_id, placed.time_in_force) == ("NEW", "sdk-gtx-1", "GTX")
    got = api.query_order(symbol=SYM, orig_client_order_id="sdk-gtx-1").data()
    assert (got.order_id, got.status, D(got.price), D(got.orig_qty)) == (
        placed.order_id,
        "NEW",
        price,
        D("0.01"),
    )
    assert [o.order_id for o in api.current_all_open_orders(symbol=SYM).data()] == [placed.order_id]
    gone = api.cancel_order(symbol=SYM, orig_client_order_id="sdk-gtx-1").data()
    assert (gone.order_id, gone.status) == (placed.order_id, "CANCELED")
    assert api.current_all_open_orders(symbol=SYM).data() == []


def test_a_post_only_order_that_would_take_is_refused_with_5022(futures: tuple[VenueProc, Any]) -> None:
    _, api = futures
    _, ask = _touch(api)
    with pytest.raises(BadRequestError) as exc:
        api.new_order(symbol=SYM, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                      time_in_force=NewOrderTimeInForceEnum.GTX, quantity=0.01, price=float(ask + D("1.00")),
                      new_client_order_id="sdk-gtx-take")  # fmt: skip
    assert exc.value.status_code == -5022  # the SDK carries Binance's code as status_code


def test_a_taking_order_fills_into_a_position(futures: tuple[VenueProc, Any]) -> None:
    _, api = futures
    filled = api.new_order(symbol=SYM, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET, quantity=0.02,
                           new_client_order_id="sdk-take-1").data()  # fmt: skip
    got = api.query_order(symbol=SYM, orig_client_order_id="sdk-take-1").data()
    assert (got.order_id, got.status, D(got.executed_qty)) == (filled.order_id, "FILLED", D("0.02"))
    rows = [p for p in api.position_information_v3(symbol=SYM).data() if p.symbol == SYM]
    assert [D(p.position_amt) for p in rows] == [D("0.02")]


# binance-common calls aiohttp's ws_connect with a float timeout, which aiohttp now deprecates
@pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning")
def test_the_ws_api_places_queries_and_cancels(futures: tuple[VenueProc, Any]) -> None:
    from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
        NewOrderSideEnum as WsSide,
    )
    from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
        NewOrderTimeInForceEnum as WsTif,
    )
    from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
        NewOrderTypeEnum as WsType,
    )

    venue, api = futures
    bid, _ = _touch(api)
    price = bid - D("2.00")

    async def go() -> tuple[Any, Any, Any]:
        conf = ConfigurationWebSocketAPI(api_key=KEY, api_secret=SECRET, stream_url=venue.ws + "/ws-fapi/v1")
        conn = await DerivativesTradingUsdsFutures(config_ws_api=conf).websocket_api.create_connection()
        try:
            order = {"symbol": SYM, "side": WsSide.BUY, "type": WsType.LIMIT, "time_in_force": WsTif.GTX,
                     "quantity": 0.01, "price": float(price), "new_client_order_id": "sdk-ws-1"}  # fmt: skip
            placed = (await conn.new_order(**order)).data()
            got = (await conn.query_order(symbol=SYM, orig_client_order_id="sdk-ws-1")).data()
            gone = (await conn.cancel_order(symbol=SYM, orig_client_order_id="sdk-ws-1")).data()
            return placed, got, gone
        finally:
            await conn.close_connection()

    placed, got, gone = asyncio.run(go())
    assert (placed.result.status, placed.result.client_order_id) == ("NEW", "sdk-ws-1")
    assert (got.result.status, D(got.result.price)) == ("NEW", price)
    assert (gone.result.order_id, gone.result.status) == (placed.result.order_id, "CANCELED")
    assert api.current_all_open_orders(symbol=SYM).data() == []
