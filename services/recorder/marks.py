"""Fill watermarks: how far the stored fills of each symbol reach, for catch-up and the gateway.

Two marks per symbol. The *venue mark* is catch-up's (``meta`` key ``venue_trade_id:<symbol>``):
the trade id up to which the store holds every trade of the venue's history. It moves only in the
transaction that stores the venue page it comes from, so it never passes a gap. The *highest
trade id* counts fills from any source (bus, gateway snapshot, venue) and may lie above a gap that
catch-up has not closed yet. A restarting gateway needs both (``Query(kind="fill_marks")``).
"""

from __future__ import annotations

from typing import Any

from services.recorder.store import Store

WATERMARK = "venue_trade_id:"
"""``meta`` key prefix: per symbol, the trade id up to which the store holds every venue trade."""


def watermarks(store: Store) -> dict[str, int]:
    """Per symbol, the id up to which every venue trade is stored (any thread).

    Not the highest stored trade id: a fill from the bus or the gateway's snapshot can land after
    an outage before catch-up runs, and resuming from it would skip the gap.
    """
    rows = store.select("meta", [("key", "prefix", WATERMARK)], order="key")
    return {r["key"][len(WATERMARK) :]: int(r["value"]) for r in rows}


def watermark_row(symbol: str, trade_id: int) -> tuple[str, str]:
    """The ``meta`` row that sets ``symbol``'s venue mark; write it with the fills it covers."""
    return (WATERMARK + symbol, str(trade_id))


def fill_marks(store: Store, symbol: str = "") -> list[dict[str, Any]]:
    """One row per symbol with fills or a venue mark (or just ``symbol``), by symbol.

    Each row is ``{"symbol": str, "venue_mark": int | None, "max_trade_id": int | None}``. The
    venue marks are read first: a fill committed between the two reads can only raise the highest
    trade id, so ``venue_mark <= max_trade_id`` holds in every answer.
    """
    venue = watermarks(store)
    top: dict[str, int] = store.maxima("fills", "trade_id", "symbol")
    symbols = sorted(set(venue) | set(top))
    if symbol:
        symbols = [s for s in symbols if s == symbol]
    return [{"symbol": s, "venue_mark": venue.get(s), "max_trade_id": top.get(s)} for s in symbols]
