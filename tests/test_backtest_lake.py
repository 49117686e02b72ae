"""Replay of the recorder's Parquet lake in the backtester: the top of book, trades and marks that
every session keeps, read back (independently, with pyarrow) and replayed as a one-level book."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from services.backtest.api import run
from services.backtest.data import DEPTH, MARK, TRADE, load_lake
from services.recorder.ingest import Ingestor
from services.recorder.lake import Lake
from services.venue.orderbook import BUY
from tests.fixtures.recorder_mix import MessageMix, Wire

T0 = 1_790_000_000_000_000_000


def _lake(root: Path) -> None:
    ing, lake = Ingestor(), Lake(root, rotate_rows=2_000)
    raws = Wire().many(MessageMix(t0_ns=T0).take(20_000))
    for i in range(0, len(raws), 1000):
        lake.put(ing.ingest(raws[i : i + 1000]).lake)
    lake.close()


def _table(root: Path, dataset: str) -> dict[str, list]:  # type: ignore[type-arg]
    parts = sorted((root / f"dataset={dataset}" / "symbol=ETHUSDC").rglob("*.parquet"))
    rows: dict[str, list] = {}  # type: ignore[type-arg]
    for p in parts:
        for k, v in pq.read_table(p).to_pydict().items():
            rows.setdefault(k, []).extend(v)
    return rows


def test_the_lake_replays_as_a_one_level_book_with_every_trade(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _lake(root)
    md = load_lake(root, "ETHUSDC", Decimal("0.01"), Decimal("0.001"))
    book = _table(root, "book")
    order = sorted(range(len(book["ts_event"])), key=lambda i: book["ts_event"][i])
    first, last = order[0], order[-1]

    def ticks(x: float) -> int:
        return round(x / 0.01)

    def steps(x: float) -> int:
        return round(x / 0.001)

    assert md.start == [
        (BUY, ticks(book["bid_price"][first]), steps(book["bid_qty"][first])),
        (-BUY, ticks(book["ask_price"][first]), steps(book["ask_qty"][first])),
    ]
    # replaying every depth event ends on the lake's last top of book
    bids = {p: q for s, p, q in md.start if s == BUY}
    asks = {p: q for s, p, q in md.start if s != BUY}
    for kind, payload in zip(md.kind, md.payload, strict=True):
        if kind == DEPTH:
            for s, p, q in payload:  # type: ignore[attr-defined]
                side = bids if s == BUY else asks
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    assert (max(bids), min(asks)) == (ticks(book["bid_price"][last]), ticks(book["ask_price"][last]))
    trades = _table(root, "trade")
    assert md.kind.count(TRADE) == len(trades["ts_event"]) > 0
    assert md.kind.count(MARK) == len(_table(root, "mark").get("ts_event", []))
    assert md.t_exch_ns == sorted(md.t_exch_ns)


def test_mmctl_style_run_on_a_lake_directory_trades(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _lake(root)
    res = run(root, "ETHUSDC", "asmm", template="ETHUSDC", entry_ms=1, response_ms=1)
    s = res.summary
    assert res.config["data"] == str(root) and s["events"] > 0 and s["orders_placed"] > 0
