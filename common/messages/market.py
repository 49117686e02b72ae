"""Market data messages: instruments, books, trades, mark price and funding, features, feed status.

Book levels travel as integers of the book's units, ``price_tick`` and ``qty_step`` of the message
(exact and cheap): the instrument's tick and step, or finer once the feed sent a level off them
(the book keeps every level exactly). Prices and quantities that can reach the venue are
``Decimal``, on the instrument's grid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from common.messages.base import Message

FeedState = Literal["live", "resyncing", "stale"]


class Instrument(Message, frozen=True, kw_only=True):
    """The venue's trading rules for one symbol, from ``exchangeInfo``."""

    symbol: str
    market: Literal["usdm", "spot"] = "usdm"
    base_asset: str = ""
    quote_asset: str = ""
    margin_asset: str = ""
    price_tick: Decimal
    qty_step: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal = Decimal(0)
    market_max_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    percent_up: Decimal = Decimal(0)
    percent_down: Decimal = Decimal(0)
    max_num_orders: int = 200


class BookLevels(Message, frozen=True, kw_only=True):
    """Top N levels of a local book (``md.book.<SYMBOL>``), best first, as (price_units, qty_units):
    a price is ``units * price_tick`` (the book's unit, at most as coarse as the instrument's tick)."""

    symbol: str
    last_update_id: int
    ts_exchange: int
    price_tick: Decimal
    qty_step: Decimal
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]

    def best_bid(self) -> Decimal | None:
        """Best bid price, exact."""
        return self.bids[0][0] * self.price_tick if self.bids else None

    def best_ask(self) -> Decimal | None:
        """Best ask price, exact."""
        return self.asks[0][0] * self.price_tick if self.asks else None


class Trade(Message, frozen=True, kw_only=True):
    """A public trade (``md.trade.<SYMBOL>``). ``buyer_is_maker`` true means a sell aggressor."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool


class MarkPrice(Message, frozen=True, kw_only=True):
    """Mark and index price with funding (``md.mark.<SYMBOL>``)."""

    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time_ms: int


class Features(Message, frozen=True, kw_only=True):
    """Derived market state (``md.features.<SYMBOL>``); floats, never sent to the venue as is."""

    symbol: str
    best_bid: float
    best_ask: float
    bid_qty: float
    ask_qty: float
    mid: float
    microprice: float
    spread: float
    spread_bps: float
    depth_bid: float
    depth_ask: float
    imbalance: float
    vol: dict[str, float] = msgspec.field(default_factory=dict)
    trade_imbalance: float = 0.0
    vpin: float = 0.0
    twap: float = 0.0
    vwap: float = 0.0
    ref_hybrid: float = 0.0
    last_trade_price: float = 0.0
    mark_price: float = 0.0
    funding_rate: float = 0.0
    next_funding_time_ms: int = 0
    intensity_a: float = 0.0
    intensity_k: float = 0.0
    intensity_a_bid: float = 0.0
    intensity_k_bid: float = 0.0
    intensity_a_ask: float = 0.0
    intensity_k_ask: float = 0.0
    trace_id: int = 0
    """The last depth update (``u``) the features reflect: the market event that caused them."""
    trace_ns: int = 0
    """When that update's frame reached marketdata (ns): the start of the tick-to-wire trace."""
    price_tick: float = 0.0
    last_update_id: int = 0


class FeedStatus(Message, frozen=True, kw_only=True):
    """Freshness of one symbol's feed (``md.status.<SYMBOL>``): risk and the gateway act on it."""

    symbol: str
    state: FeedState
    reason: str = ""
    last_update_id: int = 0
    age_ms: float = 0.0
