"""The recorder service: a thin asyncio shell around the persistence modules.

It subscribes to every topic of every service and buffers the raw bodies; a flusher hands the
buffer to the writer thread (:mod:`services.recorder.persistence`) every ``flush_interval_ms`` or
``batch_max`` messages, so a ``kill -9`` loses at most one interval of bus messages, and catch-up
(:mod:`services.recorder.catchup`) recovers the fills and order states of that window on restart.
It answers ``Query`` (:mod:`services.recorder.queries`, plus ``kind="report"``) and
``GetSnapshot(what="state" | "session")`` over REQ/REP. Nothing here touches a file or a database
on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
from prometheus_client import Gauge

from common import calendar, operator, topics
from common.binance.errors import BinanceError
from common.binance.rest import RestClient
from common.binance.shared_limits import SharedLimits, shared_path
from common.bus import RequestRefused, RequestTimeout
from common.codec import DecodeError, MessageCodec
from common.config import PRIMARY_ACCOUNT, ConfigError, Settings, clock_utc, load_settings
from common.logging import log
from common.messages import (
    AnyCommand,
    CancelAll,
    Envelope,
    Flatten,
    GetSnapshot,
    Pause,
    Query,
    ReloadConfig,
    Request,
    RiskEvent,
    SessionTimer,
)
from common.messages.report import ReportData
from common.report import write_report
from common.runtime import CommandError, Service, wait_set
from services.recorder import inspection, report, session, snapshots, timed
from services.recorder.catchup import ByAccount, Catchup, RestTrades, TradeSource, history_key
from services.recorder.ingest import Ingestor, RawMsg, Sampling
from services.recorder.lake import Lake
from services.recorder.notify import Notifier, Sender
from services.recorder.persistence import Persistence
from services.recorder.queries import Queries, QueryError, parse_int
from services.recorder.store import StoreError, open_store

SESSION_BEAT_S = 10.0
RETENTION_EVERY_S = 600.0

DISK_FREE = Gauge("mm_recorder_disk_free_bytes", "Free bytes on the run directory's file system")
DISK_FREE_RATIO = Gauge("mm_recorder_disk_free_ratio", "Free share of the run directory's file system")


class RecorderService(Service):
    """Records the bus; answers queries, state snapshots and reports."""

    name = "recorder"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._ready = asyncio.Event()
        self._buf: list[RawMsg] = []
        self._flush_now = asyncio.Event()
        self._catchup_now = asyncio.Event()
        self.dropped = 0
        self.latest = snapshots.LatestSnapshots()
        self._rest: RestClient | None = None
        self._rests: list[RestClient] = []  # extra accounts' trade history
        self._gateway_up: bool | None = None
        self._own: list[asyncio.Task[Any]] = []
        self.persistence = self._persistence()
        self.timed: timed.TimedSession | None = None
        self._timer_now = asyncio.Event()
        self.notifier: Notifier | None = None
        self.sender: Sender | None = None
        self._codec = MessageCodec()

    async def on_start(self) -> None:
        cfg = self.settings.recorder
        store = await self.persistence.start()
        self.queries = Queries(store)
        self.session = await self._open_session()
        self._start_notifier()
        self.subscribe(
            [topics.ALL], self._on_message, decode=False, services=self.settings.services, on_gap=self._on_gap
        )
        self._own.append(self.spawn(self._flusher(), "flusher"))
        self._own.append(self.spawn(self._session_beat(), "session", critical=False))
        if cfg.catchup:
            self.catchup = self._catchup()
            self._own.append(self.spawn(self._catchup_loop(), "catchup", critical=False))
        if cfg.events_retention_h:
            self._own.append(self.spawn(self._retention(), "retention", critical=False))
        if cfg.report_every_h:
            self._own.append(self.spawn(self._reports(), "reports", critical=False))
        if cfg.inspection_at_utc:
            self._own.append(self.spawn(self._inspections(), "inspections", critical=False))
        self.timed = self._load_timer()
        self._own.append(self.spawn(self._timer(), "timed-session", critical=False))
        self._own.append(self.spawn(self._calendar(), "calendar", critical=False))
        self._ready.set()
        log.info(
            "recorder_ready",
            backend=cfg.backend,
            session=self.session.session_id,
            resumed=self.session.resumed,
        )

    def _start_notifier(self) -> None:
        a = self.settings.alerts
        sender = Sender(a, os.environ) if a.direct else None
        if sender is not None and sender.channels:
            self.sender, self.notifier = sender, Notifier(a.direct_quiet_s)
            sender.start()
            log.info("direct_notifications", channels=",".join(sender.channels))

    def _persistence(self) -> Persistence:
        cfg = self.settings.recorder
        run = self.settings.run_path
        sampling = Sampling(
            target_s=cfg.target_sample_s,
            position_s=cfg.position_sample_s,
            account_s=cfg.account_sample_s,
            market_s=cfg.market_sample_s,
            lake_datasets=frozenset(cfg.lake_datasets if cfg.lake else ()),
            events_everything=cfg.events_everything or not cfg.lake,
        )

        def lake() -> Lake:
            return Lake(
                run / cfg.lake_dir, cfg.lake_rotate_rows, cfg.lake_rotate_s, cfg.lake_max_mb * 1024 * 1024
            )

        return Persistence(
            lambda: open_store(cfg.backend, run / cfg.db_path, cfg.postgres_dsn),
            Ingestor(sampling),
            lake if cfg.lake else None,
            cfg.snapshot_history,
        )

    # ---- the bus -----------------------------------------------------------------------------

    def _on_message(self, topic: str, body: Any, env: Envelope) -> None:
        raw = bytes(body)
        if topic == topics.RISK_EVENT and self.notifier is not None:
            self._notify(raw)
        if topic.startswith("state."):
            self.latest.offer(raw)
        if len(self._buf) >= self.settings.recorder.buffer_max and topic.startswith("md."):
            self.dropped += 1  # the writer is far behind: market data goes first, never orders or fills
            return
        self._buf.append((time.time_ns(), topic, env.source, env.epoch, env.seq, raw))
        if len(self._buf) >= self.settings.recorder.batch_max:
            self._flush_now.set()

    def _notify(self, raw: bytes) -> None:
        try:
            ev = self._codec.decode_body(raw)
        except DecodeError:
            return  # stored and counted as undecodable by the ingestor like any other
        if isinstance(ev, RiskEvent) and self.notifier is not None and self.sender is not None:
            text = self.notifier.on_event(ev, time.time_ns())
            if text is not None:
                self.sender.send(text)

    def _on_gap(self, topic: str, source: str, missed: int) -> None:
        if topic.startswith("oms."):
            log.warning("recorder_oms_gap", topic=topic, source=source, missed=missed)
            self._catchup_now.set()

    async def _flusher(self) -> None:
        interval = self.settings.recorder.flush_interval_ms / 1000
        failures = 0
        while True:
            await wait_set(self._flush_now, interval)
            self._flush_now.clear()
            try:
                await self._flush()
            except StoreError as exc:
                failures += 1
                self.set_state("degraded", f"store write failed: {exc}"[:300])
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
                continue
            if failures:
                failures = 0
                self.set_state("running", "store writable again")

    async def _flush(self) -> None:
        batch, self._buf = self._buf, []
        if batch or self.persistence.has_pending:
            await self.persistence.ingest(batch)

    # ---- session ---------------------------------------------------------------------------------

    async def _open_session(self) -> session.Session:
        run = self.settings.run_path
        env_id = os.environ.get("MM_SESSION_ID", "").strip()
        file_id = await self.persistence.on_writer(session.read_file, run)
        wanted = env_id or file_id
        stored = await self.persistence.on_reader(self._session_row, wanted) if wanted else None
        now = time.time_ns()
        sid, resumed = session.choose(env_id, file_id, stored, now, self.settings.recorder.session_resume_s)
        sess = session.make(sid, resumed, stored if sid == wanted else None, self.settings.profile, now)
        await self.persistence.on_writer(session.write_file, run, sid)
        await self.persistence.write({"sessions": [sess.row(now)]})
        return sess

    def _session_row(self, session_id: str) -> dict[str, Any] | None:
        rows = self.queries.run("sessions", {"session_id": session_id}, 1)
        return rows[0] if rows else None

    async def _session_beat(self) -> None:
        while True:
            self._disk()
            await asyncio.sleep(SESSION_BEAT_S)
            await self.persistence.write({"sessions": [self.session.row(time.time_ns())]})

    def _disk(self) -> None:
        """Free space where the store and the lake live (the disk alert's figure)."""
        try:
            usage = shutil.disk_usage(self.settings.run_path)
        except OSError as exc:
            log.warning("recorder_disk_unreadable", error=str(exc))
            return
        DISK_FREE.set(usage.free)
        DISK_FREE_RATIO.set(usage.free / usage.total if usage.total else 0.0)

    # ---- catch-up, retention, reports --------------------------------------------------------------

    def _catchup(self) -> Catchup:
        s = self.settings
        trades: TradeSource | None = None
        key = history_key(s)
        if key is not None and s.venue.market == "usdm":
            if not key.read_only:
                log.warning(
                    "recorder_uses_trading_key",
                    hint="a read-only key is recommended: the recorder only reads trade history",
                    unset=",".join(key.unset),
                )
            self._rest = self._history_client(key.key.get_secret_value(), key.secret.get_secret_value())
            primary = RestTrades(self._rest)
            trades = primary
            if s.accounts:  # each extra account's history is read with its own key
                sources: dict[str, TradeSource] = {PRIMARY_ACCOUNT: primary}
                for name in s.accounts:
                    k, sec = s.account_credentials(name)
                    if k and sec:
                        self._rests.append(self._history_client(k, sec))
                        sources[name] = RestTrades(self._rests[-1])
                trades = ByAccount(sources, s.account_of)
        else:
            log.info("catchup_venue_off", reason="no API key/secret in the environment, or not a USD-M venue")
        return Catchup(
            self.persistence, list(s.symbols), self._fetch_oms, trades, s.recorder.catchup_lookback_h * 3600
        )

    def _history_client(self, key: str, secret: str) -> RestClient:
        s = self.settings
        shared = SharedLimits(shared_path(s.run_path, s.venue.rest_url))  # one IP: one weight, one ban
        return RestClient(s.venue.rest_url, key, secret, s.venue.http_timeout_s, shared=shared)

    async def _fetch_oms(self) -> dict[str, Any] | None:
        try:
            snap = await operator.gateway_snapshot(self.client, self.settings.all_gateways, 3.0)
        except (RequestTimeout, RequestRefused) as exc:
            if self._gateway_up is not False:  # log the change, not every retry
                log.info("catchup_gateway_unavailable", reason=str(exc)[:200])
            self._gateway_up = False
            return None
        if self._gateway_up is False:
            log.info("catchup_gateway_back")
        self._gateway_up = True
        return snap if isinstance(snap, dict) else None

    async def _catchup_loop(self) -> None:
        cfg = self.settings.recorder
        for rest in [self._rest, *self._rests] if self._rest is not None else []:
            with contextlib.suppress(BinanceError):
                await rest.sync_time()
        while True:
            res = await self.catchup.run()
            if self.catchup.runs == 1 or res.fills_added or res.gateway_orders or res.errors:
                log.info("catchup_done", **res.summary())
            soon = res.gateway == "down" or bool(res.errors)
            wait = min(cfg.catchup_interval_s, 10.0) if soon else cfg.catchup_interval_s
            await wait_set(self._catchup_now, wait)
            self._catchup_now.clear()

    async def _retention(self) -> None:
        keep_ns = int(self.settings.recorder.events_retention_h * 3600e9)
        while True:
            cutoff = time.time_ns() - keep_ns
            while await self.persistence.on_writer(self.persistence.store_delete_events, cutoff):
                await asyncio.sleep(0)  # let bus batches in between chunks
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _reports(self) -> None:
        cfg = self.settings.recorder
        out = self.settings.run_path / cfg.report_dir / self.session.session_id
        while True:
            await asyncio.sleep(cfg.report_every_h * 3600)
            data = await self._report_data({"session": self.session.session_id})
            path = await self.persistence.on_reader(write_report, data, out)
            log.info("report_written", path=str(path))

    async def _inspections(self) -> None:
        """The daily inspection at ``inspection_at_utc``, of the 24 h before it."""
        hh, mm = (int(x) for x in self.settings.recorder.inspection_at_utc.split(":"))
        while True:
            now = time.time()
            due = (now // 86400) * 86400 + hh * 3600 + mm * 60
            if due <= now:
                due += 86400
            await asyncio.sleep(due - now)
            ins, path = await self._inspect(int(due * 1e9))
            log.info("inspection_written", path=str(path))
            if self.sender is not None:  # the alert channels ([alerts], direct notifications)
                self.sender.send(inspection.summary(ins, path))

    async def _inspection(self, until_ns: int) -> Path:
        return (await self._inspect(until_ns))[1]

    async def _inspect(self, until_ns: int) -> tuple[inspection.Inspection, Path]:
        cfg = self.settings.recorder
        run = self.settings.run_path
        paths = {"store": run / cfg.db_path, "lake": run / cfg.lake_dir, "logs": run / "logs"}
        if cfg.backend == "postgres":
            paths.pop("store")  # on the database server, not this disk
        ins = await self.persistence.on_reader(inspection.inspect, self.queries.store, until_ns, paths)
        return ins, inspection.write(ins, run / cfg.report_dir)

    # ---- commands ------------------------------------------------------------------------------

    def serves_while_starting(self, cmd: AnyCommand) -> bool:
        """Queries and snapshots asked during the start wait for the store (:meth:`_until_ready`)."""
        return isinstance(cmd, Query | GetSnapshot)

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        await self._until_ready(req)
        try:
            match cmd:
                case Query(kind="report", filters=f):
                    return msgspec.to_builtins(await self._report_data(f))
                case Query(kind="inspection", filters=f):
                    until = parse_int("until_ns", f["until_ns"]) if f.get("until_ns") else time.time_ns()
                    return str(await self._inspection(until))
                case Query(kind=kind, filters=f, limit=limit):
                    return await self.persistence.on_reader(self.queries.run, kind, f, limit)
                case GetSnapshot(what="state", symbol=service):
                    return await self._state(service)
                case GetSnapshot(what="session"):
                    return await self.persistence.on_reader(self._session_row, self.session.session_id)
                case SessionTimer():
                    return await self._session_timer(cmd)
        except (QueryError, snapshots.SnapshotMissing, timed.TimerError) as exc:
            raise CommandError(str(exc)) from exc
        raise CommandError(
            f"recorder does not handle {type(cmd).__name__} {getattr(cmd, 'what', '')}".strip()
        )

    # ---- calendar rules (common/calendar.py) -----------------------------------------------------

    async def _calendar(self) -> None:
        """Reload the services when the set of active calendar rules changes."""
        last = calendar.active(self.settings.schedule.rules, clock_utc())
        while True:
            try:
                fresh = await asyncio.to_thread(load_settings)
            except ConfigError as exc:
                log.error("calendar_config_unreadable", error=str(exc)[:300])
                await asyncio.sleep(self.settings.schedule.check_interval_s)
                continue
            now = calendar.active(fresh.schedule.rules, clock_utc())
            if now != last:
                acks = await operator.broadcast(
                    self.client,
                    ReloadConfig(),
                    operator.route(self.settings, operator.TARGETS["reload"]),
                    10.0,
                )
                refused = [f"{a['service']}: {a['error']}" for a in acks if not a["ok"]]
                log.warning("calendar_change", before=",".join(last) or "-", after=",".join(now) or "-",
                            refused="; ".join(refused) or "-")  # fmt: skip
                if not refused:
                    last = now
            await asyncio.sleep(fresh.schedule.check_interval_s)

    # ---- timed sessions (services/recorder/timed.py) -------------------------------------------

    def _load_timer(self) -> timed.TimedSession | None:
        try:
            ts = timed.load(self.settings.run_path)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("timed_session_unreadable", error=str(exc)[:200])
            return None
        if ts is not None and ts.state != "ended":
            log.info("timed_session_resumed", **timed.describe(ts))
        return ts

    async def _session_timer(self, cmd: SessionTimer) -> dict[str, object]:
        now = time.time_ns()
        if cmd.action == "start":
            self.timed = timed.start(self.timed, self.session.session_id, cmd.duration_s, cmd.flatten, now)
        elif cmd.action == "stop":
            self.timed = timed.stop(self.timed, now)
        else:
            return timed.describe(self.timed, now)
        await asyncio.to_thread(timed.save, self.settings.run_path, self.timed)
        log.info("timed_session", action=cmd.action, **timed.describe(self.timed, now))
        self._timer_now.set()
        return timed.describe(self.timed, now)

    async def _timer(self) -> None:
        while True:
            await wait_set(self._timer_now, 0.5)
            self._timer_now.clear()
            if timed.due(self.timed, time.time_ns()):
                await self._end_session()

    async def _end_session(self) -> None:
        """The end of a timed session (see :mod:`services.recorder.timed`); safe to run again."""
        ts = self.timed
        assert ts is not None
        run = self.settings.run_path
        if ts.state == "running":
            ts = self.timed = msgspec.structs.replace(ts, state="ending")
            await asyncio.to_thread(timed.save, run, ts)
        log.warning("timed_session_ending", session=ts.session_id, flatten=ts.flatten)
        why = f"timed session {ts.session_id} ended"
        acks = await operator.broadcast(self.client, Pause(reason=why), operator.TARGETS["pause"], 5.0)
        acks += await operator.broadcast(
            self.client, CancelAll(reason=why), tuple(self.settings.all_gateways), 10.0
        )
        if ts.flatten:
            acks += await operator.broadcast(
                self.client, Flatten(reason=why), tuple(self.settings.all_gateways), 60.0
            )
        left = await self._wait_closed(ts.flatten, 60.0, why)
        folder = (
            run
            / "sessions"
            / f"{ts.session_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(ts.started_ns / 1e9))}"
        )
        now = time.time_ns()
        saved = await self._session_files(folder, ts.started_ns, now)
        refused = [f"{a['service']}: {a['error']}" for a in acks if not a["ok"]]
        outcome = ("flat, no open order" if not left else "still open: " + "; ".join(left)) + (
            f"; not acknowledged: {'; '.join(refused)}" if refused else ""
        )
        self.timed = msgspec.structs.replace(
            ts,
            state="ended",
            ended_ns=now,
            outcome=outcome + f"; saved {', '.join(saved)}",
            folder=str(folder),
        )
        await asyncio.to_thread(timed.save, run, self.timed)
        log.warning(
            "timed_session_ended", session=ts.session_id, outcome=self.timed.outcome, folder=str(folder)
        )

    async def _wait_closed(self, flat: bool, wait_s: float, why: str) -> list[str]:
        """Poll the gateway until no order is open (and no position, with ``flat``), cancelling and
        flattening again every few seconds (a fill can land after a cancel); what is left."""
        deadline = time.monotonic() + wait_s
        left = ["gateway not answering"]
        retry_at = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                snap: dict[str, Any] | None = await operator.gateway_snapshot(
                    self.client, self.settings.all_gateways, 2.0
                )
            except (RequestTimeout, RequestRefused):
                snap = None
            if snap is not None:
                orders = snap["orders"]
                held = [p for p in snap["positions"] if Decimal(p["qty"]) != 0] if flat else []
                left = ([f"{len(orders)} open order(s)"] if orders else []) + [
                    f"{p['symbol']} position {p['qty']}" for p in held
                ]
                if not left:
                    return []
                if time.monotonic() >= retry_at:
                    retry_at = time.monotonic() + 3.0
                    if orders:
                        await operator.broadcast(
                            self.client, CancelAll(reason=why), tuple(self.settings.all_gateways), 10.0
                        )
                    if held:
                        await operator.broadcast(
                            self.client, Flatten(reason=why), tuple(self.settings.all_gateways), 30.0
                        )
            await asyncio.sleep(0.5)
        return left

    async def _session_files(self, folder: Path, since_ns: int, until_ns: int) -> list[str]:
        """The metrics snapshot, the log tails and the report of a timed session; what was saved."""
        saved: list[str] = []
        (folder / "metrics").mkdir(parents=True, exist_ok=True)
        async with httpx.AsyncClient(timeout=3.0) as http:
            for svc in self.settings.services:
                port = self.settings.service_section(svc).metrics_port
                if not port:
                    continue
                try:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.HTTPError:
                    continue
                await asyncio.to_thread((folder / "metrics" / f"{svc}.prom").write_text, text)
                saved.append(f"metrics/{svc}.prom")
        saved += await asyncio.to_thread(_log_tails, self.settings.run_path / "logs", folder / "logs")
        try:
            data = await self._report_data({"since_ns": str(since_ns), "until_ns": str(until_ns)})
            await asyncio.to_thread(write_report, data, folder / "report")
            saved.append("report/report.md")
        except (StoreError, QueryError, CommandError, OSError) as exc:
            log.error("timed_session_report_failed", error=str(exc)[:300])
        return saved

    async def _until_ready(self, req: Request) -> None:
        """Hold a request that came while the store was opening (the command socket is up first)."""
        if self._ready.is_set():
            return
        left = (req.deadline_ns - time.time_ns()) / 1e9 - 0.05
        try:
            await asyncio.wait_for(self._ready.wait(), max(0.0, left))
        except TimeoutError:
            raise CommandError("recorder is still starting; ask again") from None

    async def _state(self, service: str) -> dict[str, Any]:
        if not service:
            raise CommandError("GetSnapshot(what='state') needs symbol=<service name>, e.g. 'strategy'")
        disk = await self.persistence.on_reader(snapshots.stored, self.queries.store, service)
        return snapshots.newest(self.latest.get(service), disk, service)

    async def _report_data(self, f: dict[str, str]) -> ReportData:
        unknown = set(f) - {"since_ns", "until_ns", "session"}
        if unknown:
            raise QueryError(
                f"unknown filter(s) {sorted(unknown)} for report; known: session, since_ns, until_ns"
            )
        since = parse_int("since_ns", f.get("since_ns") or "0")
        until = parse_int("until_ns", f.get("until_ns") or "0")
        sid = f.get("session") or ("" if since else self.session.session_id)
        sess = await self.persistence.on_reader(self._session_row, sid) if sid else None
        if sid and sess is None:
            raise CommandError(f"no session {sid!r}")
        if sess is not None:
            since, until = int(sess["started_ns"]), int(sess["ended_ns"]) or until
        return await self.persistence.on_reader(report.build, self.queries.store, since, until, sess)

    # ---- stop, status ----------------------------------------------------------------------------

    async def on_stop(self) -> None:
        if self.sender is not None:
            await asyncio.to_thread(self.sender.stop)
        for t in self._own:
            t.cancel()
        await asyncio.gather(*self._own, return_exceptions=True)
        if self._ready.is_set():  # started: close the session row
            try:
                await self._flush()
                now = time.time_ns()
                await self.persistence.write({"sessions": [self.session.row(now, ended_ns=now)]})
            except StoreError as exc:
                log.error("recorder_final_write_failed", error=str(exc)[:300], buffered=len(self._buf))
        if self._rest is not None:
            await self._rest.close()
        for rest in self._rests:
            await rest.close()
        await asyncio.to_thread(self.persistence.close)
        log.info("recorder_closed", stored=self.persistence.stats.messages, dropped=self.dropped)

    def status_detail(self) -> dict[str, str]:
        p = self.persistence
        detail = {
            "stored": str(p.stats.messages),
            "buffered": str(len(self._buf)),
            "dropped": str(self.dropped),
            "session": self.session.session_id,
            "deduplicated": str(p.ingestor.deduplicated),
            "undecodable": str(p.stats.undecodable),
            "bad_snapshots": str(p.stats.bad_snapshots),
        }
        if p.lake is not None:
            detail["lake_parts"] = str(p.lake.stats.parts_written)
        return detail


def _log_tails(logs: Path, out: Path, lines: int = 500) -> list[str]:
    """The last ``lines`` lines of every service log, copied into ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for f in sorted(logs.glob("*.log")):
        try:
            with f.open("rb") as fh:
                fh.seek(max(0, f.stat().st_size - 400 * lines))
                tail = fh.read().splitlines()[-lines:]
        except OSError:
            continue
        (out / f.name).write_bytes(b"\n".join(tail) + b"\n")
        saved.append(f"logs/{f.name}")
    return saved
