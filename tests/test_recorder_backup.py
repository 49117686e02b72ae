"""Backup and restore (seed 004): the store and the lake saved while the recorder writes, put back
into an empty run directory, where a recorder started on it answers ``mmctl fills`` with the same
history; PostgreSQL through pg_dump / pg_restore."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.config import load_settings
from services.recorder.backup import BackupError, backup, restore
from services.recorder.queries import Queries
from services.recorder.store import PostgresStore, SqliteStore, Store
from tests.fixtures.recorder_mix import MessageMix, Wire
from tests.helpers import wait_until
from tests.pg import PgServer, shared_server
from tests.test_recorder_service import Recorder, _mmctl, answers
from tests.test_recorder_store import _ingest

S = 1_000_000_000


def _fill_store(store: Store, t0: int, n: int) -> None:
    """``n`` messages of the message mix from ``t0``, stored as the recorder stores them."""
    _ingest(store, Wire().many(MessageMix(t0_ns=t0).take(n)))


def _lake_part(lake: Path, name: str) -> None:
    d = lake / "dataset=trade" / "symbol=ETHUSDC" / "date=2026-11-27"
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"ts_event": [1, 2, 3], "price": [1.0, 2.0, 3.0]}), d / name)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with shared_server() as srv:
        yield srv


def _database(pg: PgServer) -> str:
    """A new empty database on the shared server (pg_dump and pg_restore work per database)."""
    import uuid

    import psycopg

    name = f"bk_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return pg.dsn.replace("dbname=postgres", f"dbname={name}")


def test_a_backup_taken_while_writing_restores_into_an_empty_run_dir_with_the_same_fills(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    store = SqliteStore(settings.run_path / settings.recorder.db_path).open()
    t0 = time.time_ns() - 600 * S
    _fill_store(store, t0, 6000)
    lake = settings.run_path / settings.recorder.lake_dir
    _lake_part(lake, "part-1.parquet")
    (lake / "dataset=trade" / "symbol=ETHUSDC" / "date=2026-11-27" / "part-2.tmp").write_bytes(b"half")
    # a writer goes on while the backup runs: the backup is one consistent snapshot of it
    stop = threading.Event()

    def write() -> None:
        t = t0 + 700 * S
        while not stop.is_set():
            _fill_store(store, t, 200)
            t += 10 * S

    writer = threading.Thread(target=write)
    writer.start()
    try:
        dest = tmp_path / "backup"
        assert _mmctl("backup", str(dest)) == 0
    finally:
        stop.set()
        writer.join()
    manifest = json.loads((dest / "manifest.json").read_text())
    con = sqlite3.connect(dest / "recorder.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    saved_fills = [r[0] for r in con.execute("SELECT trade_id FROM fills ORDER BY ts_event, trade_id")]
    con.close()
    assert manifest["tables"]["fills"] == len(saved_fills) > 0 and manifest["lake_parts"] == 1
    assert _mmctl("backup", str(dest)) == 2  # never over an existing backup
    assert "is not empty" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    assert _mmctl("restore", str(broken)) == 2  # one line, no traceback
    assert "is not a backup manifest" in capsys.readouterr().err
    store.close()

    # restore into an empty run directory; a recorder started there answers mmctl fills
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.setenv("MM_RUN_DIR", str(fresh))
    assert _mmctl("restore", str(dest)) == 0
    restored = fresh / "lake" / "dataset=trade" / "symbol=ETHUSDC" / "date=2026-11-27"
    assert sorted(p.name for p in restored.iterdir()) == ["part-1.parquet"]  # never the half part
    assert _mmctl("restore", str(dest)) == 2  # the store now holds data: refused without --force
    assert "already holds data" in capsys.readouterr().err
    rec = Recorder(fresh)
    try:
        wait_until(lambda: answers(load_settings()), 20, what="recorder up on the restored run dir")
        capsys.readouterr()
        assert _mmctl("fills", "--since", "1d", "--json", "--limit", "100000") == 0
        shown = [json.loads(line)["trade_id"] for line in capsys.readouterr().out.splitlines()]
        assert sorted(shown) == sorted(saved_fills)
        # and while it runs, a restore is refused
        assert _mmctl("restore", "--force", str(dest)) == 2
        assert "stop the recorder first" in capsys.readouterr().err
    finally:
        rec.stop()


def test_postgres_backs_up_with_pg_dump_and_restores_with_pg_restore(
    run_env: Path, tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_dsn, dst_dsn = _database(pg), _database(pg)
    monkeypatch.setenv("MM_RECORDER__BACKEND", "postgres")
    monkeypatch.setenv("MM_RECORDER__POSTGRES_DSN", src_dsn)
    store = PostgresStore(src_dsn).open()
    _fill_store(store, time.time_ns() - 600 * S, 3000)
    want = Queries(store).run("fills", {}, 100_000)
    store.close()
    m = backup(load_settings(), tmp_path / "pgb")
    assert m["backend"] == "postgres" and m["tables"]["fills"] == len(want) > 0
    monkeypatch.setenv("MM_RECORDER__POSTGRES_DSN", dst_dsn)
    restore(load_settings(), tmp_path / "pgb")
    back = PostgresStore(dst_dsn).open()
    try:
        assert Queries(back).run("fills", {}, 100_000) == want
    finally:
        back.close()
    with pytest.raises(BackupError, match="already holds data"):
        restore(load_settings(), tmp_path / "pgb")
