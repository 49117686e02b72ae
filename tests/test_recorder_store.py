"""The typed store on both backends: same ingest, same answers; dedup, upserts, linking, pruning.

Every test that takes ``store`` runs on SQLite and on a real PostgreSQL server started from the
distribution's binaries (``tests/pg.py``); a machine without them fails these tests, by design.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from common import topics
from common.messages import Account, Balance, Fill, Heartbeat, OrderUpdate, StateSnapshot, TargetQuotes
from services.recorder.catchup import UserTrade, trade_row
from services.recorder.ingest import Ingestor, Sampling
from services.recorder.marks import watermark_row
from services.recorder.persistence import Persistence
from services.recorder.queries import Queries, QueryError
from services.recorder.rows import account_rows, fill_row
from services.recorder.schema import TABLE, ddl, insert_sql, key_index_sql
from services.recorder.store import PostgresStore, SqliteStore, Store, StoreError
from tests.fixtures.recorder_mix import MessageMix, Wire
from tests.pg import PgServer, shared_server

T0 = 1_790_000_000_000_000_000


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with shared_server() as srv:
        yield srv


def _open(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if backend == "sqlite":
        return SqliteStore(tmp_path / f"{backend}.sqlite").open()
    server: PgServer = request.getfixturevalue("pg")
    return PostgresStore(server.fresh_dsn()).open()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    st = _open(request.param, tmp_path, request)
    yield st
    st.close()


def _ingest(store: Store, raws: list[Any], ingestor: Ingestor | None = None, batch: int = 500) -> None:
    ing = ingestor or Ingestor()
    for i in range(0, len(raws), batch):
        out = ing.ingest(raws[i : i + batch])
        store.write(out.rows, link_fills=out.link_fills, keep_snapshots=3 if out.snapshots else 0)


def _fill(trade_id: int, **kw: Any) -> Fill:
    base: dict[str, Any] = {
        "symbol": "ETHUSDC",
        "trade_id": trade_id,
        "client_order_id": "c1",
        "venue_order_id": 77,
        "side": "BUY",
        "price": Decimal("2680.10"),
        "qty": Decimal("0.050"),
        "fee": Decimal("0.0268010"),
        "fee_asset": "USDC",
        "realized_pnl": Decimal("-0.5"),
        "is_maker": True,
        "ts_event": T0 + trade_id,
    }
    return Fill(**{**base, **kw})


def _order(cid: str, state: str, ts: int, **kw: Any) -> OrderUpdate:
    base: dict[str, Any] = {
        "symbol": "ETHUSDC",
        "client_order_id": cid,
        "side": "SELL",
        "price": Decimal("2681"),
        "qty": Decimal("0.05"),
        "state": state,
        "ts_event": ts,
    }
    return OrderUpdate(**{**base, **kw})


QUERIES: list[tuple[str, dict[str, str], int]] = [
    ("events", {}, 100_000),
    ("events", {"topic": "oms.fill."}, 500),
    ("events", {"topic": "md.book.ETHUSDC", "since_ns": str(T0 + 10**10)}, 300),
    ("events", {"type": "RiskEvent"}, 50),
    ("events", {"symbol": "btcusdc", "type": "Trade"}, 100),
    ("orders", {}, 100_000),
    ("orders", {"open": "true", "symbol": "ETHUSDC"}, 100),
    ("orders", {"side": "sell", "state": "Canceled"}, 100),
    ("order_events", {}, 100_000),
    ("order_events", {"state": "New", "until_ns": str(T0 + 3 * 10**10)}, 1000),
    ("fills", {}, 100_000),
    ("fills", {"symbol": "BTCUSDC", "side": "BUY"}, 10),
    ("positions", {}, 100_000),
    ("account", {}, 1000),
    ("targets", {"origin": "risk"}, 100_000),
    ("targets", {"symbol": "ETHUSDC", "origin": "strategy"}, 20),
    ("risk_events", {}, 1000),
    ("commands", {"ok": "false"}, 1000),
    ("commands", {}, 1000),
    ("status", {"state": "degraded"}, 100),
    ("market", {"symbol": "ETHUSDC"}, 100_000),
    ("snapshots", {"service": "strategy"}, 10),
]


def test_sqlite_and_postgres_give_identical_answers_to_every_query(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    raws = Wire().many(MessageMix(t0_ns=T0).take(20_000))
    answers = []
    for backend in ("sqlite", "postgres"):
        st = _open(backend, tmp_path, request)
        try:
            _ingest(st, raws, Ingestor(Sampling(events_everything=True)))  # every query has rows
            q = Queries(st)
            answers.append([q.run(kind, f, limit) for kind, f, limit in QUERIES])
        finally:
            st.close()
    lite, post = answers
    for (kind, f, _), a, b in zip(QUERIES, lite, post, strict=True):
        assert a == b, f"{kind} {f} differs between SQLite and PostgreSQL"
    by = {(k, tuple(sorted(f.items()))): rows for (k, f, _), rows in zip(QUERIES, lite, strict=True)}
    assert len(by[("events", ())]) == 20_000
    assert all(
        r["topic"].endswith("BTCUSDC") for r in by[("events", (("symbol", "btcusdc"), ("type", "Trade")))]
    )
    assert all(
        r["state"] in ("PendingNew", "New", "PartiallyFilled")
        for r in by[("orders", (("open", "true"), ("symbol", "ETHUSDC")))]
    )
    assert {len(a) > 0 for a in lite} == {True}, "every query should find rows in the mix"


def test_a_fill_inserted_twice_is_stored_once(store: Store) -> None:
    f = _fill(5)
    store.write({"fills": [fill_row(f, T0, "bus")]})
    store.write({"fills": [fill_row(f, T0 + 1, "bus"), fill_row(f, T0 + 2, "gateway")]})
    rows = Queries(store).run("fills", {}, 10)
    assert len(rows) == 1
    assert (rows[0]["price"], rows[0]["qty"], rows[0]["fee"], rows[0]["realized_pnl"]) == (
        "2680.1",
        "0.05",
        "0.026801",
        "-0.5",
    )
    assert rows[0]["source"] == "bus" and rows[0]["ts_recv"] == T0


def _venue_leg(f: Fill) -> UserTrade:
    """The venue's trade-history row of our fill ``f``."""
    return UserTrade(
        symbol=f.symbol,
        id=f.trade_id,
        orderId=f.venue_order_id,
        side=f.side,
        price=Decimal(str(f.price)),
        qty=Decimal(str(f.qty)),
        commission=Decimal(str(f.fee)),
        commissionAsset=f.fee_asset,
        realizedPnl=Decimal(str(f.realized_pnl)),
        maker=f.is_maker,
        time=f.ts_event // 1_000_000,
    )


