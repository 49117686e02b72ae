"""The market data lake: book tops, trades, marks, features (and optionally raw bodies) as Parquet.

Layout is hive style, readable as is by DuckDB, polars and pandas::

    <lake>/dataset=book/symbol=ETHUSDC/date=2026-11-22/part-<first ts_event>-<id>.parquet

A writer thread owns every file: :meth:`Lake.put` only queues (and drops, counted, when the queue is
full), so the event loop and the database writer never wait on Parquet. Rows are buffered per
(dataset, symbol, date) and each part is written whole when it reaches ``rotate_rows`` rows or
``rotate_s`` seconds, to a temporary name then renamed, so a reader never sees a half-written file
and a crash loses at most the open buffers (the ``events`` table still holds those messages). Past
``max_bytes`` in total the oldest parts are deleted. Times are ``int64`` ns since the epoch (UTC);
prices and sizes are ``float64`` (research data, never sent to the venue).
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common.logging import log
from services.recorder.ingest import LakeRecord
from services.recorder.rows import FEATURE_FIELDS

_TIMES = [("ts_event", pa.int64()), ("ts_recv", pa.int64())]

SCHEMAS: dict[str, pa.Schema] = {
    "book": pa.schema(
        [
            *_TIMES,
            ("ts_exchange", pa.int64()),
            ("last_update_id", pa.int64()),
            ("bid_price", pa.float64()),
            ("bid_qty", pa.float64()),
            ("ask_price", pa.float64()),
            ("ask_qty", pa.float64()),
            ("bid_levels", pa.int32()),
            ("ask_levels", pa.int32()),
        ]
    ),
    "trade": pa.schema(
        [
            *_TIMES,
            ("trade_id", pa.int64()),
            ("price", pa.float64()),
            ("qty", pa.float64()),
            ("buyer_is_maker", pa.bool_()),
        ]
    ),
    "mark": pa.schema(
        [
            *_TIMES,
            ("mark_price", pa.float64()),
            ("index_price", pa.float64()),
            ("funding_rate", pa.float64()),
            ("next_funding_time_ms", pa.int64()),
        ]
    ),
    "features": pa.schema(
        [
            *_TIMES,
            *[(n, pa.float64()) for n in FEATURE_FIELDS],
            ("vol", pa.map_(pa.string(), pa.float64())),
            ("next_funding_time_ms", pa.int64()),
            ("last_update_id", pa.int64()),
        ]
    ),
    "raw": pa.schema([*_TIMES, ("topic", pa.string()), ("payload", pa.binary())]),
}
DATASETS = tuple(SCHEMAS)


@dataclass
class _Buffer:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


@dataclass
class LakeStats:
    """Counters for status and tests."""

    parts_written: int = 0
    rows_written: int = 0
    parts_deleted: int = 0
    dropped_batches: int = 0
    write_errors: int = 0
    bytes_total: int = 0


class Lake:
    """The writer thread and its buffers. ``put`` from any thread; ``close`` flushes and joins."""

    def __init__(
        self,
        root: Path,
        rotate_rows: int = 100_000,
        rotate_s: float = 300.0,
        max_bytes: int = 2 << 30,
        queue_batches: int = 10_000,
    ) -> None:
        self.root = root
        self.rotate_rows = rotate_rows
        self.rotate_s = rotate_s
        self.max_bytes = max_bytes
        self.stats = LakeStats()
        self._q: queue.Queue[Any] = queue.Queue(queue_batches)
        self._buffers: dict[tuple[str, str, str], _Buffer] = {}
        self._dates: dict[int, str] = {}
        self._parts: deque[tuple[Path, int]] = deque()
        root.mkdir(parents=True, exist_ok=True)
        self._scan()
        self._thread = threading.Thread(target=self._run, name="recorder-lake", daemon=True)
        self._thread.start()

    # ---- any thread ---------------------------------------------------------------------------

    def put(self, records: list[LakeRecord]) -> None:
        """Queue a batch of records; never blocks (a full queue drops the batch and counts it)."""
        if not records:
            return
        try:
            self._q.put_nowait(records)
        except queue.Full:
            self.stats.dropped_batches += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Write every open buffer now and wait for it (tests, shutdown)."""
        done = threading.Event()
        self._q.put(done, timeout=timeout)
        done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop the writer thread."""
        if self._thread.is_alive():
            self._q.put(None, timeout=timeout)
            self._thread.join(timeout)

    # ---- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=min(1.0, self.rotate_s))
            except queue.Empty:
                item = ()
            if item is None:
                self._write_all()
                return
            if isinstance(item, threading.Event):
                self._write_all()
                item.set()
                continue
            self._add(item)
            self._rotate()

    def _add(self, records: Iterable[LakeRecord]) -> None:
        for dataset, symbol, ts, r in records:
            key = (dataset, symbol, self._date(ts))
            buf = self._buffers.get(key)
            if buf is None:
                buf = self._buffers[key] = _Buffer()
            buf.rows.append(r)
            if len(buf.rows) >= self.rotate_rows:
                self._write(key, self._buffers.pop(key))

    def _rotate(self) -> None:
        now = time.monotonic()
        for key in [k for k, b in self._buffers.items() if now - b.opened >= self.rotate_s]:
            self._write(key, self._buffers.pop(key))

    def _write_all(self) -> None:
        for key in list(self._buffers):
            self._write(key, self._buffers.pop(key))

    def _date(self, ts_ns: int) -> str:
        day = ts_ns // 86_400_000_000_000
        s = self._dates.get(day)
        if s is None:
            s = self._dates[day] = dt.datetime.fromtimestamp(day * 86400, dt.UTC).strftime("%Y-%m-%d")
        return s

    def _write(self, key: tuple[str, str, str], buf: _Buffer) -> None:
        dataset, symbol, date = key
        if not buf.rows:
            return
        folder = self.root / f"dataset={dataset}" / f"symbol={symbol}" / f"date={date}"
        path = folder / f"part-{buf.rows[0][0]}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = path.with_suffix(".tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            table = _table(SCHEMAS[dataset], buf.rows)
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
            size = path.stat().st_size
        except (OSError, pa.ArrowException) as exc:
            self.stats.write_errors += 1
            log.error("lake_write_failed", dataset=dataset, symbol=symbol, error=str(exc)[:300])
            return
        self.stats.parts_written += 1
        self.stats.rows_written += len(buf.rows)
        self._parts.append((path, size))
        self.stats.bytes_total += size
        self._bound()

    # ---- size bound ---------------------------------------------------------------------------

    def _scan(self) -> None:
        found = []
        for p in self.root.rglob("*.parquet"):
            st = p.stat()
            found.append((st.st_mtime_ns, p, st.st_size))
        for tmp in self.root.rglob("*.tmp"):
            tmp.unlink(missing_ok=True)  # a part the last run did not finish
        for _, p, size in sorted(found):
            self._parts.append((p, size))
            self.stats.bytes_total += size

    def _bound(self) -> None:
        while self.stats.bytes_total > self.max_bytes and len(self._parts) > 1:
            path, size = self._parts.popleft()
            path.unlink(missing_ok=True)
            self.stats.bytes_total -= size
            self.stats.parts_deleted += 1
            self._prune_dirs(path.parent)

    def _prune_dirs(self, folder: Path) -> None:
        while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _table(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)
