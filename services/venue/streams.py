"""Market-stream payloads from the exchange's events, per stream name.

Depth diffs come at four speeds: ``@depth@0ms`` (every batch as it happens), ``@depth@100ms``,
``@depth`` (250 ms) and ``@depth@500ms`` (merged over the interval). Each speed keeps its own
``pu`` chain: ``pu`` is the ``u`` of that stream's previous event, and ``[U, u]`` spans the update
ids merged into the event, so a client that follows Binance's procedure against the REST
snapshot's ``lastUpdateId`` rebuilds the book exactly. bookTicker carries the same ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services.venue.exchange import DepthBatch, PublicTrade
from services.venue.orderbook import BUY
from services.venue.symbols import VenueSymbol

SPEEDS_MS = {"depth@100ms": 100, "depth": 250, "depth@500ms": 500}


@dataclass(slots=True)
class _Pending:
    first: int = 0
    last: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


class SymbolStreams:
    """Stream state of one symbol: pending merged diffs per speed, last ``u`` sent per stream."""

    def __init__(self, sym: VenueSymbol) -> None:
        self.sym = sym
        self.lower = sym.name.lower()
        self.pending: dict[str, _Pending] = {k: _Pending() for k in SPEEDS_MS}
        self.last_u: dict[str, int] = {}
        self.last_ticker: tuple[int, int, int, int] | None = None
        self.deferred: list[dict[str, Any]] = []  # @depth@0ms events held back by a stall

    def _levels(self, d: dict[int, int]) -> list[list[str]]:
        return [[self.sym.price_str(p), self.sym.qty_str(q)] for p, q in d.items()]

    def _event(
        self, stream: str, first: int, last: int, bids: dict[int, int], asks: dict[int, int], now: int
    ) -> dict[str, Any]:
        pu = self.last_u.get(stream, first - 1)
        self.last_u[stream] = last
        return {
            "e": "depthUpdate",
            "E": now,
            "T": now,
            "s": self.sym.name,
            "U": first,
            "u": last,
            "pu": pu,
            "b": self._levels(bids),
            "a": self._levels(asks),
        }

    def on_batch(self, batch: DepthBatch) -> dict[str, Any]:
        """Merge a batch into the timed streams; returns the ``@depth@0ms`` event for it."""
        bids = {p: q for s, p, q in batch.changes if s == BUY}
        asks = {p: q for s, p, q in batch.changes if s != BUY}
        for pend in self.pending.values():
            if not pend.first:
                pend.first = batch.first_id
            pend.last = batch.last_id
            pend.bids.update(bids)
            pend.asks.update(asks)
        return self._event("depth@0ms", batch.first_id, batch.last_id, bids, asks, batch.time_ms)

    def flush(self, speed: str, now: int) -> dict[str, Any] | None:
        """The merged event of a timed stream, or None when nothing changed in the interval."""
        pend = self.pending[speed]
        if not pend.first:
            return None
        self.pending[speed] = _Pending()
        return self._event(speed, pend.first, pend.last, pend.bids, pend.asks, now)

    def ticker(self, batch: DepthBatch, now: int) -> dict[str, Any] | None:
        """A bookTicker event when the top of book changed with this batch (the top as of the batch)."""
        b, a, update_id = batch.best_bid, batch.best_ask, batch.last_id
        if b is None or a is None:
            return None
        key = (b[0], b[1], a[0], a[1])
        if key == self.last_ticker:
            return None
        self.last_ticker = key
        return {
            "e": "bookTicker",
            "u": update_id,
            "s": self.sym.name,
            "b": self.sym.price_str(b[0]),
            "B": self.sym.qty_str(b[1]),
            "a": self.sym.price_str(a[0]),
            "A": self.sym.qty_str(a[1]),
            "T": now,
            "E": now,
        }

    def trade(self, t: PublicTrade) -> dict[str, Any]:
        return {
            "e": "trade",
            "E": t.time_ms,
            "T": t.time_ms,
            "s": t.symbol,
            "t": t.trade_id,
            "p": self.sym.price_str(t.price),
            "q": self.sym.qty_str(t.qty),
            "X": "MARKET",
            "m": t.buyer_is_maker,
        }

    def agg_trades(self, trades: list[PublicTrade], next_id: Iterator[int]) -> list[dict[str, Any]]:
        """aggTrade events: consecutive trades of one taker order at one price, aggregated."""
        out: list[dict[str, Any]] = []
        run: list[PublicTrade] = []
        for t in [*trades, None]:
            if run and (t is None or t.taker_key != run[0].taker_key or t.price != run[0].price):
                q = self.sym.qty_str(sum(x.qty for x in run))
                out.append(
                    {
                        "e": "aggTrade",
                        "E": run[-1].time_ms,
                        "s": self.sym.name,
                        "a": next(next_id),
                        "p": self.sym.price_str(run[0].price),
                        "q": q,
                        "nq": q,
                        "f": run[0].trade_id,
                        "l": run[-1].trade_id,
                        "T": run[-1].time_ms,
                        "m": run[0].buyer_is_maker,
                    }
                )
                run = []
            if t is not None:
                run.append(t)
        return out
