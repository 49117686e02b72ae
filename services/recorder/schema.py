"""The persistence schema, declared once and rendered for SQLite and PostgreSQL.

Every table has a surrogate ``id`` (insertion order, the tie-breaker of every query) and the
columns below. Prices, quantities, fees and PnL are exact: ``dec`` columns hold the canonical text
of a ``Decimal`` (see :func:`dec_text`) on both backends, so the two give identical answers and
nothing is rounded through a float. ``bool`` is INTEGER 0/1 in SQLite and BOOLEAN in PostgreSQL;
readers normalise it. Text compares byte-wise on both (``COLLATE "C"`` in PostgreSQL), so range
scans on topics and ordering agree.

The schema grows only by new tables and new columns with defaults (:attr:`Table.added`: the store
adds them to an older store's table on open); ``SCHEMA_VERSION`` records it.
The one exception is a natural key that proved wrong: the store re-creates a table's key index when
its columns differ from :attr:`Table.key` (see ``Store.open``). Version 2 widened the fills key to
(symbol, trade id, side), since a self-trade gives our two orders one trade id. Version 3 gave
``account_snapshots`` the account and market of each balance (several accounts, spot beside futures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

SCHEMA_VERSION = 3

ColumnKind = Literal["int", "text", "dec", "bool", "float", "blob", "json"]
Dialect = Literal["sqlite", "postgres"]
Conflict = Literal["append", "ignore", "upsert"]


@dataclass(frozen=True)
class Index:
    """A secondary index; ``where`` makes it partial (both backends support the same syntax)."""

    columns: tuple[str, ...]
    where: str = ""
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """One table: its columns in insert order, its natural key and how a second insert behaves.

    ``conflict`` is ``append`` (no natural key), ``ignore`` (``ON CONFLICT (key) DO NOTHING``) or
    ``upsert`` (the newer row wins by ``ts_event``; ``keep`` columns are never overwritten).
    An ``ignore`` table may name ``complete`` columns that a second insert fills in where the stored
    row is provisional (``provisional`` is true of it and false of the new one); any other second
    insert, and every identical one, changes nothing.
    """

    name: str
    columns: tuple[tuple[str, ColumnKind], ...]
    key: tuple[str, ...] = ()
    conflict: Conflict = "append"
    keep: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = field(default=())
    complete: tuple[str, ...] = ()
    provisional: str = ""
    added: tuple[tuple[str, str], ...] = ()
    """Columns added after the table first shipped, each with the SQL default its older rows get."""

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in insert order (without ``id``)."""
        return tuple(c for c, _ in self.columns)

    def kind(self, column: str) -> ColumnKind:
        """The kind of one column (``id`` is ``int``)."""
        for c, k in self.columns:
            if c == column:
                return k
        if column == "id":
            return "int"
        raise KeyError(f"{self.name} has no column {column!r}")


def dec_text(value: Decimal | str | int) -> str:
    """The canonical text of an exact number: no exponent, no trailing zeros, ``0`` for any zero."""
    d = value if isinstance(value, Decimal) else Decimal(value)
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


_ORDER_COLS: tuple[tuple[str, ColumnKind], ...] = (
    ("venue_order_id", "int"),
    ("side", "text"),
    ("price", "dec"),
    ("qty", "dec"),
    ("filled_qty", "dec"),
    ("avg_price", "dec"),
    ("state", "text"),
    ("layer", "int"),
    ("time_in_force", "text"),
    ("reduce_only", "bool"),
    ("reason", "text"),
    ("error_code", "int"),
)

BAND_COUNTERS = ("observed_ns", "in_band_ns", "two_sided_ns", "orders", "orders_min_value", "fills",
                 "responses", "responses_in_time")  # fmt: skip
"""The passive band's KPI counters (``services.strategy.kpi.BandKpi``), stored from the strategy's
state snapshots for the session report."""

