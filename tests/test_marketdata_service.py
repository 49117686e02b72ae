"""The market data service against the simulated venue, as processes: books that match the
venue's, and recovery from a pu gap, a dropped connection, a stalled stream and broken payloads
with no book ever published from a broken state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from common.messages import BookLevels, FeedStatus, GetSnapshot
from tests.cluster import Cluster, Heard
from tests.helpers import run, wait_until
from tests.test_venue_api import _sync

SYM = "ETHUSDC"
pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("md")
    overlay = "[marketdata]\nstale_after_ms = 700\nreconnect_min_s = 0.1\nreconnect_max_s = 1.0\n"
    with Cluster(tmp, overlay) as c:
        c.listen("md.book.", "md.status.")
        c.start("venue", "marketdata")
        wait_until(lambda: _state(c.heard, SYM) == "live", 20, what="ETHUSDC live")
        yield c


def _state(heard: Heard, symbol: str) -> str:
    st = heard.of(f"md.status.{symbol}", FeedStatus)
    return st[-1].state if st else ""


def _wait_cycle(
    heard: Heard, t0: float, symbol: str, bad: str, timeout: float = 15.0
) -> list[tuple[str, Any]]:
    """Wait until the status went to ``bad`` and back to live after ``t0``; returns what was heard."""

    def done() -> bool:
        seq = [m.state for t, m in heard.since(t0, f"md.status.{symbol}")]
        return bad in seq and seq[-1] == "live" and seq.index(bad) < len(seq) - 1

    wait_until(done, timeout, what=f"{symbol} {bad} then live")
    return heard.since(t0)


def _no_book_while_broken(events: list[tuple[str, Any]], symbol: str) -> int:
    """Count md.book messages of ``symbol`` while its last status was not live (must be 0)."""
    state, leaks = "live", 0
    for topic, m in events:
        if topic == f"md.status.{symbol}":
            state = m.state
        elif topic == f"md.book.{symbol}" and state == "resyncing":
            leaks += 1
    return leaks


def test_published_books_match_the_book_rebuilt_from_the_venue(cluster: Cluster) -> None:
    url = cluster.venue_url.replace("http", "ws")

    async def collect() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async with websockets.connect(f"{url}/public/ws/{SYM.lower()}@depth@0ms") as ws:
            events.append(json.loads(await ws.recv()))
            async with httpx.AsyncClient() as c:
                snap = (
                    await c.get(cluster.venue_url + "/fapi/v1/depth", params={"symbol": SYM, "limit": 1000})
                ).json()
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:
                events.append(json.loads(await ws.recv()))
        return events, snap

    t0 = time.monotonic()
    events, snap = run(collect())
    states = dict(_sync(snap, events))
    books = [m for t, m in cluster.heard.since(t0, f"md.book.{SYM}") if isinstance(m, BookLevels)]
    compared = 0
    for b in books:
        st = states.get(b.last_update_id)
        if st is None:
            continue
        bids = sorted(st["b"].items(), key=lambda kv: Decimal(kv[0]), reverse=True)[: len(b.bids)]
        asks = sorted(st["a"].items(), key=lambda kv: Decimal(kv[0]))[: len(b.asks)]
        assert [(Decimal(p), Decimal(q)) for p, q in bids] == [
            (x * b.price_tick, y * b.qty_step) for x, y in b.bids
        ]
        assert [(Decimal(p), Decimal(q)) for p, q in asks] == [
            (x * b.price_tick, y * b.qty_step) for x, y in b.asks
        ]
        compared += 1
    assert compared >= 10
    assert len(books[0].bids) == 20  # book_levels default


def test_a_pu_gap_resyncs_without_publishing_a_broken_book(cluster: Cluster) -> None:
    t0 = time.monotonic()
    cluster.fault(symbol=SYM, gap=1)
    events = _wait_cycle(cluster.heard, t0, SYM, "resyncing")
    assert _no_book_while_broken(events, SYM) == 0
    reasons = [m.reason for t, m in events if t == f"md.status.{SYM}" and m.state == "resyncing"]
    assert any("gap" in r for r in reasons)
    other = [m.state for t, m in events if t == "md.status.BTCUSDC"]
    assert "resyncing" not in other  # the other symbol was not torn down


def test_a_dropped_connection_resyncs_and_recovers(cluster: Cluster) -> None:
    t0 = time.monotonic()
    cluster.fault(drop_ws="public")
    events = _wait_cycle(cluster.heard, t0, SYM, "resyncing")
    assert _no_book_while_broken(events, SYM) == 0
    assert any("disconnected" in m.reason for t, m in events if t == f"md.status.{SYM}")


def test_a_stalled_stream_goes_stale_then_live(cluster: Cluster) -> None:
    t0 = time.monotonic()
    cluster.fault(symbol=SYM, stall_s=2.0)
    events = _wait_cycle(cluster.heard, t0, SYM, "stale")
    stale = [m for t, m in events if t == f"md.status.{SYM}" and m.state == "stale"]
    assert stale[0].age_ms >= 700


def test_broken_payloads_are_counted_and_skipped(cluster: Cluster) -> None:
    before = cluster.request("marketdata", GetSnapshot(what="stats")).result["bad"].get("frame", 0)
    cluster.fault(malformed=3)
    wait_until(
        lambda: (
            cluster.request("marketdata", GetSnapshot(what="stats")).result["bad"].get("frame", 0)
            >= before + 3
        ),
        10,
        what="three bad frames counted",
    )
    cluster.check_alive("marketdata")
    t0 = time.monotonic()
    wait_until(lambda: cluster.heard.since(t0, f"md.book.{SYM}"), 5, what="books still flowing")
    snap = cluster.request("marketdata", GetSnapshot(what="book", symbol=SYM)).result[SYM]
    assert snap["status"]["state"] in ("live", "resyncing") and snap["instrument"]["price_tick"] == "0.01"


def test_a_raw_capture_replays_in_the_venues_replay_model(tmp_path: Path) -> None:
    from services.venue.market.replay import ReplayMarket

    with Cluster(tmp_path, "[marketdata]\ncapture = true\n") as c:
        c.listen("md.status.")
        c.start("venue", "marketdata")
        wait_until(lambda: _state(c.heard, SYM) == "live", 20, what="live")
        time.sleep(3.0)
    files = sorted((c.run_dir / "capture").glob("usdm_ethusdc_*.gz"))
    assert files
    import gzip

    with gzip.open(files[0], "rt") as fh:
        first = fh.readline()
    stamp, _, raw = first.partition(" ")
    assert stamp.isdigit() and json.loads(raw)
    m = ReplayMarket(str(files[0]), 0.01, 0.001)
    steps = m.step(60.0)
    assert len(m.records) > 10 and any(s.pre for s in steps) and steps[-1].mid > 0


def test_with_two_connections_one_dropped_changes_nothing_and_is_replaced(tmp_path: Path) -> None:
    """Seed 003 §4: two connections per stream group; the venue drops the older public one; the
    book stays live (no resync, books keep coming) and a new connection takes its place."""
    overlay = (
        "[marketdata]\nconnections = 2\nstale_after_ms = 700\nreconnect_min_s = 0.1\nreconnect_max_s = 1.0\n"
    )
    with Cluster(tmp_path, overlay) as c:
        c.listen("md.book.", "md.status.")
        c.start("venue", "marketdata")
        wait_until(lambda: _state(c.heard, SYM) == "live", 20, what="ETHUSDC live")

        def public() -> int:
            st = httpx.get(c.venue_url + "/_admin/state", timeout=5).json()
            return int(st["connections"]["by_route"].get("public", 0))

        wait_until(lambda: public() == 2, 20, what="two public connections")
        t0 = time.monotonic()
        assert c.fault(drop_ws="public:one")["done"] == ["dropped 1 connections"]
        wait_until(lambda: len(c.heard.since(t0, f"md.book.{SYM}")) >= 20, 10, what="books after the drop")
        wait_until(lambda: public() == 2, 20, what="the dropped connection replaced")
        states = [m.state for t, m in c.heard.since(t0, f"md.status.{SYM}") if isinstance(m, FeedStatus)]
        assert set(states) <= {"live"}, states
        books = [m for t, m in c.heard.since(t0, f"md.book.{SYM}") if isinstance(m, BookLevels)]
        ids = [b.last_update_id for b in books]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), "each update once, in order"
