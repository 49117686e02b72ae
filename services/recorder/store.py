"""The typed store: one schema (:mod:`services.recorder.schema`), two backends behind one interface.

:class:`SqliteStore` is the embedded default (one file, WAL, ``synchronous=NORMAL``);
:class:`PostgresStore` is the option for teams (psycopg 3; append-only tables go in with ``COPY``).
Both are synchronous and meant to be driven from threads: one writer thread calls :meth:`Store.write`
with a whole batch (one transaction), readers call :meth:`Store.select` on their own connection.
Rows come back as dicts of plain values, normalised so both backends answer identically.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from common.logging import log
from services.recorder.schema import (
    SCHEMA_VERSION,
    TABLE,
    TABLES,
    Dialect,
    Table,
    add_column_sql,
    ddl,
    insert_sql,
    key_index,
    key_index_sql,
)

Rows = dict[str, list[tuple[Any, ...]]]
"""Rows to insert, by table name, each tuple in the table's column order (without ``id``)."""

Cond = tuple[str, str, Any]
"""A filter: (column, operator, value); operators ``= != >= <= > < in prefix suffix``."""

_OPS = {"=", "!=", ">=", "<=", ">", "<"}

_LINK_FILLS = (
    "UPDATE fills SET client_order_id = orders.client_order_id, layer = orders.layer FROM orders"
    " WHERE fills.client_order_id = '' AND fills.venue_order_id <> 0"
    " AND orders.symbol = fills.symbol AND orders.venue_order_id = fills.venue_order_id"
)


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad path, server down, wrong schema version)."""


def _where(conds: Sequence[Cond], ph: str) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for col, op, val in conds:
        if op in _OPS:
            parts.append(f"{col} {op} {ph}")
            args.append(val)
        elif op == "in":
            vals = list(val)
            if not vals:
                parts.append("1 = 0")
                continue
            parts.append(f"{col} IN ({', '.join([ph] * len(vals))})")
            args.extend(vals)
        elif op == "suffix":
            parts.append(f"{col} LIKE {ph}")
            args.append("%" + val)
        elif op == "prefix" and val:
            # A range, so the index serves it: every string starting with p sorts in [p, p').
            parts.append(f"{col} >= {ph} AND {col} < {ph}")
            args.extend([val, val[:-1] + chr(ord(val[-1]) + 1)])
        elif op != "prefix":
            raise ValueError(f"unknown operator {op!r}")
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


class Store(ABC):
    """What every backend offers; SQL is built here once, from the schema, per dialect."""

    dialect: Dialect
    ph: str

    _errors: tuple[type[Exception], ...] = ()
    """The backend's own exception base classes, re-raised as :class:`StoreError`."""

    def __init__(self) -> None:
        self._inserts = {t.name: insert_sql(t, self.ph) for t in TABLES}
        self._local = threading.local()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._w: Any = None

    # ---- backend specifics -------------------------------------------------------------------

    @abstractmethod
    def _connect(self, write: bool) -> Any:
        """A new connection (the writer's or a reader's)."""

    @abstractmethod
    def _write_rows(self, cur: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` into ``table`` inside the current transaction."""

    @abstractmethod
    def _transaction(self, con: Any) -> Any:
        """A context manager: one transaction, committed on exit, rolled back on error."""

    @abstractmethod
    def _index_columns(self, cur: Any, index: str) -> list[str]:
        """The columns of ``index`` in order (empty if there is no such index)."""

    @abstractmethod
    def _table_columns(self, cur: Any, table: str) -> list[str]:
        """The columns ``table`` has in the store."""

    # ---- lifecycle ----------------------------------------------------------------------------

    def open(self) -> Store:
        """Connect the writer, create and migrate the schema (idempotent); refuse a newer version.

        All in one transaction: a store of a newer build is left as it was.
        """
        stmts = ddl(self.dialect)
        tables = [s for s in stmts if s.startswith("CREATE TABLE")]
        with self._tx() as cur:
            for stmt in tables:
                cur.execute(stmt)
            cur.execute(f"SELECT value FROM meta WHERE key = {self.ph}", ("schema_version",))
            row = cur.fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(f"store schema version {row[0]} is newer than this build's {SCHEMA_VERSION}")
            self._migrate_columns(cur)
            for stmt in stmts:
                if stmt not in tables:
                    cur.execute(stmt)
            self._migrate_keys(cur)
            cur.execute(self._inserts["meta"], ("schema_version", str(SCHEMA_VERSION)))
        return self

    def _migrate_columns(self, cur: Any) -> None:
        """Add each :attr:`Table.added` column an older store's table lacks, with its default."""
        for t in TABLES:
            if not t.added:
                continue
            have = set(self._table_columns(cur, t.name))
            for column, default in t.added:
                if column not in have:
                    cur.execute(add_column_sql(self.dialect, t, column, default))
                    log.info("store_column_added", table=t.name, column=column, default=default)

    def _migrate_keys(self, cur: Any) -> None:
        """Re-create each key index whose columns are not its table's key (a store of an older build).

        ``CREATE UNIQUE INDEX IF NOT EXISTS`` keeps an index of the same name whatever its columns,
        and ``ON CONFLICT (key)`` needs an index on exactly the key. Rows unique on the old key are
        unique on a wider one, so the new index always builds; a store already migrated is untouched.
        """
        for t in TABLES:
            if not t.key:
                continue
            old = self._index_columns(cur, key_index(t))
            if old != list(t.key):
                cur.execute(f"DROP INDEX IF EXISTS {key_index(t)}")
                cur.execute(key_index_sql(t))
                log.info("store_key_migrated", table=t.name, old=",".join(old), new=",".join(t.key))

    def close(self) -> None:
        """Close the writer and every reader connection."""
        with self._readers_lock:
            cons, self._readers = [self._w, *self._readers], []
        self._w = None
        for con in cons:
            if con is not None:
                con.close()

    def _reader(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect(write=False)
            with self._readers_lock:
                self._readers.append(con)
        return con

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """A write transaction on the writer connection, reconnecting after a failure.

        Backend errors come out as :class:`StoreError`; the broken connection is dropped so the
        next write starts on a fresh one.
        """
        if self._w is None:
            self._w = self._connect(write=True)
        try:
            with self._transaction(self._w) as cur:
                yield cur
        except self._errors as exc:
            with contextlib.suppress(*self._errors):
                self._w.close()
            self._w = None
            raise StoreError(f"{self.dialect} write failed: {type(exc).__name__}: {exc}") from exc

    # ---- writing (writer thread only) ------------------------------------------------------

    def write(self, rows: Rows, link_fills: bool = False, keep_snapshots: int = 0) -> None:
        """Insert every table's rows in one transaction, in schema order.

        ``link_fills`` fills in the client order id of fills that came without one (venue trade
        history) from the orders table; ``keep_snapshots`` prunes each written service's state
        snapshots to the newest N.
        """
        with self._tx() as cur:
            for t in TABLES:
                batch = rows.get(t.name)
                if batch:
                    self._write_rows(cur, t, batch)
            if link_fills:
                cur.execute(_LINK_FILLS)
            if keep_snapshots:
                for svc in {r[2] for r in rows.get("state_snapshots", ())}:
                    self._prune_snapshots(cur, svc, keep_snapshots)

    def _prune_snapshots(self, cur: Any, service: str, keep: int) -> None:
        ph = self.ph
        cur.execute(
            f"DELETE FROM state_snapshots WHERE service = {ph} AND id NOT IN"
            f" (SELECT id FROM state_snapshots WHERE service = {ph} ORDER BY id DESC LIMIT {ph})",
            (service, service, keep),
        )

    def delete_before(self, table: str, ts_ns: int, chunk: int = 50_000) -> int:
        """Delete up to ``chunk`` rows of ``table`` older than ``ts_ns`` (retention); returns how many."""
        ph = self.ph
        sql = (
            f"DELETE FROM {TABLE[table].name} WHERE id IN"
            f" (SELECT id FROM {table} WHERE ts_event < {ph} ORDER BY id LIMIT {ph})"
        )
        with self._tx() as cur:
            cur.execute(sql, (ts_ns, chunk))
            return int(cur.rowcount or 0)

    # ---- reading (any thread) ---------------------------------------------------------------

    def select(
        self,
        table: str,
        where: Sequence[Cond] = (),
        limit: int | None = None,
        columns: Iterable[str] | None = None,
        order: str = "ts_event",
    ) -> list[dict[str, Any]]:
        """Rows matching ``where``, oldest first; with ``limit``, the newest ``limit`` of them."""
        t = TABLE[table]
        cols = ["id", *t.names] if columns is None else list(columns)
        clause, args = _where(where, self.ph)
        sql = f"SELECT {', '.join(cols)} FROM {t.name}{clause}"
        if limit is None:
            sql += f" ORDER BY {order}, id"
        else:
            sql += f" ORDER BY {order} DESC, id DESC LIMIT {self.ph}"
            args.append(int(limit))
        cur = self._reader().cursor()
        try:
            cur.execute(sql, args)
            raw = cur.fetchall()
        finally:
            cur.close()
        if limit is not None:
            raw.reverse()
        kinds = [t.kind(c) for c in cols]
        return [{c: _norm(k, v) for c, k, v in zip(cols, kinds, r, strict=True)} for r in raw]

    def scalar_rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A raw read (``{ph}`` in ``sql`` becomes the backend's placeholder)."""
        cur = self._reader().cursor()
        try:
            cur.execute(sql.replace("{ph}", self.ph), list(args))
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def count(self, table: str) -> int:
        """Rows in ``table``."""
        return int(self.scalar_rows(f"SELECT COUNT(*) FROM {TABLE[table].name}")[0][0])

    def maxima(self, table: str, column: str, by: str) -> dict[Any, Any]:
        """The largest ``column`` of ``table`` for each value of ``by``."""
        t = TABLE[table]
        kind = t.kind(column)
        t.kind(by)  # an unknown column raises here, never reaches SQL
        rows = self.scalar_rows(f"SELECT {by}, MAX({column}) FROM {t.name} GROUP BY {by}")
        return {k: _norm(kind, v) for k, v in rows}


def _norm(kind: str, value: Any) -> Any:
    if kind == "bool":
        return bool(value)
    if kind == "blob" and value is not None:
        return bytes(value)
    return value


class SqliteStore(Store):
    """One SQLite file in WAL mode: readers never block the writer, a crash loses no committed batch."""

    dialect: Dialect = "sqlite"
    ph = "?"
    _errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__()

    def _connect(self, write: bool) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        return con

    def _transaction(self, con: Any) -> Any:
        return _SqliteTx(con)

    def _index_columns(self, cur: Any, index: str) -> list[str]:
        cur.execute(f"PRAGMA index_info({index})")  # (seqno, cid, name), one row per column
        return [name for _, _, name in sorted(cur.fetchall())]

    def _table_columns(self, cur: Any, table: str) -> list[str]:
        cur.execute(f"PRAGMA table_info({table})")  # (cid, name, type, notnull, default, pk)
        return [r[1] for r in cur.fetchall()]

    def _write_rows(self, cur: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(self._inserts[table.name], rows)


class _SqliteTx:
    """``BEGIN`` … ``COMMIT`` on an autocommit connection, yielding a cursor."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Cursor:
        self.cur = self.con.cursor()
        self.cur.execute("BEGIN")
        return self.cur

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.cur.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        self.cur.close()


class PostgresStore(Store):
    """PostgreSQL through psycopg 3. The DSN carries no password: libpq reads ``PGPASSWORD`` / ``.pgpass``."""

    dialect: Dialect = "postgres"
    ph = "%s"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._errors = (psycopg.Error,)
        self.dsn = dsn
        super().__init__()
        self._copy = {
            t.name: f"COPY {t.name} ({', '.join(t.names)}) FROM STDIN"
            for t in TABLES
            if t.conflict == "append"
        }

    def _connect(self, write: bool) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({_safe_dsn(self.dsn)}): {exc}") from exc

    def _transaction(self, con: Any) -> Any:
        return _PgTx(con)

    def _index_columns(self, cur: Any, index: str) -> list[str]:
        # to_regclass resolves the name through the search path, as DROP INDEX will.
        cur.execute(
            "SELECT a.attname FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indexrelid = to_regclass(%s) ORDER BY k.n",
            (index,),
        )
        return [r[0] for r in cur.fetchall()]

    def _table_columns(self, cur: Any, table: str) -> list[str]:
        # the table the search path resolves the name to, as ALTER TABLE will
        cur.execute(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s)"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (table,),
        )
        return [r[0] for r in cur.fetchall()]

    def _write_rows(self, cur: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        copy = self._copy.get(table.name)
        if copy is None:
            cur.executemany(self._inserts[table.name], rows)
            return
        with cur.copy(copy) as cp:
            for r in rows:
                cp.write_row(r)


class _PgTx:
    """A psycopg transaction block yielding a cursor."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def __enter__(self) -> Any:
        self.tx = self.con.transaction()
        self.tx.__enter__()
        self.cur = self.con.cursor()
        return self.cur

    def __exit__(self, *exc: Any) -> None:
        self.cur.close()
        self.tx.__exit__(*exc)


def _safe_dsn(dsn: str) -> str:
    """The DSN without anything that looks like a password, for error messages."""
    return " ".join(p for p in dsn.split() if not p.lower().startswith("password"))


def open_store(backend: str, sqlite_path: Path, postgres_dsn: str) -> Store:
    """The configured backend, opened (schema created)."""
    if backend == "postgres":
        if not postgres_dsn:
            raise StoreError("recorder.backend = 'postgres' needs recorder.postgres_dsn")
        return PostgresStore(postgres_dsn).open()
    return SqliteStore(sqlite_path).open()
