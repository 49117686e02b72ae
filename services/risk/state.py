"""The risk engine's whole memory, as msgspec Structs the shell can snapshot and restore.

Everything a rule remembers lives here: the holds (modes with their reasons and cool-downs), the
PnL book of each symbol, the market view with its shock windows, the drawdown-band progress, the
churn windows, the last strategy target and the last approved one, the day's start, peak equity
and loss baselines. ``msgspec.msgpack.encode(state)`` is the snapshot; decoding it gives back an
equal state (``ready`` is never restored: a restarted engine waits for its rebuild).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from common.messages import RiskMode, TargetQuotes

ZERO = Decimal(0)
SCHEMA = 2  # 2: recent_trades holds fill keys (trade id and side), not trade ids

Window = list[tuple[int, float]]
"""Samples (ts_ns, price) of a shock window's running maximum or minimum."""

Release = Literal["condition", "cooldown", "day", "operator"]
"""How a hold lifts: when its cause is gone; after ``until_ns`` once the cause is gone; at the next
UTC day (or an operator resume); only on an operator resume."""


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """One reason a symbol (or the account) is not in normal mode."""

    rule: str
    mode: RiskMode
    reason: str
    since_ns: int
    release: Release
    until_ns: int = 0
    figures: dict[str, float] = msgspec.field(default_factory=dict)


class Book(msgspec.Struct, kw_only=True):
    """One symbol's position and PnL as risk books them (exact), beside the gateway's own numbers.

    ``realized``, ``fees`` and ``funding`` count since the engine's first start (they survive a
    restore); the ``day_*`` figures since 00:00 UTC; ``day_upnl_base`` is the unrealized PnL when
    the day (or the engine's first run) began. ``gw_*`` are the gateway's figures, kept to reconcile.
    """

    qty: Decimal = ZERO
    entry: Decimal = ZERO
    mark: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    day_realized: Decimal = ZERO
    day_fees: Decimal = ZERO
    day_funding: Decimal = ZERO
    day_upnl_base: Decimal = ZERO
    gw_fill_realized: Decimal = ZERO
    gw_realized: Decimal = ZERO
    gw_fees: Decimal = ZERO
    gw_funding: Decimal = ZERO
    gw_upnl: Decimal = ZERO
    mismatches: int = 0
    fills_through_ms: int = 0
    """The venue's last position figure includes every fill of ours up to this time (ms)."""
    recent_trades: list[int] = msgspec.field(default_factory=list)


class Market(msgspec.Struct, kw_only=True):
    """What risk knows of one symbol's market: feed state, book, mark, shock windows, latency.

    The shock windows keep only the running maximum and minimum of the mid and of the mark.
    """

    feed: str = "unknown"
    feed_reason: str = ""
    mid: float = 0.0
    best_bid: float = 0.0
    best_ask: float = 0.0
    features_ns: int = 0
    mark: float = 0.0
    mark_ns: int = 0
    mid_hi: Window = msgspec.field(default_factory=list)
    mid_lo: Window = msgspec.field(default_factory=list)
    mark_hi: Window = msgspec.field(default_factory=list)
    mark_lo: Window = msgspec.field(default_factory=list)
    mid_move: float = 0.0
    mark_move: float = 0.0
    latency_ms: float = 0.0
    outcomes: float = 0.0
    """Our orders' outcomes at the venue (accepted or rejected), decayed (:mod:`services.risk.errors`)."""
    errors: float = 0.0
    """Of those, the rejected, decayed alike."""
    outcomes_ns: int = 0
    resting_placed: list[int] = msgspec.field(default_factory=list)
    """When each of our resting (GTC/GTX/GTD) orders was accepted, over the last cancel window."""
    quick_cancels: list[int] = msgspec.field(default_factory=list)
    """When each of them that lived under the quick-cancel age was canceled, same window."""


class Bands(msgspec.Struct, kw_only=True):
    """Drawdown-band progress: the bands fired and not yet released, and when risk last reduced."""

    fired: list[int] = msgspec.field(default_factory=list)
    last_reduce_ns: int = 0
    last_taker_ns: int = 0


