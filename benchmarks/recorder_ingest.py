"""Recorder ingest: messages per second into SQLite and PostgreSQL, and the lag behind a live bus.

1. Throughput. A realistic bus mix (``tests.fixtures.recorder_mix``: books, features, trades, marks,
   targets, order updates, fills, positions, heartbeats, ...) is encoded as the recorder receives
   it, then pushed through exactly what the writer thread does per batch (decode, typed rows, one
   transaction with the raw ``events`` rows, lake records handed to the Parquet thread), in batches
   of ``--batch``. Encoding is done before the clock starts.
2. Lag. A recorder process runs with the default config; a real ``Publisher`` sends the same mix at
   ``--rate`` messages per second, each stamped with its publish time; a poller reads the store
   every 2 ms and notes when each message became visible (committed). The delay is
   ``visible - published``, so it includes the poll interval.

PostgreSQL runs from the distribution's binaries in a temporary directory (``tests/pg.py``), with
fsync on: durable commits, like SQLite's WAL here.

    .venv/bin/python benchmarks/recorder_ingest.py [--messages 200000] [--rate 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.metrics import percentile
from services.recorder.ingest import Ingestor, RawMsg
from services.recorder.lake import Lake
from services.recorder.persistence import Persistence
from services.recorder.store import PostgresStore, SqliteStore, Store
from tests.fixtures.recorder_mix import MessageMix, Wire

PUBLISHERS = ("marketdata", "strategy", "risk", "gateway")  # the mix's sources (tests.fixtures.recorder_mix)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=200_000, help="messages for the throughput figures")
    p.add_argument("--batch", type=int, default=2000, help="messages per transaction (recorder.batch_max)")
    p.add_argument("--rate", type=int, default=2000, help="messages per second for the lag figure")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the lag run; 0 skips it")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return p.parse_args(argv)


def composition(items: list[tuple[str, str, Any]]) -> str:
    counts = collections.Counter(type(m).__name__ for _, _, m in items)
    return ", ".join(f"{k} {v / len(items):.0%}" for k, v in counts.most_common() if v / len(items) >= 0.005)


# ---- throughput -------------------------------------------------------------------------------------


def run_ingest(
    factory: Callable[[], Store], raws: list[RawMsg], batch: int, lake_dir: Path | None
) -> dict[str, float]:
    """Messages per second through ``Persistence.apply`` (the writer thread's whole job)."""
    p = Persistence(
        factory, Ingestor(), (lambda: Lake(lake_dir, rotate_rows=100_000)) if lake_dir else None, 5
    )
    p.open()
    lake = p.lake
    t0 = time.perf_counter()
    for i in range(0, len(raws), batch):
        p.apply(raws[i : i + batch])
    elapsed = time.perf_counter() - t0
    if lake is not None:
        lake.flush()
    total = time.perf_counter() - t0
    p.close()
    return {"rate": len(raws) / elapsed, "with_lake_drain": len(raws) / total, "seconds": elapsed}


def decode_only(raws: list[RawMsg], batch: int) -> float:
    ing = Ingestor()
    t0 = time.perf_counter()
    for i in range(0, len(raws), batch):
        ing.ingest(raws[i : i + batch])
    return len(raws) / (time.perf_counter() - t0)


def throughput_section(args: argparse.Namespace, pg_dsn: str | None) -> None:
    items = MessageMix().take(args.messages)
    raws = Wire().many(items)
    mb = sum(len(r[5]) for r in raws) / 1e6
    print(f"mix of {len(raws):,} messages ({mb:.1f} MB of bodies): {composition(items)}")
    print(f"batches of {args.batch} messages, one transaction each; lake on (book/trade/mark/features)")
    print(f"  decode + typed rows only (no database):      {decode_only(raws, args.batch):>10,.0f} msg/s")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.sqlite"
        r = run_ingest(lambda: SqliteStore(path).open(), raws, args.batch, Path(d) / "lake")
        size = sum(f.stat().st_size for f in Path(d).glob("bench.sqlite*")) / 1e6
        print(
            f"  SQLite (WAL, synchronous=NORMAL):            {r['rate']:>10,.0f} msg/s"
            f"   ({size:.0f} MB on disk, {size * 1e6 / len(raws):.0f} B/msg)   target >= 20,000"
        )
        r = run_ingest(lambda: SqliteStore(Path(d) / "nolake.sqlite").open(), raws, args.batch, None)
        print(f"  SQLite without the lake:                     {r['rate']:>10,.0f} msg/s")
    if pg_dsn is None:
        print("  PostgreSQL: not run")
        return
    with tempfile.TemporaryDirectory() as d:
        r = run_ingest(lambda: PostgresStore(pg_dsn).open(), raws, args.batch, Path(d) / "lake")
        print(f"  PostgreSQL 15 (COPY + executemany, fsync on): {r['rate']:>9,.0f} msg/s")


# ---- lag ------------------------------------------------------------------------------------------


class Poller(threading.Thread):
    """Reads new ``events`` rows every 2 ms and notes when each became visible."""

    def __init__(self, read_new: Callable[[int], list[tuple[int, str, int]]]) -> None:
        super().__init__(daemon=True)
        self.read_new = read_new
        self.seen: list[tuple[int, int]] = []  # (ts_event, visible at)
        self.sources: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        last = 0
        while not self.stop.is_set():
            rows = self.read_new(last)
            now = time.time_ns()
            for rid, source, ts in rows:
                last = max(last, rid)
                if source in PUBLISHERS:
                    self.seen.append((ts, now))
                    self.sources.add(source)
            time.sleep(0.002)


def sqlite_reader(path: Path) -> Callable[[int], list[tuple[int, str, int]]]:
    con: sqlite3.Connection | None = None

    def read(last: int) -> list[tuple[int, str, int]]:
        nonlocal con
        if con is None:
            if not path.exists():
                return []
            con = sqlite3.connect(path)
        try:
            return con.execute("SELECT id, source, ts_event FROM events WHERE id > ?", (last,)).fetchall()
        except sqlite3.OperationalError:
            return []  # the schema is not there yet

    return read


def pg_reader(dsn: str) -> Callable[[int], list[tuple[int, str, int]]]:
    import psycopg

    con = psycopg.connect(dsn, autocommit=True)

    def read(last: int) -> list[tuple[int, str, int]]:
        try:
            return con.execute("SELECT id, source, ts_event FROM events WHERE id > %s", (last,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    return read


def lag_run(args: argparse.Namespace, backend: str, pg_dsn: str | None) -> None:
    import zmq

    from common.bus import Publisher
    from common.config import load_settings

    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        run.mkdir()
        overlay = Path(d) / "bench.toml"
        overlay.write_text(
            f'[recorder]\nmetrics_port = 0\nbackend = "{backend}"\ncatchup = false\n'
            + "events_everything = true\n"  # every message gets an events row whose commit is watched
            + (f'postgres_dsn = "{pg_dsn}"\n' if pg_dsn else "")
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MM_")}
        env.update(MM_RUN_DIR=str(run), MM_CONFIG_FILE=str(overlay), MM_PROFILE="paper")
        saved = dict(os.environ)
        os.environ.update(env)
        settings = load_settings()
        os.environ.clear()
        os.environ.update(saved)
        log = (Path(d) / "recorder.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.recorder"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        reader = (
            sqlite_reader(run / settings.recorder.db_path) if backend == "sqlite" else pg_reader(pg_dsn or "")
        )
        poller = Poller(reader)
        poller.start()
        ctx: zmq.Context[Any] = zmq.Context()
        # Each topic from its owner's endpoint and in its name: the recorder drops anything else.
        pubs = {s: Publisher(ctx, settings.pub_endpoint(s), s) for s in PUBLISHERS}
        try:
            _wait_subscribed(pubs, poller)
            poller.seen.clear()
            sent = _publish_at_rate(pubs, args.rate, args.seconds)
            deadline = time.monotonic() + 10
            while len(poller.seen) < sent and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            poller.stop.set()
            for pub in pubs.values():
                pub.close()
            ctx.term()
            proc.terminate()
            proc.wait(30)
        _report_lag(backend, args, sent, poller.seen)


def _wait_subscribed(pubs: dict[str, Any], poller: Poller) -> None:
    from common import topics
    from common.messages import Heartbeat

    deadline = time.monotonic() + 30
    while poller.sources < set(pubs):
        if time.monotonic() > deadline:
            raise SystemExit("the recorder never stored a probe from every publisher (see its log)")
        for s, pub in pubs.items():
            pub.publish(topics.sys_heartbeat(s), Heartbeat(service=s, pid=0, version="0", started_ns=0))
        time.sleep(0.05)
    time.sleep(0.5)


def _publish_at_rate(pubs: dict[str, Any], rate: int, seconds: float) -> int:
    """The mix, re-stamped at publish time, ``rate`` per second in 5 ms slices."""
    items = MessageMix().take(int(rate * seconds))
    per_slice = max(1, rate // 200)
    t0 = time.monotonic()
    for i in range(0, len(items), per_slice):
        for topic, source, msg in items[i : i + per_slice]:
            now = time.time_ns()
            pubs[source].publish(topic, msgspec.structs.replace(msg, ts_event=now, ts_init=now))
        wait = t0 + (i + per_slice) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    return len(items)


def _report_lag(backend: str, args: argparse.Namespace, sent: int, seen: list[tuple[int, int]]) -> None:
    lags = sorted((v - t) / 1e6 for t, v in seen)
    if not lags:
        print(f"  {backend}: nothing committed")
        return

    def pct(q: float) -> float:
        return percentile(lags, q / 100)

    print(
        f"  {backend:<10} {len(lags):,}/{sent:,} committed   publish -> committed  p50 {pct(50):6.1f} ms"
        f"   p99 {pct(99):6.1f} ms   max {lags[-1]:6.1f} ms"
    )


def lag_section(args: argparse.Namespace, pg_dsn: str | None) -> None:
    if args.seconds <= 0:
        return
    print(
        f"lag behind the bus: a recorder process with the default config (flush every 200 ms or 2000 msgs),"
        f" {args.rate:,} msg/s for {args.seconds:.0f} s through a real Publisher, store polled every 2 ms:"
    )
    lag_run(args, "sqlite", None)
    if pg_dsn is not None:
        lag_run(args, "postgres", pg_dsn)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = None
    if not args.no_postgres:
        from tests.pg import PgServer, PgUnavailable

        try:
            server = PgServer(durable=True).start()
        except PgUnavailable as exc:
            print(f"PostgreSQL not available: {exc}")
    try:
        throughput_section(args, server.fresh_dsn() if server else None)
        lag_section(args, server.fresh_dsn() if server else None)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
