"""One symbol's feed: book sync, features and freshness, with no I/O.

The service hands it decoded stream events and snapshots with the local receive time; the feed
answers what to do (fetch a snapshot, publish a book) and what the symbol's state is:

* ``live``: the book is in sync and fresh;
* ``resyncing``: the book is broken (gap, out of order, crossed, disconnected) until a snapshot
  bridges the stream again; nothing is published from it meanwhile;
* ``stale``: in sync, but no update for ``stale_after_ms`` or the exchange time lags the local
  clock by more than ``max_exchange_lag_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.binance.market import DepthSnapshot, DepthUpdate, MarkPriceEvent
from common.messages import BookLevels, Features, FeedState, FeedStatus, Instrument, MarkPrice, Trade
from services.marketdata.features import FeatureConfig, MarketFeatures
from services.marketdata.sync import BookSync, Outcome


@dataclass(frozen=True, slots=True)
class Freshness:
    stale_after_ms: int
    max_lag_ms: int


class SymbolFeed:
    """Sync, features and status of one symbol."""

    def __init__(
        self,
        inst: Instrument,
        market: str,
        book_levels: int,
        freshness: Freshness,
        features: FeatureConfig | None = None,
        max_buffer: int = 5000,
    ) -> None:
        self.inst = inst
        self.symbol = inst.symbol
        self.book_levels = book_levels
        self.fresh = freshness
        self.sync = BookSync(market, inst.price_tick, inst.qty_step, max_buffer)  # type: ignore[arg-type]
        self.features = MarketFeatures(inst.symbol, inst.price_tick, inst.qty_step, features)
        self._refinements = 0
        self.state: FeedState = "resyncing"
        self.reason = "waiting for the first snapshot"
        self.last_recv_ns = 0
        self.last_event_ms = 0
        self.lag_ms = 0.0
        self.connected = False
        self.dirty = False
        self.features_dirty = False

    # ---- inputs ------------------------------------------------------------------------------

    def on_depth(self, ev: DepthUpdate, recv_ns: int, offset_ms: int) -> Outcome:
        """Apply one diff; the outcome tells the caller whether a snapshot is needed."""
        if self.sync.state == "live" and ev.u <= self.sync.last_update_id:
            return Outcome("ignored")  # a duplicate from an overlapping connection
        out = self.sync.on_event(ev)
        self._stamp(ev.E, recv_ns, offset_ms)
        if out.applied:
            self._book_changed(ev.E * 1_000_000)
        return out

    def on_snapshot(self, snap: DepthSnapshot, recv_ns: int) -> Outcome:
        out = self.sync.on_snapshot(snap)
        if self.sync.book_valid:
            self.last_recv_ns = recv_ns
            self.last_event_ms = self.last_event_ms or snap.E or recv_ns // 1_000_000
            self._book_changed(self.last_event_ms * 1_000_000)
        return out

    def on_trade(self, price: str, qty: str, buyer_is_maker: bool, trade_id: int, t_ms: int) -> Trade:
        p, q = Decimal(price), Decimal(qty)
        self.features.on_trade(float(p), float(q), buyer_is_maker, t_ms * 1_000_000)
        self.features_dirty = True
        return Trade(
            symbol=self.symbol,
            trade_id=trade_id,
            price=p,
            qty=q,
            buyer_is_maker=buyer_is_maker,
            ts_event=t_ms * 1_000_000,
        )

    def on_mark(self, ev: MarkPriceEvent) -> MarkPrice:
        self.features.on_mark(float(ev.p), float(ev.i), float(ev.r), ev.T, ev.E * 1_000_000)
        self.features_dirty = True
        return MarkPrice(
            symbol=self.symbol,
            mark_price=Decimal(ev.p),
            index_price=Decimal(ev.i),
            funding_rate=Decimal(ev.r),
            next_funding_time_ms=ev.T,
            ts_event=ev.E * 1_000_000,
        )

    def disconnected(self) -> None:
        """The stream dropped: the book can no longer be trusted until a new snapshot."""
        self.connected = False
        self.sync.reset("reset")

    def _stamp(self, event_ms: int, recv_ns: int, offset_ms: int) -> None:
        self.last_recv_ns = recv_ns
        self.last_event_ms = event_ms
        self.lag_ms = recv_ns / 1e6 + offset_ms - event_ms

    def _book_changed(self, ts_ns: int) -> None:
        book = self.sync.book
        if book.refinements != self._refinements:  # the feed sent a level finer than the units
            self._refinements = book.refinements
            self.features.set_units(book.price_unit, book.qty_unit)
        bids, asks = book.top(max(self.book_levels, self.features_levels))
        self.features.on_book(bids, asks, ts_ns, self.sync.last_update_id)
        self.dirty = True
        self.features_dirty = True

    @property
    def features_levels(self) -> int:
        return self.features.config.depth_levels

    # ---- outputs -----------------------------------------------------------------------------

    def book_message(self, recv_ns: int) -> BookLevels | None:
        """The top-N book, or None while the book is not valid (never publish a broken book)."""
        if not self.sync.book_valid:
            return None
        self.dirty = False
        return self.sync.book.to_levels(
            self.book_levels, self.symbol, self.last_event_ms * 1_000_000, ts_init=recv_ns
        )

    def features_message(self, now_ns: int) -> Features | None:
        if not self.sync.book_valid:
            return None
        self.features_dirty = False
        return self.features.to_message(
            self.last_event_ms * 1_000_000 or now_ns,
            ts_init=now_ns,
            trace_id=self.sync.last_update_id,
            trace_ns=self.last_recv_ns,
        )

    def evaluate(self, now_ns: int) -> FeedStatus | None:
        """The status now; returned only when it changed."""
        state, reason = self._judge(now_ns)
        if (state, reason) == (self.state, self.reason):
            return None
        self.state, self.reason = state, reason
        return self.status(now_ns)

    def status(self, now_ns: int) -> FeedStatus:
        age = (now_ns - self.last_recv_ns) / 1e6 if self.last_recv_ns else 0.0
        return FeedStatus(
            symbol=self.symbol,
            state=self.state,
            reason=self.reason,
            last_update_id=self.sync.last_update_id,
            age_ms=age,
        )

    def _judge(self, now_ns: int) -> tuple[FeedState, str]:
        if not self.connected:
            return "resyncing", "stream disconnected"
        if not self.sync.book_valid:
            last = self.sync.last_reason
            return "resyncing", f"book resync ({last})" if last else "waiting for snapshot"
        age_ms = (now_ns - self.last_recv_ns) / 1e6
        if age_ms > self.fresh.stale_after_ms:
            return "stale", f"no depth update for {age_ms:.0f} ms"
        if self.lag_ms > self.fresh.max_lag_ms:
            return "stale", f"exchange time lags by {self.lag_ms:.0f} ms"
        return "live", ""
