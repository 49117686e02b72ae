"""The backtester's market data: its book, rebuilt from the loaded events alone, matches every checkable
bookTicker of the recorded file (the oracle of data/README.md); the snapshot is bridged by a diff
recorded before it; a gap waits for the next snapshot, which replaces the book."""

from __future__ import annotations

import bisect
import gzip
import json
from decimal import Decimal
from pathlib import Path

from common.binance.market import BookTicker, decode_combined
from services.backtest.data import DEPTH, TRADE, load_binance
from services.venue.orderbook import BUY, SELL

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "data" / "binance" / "usdm_ethusdt_20240808.gz"
TICK, STEP = Decimal("0.01"), Decimal("0.001")


def _tickers() -> list[BookTicker]:
    out = []
    with gzip.open(RECORDED, "rb") as fh:
        for line in fh:
            raw = line.split(b" ", 1)[1]
            if raw.startswith(b'{"stream"'):
                ev = decode_combined(raw)[1]
                if isinstance(ev, BookTicker):
                    out.append(ev)
    return out


def test_the_loaded_events_rebuild_a_book_that_matches_every_checkable_book_ticker() -> None:
    md = load_binance(RECORDED, "ETHUSDT", TICK, STEP)
    book = {(s, p): q for s, p, q in md.start if q}
    states: list[tuple[int, int, tuple[tuple[int, int], tuple[int, int]]]] = []
    for kind, payload, (first, last) in zip(md.kind, md.payload, md.ids, strict=True):
        if kind != DEPTH:
            continue
        for s, p, q in payload:  # type: ignore[attr-defined]
            if q:
                book[(s, p)] = q
            else:
                book.pop((s, p), None)
        bid = max(p for s, p in book if s == BUY)
        ask = min(p for s, p in book if s == SELL)
        states.append((first, last, ((bid, book[(BUY, bid)]), (ask, book[(SELL, ask)]))))
    ends = [u for _, u, _ in states]
    assert ends == sorted(ends)  # exchange-time order is update-id order
    checks = mismatches = 0
    for t in _tickers():
        k = bisect.bisect_right(ends, t.u) - 1  # the book after diff k holds until diff k+1 starts
        if k < 0 or k + 1 >= len(states) or t.u >= states[k + 1][0]:
            continue
        checks += 1
        want = (
            (round(float(t.b) / 0.01), round(float(t.B) / 0.001)),
            (round(float(t.a) / 0.01), round(float(t.A) / 0.001)),
        )
        mismatches += states[k][2] != want
    assert (checks, mismatches) == (551, 0)  # data/README.md: 551 checkable bookTickers


def test_the_snapshot_is_bridged_by_a_diff_recorded_before_it() -> None:
    """In the file, the snapshot (line 41, lastUpdateId 5123107856276) comes after the diff that
    continues it (line 40: U 5123107856317, u 5123107858544, pu 5123107856276): that diff is the
    first one applied, not the next one after the snapshot line (U 5123107858740)."""
    md = load_binance(RECORDED, "ETHUSDT", TICK, STEP)
    first = next(ids for kind, ids in zip(md.kind, md.ids, strict=True) if kind == DEPTH)
    assert first == (5123107856317, 5123107858544)


def _write(path: Path, lines: list[tuple[int, dict]]) -> None:
    with gzip.open(path, "wb") as fh:
        for t, obj in lines:
            fh.write(b"%d %s\n" % (t, json.dumps(obj).encode()))


def _diff(big_u: int, u: int, pu: int, b: list[list[str]], t_ms: int) -> dict:
    data = {
        "e": "depthUpdate",
        "E": t_ms,
        "T": t_ms,
        "s": "ETHUSDC",
        "U": big_u,
        "u": u,
        "pu": pu,
        "b": b,
        "a": [],
    }
    return {"stream": "ethusdc@depth@100ms", "data": data}


def test_a_gap_drops_diffs_until_the_next_snapshot_which_replaces_the_book(tmp_path: Path) -> None:
    t = 1_723_161_600_000
    snap1 = {
        "lastUpdateId": 100,
        "E": t,
        "T": t,
        "bids": [["100.00", "1.000"], ["99.99", "2.000"]],
        "asks": [["100.01", "1.000"]],
    }
    snap2 = {
        "lastUpdateId": 200,
        "E": t + 5,
        "T": t + 5,
        "bids": [["100.05", "3.000"]],
        "asks": [["100.06", "1.000"]],
    }
    trade = {
        "stream": "ethusdc@trade",
        "data": {
            "e": "trade",
            "E": t + 2,
            "s": "ETHUSDC",
            "t": 1,
            "p": "100.01",
            "q": "0.500",
            "T": t + 2,
            "m": False,
        },
    }
    f = tmp_path / "usdm_ethusdc_test.gz"
    _write(f, [
        (1, snap1),
        (2, _diff(101, 101, 100, [["100.00", "1.500"]], t + 1)),   # applied
        (3, trade),
        (4, _diff(150, 151, 140, [["99.00", "9.000"]], t + 3)),    # pu 140 != 101: a gap
        (5, _diff(152, 152, 151, [["98.00", "9.000"]], t + 4)),    # dropped: still in the gap
        (6, snap2),                                                # replaces the book
        (7, _diff(201, 201, 200, [["100.05", "0"]], t + 6)),       # applied after it
    ])  # fmt: skip
    md = load_binance(tmp_path, "ETHUSDC", TICK, STEP)
    kinds = [(k, ids) for k, ids in zip(md.kind, md.ids, strict=True)]
    assert kinds == [(DEPTH, (101, 101)), (TRADE, (0, 0)), (DEPTH, (200, 200)), (DEPTH, (201, 201))]
    replace = dict(((s, p), q) for s, p, q in md.payload[2])  # type: ignore[attr-defined]
    # the old levels go, the snapshot's come
    assert replace == {
        (BUY, 10000): 0,
        (BUY, 9999): 0,
        (SELL, 10001): 0,
        (BUY, 10005): 3000,
        (SELL, 10006): 1000,
    }
    assert md.payload[3] == ((BUY, 10005, 0),)