def test_both_legs_of_a_self_trade_are_stored_and_each_only_once(store: Store) -> None:
    buy = _fill(6, client_order_id="mm-b", venue_order_id=70)
    sell = _fill(6, client_order_id="mm-s", venue_order_id=71, side="SELL", is_maker=False)
    wire = Wire()
    _ingest(store, [wire.raw(topics.oms_fill("ETHUSDC"), "gateway", f) for f in (buy, sell)])
    # The same two fills again, from the venue's trade history (catch-up): nothing new.
    store.write({"fills": [trade_row(_venue_leg(buy), T0 + 1), trade_row(_venue_leg(sell), T0 + 1)]})
    rows = Queries(store).run("fills", {}, 10)
    assert [(r["trade_id"], r["side"], r["client_order_id"], r["source"]) for r in rows] == [
        (6, "BUY", "mm-b", "bus"),
        (6, "SELL", "mm-s", "bus"),
    ]


def _raw_store(backend: str, path: Path, request: pytest.FixtureRequest) -> tuple[Any, Callable[[], Store]]:
    """An empty database of ``backend`` (SQLite at ``path``, or a fresh PostgreSQL database): a raw
    autocommit connection to build an older build's store in, and how to open it with this build."""
    if backend == "sqlite":
        return sqlite3.connect(path, isolation_level=None), functools.partial(SqliteStore, path)
    dsn = request.getfixturevalue("pg").fresh_dsn()
    return psycopg.connect(dsn, autocommit=True), functools.partial(PostgresStore, dsn)