class Churn(msgspec.Struct, kw_only=True):
    """Order actions of the last second and of the last minute, and cancels of the last minute, as
    (time, count) with their running totals, and how often the budget bit."""

    actions: list[tuple[int, int]] = msgspec.field(default_factory=list)
    cancels: list[tuple[int, int]] = msgspec.field(default_factory=list)
    actions_minute: list[tuple[int, int]] = msgspec.field(default_factory=list)
    actions_sum: int = 0
    cancels_sum: int = 0
    actions_minute_sum: int = 0
    throttled: int = 0
    deferred: int = 0


class LiveOrder(msgspec.Struct, kw_only=True):
    """One of our orders that may be live at the venue, as the gateway's ``oms.order`` shows it."""

    side: str
    open_qty: Decimal
    state: str
    layer: int
    since_ns: int
    reduce_only: bool = False
    born_ns: int = 0
    """When the venue accepted it (its first ``New``); 0 while unknown."""


class SymbolState(msgspec.Struct, kw_only=True):
    """One symbol: its holds, book, market, bands, churn, and the targets in and out."""

    holds: dict[str, Hold] = msgspec.field(default_factory=dict)
    book: Book = msgspec.field(default_factory=Book)
    market: Market = msgspec.field(default_factory=Market)
    bands: Bands = msgspec.field(default_factory=Bands)
    churn: Churn = msgspec.field(default_factory=Churn)
    target: TargetQuotes | None = None
    approved: TargetQuotes | None = None
    bid_total: Decimal = ZERO
    ask_total: Decimal = ZERO
    pending: bool = False
    clips: list[str] = msgspec.field(default_factory=list)
    stop_base: Decimal = ZERO
    orders: dict[str, LiveOrder] = msgspec.field(default_factory=dict)


class AccountPart(msgspec.Struct, kw_only=True):
    """One account among several: its balances from its gateway's ``oms.account``, what risk
    booked since (fills, funding), and the base of its day loss (re-based by a resume)."""

    seen: bool = False
    wallet: Decimal = ZERO
    adj: Decimal = ZERO
    maint: Decimal = ZERO
    margin_balance: Decimal = ZERO
    daily_base: Decimal = ZERO


class AccountState(msgspec.Struct, kw_only=True):
    """The account: its holds, wallet (from the gateway plus what risk booked since), the day."""

    holds: dict[str, Hold] = msgspec.field(default_factory=dict)
    seen: bool = False
    wallet: Decimal = ZERO
    wallet_adj: Decimal = ZERO
    maint: Decimal = ZERO
    gw_margin_balance: Decimal = ZERO
    day_start_ns: int = 0
    peak_equity: Decimal = ZERO
    daily_base: Decimal = ZERO
    parts: dict[str, AccountPart] = msgspec.field(default_factory=dict)
    """Each account's share when there are several (``wallet``, ``maint`` ... above are their sums)."""


class EngineState(msgspec.Struct, kw_only=True):
    """Everything; ``EngineState()`` is a valid cold start (not ready)."""

    schema: int = SCHEMA
    ready: bool = False
    account: AccountState = msgspec.field(default_factory=AccountState)
    symbols: dict[str, SymbolState] = msgspec.field(default_factory=dict)
    last_target_id: int = 0
    account_of: dict[str, str] = msgspec.field(default_factory=dict)
    """Symbol -> account, when several accounts trade (empty: one account, ``main``)."""
    spot_wallet: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """The spot wallet, free + locked per asset (``oms.account`` of ``gateway-spot``): what spot
    symbols may rest, apart from the futures margin the equity rules read."""

    def symbol(self, name: str) -> SymbolState:
        """The state of ``name``, created on first sight (a fill or mark of an unlisted symbol counts)."""
        s = self.symbols.get(name)
        if s is None:
            s = self.symbols[name] = SymbolState()
        return s
