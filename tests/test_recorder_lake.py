"""The Parquet lake: hive partitions DuckDB reads as is, rotation by rows and by time, the size bound."""

from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from common.messages import BookLevels, Features
from services.recorder.ingest import Ingestor, Sampling
from services.recorder.lake import Lake
from tests.fixtures.recorder_mix import MessageMix, Wire
from tests.helpers import wait_until

DAY_NS = 86_400_000_000_000
T0 = 20_000 * DAY_NS + DAY_NS - 30_000_000_000  # 30 s before a UTC midnight (2024-10-04 → 05)


def _fill_lake(
    lake: Lake, n: int, datasets: frozenset[str] = frozenset({"book", "trade", "mark", "features"})
) -> collections.Counter[str]:
    items = MessageMix(t0_ns=T0).take(n)
    ing = Ingestor(Sampling(lake_datasets=datasets))
    raws = Wire().many(items)
    for i in range(0, len(raws), 1000):
        lake.put(ing.ingest(raws[i : i + 1000]).lake)
    lake.flush()
    return collections.Counter(f"{type(m).__name__}/{getattr(m, 'symbol', '')}" for _, _, m in items)


def _last_book_ts(n: int) -> int:
    return max(m.ts_event for _, _, m in MessageMix(t0_ns=T0).take(n) if type(m).__name__ == "BookLevels")


def _sql(root: Path, dataset: str, select: str, tail: str = "") -> list[tuple[Any, ...]]:
    """A DuckDB query over one dataset, exactly as a user would write it."""
    src = f"read_parquet('{root}/dataset={dataset}/**/*.parquet', hive_partitioning = true)"
    rel = duckdb.sql(f"SELECT {select} FROM {src} {tail}")
    assert rel is not None
    return rel.fetchall()


def test_duckdb_reads_every_dataset_back_by_symbol_and_date(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root, rotate_rows=300, rotate_s=3600)
    sent = _fill_lake(lake, 12_000)
    lake.close()
    for dataset, kind in (
        ("book", "BookLevels"),
        ("trade", "Trade"),
        ("mark", "MarkPrice"),
        ("features", "Features"),
    ):
        rows: dict[str, int] = dict(_sql(root, dataset, "symbol, count(*)", "GROUP BY symbol"))
        assert rows == {s: sent[f"{kind}/{s}"] for s in ("ETHUSDC", "BTCUSDC")}, dataset
    dates = _sql(root, "book", "date, min(ts_event), max(ts_event)", "GROUP BY date ORDER BY date")
    assert [str(d[0]) for d in dates] == ["2024-10-04", "2024-10-05"]
    assert dates[0][2] < 20_001 * DAY_NS <= dates[1][1], "rows sit in the partition of their own UTC date"
    (spread,) = _sql(root, "book", "min(ask_price - bid_price)", "WHERE symbol = 'ETHUSDC'")[0]
    assert abs(float(spread) - 0.02) < 1e-9
    (vol,) = _sql(root, "features", "max(vol['60s'])")[0]
    assert vol == 9.0e-4
    for date, n in _sql(root, "book", "date, count(*)", "WHERE symbol = 'ETHUSDC' GROUP BY date"):
        parts = list((root / "dataset=book" / "symbol=ETHUSDC" / f"date={date}").glob("part-*.parquet"))
        assert len(parts) == math.ceil(n / 300), "a part every rotate_rows rows, the rest at close"
    assert not list(root.rglob("*.tmp"))


def test_a_part_is_written_after_rotate_s_even_below_rotate_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", rotate_rows=1_000_000, rotate_s=0.2)
    items = MessageMix(t0_ns=T0).take(200)
    lake.put(Ingestor().ingest(Wire().many(items)).lake)
    wait_until(lambda: lake.stats.parts_written >= 4, 10, what="parts written on time")
    lake.close()
    assert lake.stats.rows_written == sum(
        1 for _, _, m in items if type(m).__name__ in ("BookLevels", "Trade", "MarkPrice", "Features")
    )


