"""The recorder as a real process: bus in, store and lake out, queries, mmctl, sessions, snapshots."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import zmq
import zmq.asyncio

from common import topics
from common.bus import CommandClient, Publisher, RequestTimeout
from common.config import Settings
from common.messages import (
    AnyCommand,
    Fill,
    GetSnapshot,
    Heartbeat,
    Message,
    OrderUpdate,
    Query,
    Reply,
    StateSnapshot,
)
from services.mmctl import cli
from tests.fixtures.recorder_mix import MessageMix
from tests.helpers import PROJECT, die_with_parent, wait_until

PUBLISHERS = ("marketdata", "strategy", "risk", "gateway")


class Recorder:
    """``python -m services.recorder`` with its output in a file."""

    def __init__(self, run_dir: Path, n: int = 0) -> None:
        self.log = run_dir / f"recorder-{n}.out"
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.recorder"],
                cwd=PROJECT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one pre-resolved syscall, no lock
            )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(20)


def request(settings: Settings, cmd: AnyCommand, timeout: float = 5.0) -> Reply:
    async def go() -> Reply:
        ctx = zmq.asyncio.Context()
        c = CommandClient(ctx, settings.cmd_endpoint("recorder"), "test", timeout_s=timeout)
        try:
            return await c.request(cmd)
        finally:
            c.close()
            ctx.destroy(linger=0)

    return asyncio.run(go())


def ask(settings: Settings, cmd: AnyCommand) -> Any:
    reply = request(settings, cmd)
    assert reply.ok, reply.error
    return reply.result


def answers(settings: Settings) -> bool:
    try:
        return request(settings, GetSnapshot(what="session"), timeout=0.5).ok
    except RequestTimeout:
        return False


class Bus:
    """Publishers bound where the other services would bind theirs."""

    def __init__(self, settings: Settings) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.pubs = {s: Publisher(self.ctx, settings.pub_endpoint(s), s) for s in PUBLISHERS}
        self.settings = settings

    def publish(self, topic: str, source: str, msg: Message) -> None:
        self.pubs[source].publish(topic, msg)

    def until_heard(self) -> None:
        """Publish probes until the recorder has stored one from every publisher (slow joiners)."""

        def heard() -> bool:
            for s, p in self.pubs.items():
                p.publish(topics.sys_heartbeat(s), Heartbeat(service=s, pid=0, version="t", started_ns=0))
            rows = ask(self.settings, Query(kind="events", filters={"type": "Heartbeat"}, limit=1000))
            return {r["source"] for r in rows} >= set(PUBLISHERS)

        wait_until(heard, 15, interval=0.1, what="the recorder subscribed to every publisher")

    def close(self) -> None:
        for p in self.pubs.values():
            p.close()
        self.ctx.term()


@pytest.fixture
def fast(run_env: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[Settings]:
    monkeypatch.setenv("MM_RECORDER__FLUSH_INTERVAL_MS", "50")
    yield settings


def test_the_recorder_stores_the_bus_and_answers_queries_snapshots_and_mmctl(
    fast: Settings, run_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_RECORDER__REPORT_EVERY_H", "0.0005")  # a session report every 1.8 s
    rec = Recorder(run_env)
    bus = Bus(fast)
    try:
        wait_until(lambda: answers(fast), 20, what="recorder up")
        bus.until_heard()
        items = MessageMix(t0_ns=time.time_ns() - 120 * 10**9).take(6_000)
        working = OrderUpdate(
            symbol="ETHUSDC", client_order_id="still-open", side="BUY", price=Decimal("2680"),
            qty=Decimal("0.01"), state="New", ts_event=items[-1][2].ts_event + 1,
        )  # fmt: skip
        items.append(("oms.order.ETHUSDC", "gateway", working))  # at least one order is still open
        for topic, source, msg in items:
            bus.publish(topic, source, msg)
        fills = [m for _, _, m in items if isinstance(m, Fill)]
        stored = wait_until(
            lambda: (
                (rows := ask(fast, Query(kind="fills", limit=10_000))) and len(rows) == len(fills) and rows
            ),
            15,
            what="every fill stored",
        )
        assert [r["trade_id"] for r in stored] == [f.trade_id for f in fills]
        snaps = [m for _, _, m in items if isinstance(m, StateSnapshot)]
        state = ask(fast, GetSnapshot(what="state", symbol="strategy"))
        assert state["payload"] == snaps[-1].payload and state["ts"] == snaps[-1].ts_event
        refused = request(fast, GetSnapshot(what="state", symbol="risk"))
        assert not refused.ok and "no state snapshot recorded for service 'risk'" in refused.error
        refused = request(fast, Query(kind="report", filters={"since": "4h"}))
        assert not refused.ok and "unknown filter(s) ['since'] for report" in refused.error

        capsys.readouterr()
        assert _mmctl("fills", "--since", "10m", "--json") == 0
        out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(out) == min(200, len(fills)) and out[-1]["trade_id"] == fills[-1].trade_id
        assert _mmctl("fills", "ETHUSDC", "--since", "10m", "--limit", "10000") == 0
        last = capsys.readouterr().out.splitlines()[-1]
        eth = [f for f in fills if f.symbol == "ETHUSDC"]
        words = last.split()
        assert words[:2] == [str(len(eth)), "fills"]
        assert Decimal(words[words.index("realized") + 1]) == sum(f.realized_pnl for f in eth)
        assert _mmctl("orders", "--open", "--since", "10m", "--json", "--limit", "10000") == 0
        open_orders = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        last: dict[str, str] = {}
        for _, _, m in items:
            if isinstance(m, OrderUpdate):
                last[m.client_order_id] = m.state
        still_open = {c for c, st in last.items() if st in ("PendingNew", "New", "PartiallyFilled")}
        assert "still-open" in still_open
        assert {o["client_order_id"] for o in open_orders} == still_open  # every open one, no other
        assert _mmctl("report", "--since", "10m", "--out", str(run_env / "rep")) == 0
        assert "report written" in capsys.readouterr().out
        assert (run_env / "rep" / "report.md").exists() and (run_env / "rep" / "latency.png").exists()
        assert _mmctl("report", "--inspection") == 0  # the daily inspection, written now
        bad = request(fast, Query(kind="inspection", filters={"until_ns": "noon"}))
        assert not bad.ok and "filter until_ns must be an integer" in bad.error
        written = Path(capsys.readouterr().out.split("inspection written: ", 1)[1].strip())
        assert written.parent == run_env / "reports" and "# Daily inspection" in written.read_text()
        sid = ask(fast, GetSnapshot(what="session"))["session_id"]
        auto = run_env / "reports" / sid / "report.md"
        wait_until(auto.exists, 15, what="the periodic session report")
        assert _mmctl("fills", "--session", "nope") == 1
        assert "no session 'nope'" in capsys.readouterr().out
        for i, pnl in enumerate(("0.1", "0.2")):  # Decimal totals, not float sums: 0.1 + 0.2 is 0.3
            bus.publish(topics.oms_fill("XRPUSDC"), "gateway", _fill("XRPUSDC", i + 1, Decimal(pnl)))
        wait_until(lambda: len(ask(fast, Query(kind="fills", filters={"symbol": "XRPUSDC"}))) == 2, 10)
        assert _mmctl("fills", "XRPUSDC") == 0
        assert (
            capsys.readouterr().out.splitlines()[-1] == "2 fills  volume 0.2  realized 0.3  fees 0  net 0.3"
        )
        # What a restarting gateway asks: its watermarks, then the fills above one.
        marks = ask(fast, Query(kind="fill_marks", filters={"symbol": "XRPUSDC"}))
        assert marks == [{"symbol": "XRPUSDC", "venue_mark": None, "max_trade_id": 2}]
        above = ask(
            fast, Query(kind="fills", filters={"symbol": "XRPUSDC", "after_trade_id": "1"}, limit=100_000)
        )
        assert [(r["trade_id"], r["realized_pnl"]) for r in above] == [(2, "0.2")]
        refused = request(fast, Query(kind="fills", filters={"after_trade_id": "abc"}))
        assert not refused.ok and "filter after_trade_id must be an integer" in refused.error
    finally:
        bus.close()
        assert rec.stop() == 0
    books = sum(1 for _, _, m in items if type(m).__name__ == "BookLevels")
    lake = f"read_parquet('{run_env}/lake/dataset=book/**/*.parquet', hive_partitioning = true)"
    rel = duckdb.sql(f"SELECT count(*) FROM {lake}")
    assert rel is not None and rel.fetchall() == [(books,)], "the lake is flushed on stop"


def _fill(symbol: str, trade_id: int, pnl: Decimal) -> Fill:
    return Fill(
        symbol=symbol,
        trade_id=trade_id,
        client_order_id="c",
        venue_order_id=1,
        side="BUY",
        price=Decimal("0.5"),
        qty=Decimal("0.1"),
        fee=Decimal(0),
        fee_asset="USDC",
        realized_pnl=pnl,
        is_maker=True,
    )


def _mmctl(*args: str) -> int:
    try:
        cli.main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    raise AssertionError("mmctl did not exit")


def _session(settings: Settings) -> dict[str, Any]:
    """Asked at once after the start: a request that arrives while the store opens waits for it."""
    reply = request(settings, GetSnapshot(what="session"), timeout=20)
    assert reply.ok, reply.error
    session: dict[str, Any] = reply.result
    return session


def test_a_killed_recorder_continues_its_session_and_a_clean_stop_ends_it(
    fast: Settings, run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Recorder(run_env, 1)
    s1 = _session(fast)
    assert (run_env / "session").read_text().strip() == s1["session_id"]
    first.stop(signal.SIGKILL)
    second = Recorder(run_env, 2)
    s2 = _session(fast)
    assert (s2["session_id"], s2["started_ns"], s2["ended_ns"]) == (s1["session_id"], s1["started_ns"], 0)
    assert second.stop() == 0
    monkeypatch.setenv("MM_RECORDER__SESSION_RESUME_S", "0")
    third = Recorder(run_env, 3)
    s3 = _session(fast)
    assert s3["session_id"] != s1["session_id"], "a session closed cleanly is over"
    old = ask(fast, Query(kind="sessions", filters={"session_id": s1["session_id"]}, limit=1))[0]
    assert old["ended_ns"] > old["started_ns"]
    assert third.stop() == 0
    monkeypatch.setenv("MM_SESSION_ID", "run-42")
    fourth = Recorder(run_env, 4)
    assert _session(fast)["session_id"] == "run-42"
    assert fourth.stop() == 0
