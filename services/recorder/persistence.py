"""The store, the ingestor and the lake behind one writer thread and a small pool of readers.

Every write (bus batches, catch-up rows, session updates, retention) runs on the single writer
thread, in order, so the store has one writer and the ingestor's sampling state one owner. Reads
run on reader threads with their own connections (SQLite WAL lets them run beside the writer).
The event loop only awaits futures: nothing here blocks it.

A batch whose write failed (disk full, database down) is kept and written again, before anything
newer, on the next call: the service reports itself degraded meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge

from common.logging import log
from services.recorder.ingest import Ingested, Ingestor, RawMsg
from services.recorder.lake import Lake
from services.recorder.store import Rows, Store, StoreError

T = TypeVar("T")
DB_ERRORS = Counter("mm_recorder_db_errors_total", "Batch writes the store refused (kept and retried)")
LAG = Gauge(
    "mm_recorder_lag_seconds",
    "From the oldest message of the last batch written to its commit: how far the store trails the bus",
)
STORED = Counter("mm_recorder_messages_stored_total", "Bus messages written to the store")
UNREADABLE = Counter(
    "mm_recorder_unreadable_total",
    "Messages stored raw without their typed rows: undecodable bodies, strategy snapshots without band KPIs",
    ["what"],
)


@dataclass
class WriteStats:
    """What the writer has done, for status and the benchmark."""

    messages: int = 0
    batches: int = 0
    failures: int = 0
    undecodable: int = 0
    bad_snapshots: int = 0


class Persistence:
    """Owns the threads; ``apply`` is the synchronous core, the ``async`` methods run it off the loop."""

    def __init__(
        self,
        store_factory: Callable[[], Store],
        ingestor: Ingestor,
        lake_factory: Callable[[], Lake] | None,
        keep_snapshots: int,
    ) -> None:
        self._factory = store_factory
        self._lake_factory = lake_factory
        self.ingestor = ingestor
        self.lake: Lake | None = None
        self.keep_snapshots = keep_snapshots
        self.stats = WriteStats()
        self._pending: Ingested | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="recorder-writer")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="recorder-reader")
        self.store: Store | None = None

    # ---- synchronous core (writer thread) ----------------------------------------------------

    def open(self) -> Store:
        """Open the store (creates the schema) and the lake (scans what is on disk)."""
        self.store = self._factory()
        if self._lake_factory is not None:
            self.lake = self._lake_factory()
        return self.store

    def apply(self, batch: Sequence[RawMsg]) -> Ingested:
        """Ingest ``batch`` and write it in one transaction; a failed earlier batch goes first."""
        assert self.store is not None, "apply before open"
        if self._pending is not None:
            self._commit(self._pending)
            self._pending = None
        out = self.ingestor.ingest(batch)
        self._count_unreadable(out)
        try:
            self._commit(out)
        except StoreError:
            self._pending = out
            self.stats.failures += 1
            DB_ERRORS.inc()
            raise
        if batch:
            LAG.set(max(0.0, (time.time_ns() - min(m[0] for m in batch)) / 1e9))
        STORED.inc(out.messages)
        return out

    def _count_unreadable(self, out: Ingested) -> None:
        self.stats.undecodable += out.undecodable
        UNREADABLE.labels("message").inc(out.undecodable)
        if out.bad_snapshots:
            if not self.stats.bad_snapshots:  # the first, then the counter and status say how many
                log.warning("band_kpis_unreadable", error=out.bad_snapshots[0][:200])
            self.stats.bad_snapshots += len(out.bad_snapshots)
            UNREADABLE.labels("band_snapshot").inc(len(out.bad_snapshots))

    def _commit(self, out: Ingested) -> None:
        assert self.store is not None
        self.store.write(
            out.rows, link_fills=out.link_fills, keep_snapshots=self.keep_snapshots if out.snapshots else 0
        )
        self.stats.messages += out.messages
        self.stats.batches += 1
        if self.lake is not None:
            self.lake.put(out.lake)

    @property
    def has_pending(self) -> bool:
        """A batch failed to write and waits to be written again."""
        return self._pending is not None

    def store_delete_events(self, cutoff_ns: int) -> int:
        """One chunk of raw-event retention; returns how many rows went (0 when done)."""
        assert self.store is not None
        return self.store.delete_before("events", cutoff_ns)

    def write_rows(self, rows: Rows, link_fills: bool = False) -> None:
        """Rows built elsewhere (catch-up, sessions), in one transaction."""
        assert self.store is not None
        self.store.write(rows, link_fills=link_fills)

    # ---- from the event loop --------------------------------------------------------------------

    async def on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the writer thread, after every write queued before it."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, functools.partial(fn, *args))

    async def on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, functools.partial(fn, *args))

    async def start(self) -> Store:
        """Open the store on the writer thread."""
        return await self.on_writer(self.open)

    async def ingest(self, batch: Sequence[RawMsg]) -> Ingested:
        """:meth:`apply` on the writer thread."""
        return await self.on_writer(self.apply, batch)

    async def write(self, rows: Rows, link_fills: bool = False) -> None:
        """:meth:`write_rows` on the writer thread."""
        await self.on_writer(self.write_rows, rows, link_fills)

    def close(self) -> None:
        """Stop the threads (after the queued writes), close the lake and the store. Blocking."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self.lake is not None:
            self.lake.close()
        if self.store is not None:
            self.store.close()
