"""The append-only event store: every bus message as (topic, publisher, seq, ts_event, type, payload).

SQLite in WAL mode with batched commits: the service buffers messages and commits a batch every
``flush_interval_ms`` (or sooner when ``batch_max`` are waiting), so a ``kill -9`` loses at most
one flush interval of messages. Payloads are stored as the msgpack body exactly as received.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EventRow = tuple[int, str, str, int, int, int, str, bytes]
"""(ts_recv, topic, source, epoch, seq, ts_event, type, payload)"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY,
    ts_recv  INTEGER NOT NULL,
    topic    TEXT    NOT NULL,
    source   TEXT    NOT NULL,
    epoch    INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    ts_event INTEGER NOT NULL,
    type     TEXT    NOT NULL,
    payload  BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_topic_ts ON events (topic, ts_event);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_event);
"""


class EventStore:
    """One SQLite file; writes from one thread at a time, reads on their own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._w = self._connect()
        self._w.executescript(_SCHEMA)
        self._wlock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=5000")
        return con

    def append(self, rows: Sequence[EventRow]) -> None:
        """Insert a batch in one transaction."""
        if not rows:
            return
        with self._wlock:
            self._w.execute("BEGIN")
            self._w.executemany(
                "INSERT INTO events (ts_recv, topic, source, epoch, seq, ts_event, type, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._w.execute("COMMIT")

    def query(
        self,
        topic_prefix: str = "",
        since_ns: int = 0,
        until_ns: int = 0,
        type_: str = "",
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Events matching the filters, oldest first (the newest ``limit`` of them)."""
        where, args = ["ts_event >= ?"], [since_ns]
        if until_ns:
            where.append("ts_event <= ?")
            args.append(until_ns)
        if topic_prefix:
            # A prefix range keeps the index usable; '\uffff' sorts after every topic character.
            where.append("topic >= ? AND topic < ?")
            args.extend([topic_prefix, topic_prefix + "\uffff"])  # type: ignore[list-item]
        if type_:
            where.append("type = ?")
            args.append(type_)  # type: ignore[arg-type]
        sql = (
            "SELECT ts_recv, topic, source, epoch, seq, ts_event, type, payload FROM events"
            f" WHERE {' AND '.join(where)} ORDER BY ts_event DESC, id DESC LIMIT ?"
        )
        con = self._connect()
        try:
            rows = con.execute(sql, [*args, int(limit)]).fetchall()
        finally:
            con.close()
        keys = ("ts_recv", "topic", "source", "epoch", "seq", "ts_event", "type", "payload")
        return [dict(zip(keys, r, strict=True)) for r in reversed(rows)]

    def count(self) -> int:
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        finally:
            con.close()

    def close(self) -> None:
        with self._wlock:
            self._w.close()