def _old_fills_key_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Store]:
    """A store as builds before schema version 2 made it (fills unique on symbol and trade id),
    holding one fill; returns how to open it with this build."""
    fills = TABLE["fills"]
    old = dataclasses.replace(fills, key=("symbol", "trade_id"))
    con, factory = _raw_store(backend, tmp_path / "old.sqlite", request)
    ph = factory().ph
    with contextlib.closing(con):
        for stmt in ddl(factory().dialect):
            con.execute(key_index_sql(old) if stmt == key_index_sql(fills) else stmt)
        con.execute(insert_sql(TABLE["meta"], ph), ("schema_version", "1"))
        con.execute(insert_sql(old, ph), fill_row(_fill(6), T0, "bus"))
        # Unmigrated, this build's insert has no unique index to resolve its conflicts on.
        with pytest.raises((sqlite3.Error, psycopg.Error), match=r"(?i)on conflict"):
            con.execute(insert_sql(fills, ph), fill_row(_fill(6, side="SELL"), T0, "bus"))
    return factory


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_with_the_old_fills_key_is_migrated_on_open_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    factory = _old_fills_key_store(backend, tmp_path, request)
    st = factory().open()
    try:
        st.write(
            {"fills": [fill_row(_fill(6, side="SELL"), T0 + 1, "bus"), fill_row(_fill(6), T0 + 2, "bus")]}
        )
        assert [(r["side"], r["ts_recv"]) for r in Queries(st).run("fills", {}, 10)] == [
            ("BUY", T0),
            ("SELL", T0 + 1),
        ]
        assert st.select("meta", [("key", "=", "schema_version")], order="key")[0]["value"] == "3"
    finally:
        st.close()
    again = factory().open()
    try:
        again.write({"fills": [fill_row(_fill(6, side="SELL"), T0 + 3, "venue")]})
        assert len(Queries(again).run("fills", {}, 10)) == 2, "opened again: same key, same rows"
    finally:
        again.close()