TABLES: tuple[Table, ...] = (
    Table("meta", (("key", "text"), ("value", "text")), key=("key",), conflict="upsert"),
    Table(
        "sessions",
        (
            ("session_id", "text"),
            ("started_ns", "int"),
            ("ended_ns", "int"),
            ("last_seen_ns", "int"),
            ("host", "text"),
            ("profile", "text"),
            ("pid", "int"),
        ),
        key=("session_id",),
        conflict="upsert",
        keep=("started_ns", "host", "profile"),
        indexes=(Index(("started_ns",)),),
    ),
    Table(
        "events",
        (
            ("ts_recv", "int"),
            ("topic", "text"),
            ("source", "text"),
            ("epoch", "int"),
            ("seq", "int"),
            ("ts_event", "int"),
            ("type", "text"),
            ("payload", "blob"),
        ),
        indexes=(Index(("topic", "ts_event")), Index(("ts_event",))),
    ),
    Table(
        "orders",
        (
            ("symbol", "text"),
            ("client_order_id", "text"),
            *_ORDER_COLS,
            ("created_ns", "int"),
            ("ts_event", "int"),
        ),
        key=("symbol", "client_order_id"),
        conflict="upsert",
        keep=("created_ns",),
        indexes=(Index(("ts_event",)), Index(("created_ns",)), Index(("symbol", "venue_order_id"))),
    ),
    Table(
        "order_events",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("symbol", "text"),
            ("client_order_id", "text"),
            *_ORDER_COLS,
            ("source", "text"),
        ),
        key=("symbol", "client_order_id", "ts_event", "state", "filled_qty"),
        conflict="ignore",
        indexes=(Index(("ts_event",)), Index(("state", "ts_event"))),
    ),
    Table(
        "fills",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("symbol", "text"),
            ("trade_id", "int"),
            ("client_order_id", "text"),
            ("venue_order_id", "int"),
            ("side", "text"),
            ("price", "dec"),
            ("qty", "dec"),
            ("fee", "dec"),
            ("fee_asset", "text"),
            ("realized_pnl", "dec"),
            ("is_maker", "bool"),
            ("layer", "int"),
            ("source", "text"),
        ),
        # Binance gives both legs of a self-trade (our BUY and our SELL) the same trade id.
        key=("symbol", "trade_id", "side"),
        conflict="ignore",
        # A fill without a fee asset is provisional: from TRADE_LITE (no fee, no realized PnL) or
        # from an ORDER_TRADE_UPDATE of a zero-commission trade (Binance omits "N"). The venue's
        # trade history completes it; a complete fill is never changed again.
        complete=("fee", "fee_asset", "realized_pnl", "source"),
        provisional="{t}.fee_asset = '' AND excluded.fee_asset <> ''",
        indexes=(
            Index(("ts_event",)),
            Index(("symbol", "venue_order_id"), where="client_order_id = ''"),
        ),
    ),
    Table(
        "positions",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("symbol", "text"),
            ("qty", "dec"),
            ("entry_price", "dec"),
            ("unrealized_pnl", "dec"),
            ("mark_price", "dec"),
            ("realized_pnl", "dec"),
            ("fees", "dec"),
            ("funding", "dec"),
            ("source", "text"),
        ),
        indexes=(Index(("ts_event",)), Index(("symbol", "ts_event"))),
    ),
    Table(
        "account_snapshots",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("asset", "text"),
            ("wallet", "dec"),
            ("available", "dec"),
            ("unrealized_pnl", "dec"),
            ("margin_balance", "dec"),
            ("maint_margin", "dec"),
            ("initial_margin", "dec"),
            ("reason", "text"),
            ("account", "text"),
            ("market", "text"),
        ),
        indexes=(Index(("ts_event",)),),
        # rows of an older store are unknown: it held every gateway's balances, spot's included
        added=(("account", "''"), ("market", "''")),
    ),
    Table(
        "targets",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("symbol", "text"),
            ("origin", "text"),
            ("target_id", "int"),
            ("source_target_id", "int"),
            ("mode", "text"),
            ("n_quotes", "int"),
            ("best_bid", "dec"),
            ("best_ask", "dec"),
            ("quotes", "json"),
            ("clipped", "json"),
            ("model", "text"),
            ("params_version", "text"),
            ("inputs", "json"),
            ("flags", "json"),
            ("skipped", "int"),
        ),
        indexes=(Index(("ts_event",)), Index(("symbol", "origin", "ts_event"))),
    ),
    Table(
        "risk_events",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("rule", "text"),
            ("action", "text"),
            ("symbol", "text"),
            ("from_mode", "text"),
            ("to_mode", "text"),
            ("reason", "text"),
            ("figures", "json"),
        ),
        indexes=(Index(("ts_event",)),),
    ),
    Table(
        "commands",
        (
            ("ts_event", "int"),
            ("ts_recv", "int"),
            ("service", "text"),
            ("request_id", "text"),
            ("sender", "text"),
            ("command", "text"),
            ("ok", "bool"),
            ("error", "text"),
            ("args", "json"),
        ),
        key=("service", "request_id"),
        conflict="ignore",
        indexes=(Index(("ts_event",)),),
    ),
    Table(
        "service_status",
        (("ts_event", "int"), ("ts_recv", "int"), ("service", "text"), ("state", "text"), ("reason", "text")),
        indexes=(Index(("ts_event",)),),
    ),
    Table(
        "state_snapshots",
        (("ts_event", "int"), ("ts_recv", "int"), ("service", "text"), ("payload", "blob")),
        indexes=(Index(("service", "ts_event")),),
    ),
    Table(
        "band_kpis",
        (
            ("ts_event", "int"),
            ("symbol", "text"),
            *((name, "int") for name in BAND_COUNTERS),
            ("response_max_ns", "int"),
        ),
        indexes=(Index(("symbol", "ts_event")),),
    ),
    Table(
        "market_samples",
        (
            ("ts_event", "int"),
            ("symbol", "text"),
            ("best_bid", "float"),
            ("best_ask", "float"),
            ("mid", "float"),
            ("spread_bps", "float"),
            ("mark_price", "float"),
        ),
        indexes=(Index(("ts_event",)), Index(("symbol", "ts_event"))),
    ),
)

