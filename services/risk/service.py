"""The risk service: between strategy and gateway, with every limit of the seeds.

A thin shell around :class:`services.risk.engine.RiskEngine`. It approves nothing until it has
rebuilt modes (its last snapshot at the recorder), the day's PnL figures (the day's fills, booked
once each, moving neither position nor wallet), then the gateway's truth: positions, account,
open orders and its kill switch. Then it publishes on ``risk.target.<SYMBOL>`` only what it
approves, ``risk.state`` on every change and every second (the gateway fails closed without it),
and a ``risk.event`` for each decision that changed something. Taker actions go to the gateway
as commands and are awaited.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge, Histogram

from common import operator, topics
from common.bus import RequestRefused, RequestTimeout
from common.config import Settings
from common.logging import log
from common.messages import (
    MODE_ORDER,
    Account,
    AnyCommand,
    Envelope,
    Features,
    FeedStatus,
    Fill,
    FundingPaid,
    GetSnapshot,
    Instrument,
    MarkPrice,
    OrderUpdate,
    Position,
    Query,
    Request,
    StateSnapshot,
    TargetQuotes,
    VenueLatency,
)
from common.runtime import CommandError, Service
from services.risk.commands import CommandRefused
from services.risk.engine import Outcome, RiskEngine

MODE = Gauge("mm_risk_mode", "Risk mode: 0 normal, 1 reduce-only, 2 halted, 3 killed", ["symbol"])
EVENTS = Counter("mm_risk_events_total", "Risk decisions that changed something", ["rule", "action"])
CHECK_TIME = Histogram(
    "mm_risk_check_seconds", "Time to check one strategy target", buckets=(5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3)
)
ACTIONS = Counter("mm_risk_actions_total", "Taker actions sent to the gateway", ["action", "outcome"])


class RiskService(Service):
    """Approves targets, tracks PnL and exposure, halts, reduces and kills."""

    name = "risk"

    async def on_start(self) -> None:
        self.instruments = await self._instruments()
        self.engine = await self._restore()
        self.engine.set_accounts({sym: self.settings.account_of(sym) for sym in self.settings.symbols})
        self._pending: dict[str, int] = {}
        self._last_state = 0
        self.subscribe(
            [
                topics.family("strategy", "target"),
                topics.family("oms", "fill"),
                topics.family("oms", "position"),
                topics.family("oms", "order"),
                topics.family("oms", "funding"),
                topics.OMS_ACCOUNT,
                topics.OMS_LATENCY,
                topics.family("md", "mark"),
                topics.family("md", "features"),
                topics.family("md", "status"),
            ],
            self._on_message,
        )
        self.publish(topics.RISK_STATE, self.engine.state(time.time_ns()))  # not ready: approves nothing
        await self._rebuild()
        self.spawn(self._ticker(), "tick")
        self.spawn(self._snapshots(), "snapshots")

    async def _instruments(self) -> dict[str, Instrument]:
        while True:
            try:
                feeds = self.settings.instances["marketdata"]
                snap = await operator.marketdata_snapshot(self.client, feeds, 2.0)
                return {s: msgspec.convert(row["instrument"], Instrument) for s, row in snap.items()}
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_marketdata", reason=str(exc)[:120])
                await asyncio.sleep(1.0)

    async def _restore(self) -> RiskEngine:
        params = self.settings.risk.params
        try:
            snap = await self.client("recorder").call(
                GetSnapshot(what="state", symbol=self.name), timeout_s=1.0
            )
            engine = RiskEngine.restore(params, snap["payload"], self.instruments)
            log.info("risk_state_restored")
            return engine
        except (RequestTimeout, RequestRefused, ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
            log.info("risk_state_not_restored", reason=str(exc)[:200])
            return RiskEngine(params, self.instruments)

    async def _rebuild(self) -> None:
        """Positions and account from the gateway, the day's fills from the recorder; then ready."""
        while True:
            try:
                oms = await operator.gateway_snapshot(self.client, self.settings.all_gateways, 3.0)
                break
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_gateway", reason=str(exc)[:120])
                await asyncio.sleep(1.0)
        fills = [msgspec.convert(f, Fill) for f in await self._day_fills() + oms.get("fills", [])]
        midnight = _midnight_ns()
        self.engine.restore_day([f for f in fills if f.ts_event >= midnight], time.time_ns())
        for p in oms.get("positions", []):
            self.engine.on_position(msgspec.convert(p, Position))
        for acct in oms.get("accounts", []):
            self.engine.on_account(msgspec.convert(acct, Account))
        self.engine.reset_orders()
        for u in oms.get("orders", []):
            self.engine.on_order(msgspec.convert(u, OrderUpdate))
        if oms.get("killed"):
            self._send(self.engine.on_gateway_kill(str(oms.get("kill_reason", "")), time.time_ns()))
        self._send(self.engine.mark_ready(time.time_ns()))
        log.info("risk_ready", positions=len(oms.get("positions", [])), day_fills=len(fills))

    async def _day_fills(self) -> list[Any]:
        since = _midnight_ns()
        wait = self.settings.risk.recorder_wait_s
        if wait <= 0:
            log.warning("no_recorded_fills", reason="risk.recorder_wait_s = 0: the day's PnL starts at zero")
            return []
        try:
            rows = await self.client("recorder").call(
                Query(kind="fills", filters={"since_ns": str(since)}, limit=100_000), timeout_s=wait
            )
            return list(rows)
        except (RequestTimeout, RequestRefused) as exc:
            log.info("no_recorded_fills", reason=str(exc)[:200])
            return []

    # ---- bus ---------------------------------------------------------------------------------

    def _on_message(self, topic: str, msg: Any, env: Envelope) -> None:
        now = time.time_ns()
        match msg:
            case TargetQuotes(origin="strategy"):
                t0 = time.perf_counter()
                out = self.engine.check(msg, now)
                CHECK_TIME.observe(time.perf_counter() - t0)
                self._send(out)
                return
            case Fill():
                self.engine.on_fill(msg)
            case Position():
                self.engine.on_position(msg)
            case Account():
                self.engine.on_account(msg)
            case FundingPaid(symbol=sym, amount=amount):
                self.engine.on_funding(sym, amount)
            case MarkPrice():
                self.engine.on_mark(msg)
            case Features():
                self.engine.on_features(msg)
                return  # frequent: the ticker runs the rules
            case FeedStatus():
                self.engine.on_feed_status(msg)
            case OrderUpdate():
                self.engine.on_order(msg)
                self._latency(msg)
                return
            case VenueLatency():
                self.engine.on_venue_latency(msg, self.settings.venue.http_timeout_s * 1000)
            case _:
                return
        self._send(self.engine.tick(now))

    def _latency(self, u: OrderUpdate) -> None:
        """Venue latency per symbol: PendingNew to New of the same order, as the gateway saw it."""
        if u.state == "PendingNew":
            self._pending[u.client_order_id] = u.ts_event
        elif u.client_order_id in self._pending:
            start = self._pending.pop(u.client_order_id)
            if u.state == "New":
                self.engine.on_latency(u.symbol, (u.ts_event - start) / 1e6)
        if len(self._pending) > 10_000:
            self._pending.clear()

    # ---- sending -----------------------------------------------------------------------------

    def _send(self, out: Outcome) -> None:
        for t in out.targets:
            self.publish(topics.risk_target(t.symbol), t)
        for e in out.events:
            self.publish(topics.RISK_EVENT, e)
            EVENTS.labels(e.rule, e.action).inc()
            log.warning(
                "risk_event",
                rule=e.rule,
                action=e.action,
                symbol=e.symbol,
                reason=e.reason,
                from_mode=e.from_mode,
                to_mode=e.to_mode,
            )
        for a in out.actions:
            self.spawn(self._action(a), f"action-{type(a).__name__}", critical=False)
        if out.state_changed:
            self._publish_state()

    async def _action(self, cmd: Any) -> None:
        """A gateway action: to the gateway trading its symbol, or to every account's gateway."""
        name = type(cmd).__name__
        targets = operator.route(self.settings, ("gateway",), getattr(cmd, "symbol", ""))
        for row in await operator.broadcast(self.client, cmd, targets, 30.0):
            if row["ok"]:
                ACTIONS.labels(name, "ok").inc()
            else:
                ACTIONS.labels(name, "failed").inc()
                log.error(
                    "risk_action_failed", action=name, gateway=row["service"], error=str(row["error"])[:200]
                )

    def _publish_state(self) -> None:
        st = self.engine.state(time.time_ns())
        self.publish(topics.RISK_STATE, st)
        self._last_state = time.monotonic_ns()
        worst = st.mode
        for sym, r in st.symbols.items():
            MODE.labels(sym).set(MODE_ORDER.get(r.mode, 3))
        MODE.labels("account").set(MODE_ORDER.get(worst, 3))

    async def _ticker(self) -> None:
        interval = self.settings.risk.tick_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self._send(self.engine.tick(time.time_ns()))
            if time.monotonic_ns() - self._last_state > self.settings.risk.state_interval_s * 1e9:
                self._publish_state()

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.settings.risk.snapshot_interval_s)
            self.publish(
                topics.state(self.name), StateSnapshot(service=self.name, payload=self.engine.snapshot())
            )

    # ---- commands ----------------------------------------------------------------------------

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        if isinstance(cmd, GetSnapshot):
            return msgspec.to_builtins(self.engine.state(time.time_ns()))
        try:
            out = self.engine.on_command(cmd, time.time_ns())
        except CommandRefused as exc:
            raise CommandError(str(exc)) from None
        log.warning("risk_command", command=type(cmd).__name__, sender=req.sender)
        self._send(out)
        self._publish_state()
        return {
            "mode": self.engine.state(time.time_ns()).mode,
            "actions": [type(a).__name__ for a in out.actions],
        }

    async def on_reload(self, new: Settings) -> None:
        self.engine.set_params(new.risk.params)
        self.engine.set_accounts({sym: new.account_of(sym) for sym in new.symbols})
        self.settings = new
        log.info("risk_params_reloaded")

    def status_detail(self) -> dict[str, str]:
        st = self.engine.state(time.time_ns())
        out = {"mode": st.mode, "ready": str(st.ready).lower()}
        out.update({s: f"{r.mode}{' (' + r.reason + ')' if r.reason else ''}" for s, r in st.symbols.items()})
        if self.settings.accounts:  # several accounts: each one's figures (``mmctl status``)
            for name in self.settings.account_names:
                figs = {k: st.figures.get(f"account.{name}.{k}") for k in ("equity", "pnl_day", "notional")}
                out[f"account.{name}"] = " ".join(f"{k}={v:.2f}" for k, v in figs.items() if v is not None)
        return out


def _midnight_ns() -> int:
    """00:00 UTC today, in ns."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1e9)
