"""A reduction prices itself from the side of the book it needs: when a sweep has just emptied that
side (bookTicker price 0), it waits for a price instead of dividing by zero, and says so when none
comes. Against the venue's own matching engine in process."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from common.binance.errors import BinanceError
from common.binance.exchange_info import instruments
from common.binance.user import user_event_decoder
from common.config_sections import SimVenueConfig, VenueAccountConfig
from common.params.gateway import CapsParams, GatewayParams
from services.gateway.core import GatewayCore
from services.gateway.kill import KillState
from services.venue.inprocess import InProcessVenue
from services.venue.state import VenueState

SYM = "ETHUSDC"


def _limit(venue: InProcessVenue, side: str, tif: str, qty: str, price: D) -> None:
    params = {
        "symbol": SYM,
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "quantity": qty,
        "price": str(price),
    }
    venue.call("POST", "/fapi/v1/order", params)


def _setup() -> tuple[GatewayCore, InProcessVenue, D]:
    cfg = SimVenueConfig(
        accounts=[
            VenueAccountConfig(name="paper", balances={"USDC": D(100000)}),
            VenueAccountConfig(name="b", balances={"USDC": D(10_000_000)}),
        ],
    )
    v = VenueState(cfg, {"paper": ("k", "s"), "b": ("kb", "sb")})
    start = next(s.start_price for s in cfg.symbols if s.symbol == SYM)
    box: list[GatewayCore] = []
    ours = InProcessVenue(
        v, "paper", lambda payload: box[0].oms.on_user_event(user_event_decoder.decode(payload), 0)
    )
    taker = InProcessVenue(v, "b", lambda payload: None)
    inst = instruments(taker.call("GET", "/fapi/v1/exchangeInfo"), [SYM], "usdm")
    params = GatewayParams(caps=CapsParams(max_position={SYM: D(5)}, max_order_notional=D(100_000)))
    core = GatewayCore(ours, params, [SYM], inst, lambda eff: None, KillState, lambda s: "", {}, session="t")
    box.append(core)
    # we buy 0.100 from b's ask: a long position, and b's book has no bid at all
    _limit(taker, "SELL", "GTC", "0.100", start)
    _limit(ours, "BUY", "IOC", "0.100", start)
    return core, taker, start


def test_a_taker_reduction_waits_for_a_bid_and_then_sells() -> None:
    core, taker, start = _setup()

    async def go() -> D:
        async def bid_later() -> None:
            await asyncio.sleep(0.3)
            _limit(taker, "BUY", "GTC", "1.000", start - 1)

        task = asyncio.create_task(bid_later())
        await core.sync.full([SYM], startup=True)
        filled = await core.reducer.reduce(SYM, D("0.100"), "taker", 0.01, 0.0)
        await task
        return filled

    assert asyncio.run(go()) == D("0.100")


def test_a_taker_reduction_with_no_bid_at_all_says_so_and_sends_nothing() -> None:
    core, _taker, _start = _setup()

    async def go() -> None:
        await core.sync.full([SYM], startup=True)
        await core.reducer.reduce(SYM, D("0.100"), "taker", 0.01, 0.0)

    with pytest.raises(BinanceError, match="no bid in the book"):
        asyncio.run(go())
    assert core.oms.working(SYM) == []


def test_a_reduction_measures_its_slippage_from_the_mid_it_began_at() -> None:
    core, taker, start = _setup()
    _limit(taker, "BUY", "GTC", "1.000", start - 1)  # the touch: start - 1 / start + 1, mid = start
    _limit(taker, "SELL", "GTC", "1.000", start + 1)

    async def go() -> D:
        await core.sync.full([SYM], startup=True)
        return await core.reducer.reduce(SYM, D("0.100"), "taker", 0.01, 0.0)

    assert asyncio.run(go()) == D("0.100")
    slip, filled = core.reducer.last[SYM]
    # sold 0.100 at start - 1 against a mid of start: (1 / start) x 10,000 bps of cost
    assert filled == D("0.100") and slip == pytest.approx(10_000 / float(start))


def test_slippage_is_a_cost_when_selling_below_or_buying_above_the_mid() -> None:
    from services.gateway.flatten import slippage_bps

    # sell 2 at an average 99.5 against mid 100: 50 bps; buy 1 at 100.2: 20 bps; buy below: negative
    assert slippage_bps("SELL", D(100), D(2), D(199)) == pytest.approx(50.0)
    assert slippage_bps("BUY", D(100), D(1), D("100.2")) == pytest.approx(20.0)
    assert slippage_bps("BUY", D(100), D(1), D("99.9")) == pytest.approx(-10.0)
    assert slippage_bps("SELL", D(100), D(0), D(0)) is None  # nothing filled, nothing measured