TABLE: dict[str, Table] = {t.name: t for t in TABLES}

_TYPES: dict[Dialect, dict[ColumnKind, str]] = {
    "sqlite": {
        "int": "INTEGER",
        "text": "TEXT",
        "dec": "TEXT",
        "json": "TEXT",
        "bool": "INTEGER",
        "float": "REAL",
        "blob": "BLOB",
    },
    "postgres": {
        "int": "BIGINT",
        "text": 'TEXT COLLATE "C"',
        "dec": 'TEXT COLLATE "C"',
        "json": "TEXT",
        "bool": "BOOLEAN",
        "float": "DOUBLE PRECISION",
        "blob": "BYTEA",
    },
}

_ID = {
    "sqlite": "id INTEGER PRIMARY KEY",
    "postgres": "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
}


def key_index(table: Table) -> str:
    """The name of ``table``'s unique index on its natural key."""
    return f"{table.name}_key"


def key_index_sql(table: Table) -> str:
    """The ``CREATE UNIQUE INDEX`` of ``table``'s natural key (idempotent)."""
    return f"CREATE UNIQUE INDEX IF NOT EXISTS {key_index(table)} ON {table.name} ({', '.join(table.key)})"


def ddl(dialect: Dialect) -> list[str]:
    """Every ``CREATE TABLE`` and ``CREATE INDEX`` statement, idempotent (``IF NOT EXISTS``)."""
    out: list[str] = []
    types = _TYPES[dialect]
    for t in TABLES:
        cols = [_ID[dialect]] + [f"{c} {types[k]} NOT NULL" for c, k in t.columns]
        out.append(f"CREATE TABLE IF NOT EXISTS {t.name} ({', '.join(cols)})")
        if t.key:
            out.append(key_index_sql(t))
        for ix in t.indexes:
            name = f"{t.name}_{'_'.join(ix.columns)}{'_p' if ix.where else ''}"
            where = f" WHERE {ix.where}" if ix.where else ""
            unique = "UNIQUE " if ix.unique else ""
            out.append(
                f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {t.name} ({', '.join(ix.columns)}){where}"
            )
    return out


def add_column_sql(dialect: Dialect, table: Table, column: str, default: str) -> str:
    """The ``ALTER TABLE`` that gives an older store's ``table`` one of its :attr:`Table.added`."""
    kind = dict(table.columns)[column]
    return f"ALTER TABLE {table.name} ADD COLUMN {column} {_TYPES[dialect][kind]} NOT NULL DEFAULT {default}"


def insert_sql(table: Table, placeholder: str) -> str:
    """The insert statement of ``table`` with its conflict rule, for ``executemany``."""
    cols = table.names
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([placeholder] * len(cols))})"
    if table.conflict == "ignore" and table.complete:
        fill_in = ", ".join(f"{c} = excluded.{c}" for c in table.complete)
        when = table.provisional.format(t=table.name)
        return f"{sql} ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {fill_in} WHERE {when}"
    if table.conflict == "ignore":
        return f"{sql} ON CONFLICT ({', '.join(table.key)}) DO NOTHING"
    if table.conflict == "upsert":
        sets = [f"{c} = excluded.{c}" for c in cols if c not in table.key and c not in table.keep]
        newer = f" WHERE excluded.ts_event >= {table.name}.ts_event" if "ts_event" in cols else ""
        return f"{sql} ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {', '.join(sets)}{newer}"
    return sql
