"""The venue's spot market (/api/v3) through Binance's current official spot SDK, unmodified
(``binance-sdk-spot``): a LIMIT_MAKER placed, queried and cancelled; one that would take refused
with -2010; balances locked and released exactly; a taking order's fill and commission as Binance
books them (the buyer pays commission in the base asset it receives)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
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
