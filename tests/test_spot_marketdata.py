"""The spot book through the running market data service (issue 13): the simulated venue replays
the recorded Binance spot file (``data/binance/spot_ethusdt_20240808.gz``) into its spot ETHUSDT
market at Binance's spot filters; ``marketdata-spot`` syncs it with spot's rules from the venue's
``/spot`` streams and ``/api/v3/depth``; every venue bookTicker whose ``u`` a published book reached
matches that book's top exactly, and the feed never resyncs."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets

from common.messages import BookLevels, FeedStatus
from tests.cluster import Cluster
from tests.helpers import DATA, wait_until
from tests.test_venue_spot import SPOT

pytestmark = pytest.mark.system
SYM = "ETHUSDT"


def test_the_spot_book_published_by_marketdata_matches_every_venue_book_ticker(tmp_path: Path) -> None:
    # the venue's spot ETHUSDT of tests/test_venue_spot.py, its market a replay of the recording
    replay = DATA / "spot_ethusdt_20240808.gz"
    overlay = f'[simvenue]\nreplay_speed = 1.0\n{SPOT}replay_file = "{replay}"\n'
    with Cluster(tmp_path, overlay, {"MM_SPOT_SYMBOLS": f'["{SYM}"]'}) as c:
        c.listen("md.book.", "md.status.")
        c.start("venue", "marketdata-spot")
        wait_until(lambda: _states(c)[-1:] == ["live"], 30, what=f"{SYM} live on marketdata-spot")
        t0 = time.monotonic()
        tickers = asyncio.run(_tickers(c.venue_url.replace("http", "ws"), 30, 20.0))
        last_u = max(int(t["u"]) for t in tickers)

        def reached() -> bool:  # marketdata has published a book at or past the last ticker's update
            return any(m.last_update_id >= last_u for m in c.heard.of(f"md.book.{SYM}", BookLevels))

        wait_until(reached, 10, what="a published book at the last ticker's update")
    books = {m.last_update_id: m for t, m in c.heard.since(t0, f"md.book.{SYM}") if isinstance(m, BookLevels)}
    checkable = [t for t in tickers if int(t["u"]) in books]
    mismatches = [t for t in checkable if _top(books[int(t["u"])]) != _ticker(t)]
    assert len(checkable) >= 20 and mismatches == [], (len(checkable), mismatches[:3])
    states = _states(c)
    assert "live" in states and states[states.index("live") :].count("resyncing") == 0, states


async def _tickers(ws_url: str, count: int, bound_s: float) -> list[dict[str, Any]]:
    """``count`` bookTicker events (fewer if ``bound_s`` runs out first)."""
    out: list[dict[str, Any]] = []
    async with websockets.connect(f"{ws_url}/spot/ws/{SYM.lower()}@bookTicker") as ws:
        deadline = asyncio.get_running_loop().time() + bound_s
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            try:
                out.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
            except TimeoutError:
                continue
    return out


def _states(c: Cluster) -> list[str]:
    return [m.state for m in c.heard.of(f"md.status.{SYM}", FeedStatus)]


def _top(b: BookLevels) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    (bp, bq), (ap, aq) = b.bids[0], b.asks[0]
    return (bp * b.price_tick, bq * b.qty_step), (ap * b.price_tick, aq * b.qty_step)


def _ticker(t: dict[str, Any]) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    return (Decimal(t["b"]), Decimal(t["B"])), (Decimal(t["a"]), Decimal(t["A"]))
