"""Quotes, targets and the OMS's order, fill, position and account messages.

The order path carries desired state: the strategy publishes a complete :class:`TargetQuotes`,
risk republishes the approved (possibly clipped or emptied) set, and the gateway reconciles the
venue toward the latest approved set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from common.messages.base import Message

Side = Literal["BUY", "SELL"]
OrderState = Literal[
    "PendingNew",
    "New",
    "PartiallyFilled",
    "Filled",
    "Canceled",
    "Expired",
    "Rejected",
    "PendingCancel",
    "PendingModify",
]


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """One resting order the strategy wants: exact price and quantity, already on tick and step."""

    side: Side
    price: Decimal
    qty: Decimal
    layer: int
    post_only: bool = True
    reduce_only: bool = False


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The inputs that produced a target, compact enough to store for replay and review."""

    model: str
    params_version: str = ""
    inputs: dict[str, float] = msgspec.field(default_factory=dict)
    flags: list[str] = msgspec.field(default_factory=list)


class TargetQuotes(Message, frozen=True, kw_only=True):
    """The complete set of quotes that should rest now for one symbol.

    Published by the strategy on ``strategy.target.<SYMBOL>`` (``origin="strategy"``) and by risk
    on ``risk.target.<SYMBOL>`` (``origin="risk"``, with ``source_target_id`` and what was clipped).
    """

    symbol: str
    target_id: int
    quotes: list[Quote]
    origin: Literal["strategy", "risk"] = "strategy"
    source_target_id: int = 0
    mode: str = "normal"
    decision: DecisionRecord | None = None
    clipped: list[str] = msgspec.field(default_factory=list)
    trace_id: int = 0
    """The market event (depth update id) whose features caused this target; 0 when none did (a
    timer, a command, a re-approval). Risk copies its source target's."""
    trace_ns: int = 0
    """When that market event's frame reached marketdata (ns)."""


class OrderUpdate(Message, frozen=True, kw_only=True):
    """A change of one order's state in the OMS (``oms.order.<SYMBOL>``)."""

    symbol: str
    client_order_id: str
    venue_order_id: int = 0
    side: Side
    price: Decimal
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    state: OrderState
    layer: int = -1
    time_in_force: str = "GTX"
    reduce_only: bool = False
    reason: str = ""
    error_code: int = 0


class Fill(Message, frozen=True, kw_only=True):
    """One execution of our order (``oms.fill.<SYMBOL>``), published exactly once per trade id."""

    symbol: str
    trade_id: int
    client_order_id: str
    venue_order_id: int
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    realized_pnl: Decimal
    is_maker: bool
    layer: int = -1


class Position(Message, frozen=True, kw_only=True):
    """Net one-way position (``oms.position.<SYMBOL>``): ``qty`` signed, long positive."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal = Decimal(0)
    mark_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    fills_through_ms: int = 0
    """The venue's figure this position was last set from includes every fill up to this venue time
    (ms): a fill at or before it is already in ``qty`` and ``entry`` (0: no venue figure yet)."""


class FundingPaid(Message, frozen=True, kw_only=True):
    """A funding settlement on one symbol's position (``oms.funding.<SYMBOL>``): negative = paid."""

    symbol: str
    asset: str
    amount: Decimal


class OmsEvent(Message, frozen=True, kw_only=True):
    """Something the OMS repaired or refused (``oms.event``): a drift from the venue, an unknown order."""

    kind: str
    symbol: str = ""
    detail: str = ""


class VenueLatency(Message, frozen=True, kw_only=True):
    """One timed round trip to the venue (``oms.latency``), measured whether or not we quote, so a
    latency rule can lift once the venue is fast again. ``path`` is "rest" or "ws_api"."""

    rtt_ms: float
    path: str = "rest"
    ok: bool = True


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's balances on the venue."""

    asset: str
    wallet: Decimal
    available: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    margin_balance: Decimal = Decimal(0)
    maint_margin: Decimal = Decimal(0)
    initial_margin: Decimal = Decimal(0)


class Account(Message, frozen=True, kw_only=True):
    """An account's balances (``oms.account``); ``account`` names it among several (``main`` is the
    primary account's, the one of ``MM_API_KEY``)."""

    balances: list[Balance]
    reason: str = ""
    account: str = "main"
    market: Literal["usdm", "spot"] = "usdm"
    """``spot``: the account's spot wallet (``gateway-spot``), apart from its futures margin."""
