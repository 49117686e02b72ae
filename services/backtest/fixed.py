"""A fixed quoting rule that any backtester can express: the yardstick against hftbacktest.

Every ``interval`` of the feed's time: one order of ``lot`` at the best bid − ``offset`` ticks and
one at the best ask + ``offset`` ticks, the bid only while the position is below ``max_lots``
lots, the ask only while it is above −``max_lots``. It stands where :class:`~services.strategy.
core.StrategyCore` stands in :class:`~services.backtest.engine.Backtest` (the same ``on_*``
methods), so the venue, latencies and gateway are the ones every other run uses.

:func:`reference_settings` makes the gateway do what the rule means and nothing more: no price
tolerance (a changed price is a new order), cancel and new instead of an amend (what hftbacktest's
example does), rate budgets out of the way, and no risk engine in between (``use_risk=False``).
"""

from __future__ import annotations

from decimal import Decimal

from common.config import Settings
from common.messages import (
    Features,
    FeedStatus,
    Fill,
    Instrument,
    OrderUpdate,
    Position,
    Quote,
    RiskState,
    TargetQuotes,
)
from services.strategy.core import Output, SymbolView


class FixedQuoter:
    """The fixed rule over one symbol (see the module docstring)."""

    def __init__(self, symbol: str, lot: Decimal, offset_ticks: int, max_lots: int, interval_ms: int = 100):
        self.symbol = symbol
        self.lot, self.offset, self.max_lots = lot, offset_ticks, max_lots
        self.interval_ns = interval_ms * 1_000_000
        self.views = {symbol: SymbolView()}
        self.next_ns = 0
        self.target_id = 0

    def on_instrument(self, inst: Instrument) -> None:
        self.views[self.symbol].instrument = inst

    def on_feed_status(self, fs: FeedStatus) -> None:
        self.views[self.symbol].feed = fs.state

    def positions_known(self) -> None:
        self.views[self.symbol].position_known = True

    def on_position(self, p: Position) -> None:
        self.views[self.symbol].position = p.qty

    def on_fill(self, f: Fill) -> None:
        return None

    def on_order(self, u: OrderUpdate, now_ns: int = 0) -> None:
        return None

    def on_risk_state(self, rs: RiskState) -> None:
        return None

    def on_timer(self, now_ns: int) -> list[Output]:
        return []

    def on_features(self, f: Features, now_ns: int) -> list[Output]:
        v = self.views[self.symbol]
        v.features = f
        if now_ns < self.next_ns or v.instrument is None:
            return []
        self.next_ns = now_ns + self.interval_ns
        tick = v.instrument.price_tick
        bid = Decimal(repr(f.best_bid)).quantize(tick) - self.offset * tick
        ask = Decimal(repr(f.best_ask)).quantize(tick) + self.offset * tick
        limit = self.lot * self.max_lots
        quotes = []
        if v.position < limit:
            quotes.append(Quote(side="BUY", price=bid, qty=self.lot, layer=0))
        if v.position > -limit:
            quotes.append(Quote(side="SELL", price=ask, qty=self.lot, layer=0))
        self.target_id += 1
        target = TargetQuotes(symbol=self.symbol, target_id=self.target_id, quotes=quotes, origin="risk")
        return [Output(symbol=self.symbol, outcome="published", target=target, quotes=quotes)]


def reference_settings(settings: Settings, symbol: str) -> Settings:
    """The gateway set to do exactly what the fixed rule asks (see the module docstring)."""
    gw = settings.gateway.params
    big = gw.budget.symbol_default.model_copy(
        update={"orders_per_10s": 100_000, "orders_per_minute": 100_000, "cancels_per_minute": 100_000}
    )
    account = gw.budget.account.model_copy(
        update={"orders_per_10s": 100_000, "orders_per_minute": 100_000, "cancels_per_minute": 100_000,
                "venue_orders_per_10s": 100_000, "venue_orders_per_minute": 100_000,
                "weight_per_minute": 1_000_000}
    )  # fmt: skip
    budget = gw.budget.model_copy(update={"account": account, "symbol_default": big, "symbols": {}})
    reconcile = gw.reconcile.model_copy(update={"price_tolerance_ticks": 0, "amend": False})
    caps = gw.caps.model_copy(
        update={
            "max_orders_per_second": 10_000,
            "max_position": {**gw.caps.max_position, symbol: Decimal(1000)},
        }
    )
    params = gw.model_copy(update={"budget": budget, "reconcile": reconcile, "caps": caps})
    return settings.model_copy(update={"gateway": settings.gateway.model_copy(update={"params": params})})
