"""The gateway / OMS service: the one truth about orders, fills and positions, and the only
process that talks to the venue's trading API.

Start-up, before any order: clock sync, instruments, adoption or cleanup of open orders,
positions, and the fills made while it was away. Then it reconciles the venue toward the latest
``risk.target.<SYMBOL>`` of each symbol, within its rate budget and hard caps, and publishes
``oms.order``, ``oms.fill`` (exactly once per trade), ``oms.position`` and ``oms.account``.

It fails closed: no ``risk.state`` for ``risk_silence_s`` (or risk not ready or killed) cancels
every order; a symbol whose ``md.status`` is not live has its orders canceled; and the venue's
dead-man's switch (``countdownCancelAll``), renewed on a timer, cancels everything if this
process dies or freezes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge

from common import topics
from common.binance.errors import BinanceError
from common.binance.exchange_info import instruments
from common.binance.rest import RestClient, until_answered
from common.binance.user import AccountUpdate, OrderTradeUpdate, TradeLite, UserEvent
from common.binance.user_stream import UserStream
from common.binance.ws_api import WsApiClient
from common.bus import RequestRefused, RequestTimeout
from common.logging import log
from common.messages import (
    Account,
    AnyCommand,
    Balance,
    CancelAll,
    Envelope,
    FeedStatus,
    Fill,
    Flatten,
    FundingPaid,
    GetSnapshot,
    Kill,
    MarkPrice,
    OmsEvent,
    Pause,
    Query,
    ReducePosition,
    Request,
    Resume,
    RiskState,
    TargetQuotes,
)
from common.metrics import latency_summary
from common.runtime import CommandError, Service
from services.gateway.budget import Budget
from services.gateway.caps import Caps
from services.gateway.client_ids import ClientIds, new_session
from services.gateway.executor import Executor
from services.gateway.flatten import Reducer
from services.gateway.oms import Effects, Oms
from services.gateway.reconcile import plan
from services.gateway.venue import Venue
from services.gateway.venue_sync import VenueSync

FILLS = Counter("mm_total_fills", "Fills published", ["symbol", "side"])
ACTIVE = Gauge("mm_active_orders", "Open orders", ["symbol", "side"])
POSITION = Gauge("mm_position", "Net position", ["symbol"])
ENTRY = Gauge("mm_entry_price", "Entry price", ["symbol"])
UPNL = Gauge("mm_unrealized_pnl", "Unrealized PnL", ["symbol"])
RPNL = Gauge("mm_realized_pnl", "Realized PnL of the session", ["symbol"])
FAIL_CLOSED = Gauge(
    "mm_gateway_fail_closed", "1 while a symbol is held flat by a fail-closed rule", ["symbol"]
)
DEFERRED = Counter("mm_gateway_deferred_total", "Actions deferred by the rate budget", ["reason"])
ANOMALIES = Counter("mm_gateway_anomalies_total", "Venue events the OMS ignored as anomalies", ["kind"])
BAD_EVENTS = Counter("mm_gateway_bad_events_total", "User-stream payloads that failed to decode")
EMPTY = Decimal(0)


class GatewayService(Service):
    """Venue connection, OMS, reconciliation, safety."""

    name = "gateway"

    async def on_start(self) -> None:
        cfg = self.settings.gateway
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        secret = self.settings.api_secret.get_secret_value() if self.settings.api_secret else ""
        if not key or not secret:
            raise CommandError("the gateway needs MM_API_KEY and MM_API_SECRET in the environment")
        venue_cfg = self.settings.venue
        rest = RestClient(venue_cfg.rest_url, key, secret, venue_cfg.http_timeout_s, cfg.recv_window_ms)
        ws = (
            WsApiClient(venue_cfg.ws_api_url, key, secret, rest, venue_cfg.http_timeout_s)
            if cfg.order_path == "ws_api"
            else None
        )
        self.venue = Venue(rest, ws)
        self.symbols = list(self.settings.symbols)
        info = await until_answered(rest.exchange_info)
        await until_answered(rest.sync_time)
        self.instruments = instruments(info, self.symbols, venue_cfg.market)
        p = cfg.params
        self.oms = Oms(ClientIds(p.client_ids.prefix, new_session(time.time_ns())), p.oms)
        self.budget = Budget(p.budget)
        self.executor = Executor(self.venue, self.oms, Caps(p.caps), self._emit, cfg.order_path)
        self.sync = VenueSync(
            self.venue, self.oms, self.executor, self._emit, cfg.foreign_orders, self._repaired
        )
        self.reducer = Reducer(self.executor, self.instruments)
        self._init_state()
        await self._startup_reconcile()
        self.stream = UserStream(
            rest,
            venue_cfg.ws_private_url,
            self._on_user_event,
            self._on_gap,
            lambda d: BAD_EVENTS.inc(),
            cfg.listen_key_keepalive_s,
        )
        self.spawn(self.stream.run(), "user-stream")
        self.subscribe(
            [
                topics.family("risk", "target"),
                topics.RISK_STATE,
                topics.family("md", "status"),
                topics.family("md", "mark"),
            ],
            self._on_message,
        )
        for name, coro in (
            ("deadman", self._deadman()),
            ("watchdog", self._watchdog()),
            ("reconcile", self._reconcile_loop()),
            ("resolver", self._resolver()),
        ):
            self.spawn(coro, name)

    def _init_state(self) -> None:
        self.targets: dict[str, TargetQuotes] = {}
        self.target_ns: dict[str, int] = {}
        self.feeds: dict[str, str] = {}
        self.marks: dict[str, Decimal] = {}
        self.risk_seen_ns = 0
        self.risk_ready = False
        self.risk_killed = False
        self.killed = False
        self.paused: set[str] = set()
        self.held: dict[str, str] = {}
        self.dirty: set[str] = set()
        self.passing: dict[str, asyncio.Task[None]] = {}
        self.fills: deque[Fill] = deque(maxlen=5000)
        self.account: Account | None = None
        self.gap_pending = False

    async def _startup_reconcile(self) -> None:
        """Before any order: what is open, what we hold, and what filled while we were away."""
        recent = await self._recorded_fills()
        self.oms.remember_fills(recent)
        for f in recent:
            self.sync.last_trade_id[f.symbol] = max(self.sync.last_trade_id.get(f.symbol, 0), f.trade_id)
        for sym, lev in self.settings.gateway.leverage.items():
            await self.venue.set_leverage(sym, lev)
        await self.sync.full(self.symbols, startup=True)
        await self._refresh_account()
        self._emit(self.oms.snapshot(time.time_ns()))
        log.info(
            "gateway_reconciled",
            open_orders=sum(len(self.oms.working(s)) for s in self.symbols),
            fills_known=len(recent),
        )

    async def _recorded_fills(self) -> list[Fill]:
        """The recorder's last fills, so a restart does not publish old fills again."""
        try:
            rows = await self.client("recorder").call(Query(kind="fills", limit=2000), timeout_s=2.0)
            return [msgspec.convert(r, Fill) for r in rows]
        except (RequestTimeout, RequestRefused, msgspec.ValidationError, TypeError) as exc:
            log.info("no_recorded_fills", reason=str(exc)[:200])
            return []

    # ---- publishing --------------------------------------------------------------------------

    def _emit(self, eff: Effects) -> None:
        for f in eff.fills:
            self.fills.append(f)
            self.publish(topics.oms_fill(f.symbol), f)
            FILLS.labels(f.symbol, f.side).inc()
            self.sync.last_trade_id[f.symbol] = max(self.sync.last_trade_id.get(f.symbol, 0), f.trade_id)
        for u in eff.updates:
            self.publish(topics.oms_order(u.symbol), u)
        for p in eff.positions:
            self.publish(topics.oms_position(p.symbol), p)
            POSITION.labels(p.symbol).set(float(p.qty))
            ENTRY.labels(p.symbol).set(float(p.entry_price))
            UPNL.labels(p.symbol).set(float(p.unrealized_pnl))
            RPNL.labels(p.symbol).set(float(p.realized_pnl))
        for a in eff.anomalies:
            ANOMALIES.labels(a.kind).inc()
        if eff.updates or eff.fills:
            self._count_active()

    def _count_active(self) -> None:
        for sym in self.symbols:
            work = self.oms.working(sym)
            ACTIVE.labels(sym, "BUY").set(sum(1 for r in work if r.side == "BUY"))
            ACTIVE.labels(sym, "SELL").set(sum(1 for r in work if r.side == "SELL"))

    def _repaired(self, kind: str, symbol: str, detail: str) -> None:
        self.publish(topics.OMS_EVENT, OmsEvent(kind=kind, symbol=symbol, detail=detail))

    # ---- inputs ------------------------------------------------------------------------------

    def _on_message(self, topic: str, msg: Any, env: Envelope) -> None:
        match msg:
            case TargetQuotes(symbol=sym, origin="risk") if sym in self.instruments:
                self.targets[sym] = msg
                self.target_ns[sym] = time.time_ns()
                self._schedule(sym)
            case RiskState():
                self.risk_seen_ns = time.time_ns()
                self.risk_ready = msg.ready
                self.risk_killed = msg.mode == "killed"
            case FeedStatus(symbol=sym, state=state):
                changed = self.feeds.get(sym) != state
                self.feeds[sym] = state
                if changed and sym in self.instruments:
                    self._schedule(sym)
            case MarkPrice(symbol=sym):
                self.marks[sym] = msg.mark_price

    def _on_user_event(self, ev: UserEvent, recv_ns: int) -> None:
        match ev:
            case OrderTradeUpdate():
                self._emit(self.oms.on_order_trade_update(ev, recv_ns))
            case TradeLite():
                self._emit(self.oms.on_trade_lite(ev, recv_ns))
            case AccountUpdate():
                self._emit(self.oms.on_account_update(ev, recv_ns))
                self._account_from_event(ev)

    def _account_from_event(self, ev: AccountUpdate) -> None:
        if ev.a.m == "FUNDING_FEE" and ev.a.S:
            for b in ev.a.B:
                paid = FundingPaid(symbol=ev.a.S, asset=b.a, amount=Decimal(b.bc), ts_event=ev.E * 1_000_000)
                self.publish(topics.oms_funding(ev.a.S), paid)
        if not ev.a.B:
            return
        old = {b.asset: b for b in (self.account.balances if self.account else [])}
        for b in ev.a.B:
            prev = old.get(b.a)
            old[b.a] = Balance(asset=b.a, wallet=Decimal(b.wb), available=prev.available if prev else EMPTY)
        self.account = Account(balances=list(old.values()), reason=ev.a.m, ts_event=ev.E * 1_000_000)
        self.publish(topics.OMS_ACCOUNT, self.account)

    def _on_gap(self) -> None:
        """The user stream (re)connected: anything may have been missed; reconcile through REST."""
        self.gap_pending = True

    # ---- reconciliation toward the target ----------------------------------------------------

    def _hold_reason(self, sym: str, now: int) -> str:
        """Why this symbol must have no quotes now ("" = quote the target)."""
        if self.killed or self.risk_killed:
            return "killed"
        if not self.risk_seen_ns or now - self.risk_seen_ns > self.settings.gateway.risk_silence_s * 1e9:
            return "risk silent"
        if not self.risk_ready:
            return "risk not ready"
        if sym in self.paused or "" in self.paused:
            return "paused"
        if self.feeds.get(sym) != "live":
            return f"market data {self.feeds.get(sym, 'unknown')}"
        return ""

    def _schedule(self, sym: str) -> None:
        task = self.passing.get(sym)
        if task is not None and not task.done():
            self.dirty.add(sym)
            return
        self.passing[sym] = asyncio.create_task(self._pass(sym))

    async def _pass(self, sym: str) -> None:
        while True:
            self.dirty.discard(sym)
            try:
                await self._one_pass(sym)
            except BinanceError as exc:
                log.warning("pass_failed", symbol=sym, error=str(exc)[:200])
            if sym not in self.dirty:
                return

    async def _one_pass(self, sym: str) -> None:
        now = time.time_ns()
        reason = self._hold_reason(sym, now)
        if reason != self.held.get(sym, ""):
            log.warning("fail_closed" if reason else "fail_closed_lifted", symbol=sym, reason=reason)
            FAIL_CLOSED.labels(sym).set(1 if reason else 0)
            self.held[sym] = reason
        target = self.targets.get(sym)
        if reason or target is None:
            target = TargetQuotes(
                symbol=sym, target_id=target.target_id if target else 0, quotes=[], origin="risk"
            )
        p = plan(
            target, self.oms.working(sym), self.instruments[sym], self.settings.gateway.params.reconcile, now
        )
        adm = self.budget.admit(p.actions, now, urgent=bool(reason))
        for k, n in adm.deferred_by.items():
            DEFERRED.labels(k).inc(n)
        exposures = self.oms.exposures(self.marks)
        for action in adm.admitted:
            await self.executor.run(action, exposures, self.target_ns.get(sym, 0))
        if adm.deferred:
            self._retry_later(sym, adm.retry_at_ns)

    def _retry_later(self, sym: str, at_ns: int | None) -> None:
        delay = max(0.01, (at_ns - time.time_ns()) / 1e9) if at_ns else 0.25
        asyncio.get_running_loop().call_later(delay, self._schedule, sym)

    # ---- timers ------------------------------------------------------------------------------

    async def _deadman(self) -> None:
        """Renew the venue's countdownCancelAll: if we stop renewing, the venue cancels everything."""
        cfg = self.settings.gateway
        while True:
            for sym in self.symbols:
                try:
                    await self.venue.countdown(sym, cfg.deadman_ms)
                except BinanceError as exc:
                    log.warning("deadman_refresh_failed", symbol=sym, error=str(exc)[:200])
            await asyncio.sleep(cfg.deadman_refresh_s)

    async def _watchdog(self) -> None:
        """Re-run passes when a fail-closed condition starts or ends without a new message."""
        while True:
            await asyncio.sleep(0.2)
            now = time.time_ns()
            for sym in self.symbols:
                if self._hold_reason(sym, now) != self.held.get(sym, ""):
                    self._schedule(sym)

    async def _reconcile_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(0.5 if self.gap_pending else self.settings.gateway.reconcile_interval_s)
            gap, self.gap_pending = self.gap_pending, False
            await self.sync.full(self.symbols)
            n += 1
            if gap or n % 6 == 0:
                await self._refresh_account()
            self.oms.prune(time.time_ns())

    async def _resolver(self) -> None:
        """Settle unknown outcomes by querying by client id (never by resending)."""
        while True:
            await asyncio.sleep(0.3)
            try:
                if await self.executor.resolve_unknowns():
                    for sym in self.symbols:
                        self._schedule(sym)
            except BinanceError as exc:
                log.warning("resolver_failed", error=str(exc)[:200])

    async def _refresh_account(self) -> None:
        try:
            data = await self.venue.account()
        except BinanceError as exc:
            log.warning("account_refresh_failed", error=str(exc)[:200])
            return
        self.account = Account(
            balances=[
                Balance(
                    asset=a["asset"],
                    wallet=Decimal(a["walletBalance"]),
                    available=Decimal(a["availableBalance"]),
                    unrealized_pnl=Decimal(a["unrealizedProfit"]),
                    margin_balance=Decimal(a["marginBalance"]),
                    maint_margin=Decimal(a["maintMargin"]),
                    initial_margin=Decimal(a["initialMargin"]),
                )
                for a in data.get("assets", [])
            ],
            reason="rest",
        )
        self.publish(topics.OMS_ACCOUNT, self.account)

    # ---- commands ----------------------------------------------------------------------------

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        match cmd:
            case GetSnapshot(what="oms" | ""):
                return self._snapshot()
            case GetSnapshot(what="latency"):
                out: dict[str, Any] = latency_summary(self.executor.target_to_ack_ns)
                if not out["count"]:
                    return out
                out["path"] = self.settings.gateway.order_path
                for stage, d in self.executor.stages_ns.items():
                    st = latency_summary(d)
                    if st["count"]:
                        out[f"{stage}_p50_us"], out[f"{stage}_p99_us"] = st["p50_us"], st["p99_us"]
                return out
            case Kill(flatten=flatten, reason=reason):
                self.killed = True
                log.warning("kill", reason=reason, flatten=flatten, sender=req.sender)
                canceled = await self._cancel_all(self.symbols)
                if flatten:
                    for sym in self.symbols:
                        await self._flatten(
                            sym,
                            self.settings.gateway.flatten_max_slippage_pct,
                            self.settings.gateway.flatten_maker_wait_s,
                        )
                return {"killed": True, "cancel_requests": canceled, "flattened": flatten}
            case CancelAll(symbol=sym):
                return {"cancel_requests": await self._cancel_all([sym] if sym else self.symbols)}
            case Pause(symbol=sym):
                self.paused.add(sym)
                for s in [sym] if sym else self.symbols:
                    self._schedule(s)
                return {"paused": sym or "all"}
            case Resume(symbol=sym):
                self.paused.discard(sym)
                if not sym:
                    self.paused.clear()
                    self.killed = False
                for s in self.symbols:
                    self._schedule(s)
                return {"resumed": sym or "all"}
            case Flatten(symbol=sym, max_slippage_pct=slip, maker_wait_s=wait):
                return {s: await self._flatten(s, slip, wait) for s in ([sym] if sym else self.symbols)}
            case ReducePosition(symbol=sym, qty=qty, mode=mode, max_slippage_pct=slip, maker_wait_s=wait):
                pos = self._position(sym)
                filled = await self.reducer.reduce(sym, qty, pos, mode, slip, wait)
                return {"symbol": sym, "filled": str(filled)}
        raise CommandError(f"gateway does not handle {type(cmd).__name__}")

    def _position(self, sym: str) -> Decimal:
        if sym not in self.instruments:
            raise CommandError(f"unknown symbol {sym!r}")
        return self.oms.exposure(sym).position

    async def _flatten(self, sym: str, slip: float, wait: float) -> str:
        pos = self._position(sym)
        if pos == 0:
            return "flat"
        filled = await self.reducer.reduce(sym, abs(pos), pos, "maker_first_then_taker", slip, wait)
        return f"reduced {filled} of {abs(pos)}"

    async def _cancel_all(self, symbols: list[str]) -> int:
        """Cancel every open order of ``symbols`` at once (one request per symbol)."""
        for sym in symbols:
            for rec in self.oms.working(sym):
                self._emit(self.oms.request_cancel(rec.client_id, time.time_ns()))

        async def one(sym: str) -> bool:
            try:
                await self.venue.cancel_all(sym)
                return True
            except BinanceError as exc:
                log.error("cancel_all_failed", symbol=sym, error=str(exc)[:200])
                return False

        results = await asyncio.gather(*(one(s) for s in symbols))
        self.gap_pending = True  # let the reconcile loop settle every record soon
        return sum(results)

    def _snapshot(self) -> dict[str, Any]:
        eff = self.oms.snapshot(time.time_ns())
        b = msgspec.to_builtins
        return {
            "orders": [b(u) for u in eff.updates],
            "positions": [b(p) for p in eff.positions],
            "account": b(self.account) if self.account else None,
            "fills": [b(f) for f in self.fills],
            "held": dict(self.held),
        }

    def status_detail(self) -> dict[str, str]:
        if not hasattr(self, "oms"):
            return {}
        out = {
            s: f"orders={len(self.oms.working(s))} pos={self.oms.exposure(s).position}" for s in self.symbols
        }
        out.update({f"{s}_held": r for s, r in self.held.items() if r})
        return out

    async def on_stop(self) -> None:
        if not hasattr(self, "venue"):
            return
        if self.settings.gateway.cancel_on_stop and hasattr(self, "oms"):
            try:
                await asyncio.wait_for(self._cancel_all(self.symbols), 5.0)
            except TimeoutError:
                log.error("cancel_on_stop_timed_out")
        await self.venue.close()
