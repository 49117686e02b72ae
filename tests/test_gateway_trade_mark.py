"""The gateway's trade-history watermark against a venue whose trade ids went back (a testnet
reset, a simulated venue started afresh, a store older than the venue's state)."""

from __future__ import annotations

import asyncio
from typing import Any

from common.params.gateway import OmsParams
from services.gateway.client_ids import ClientIds
from services.gateway.oms import Oms
from services.gateway.venue_sync import VenueSync


class Trades:
    """A venue's ``userTrades`` for one symbol: ids only (nothing above the marks here is new)."""

    def __init__(self, ids: list[int], recent: list[int] | None = None) -> None:
        self.ids = ids
        self.recent = ids if recent is None else recent  # what Binance lists without fromId: 7 days
        self.calls: list[tuple[int | None, int]] = []

    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        self.calls.append((from_id, limit))
        ids = self.recent if from_id is None else [i for i in self.ids if i >= from_id]
        ids = ids[-limit:] if from_id is None else ids[:limit]
        return [{"symbol": symbol, "id": i} for i in ids]


def _sync(venue: Trades, repairs: list[tuple[str, str, str]]) -> VenueSync:
    oms = Oms(ClientIds("mm", "s1"), OmsParams())
    return VenueSync(venue, oms, None, lambda eff: None, "adopt", lambda *r: repairs.append(r))  # type: ignore[arg-type]


def test_a_mark_above_the_venues_newest_trade_is_dropped_and_set_anew_from_the_newest() -> None:
    """The store's mark 500090699 from an older venue; the venue's newest trade is 500033676: read
    from the mark, nothing would ever come again. The mark is dropped and set to 500033676, and
    BTCUSDC's fills remembered above it forgotten (another symbol's are not its business)."""
    venue, repairs = Trades([500033665, 500033669, 500033676]), list[tuple[str, str, str]]()
    sync = _sync(venue, repairs)
    sync.seed({"BTCUSDC": 500090699})
    old = [("BTCUSDC", 500090820, "BUY"), ("BTCUSDC", 500033600, "SELL"), ("ETHUSDC", 500090900, "BUY")]
    sync.oms.remember(old)  # published in the older venue's time; the new one may reach 500090820
    asyncio.run(sync.check_mark("BTCUSDC"))
    assert "BTCUSDC" not in sync.trade_mark
    assert sync.oms.published() == [("BTCUSDC", 500033600, "SELL"), ("ETHUSDC", 500090900, "BUY")]
    assert [(kind, sym) for kind, sym, _ in repairs] == [("trade_mark_ahead_of_venue", "BTCUSDC")]
    assert repairs[0][2] == "mark 500090699, venue's newest 500033676, 1 fills forgotten"
    assert asyncio.run(sync.trades("BTCUSDC")) == 0
    assert sync.trade_mark["BTCUSDC"] == 500033676


def test_a_mark_at_or_below_the_venues_newest_trade_is_kept() -> None:
    venue, repairs = Trades([500000100, 500000105]), list[tuple[str, str, str]]()
    sync = _sync(venue, repairs)
    sync.seed({"ETHUSDC": 500000105})
    asyncio.run(sync.check_mark("ETHUSDC"))
    assert sync.trade_mark == {"ETHUSDC": 500000105} and repairs == []
    assert venue.calls == [(None, 1)]


def test_fills_remembered_above_the_venues_newest_trade_are_forgotten_under_a_good_mark() -> None:
    """A mark the venue has passed (500000100 of 500000105) stays; a fill remembered as published
    at 500090820, an id this venue has not made yet, is another venue's and is forgotten."""
    venue, repairs = Trades([500000100, 500000105]), list[tuple[str, str, str]]()
    sync = _sync(venue, repairs)
    sync.seed({"BTCUSDC": 500000100})
    sync.oms.remember([("BTCUSDC", 500000103, "BUY"), ("BTCUSDC", 500090820, "BUY")])
    asyncio.run(sync.check_mark("BTCUSDC"))
    assert sync.trade_mark == {"BTCUSDC": 500000100}
    assert sync.oms.published() == [("BTCUSDC", 500000103, "BUY")]
    assert [detail for _, _, detail in repairs] == [
        "mark 500000100, venue's newest 500000105, 1 fills forgotten"
    ]


def test_an_idle_symbol_keeps_its_mark_and_fills_and_an_unknown_one_waits_for_a_trade() -> None:
    """Binance lists the newest trades of the last 7 days only: a symbol idle for longer answers
    nothing, which tells nothing. The mark and the remembered fills stay; a symbol with no mark but
    older trades stays without one (a mark of 0 would read that whole history as new fills); one
    that never traded gets 0 (every trade from now on is new)."""
    venue, repairs = Trades([500000001, 500000002], recent=[]), list[tuple[str, str, str]]()
    sync = _sync(venue, repairs)
    sync.seed({"BTCUSDC": 500090699})
    sync.oms.remember([("BTCUSDC", 500090800, "BUY")])
    asyncio.run(sync.check_mark("BTCUSDC"))
    assert sync.trade_mark == {"BTCUSDC": 500090699} and repairs == []
    assert sync.oms.published() == [("BTCUSDC", 500090800, "BUY")]
    assert asyncio.run(sync.trades("ETHUSDC")) == 0
    assert "ETHUSDC" not in sync.trade_mark
    never = _sync(Trades([]), repairs)
    assert asyncio.run(never.trades("ETHUSDC")) == 0
    assert never.trade_mark == {"ETHUSDC": 0}