def test_the_oldest_parts_are_deleted_past_the_size_bound(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    (root / "dataset=book").mkdir(parents=True)
    (root / "dataset=book" / "part-x.tmp").write_bytes(b"half a file from a crashed run")
    lake = Lake(root, rotate_rows=300, rotate_s=3600, max_bytes=60_000)
    _fill_lake(lake, 20_000, frozenset({"book"}))
    lake.close()
    files = sorted(root.rglob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)
    assert lake.stats.parts_deleted > 0
    assert sum(p.stat().st_size for p in files) <= 60_000
    assert lake.stats.bytes_total == sum(p.stat().st_size for p in files)
    (count, newest) = _sql(root, "book", "count(*), max(ts_event)")[0]
    assert newest == _last_book_ts(20_000), "the newest rows are kept; parts go oldest written first"
    assert count < lake.stats.rows_written
    assert not list(root.rglob("*.tmp")), "a leftover temporary part is removed on start"
    # A restarted lake counts what is already on disk.
    again = Lake(root, max_bytes=60_000)
    assert again.stats.bytes_total == lake.stats.bytes_total
    again.close()


def test_raw_bodies_are_kept_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root, rotate_rows=10_000)
    sent = _fill_lake(lake, 3_000, frozenset({"raw"}))
    lake.close()
    md = sum(
        n for k, n in sent.items() if k.split("/")[0] in ("BookLevels", "Trade", "MarkPrice", "Features")
    )
    (count, topics) = _sql(root, "raw", "count(*), count(DISTINCT topic)")[0]
    assert count == md and topics == 8


def test_a_message_without_ts_event_lands_in_the_partition_of_its_receive_time(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    book = next(m for _, _, m in MessageMix(t0_ns=T0).take(5) if isinstance(m, BookLevels))
    unstamped = msgspec.structs.replace(book, ts_event=0)
    wire = Wire()
    lake.put(
        Ingestor().ingest([wire.raw("md.book.ETHUSDC", "marketdata", unstamped, ts_recv=T0 + DAY_NS)]).lake
    )
    lake.close()
    assert _sql(root, "book", "CAST(date AS VARCHAR), ts_event, ts_recv") == [("2024-10-05", 0, T0 + DAY_NS)]


def test_polars_and_pandas_read_the_lake_as_the_readme_shows(tmp_path: Path) -> None:
    import pandas as pd
    import polars as pl

    root = tmp_path / "lake"
    lake = Lake(root, rotate_rows=300, rotate_s=3600)
    sent = _fill_lake(lake, 6_000)
    lake.close()
    trades = pl.scan_parquet(f"{root}/dataset=trade/**/*.parquet", hive_partitioning=True)
    by_symbol = dict(trades.group_by("symbol").agg(pl.len()).collect().iter_rows())
    assert by_symbol == {s: sent[f"Trade/{s}"] for s in ("ETHUSDC", "BTCUSDC")}
    book = pd.read_parquet(root / "dataset=book")
    counts = book.groupby("symbol", observed=True).size().to_dict()
    assert counts == {s: sent[f"BookLevels/{s}"] for s in ("ETHUSDC", "BTCUSDC")}
    eth = book[book["symbol"] == "ETHUSDC"]
    assert abs(float((eth["ask_price"] - eth["bid_price"]).min()) - 0.02) < 1e-9
    assert sorted(map(str, book["date"].unique())) == ["2024-10-04", "2024-10-05"]


def test_features_carrying_a_tick_to_wire_trace_are_written(tmp_path: Path) -> None:
    """A Features message with its trace (a depth update id and an arrival time in ns, beyond what
    a double holds exactly) still lands in the features dataset, every market figure with it."""
    root = tmp_path / "lake"
    lake = Lake(root)
    feats = next(m for _, _, m in MessageMix(t0_ns=T0).take(50) if isinstance(m, Features))
    traced = msgspec.structs.replace(feats, trace_id=1_001_107, trace_ns=T0 + 123_456_789)
    lake.put(Ingestor().ingest([Wire().raw("md.features.ETHUSDC", "marketdata", traced, ts_recv=T0)]).lake)
    lake.close()
    assert _sql(root, "features", "count(*), min(mid)") == [(1, feats.mid)]