def test_a_store_of_a_newer_build_is_refused_and_not_migrated(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _old_fills_key_store("sqlite", tmp_path, request)  # a key this build would migrate
    newer = SqliteStore(tmp_path / "old.sqlite")
    with contextlib.closing(sqlite3.connect(newer.path, isolation_level=None)) as con:
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 4 is newer than this build's 3"):
        newer.open()
    newer.close()
    with contextlib.closing(sqlite3.connect(newer.path)) as con:
        assert [r[2] for r in con.execute("PRAGMA index_info(fills_key)")] == ["symbol", "trade_id"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_version_2_store_gains_the_account_and_market_of_its_balances_on_open(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Version 2's account_snapshots had neither column (its rows came from every gateway, spot's
    too: account and market unknown); a spot wallet's rows are told apart once migrated."""
    con, factory = _raw_store(backend, tmp_path / "v2.sqlite", request)
    ph = factory().ph
    with contextlib.closing(con):
        for stmt in ddl(factory().dialect):
            v2 = stmt
            if stmt.startswith("CREATE TABLE IF NOT EXISTS account_snapshots "):
                v2 = stmt.replace(", account TEXT", ", -").split(", -")[0] + ")"
                assert "reason" in v2 and "market" not in v2, v2
            con.execute(v2)
        con.execute(insert_sql(TABLE["meta"], ph), ("schema_version", "2"))
        con.execute(
            "INSERT INTO account_snapshots (ts_event, ts_recv, asset, wallet, available, unrealized_pnl,"
            f" margin_balance, maint_margin, initial_margin, reason) VALUES ({', '.join([ph] * 10)})",
            (T0, T0, "USDC", "10000", "9000", "0", "10000", "12.5", "300", "ORDER"),
        )
    st = factory().open()
    try:
        spot = Account(
            ts_event=T0 + 1, balances=[Balance(asset="ETH", wallet=Decimal("20.5"))], market="spot"
        )
        st.write({"account_snapshots": account_rows(spot, T0 + 1)})
        q = Queries(st)
        assert [(r["asset"], r["account"], r["market"], r["wallet"]) for r in q.run("account", {}, 10)] == [
            ("USDC", "", "", "10000"),  # an older store's rows: any gateway's, unknown
            ("ETH", "main", "spot", "20.5"),
        ]
        assert [r["asset"] for r in q.run("account", {"market": "spot"}, 10)] == ["ETH"]
    finally:
        st.close()
    factory().open().close()  # opened again: nothing left to add


def test_a_provisional_fill_is_completed_once_and_a_complete_fill_never_changes(store: Store) -> None:
    lite = _fill(9, fee=Decimal(0), fee_asset="", realized_pnl=Decimal(0))  # a fill from TRADE_LITE
    store.write({"fills": [fill_row(lite, T0, "bus")]})
    store.write({"fills": [fill_row(_fill(9), T0 + 1, "venue")]})
    store.write({"fills": [fill_row(_fill(9, fee=Decimal(1), realized_pnl=Decimal(7)), T0 + 2, "gateway")]})
    (f,) = Queries(store).run("fills", {}, 10)
    assert (f["fee"], f["fee_asset"], f["realized_pnl"], f["source"]) == ("0.026801", "USDC", "-0.5", "venue")
    assert (f["client_order_id"], f["ts_recv"]) == ("c1", T0), "the rest of the first row stays"


def test_the_orders_table_keeps_the_newest_state_and_the_creation_time(store: Store) -> None:
    wire = Wire()
    msgs = [
        _order("a", "PendingNew", T0 + 10),
        _order("a", "New", T0 + 20, venue_order_id=9),
        _order("a", "PartiallyFilled", T0 + 30, venue_order_id=9, filled_qty=Decimal("0.02")),
        _order("a", "New", T0 + 15),  # late, out of order: must not win
    ]
    _ingest(store, [wire.raw(topics.oms_order("ETHUSDC"), "gateway", m) for m in msgs])
    (o,) = Queries(store).run("orders", {}, 10)
    assert (o["state"], o["filled_qty"], o["created_ns"], o["ts_event"]) == (
        "PartiallyFilled",
        "0.02",
        T0 + 10,
        T0 + 30,
    )
    events = Queries(store).run("order_events", {"client_order_id": "a"}, 10)
    assert [e["state"] for e in events] == ["PendingNew", "New", "New", "PartiallyFilled"]


def test_a_fill_without_client_order_id_is_linked_from_the_orders_table(store: Store) -> None:
    store.write({"fills": [fill_row(_fill(8, client_order_id="", venue_order_id=42), T0, "venue")]})
    wire = Wire()
    _ingest(
        store,
        [
            wire.raw(
                topics.oms_order("ETHUSDC"),
                "gateway",
                _order("mm-7", "New", T0 + 5, venue_order_id=42, layer=2),
            )
        ],
    )
    (f,) = Queries(store).run("fills", {}, 10)
    assert (f["client_order_id"], f["layer"]) == ("mm-7", 2)


def test_state_snapshots_keep_only_the_newest_per_service(store: Store) -> None:
    wire = Wire()
    snaps = [
        wire.raw(topics.state(svc), svc, StateSnapshot(service=svc, payload=bytes([i]) * 10, ts_event=T0 + i))
        for i in range(8)
        for svc in ("strategy", "risk")
    ]
    _ingest(store, snaps, batch=2)
    rows = Queries(store).run("snapshots", {"service": "strategy"}, 100)
    assert [r["ts_event"] for r in rows] == [T0 + 5, T0 + 6, T0 + 7]
    assert "payload" not in rows[0]
    newest = store.select("state_snapshots", [("service", "=", "risk")], limit=1)[0]
    assert newest["payload"] == bytes([7]) * 10


def test_a_strategy_snapshot_without_band_kpis_is_stored_and_counted_not_dropped(tmp_path: Path) -> None:
    """A payload this build cannot read (not msgpack; msgpack but not a map of symbols) gives no
    band_kpis row, is stored all the same, and is counted by reason; a readable one gives its row."""
    from services.recorder.persistence import UNREADABLE, Persistence
    from services.strategy.kpi import BandKpi
    from services.strategy.state import StrategyState

    wire = Wire()
    good = msgspec.msgpack.encode({"ETHUSDT": StrategyState(kpi=BandKpi(observed_ns=10, in_band_ns=10))})
    payloads = [b"\xc1", msgspec.msgpack.encode([1, 2]), good]
    raws = [
        wire.raw(
            topics.state("strategy"),
            "strategy",
            StateSnapshot(service="strategy", payload=p, ts_event=T0 + i),
        )
        for i, p in enumerate(payloads)
    ]
    before = UNREADABLE.labels("band_snapshot")._value.get()
    p = Persistence(lambda: SqliteStore(tmp_path / "s.sqlite").open(), Ingestor(), None, 5)
    p.open()
    try:
        out = p.apply(raws)
        assert [e.split(":")[0] for e in out.bad_snapshots] == [
            "strategy snapshot payload is not msgpack",
            "strategy snapshot payload is a list, not a map of symbols",
        ]
        assert p.stats.bad_snapshots == 2
        assert UNREADABLE.labels("band_snapshot")._value.get() - before == 2
        assert p.store is not None
        assert len(p.store.select("state_snapshots", [("service", "=", "strategy")], limit=10)) == 3
        assert [r["symbol"] for r in p.store.select("band_kpis", [], limit=10)] == ["ETHUSDT"]
    finally:
        p.close()


def test_an_unchanged_target_is_stored_once_per_sample_interval(store: Store) -> None:
    wire = Wire()
    t = TargetQuotes(symbol="ETHUSDC", target_id=1, quotes=[], origin="risk", ts_event=T0)
    msgs = [
        wire.raw(
            topics.risk_target("ETHUSDC"),
            "risk",
            TargetQuotes(**{**_target_fields(t), "target_id": i, "ts_event": T0 + i * 10**9}),
        )
        for i in range(12)
    ]
    _ingest(store, msgs, Ingestor(Sampling(target_s=5.0)))
    rows = Queries(store).run("targets", {}, 100)
    assert [r["target_id"] for r in rows] == [0, 5, 10]
    assert [r["skipped"] for r in rows] == [0, 4, 4]


def _target_fields(t: TargetQuotes) -> dict[str, Any]:
    return {f: getattr(t, f) for f in t.__struct_fields__}


def test_retention_deletes_old_raw_events_in_chunks(store: Store) -> None:
    wire = Wire()
    beats = [
        wire.raw(
            topics.sys_heartbeat("risk"),
            "risk",
            Heartbeat(service="risk", pid=1, version="0", started_ns=0, ts_event=T0 + i),
        )
        for i in range(250)
    ]
    _ingest(store, beats)
    deleted = []
    while n := store.delete_before("events", T0 + 200, chunk=60):
        deleted.append(n)
    assert deleted == [60, 60, 60, 20]
    assert [r["ts_event"] for r in Queries(store).run("events", {}, 1000)] == list(range(T0 + 200, T0 + 250))


def test_fill_marks_give_each_symbols_venue_watermark_and_highest_stored_trade_id(store: Store) -> None:
    q = Queries(store)
    assert q.run("fill_marks", {}, 10) == []
    eth = [fill_row(_fill(i), T0, "bus") for i in (3, 9, 4)]
    btc = [fill_row(_fill(i, symbol="BTCUSDC"), T0, "venue") for i in (70, 71)]
    marks = [watermark_row("ETHUSDC", 4), watermark_row("XRPUSDC", 12)]  # XRP: a mark, no fills
    store.write({"fills": eth + btc, "meta": marks})
    assert q.run("fill_marks", {}, 1000) == [
        {"symbol": "BTCUSDC", "venue_mark": None, "max_trade_id": 71},
        {"symbol": "ETHUSDC", "venue_mark": 4, "max_trade_id": 9},
        {"symbol": "XRPUSDC", "venue_mark": 12, "max_trade_id": None},
    ]
    assert q.run("fill_marks", {"symbol": "ethusdc"}, 1) == [
        {"symbol": "ETHUSDC", "venue_mark": 4, "max_trade_id": 9}
    ]
    with pytest.raises(QueryError, match="unknown filter 'since_ns' for fill_marks; known: symbol"):
        q.run("fill_marks", {"since_ns": "0"}, 10)
    with pytest.raises(QueryError, match="fill_marks has 3 symbols, more than limit 2"):
        q.run("fill_marks", {}, 2)


def test_fills_after_a_trade_id_are_every_stored_fill_of_the_symbol_above_it(store: Store) -> None:
    legs = [_fill(5, side=side, ts_event=T0 + 50) for side in ("BUY", "SELL")]  # a self-trade
    eth = [_fill(i) for i in (2, 3, 4, 6, 7)] + legs
    btc = [_fill(i, symbol="BTCUSDC") for i in (4, 8)]
    store.write({"fills": [fill_row(f, T0, "bus") for f in eth + btc]})
    q = Queries(store)
    above = q.run("fills", {"symbol": "ETHUSDC", "after_trade_id": "4"}, 100_000)
    assert [(r["trade_id"], r["side"]) for r in above] == [(6, "BUY"), (7, "BUY"), (5, "BUY"), (5, "SELL")]
    every = q.run("fills", {"symbol": "ETHUSDC"}, 100_000)
    assert above == [r for r in every if r["trade_id"] > 4], "the rows of the fills query, same shape"
    assert q.run("fills", {"symbol": "ETHUSDC", "after_trade_id": "7"}, 10) == []
    assert len(q.run("fills", {"symbol": "ETHUSDC", "after_trade_id": "-1"}, 10)) == 7
    for bad in ("abc", "4.5", "0x10"):
        with pytest.raises(QueryError, match=f"filter after_trade_id must be an integer .*got '{bad}'"):
            q.run("fills", {"symbol": "ETHUSDC", "after_trade_id": bad}, 10)


def test_a_bad_query_is_refused_with_a_message_naming_it(store: Store) -> None:
    q = Queries(store)
    with pytest.raises(QueryError, match="unknown filter 'colour' for fills"):
        q.run("fills", {"colour": "red"}, 10)
    with pytest.raises(QueryError, match="unknown query kind 'trades'"):
        q.run("trades", {}, 10)
    with pytest.raises(QueryError, match="since_ns must be an integer"):
        q.run("orders", {"since_ns": "yesterday"}, 10)
    with pytest.raises(QueryError, match="side must be BUY or SELL"):
        q.run("fills", {"side": "LONG"}, 10)
    with pytest.raises(QueryError, match="limit must be between"):
        q.run("fills", {}, 0)


class _FlakyStore(SqliteStore):
    """Fails the next ``fail`` writes, as a full disk or a dropped database connection would."""

    fail = 0

    def write(self, rows: Any, link_fills: bool = False, keep_snapshots: int = 0) -> None:
        if self.fail:
            self.fail -= 1
            raise StoreError("disk full")
        super().write(rows, link_fills, keep_snapshots)


def test_a_batch_whose_write_failed_is_written_before_the_next(tmp_path: Path) -> None:
    st = _FlakyStore(tmp_path / "f.sqlite")
    p = Persistence(lambda: st.open(), Ingestor(), None, 3)
    p.open()
    wire = Wire()
    first = [wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _fill(1))]
    second = [wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _fill(2))]
    st.fail = 1
    with pytest.raises(StoreError):
        p.apply(first)
    assert p.has_pending
    p.apply(second)
    assert [r["trade_id"] for r in Queries(st).run("fills", {}, 10)] == [1, 2]
    assert not p.has_pending
    p.close()


def test_market_data_and_targets_are_kept_elsewhere_and_the_events_table_keeps_the_rest() -> None:
    """By default a book, features, trade or mark message makes no events row (the lake keeps it),
    nor does a target (the targets table keeps its changes); every other message does."""
    raws = Wire().many(MessageMix(t0_ns=T0).take(3_000))
    elsewhere = ("md.book.", "md.features.", "md.trade.", "md.mark.", "strategy.target.", "risk.target.")
    out = Ingestor().ingest(raws)
    kept = [r[1] for r in out.rows["events"]]
    sent = [r[1] for r in raws]
    assert kept == [t for t in sent if not t.startswith(elsewhere)]
    assert any(t.startswith(elsewhere[:4]) for t in sent) and len(out.lake) > 0
    assert any(t.startswith(elsewhere[4:]) for t in sent) and out.rows["targets"]
    everything = Ingestor(Sampling(events_everything=True)).ingest(raws)
    assert [r[1] for r in everything.rows["events"]] == sent
