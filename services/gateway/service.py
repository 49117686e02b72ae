"""The gateway / OMS service: the one truth about orders, fills and positions, and the only
process that talks to the venue's trading API.

Its state (OMS, guard, executor, kill switch) is built before it serves a command; start-up then
connects: clock sync, instruments, leverage, the fills the recorder already holds, adoption or
cleanup of open orders, positions, and the fills made while it was away. Then it reconciles the
venue toward the latest ``risk.target.<SYMBOL>`` of each symbol, within its rate budget and hard
caps, and publishes ``oms.order``, ``oms.fill`` (exactly once per trade), ``oms.position``,
``oms.account`` and ``oms.latency`` (a timed round trip to the venue every few seconds).

It fails closed: no ``risk.state`` for ``risk_silence_s`` (or risk not ready or killed) cancels
every order; a symbol whose market data is not live, or whose ``md.status`` has not been heard
for ``md_silence_s``, has its orders canceled; and the venue's dead-man's switch
(``countdownCancelAll``), renewed on a timer, cancels everything if this process dies or freezes.
The kill switch (:mod:`kill`, :mod:`sweep`) is persisted and swept until the venue shows zero.
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
from common.binance.errors import BinanceError, OutcomeUnknown, ServiceUnavailable
from common.binance.exchange_info import instruments
from common.binance.rest import RestClient, until_answered
from common.binance.shared_limits import SharedLimits, shared_path
from common.binance.trading import AccountInfo, convert
from common.binance.user import AccountUpdate, UserEvent
from common.binance.user_stream import UserStream
from common.binance.ws_api import WsApiClient
from common.bus import RequestRefused, RequestTimeout
from common.config import SPOT_GATEWAY, Settings
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
    VenueLatency,
)
from common.metrics import latency_summary
from common.runtime import CommandError, Service, wait_set
from common.trace import CAUSE
from services.gateway.activity import Activity
from services.gateway.core import GatewayCore
from services.gateway.fillmarks import FillMarks
from services.gateway.kill import KillFile, KillReport, KillState
from services.gateway.oms import Effects
from services.gateway.sendmark import SendMark
from services.gateway.spot import Inventory, SpotUserStream, SpotVenue, spot_params
from services.gateway.venue import Venue

RECENT_FILLS = Gauge(
    "mm_recent_fills", "Our fills in the last minute (seed: mm_recent_fills_count)", ["symbol"]
)
FILL_RATE = Gauge("mm_fill_rate_current", "Fills over orders placed, last minute", ["symbol"])
FILL_RATE_5M = Gauge(
    "mm_fill_rate_5m", "Fills over orders placed, last five minutes (seed 002: > 35 %)", ["symbol"]
)
NOTIONAL = Gauge(
    "mm_total_notional", '|position| × mark, quote currency; symbol "" is the account\'s total', ["symbol"]
)
FUNDING = Gauge(
    "mm_funding_pnl_acc",
    "Funding received (+) or paid (-) since this gateway started, by symbol and asset (seed 002)",
    ["symbol", "asset"],
)
FILLS = Counter("mm_fills", "Fills published (seed: mm_total_fills, mm_fills_total)", ["symbol", "side"])
ACTIVE = Gauge("mm_active_orders", "Open orders", ["symbol", "side"])
POSITION = Gauge("mm_position", "Net position", ["symbol"])
ENTRY = Gauge("mm_entry_price", "Entry price", ["symbol"])
UPNL = Gauge("mm_unrealized_pnl", "Unrealized PnL", ["symbol"])
RPNL = Gauge("mm_realized_pnl", "Realized PnL of the session", ["symbol"])
FAIL_CLOSED = Gauge(
    "mm_gateway_fail_closed", "1 while a symbol is held flat by a fail-closed rule", ["symbol"]
)
KILLED = Gauge("mm_kill_engaged", "1 while the kill switch is engaged")
DEADMAN = Gauge(
    "mm_deadman_renewed_timestamp_seconds",
    "Unix time the venue last accepted the dead-man's switch (countdownCancelAll) for a symbol",
    ["symbol"],
)
DEFERRED = Counter("mm_gateway_deferred_total", "Actions deferred by the rate budget", ["reason"])
ANOMALIES = Counter("mm_gateway_anomalies_total", "Venue events the OMS ignored as anomalies", ["kind"])
BAD_EVENTS = Counter("mm_gateway_bad_events_total", "User-stream payloads that failed to decode")
PROBE = Gauge("mm_venue_round_trip_seconds", "Last timed round trip to the venue (latency probe)")
EMPTY = Decimal(0)
KILL_REPLY_WAIT_S = 1.0


class GatewayService(Service):
    """Venue connection, OMS, reconciliation, safety."""

    name = "gateway"

    def __init__(self, settings: Settings, instance: str = "") -> None:
        super().__init__(settings, instance)
        cfg, p = settings.gateway, settings.gateway.params
        # One gateway instance per account (``gateway`` for the primary one, ``gateway-<account>``
        # for each other): its key pair, its symbols, its own kill switch and send mark.
        self.account_name = settings.account_of_gateway(self.name)
        self.symbols = settings.gateway_symbols(self.name)
        # ``gateway-spot`` trades the primary account's spot symbols through the same OMS, the
        # venue's spot API translated at the edge (services.gateway.spot).
        self.spot = self.name == SPOT_GATEWAY
        self.instruments: dict[str, Any] = {}
        self.kill_file = KillFile(settings.run_path / f"{self.name}.kill.json")
        self.kill_state = self.kill_file.load()
        KILLED.set(1 if self.kill_state.engaged else 0)
        self.targets: dict[str, TargetQuotes] = {}
        self.target_ns: dict[str, int] = {}
        self.causes: dict[str, tuple[int, int, int]] = {}  # the current target's trace (common.trace)
        self.feeds: dict[str, tuple[str, int]] = {}  # symbol -> (state, monotonic ns when heard)
        self.marks: dict[str, Decimal] = {}
        self.positions: dict[str, Decimal] = {}
        self.activity = Activity()
        self.risk_seen_ns = 0
        self.risk_ready = False
        self.risk_killed = False
        self.paused: set[str] = set()
        self.blocked: dict[str, str] = {}  # symbol -> why it may never quote (e.g. leverage refused)
        self.held: dict[str, str] = {}
        self.dirty: set[str] = set()
        self.passing: dict[str, asyncio.Task[None]] = {}
        self.fills: deque[Fill] = deque(maxlen=5000)
        self.account: Account | None = None
        self.gap_pending = False
        key, secret = settings.account_credentials(self.account_name)
        self.has_keys = bool(key and secret)
        venue_cfg = settings.venue
        rest_url = venue_cfg.spot_rest if self.spot else venue_cfg.rest_url
        ws_api_url = venue_cfg.spot_ws_api if self.spot else venue_cfg.ws_api_url
        shared = SharedLimits(shared_path(settings.run_path, rest_url + ("#spot" if self.spot else "")))
        self.rest = RestClient(
            rest_url,
            key,
            secret,
            venue_cfg.http_timeout_s,
            cfg.recv_window_ms,
            shared=shared,
            market="spot" if self.spot else "usdm",
        )
        ws = (
            WsApiClient(ws_api_url, key, secret, self.rest, venue_cfg.http_timeout_s)
            if cfg.order_path == "ws_api"
            else None
        )
        self.inventory = Inventory({}, settings.spot_inventory)
        self.venue: Venue | SpotVenue = (
            SpotVenue(self.rest, ws, self.inventory) if self.spot else Venue(self.rest, ws)
        )
        if self.spot:
            p = spot_params(p)
        self.send_mark = SendMark(settings.run_path / f"{self.name}.lastsend")
        self.fill_marks = FillMarks(settings.run_path / f"{self.name}.fills.json")
        self.above: set[tuple[str, int, str]] = set()
        """Fills published (in this session or an earlier one) above the trade marks."""
        self.core = GatewayCore(
            self.venue,
            p,
            self.symbols,
            self.instruments,
            self._emit,
            lambda: self.kill_state,
            self._quote_hold,
            self.marks,
            path=cfg.order_path,
            stp=cfg.self_trade_prevention,
            foreign=cfg.foreign_orders,
            on_repair=self._repaired,
            flatten_slippage_pct=cfg.flatten_max_slippage_pct,
            last_send_ns=self.send_mark.last(),
            on_send=self.send_mark.touch,
        )
        self.oms, self.executor, self.sync = self.core.oms, self.core.executor, self.core.sync
        self.reducer, self.sweeper = self.core.reducer, self.core.sweeper
        self._sweep: asyncio.Task[None] | None = None
        self._connected = False

    def serves_while_starting(self, cmd: AnyCommand) -> bool:
        """A kill is taken at any moment: it is persisted at once and swept once connected."""
        return isinstance(cmd, Kill) or (isinstance(cmd, GetSnapshot) and cmd.what == "kill")

    async def on_start(self) -> None:
        if not self.has_keys:
            key_var, secret_var = self.settings.account_key_vars(self.account_name)
            raise CommandError(f"{self.name} needs {key_var} and {secret_var} in the environment")
        info = await until_answered(self.rest.exchange_info)
        await until_answered(self.rest.sync_time)
        market = "spot" if self.spot else self.settings.venue.market
        self.instruments.update(instruments(info, self.symbols, market))
        if self.spot:
            self._spot_inventory()
        await self._startup_reconcile()
        self._connected = True
        if self.spot:
            key, secret = self.settings.account_credentials(self.account_name)
            self.stream: UserStream | SpotUserStream = SpotUserStream(
                self.settings.venue.spot_ws_api,
                key,
                secret,
                self.rest,
                self.inventory,
                self._on_user_event,
                self._on_gap,
                self._bad_event,
            )
        else:
            self.stream = UserStream(
                self.rest,
                self.settings.venue.ws_private_url,
                self._on_user_event,
                self._on_gap,
                self._bad_event,
                self.settings.gateway.listen_key_keepalive_s,
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
        timers = [self._watchdog(), self._reconcile_loop(), self._resolver(), self._probe()]
        names = ["watchdog", "reconcile", "resolver", "probe"]
        if not self.spot:  # spot has no countdownCancelAll (README, "Spot": what stands in)
            timers.append(self._deadman())
            names.append("deadman")
        for name, coro in zip(names, timers, strict=True):
            self.spawn(coro, name)
        if self.kill_state.engaged:
            log.warning(
                "kill_engaged_at_start", reason=self.kill_state.reason, since_ns=self.kill_state.since_ns
            )
            self._start_sweep()

    def _spot_inventory(self) -> None:
        """Each spot symbol's base asset and flat holding; a symbol without ``spot_inventory`` is
        refused: its position (and so every inventory rule) would be undefined."""
        missing = [s for s in self.symbols if s not in self.settings.spot_inventory]
        if missing:
            raise CommandError(
                f"{self.name}: spot_inventory has no flat holding for {', '.join(missing)} (the base "
                "asset held that counts as position 0, e.g. spot_inventory = {ETHUSDT = 4})"
            )
        bases = {s: inst.base_asset for s, inst in self.instruments.items()}
        self.inventory.bases.update(bases)
        self.inventory.entry = lambda sym: (
            self.oms.positions[sym].entry if sym in self.oms.positions else EMPTY
        )
        self.oms.base_assets.update(bases)

    async def _startup_reconcile(self) -> None:
        """Before any order: leverage, what is open, what we hold, and what filled while we were away."""
        own = self.fill_marks.load()
        if own is not None:
            self.oms.remember(own[1])
            self.above.update(own[1])
            self.sync.seed(own[0])
        others = [s for s in self.symbols if own is None or s not in own[0]]
        self.sync.seed(await self._recorded_marks(others) if others else {})
        for sym, lev in self.settings.gateway.leverage.items():
            if sym not in self.symbols:
                continue
            await self._set_leverage(sym, lev)
        await self.sync.full(self.symbols, startup=True)
        self.above &= set(self.oms.published())  # less what the start-up check forgot
        self._save_fill_marks()
        await self._refresh_account()
        self._emit(self.oms.snapshot(time.time_ns()))
        log.info(
            "gateway_reconciled",
            open_orders=sum(len(self.oms.working(s)) for s in self.symbols),
            trade_marks=dict(self.sync.trade_mark),
        )

    async def _set_leverage(self, sym: str, lev: int) -> None:
        """Set a symbol's leverage; a refusal blocks that symbol's quoting instead of the whole gateway."""
        try:
            await until_answered_bounded(lambda: self.venue.set_leverage(sym, lev))
        except BinanceError as exc:
            why = f"leverage {lev} refused by the venue: {exc.msg or exc}"
            self.blocked[sym] = why
            log.error("leverage_refused", symbol=sym, leverage=lev, error=str(exc)[:200])

    def _save_fill_marks(self) -> None:
        """At every fill published (after it), every reconcile pass, start-up and a stop; only the
        fills above the marks are kept, a handful between two passes."""
        self.above = set(self.fill_marks.save(self.sync.trade_mark, self.above))

    async def _recorded_marks(self, symbols: list[str]) -> dict[str, int]:
        """For ``symbols`` (those the gateway's own fill marks do not know), the trade id up to which
        every fill was published in an earlier session as the recorder sees it (its contiguous venue
        watermark, else its newest stored fill), and the fills above it, so a restart neither
        republishes old fills nor skips a missed one. Waits for a starting recorder up to
        ``recorder_wait_s`` (0: the recorder is not asked)."""
        wait = self.settings.gateway.recorder_wait_s
        if not wait:
            return {}
        client = self.client("recorder")
        deadline = time.monotonic() + wait
        while True:
            try:
                rows = await client.call(Query(kind="fill_marks"), timeout_s=2.0)
                break
            except (RequestTimeout, RequestRefused) as exc:
                starting = isinstance(exc, RequestTimeout) or str(exc).startswith("not ready")
                if not starting or time.monotonic() > deadline:
                    log.warning("fill_marks_unavailable", reason=str(exc)[:200])
                    return {}
                await asyncio.sleep(0.5)
        marks: dict[str, int] = {}
        for row in rows if isinstance(rows, list) else []:
            sym = row.get("symbol") if isinstance(row, dict) else None
            mark = row.get("venue_mark") or row.get("max_trade_id") if isinstance(row, dict) else None
            if sym in symbols and isinstance(mark, int):
                marks[sym] = mark
        for sym, mark in marks.items():
            try:
                above = await client.call(
                    Query(kind="fills", filters={"symbol": sym, "after_trade_id": str(mark)}, limit=100_000),
                    timeout_s=5.0,
                )
                fills = [msgspec.convert(f, Fill) for f in above]
                self.oms.remember_fills(fills)
                self.above.update((f.symbol, f.trade_id, f.side) for f in fills)
            except (RequestTimeout, RequestRefused, msgspec.ValidationError, TypeError) as exc:
                log.warning("recorded_fills_unavailable", symbol=sym, reason=str(exc)[:200])
        return marks

    # ---- publishing --------------------------------------------------------------------------

    def _emit(self, eff: Effects) -> None:
        now = time.time_ns()
        for f in eff.fills:
            self.fills.append(f)
            self.publish(topics.oms_fill(f.symbol), f)
            FILLS.labels(f.symbol, f.side).inc()
            self.activity.on_fill(f.symbol, now)
            self.above.add((f.symbol, f.trade_id, f.side))
        if eff.fills:
            self._save_fill_marks()  # after publishing: a kill in between publishes them again
        for u in eff.updates:
            self.publish(topics.oms_order(u.symbol), u)
            if u.state == "PendingNew":
                self.activity.on_order(u.symbol, now)
        for p in eff.positions:
            self.publish(topics.oms_position(p.symbol), p)
            self.positions[p.symbol] = p.qty
            POSITION.labels(p.symbol).set(float(p.qty))
            ENTRY.labels(p.symbol).set(float(p.entry_price))
            UPNL.labels(p.symbol).set(float(p.unrealized_pnl))
            RPNL.labels(p.symbol).set(float(p.realized_pnl))
        for a in eff.anomalies:
            ANOMALIES.labels(a.kind).inc()
            if a.kind == "unbooked_fill":  # a fill event was lost: fetch the trades now
                self.gap_pending = True
        if eff.updates or eff.fills:
            self._count_active()

    def _activity_gauges(self) -> None:
        """The seeds' fill-rate and notional figures, refreshed by the watchdog every second."""
        now = time.time_ns()
        total = 0.0
        for sym in self.symbols:
            fig = self.activity.figures(sym, now)
            RECENT_FILLS.labels(sym).set(fig.recent_fills)
            FILL_RATE.labels(sym).set(fig.fill_rate_1m)
            FILL_RATE_5M.labels(sym).set(fig.fill_rate_5m)
            mark = self.marks.get(sym)
            if mark is not None:
                notional = float(abs(self.positions.get(sym, Decimal(0))) * mark)
                NOTIONAL.labels(sym).set(notional)
                total += notional
        NOTIONAL.labels("").set(total)

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
                prev = self.targets.get(sym)
                if prev is None or prev.quotes != msg.quotes or prev.mode != msg.mode:
                    # a new desired state: its arrival and its market event start the order path's
                    # clock (a re-approval or republication of the same set does not restart it)
                    now = time.time_ns()
                    self.target_ns[sym] = now
                    self.causes[sym] = (msg.trace_id, msg.trace_ns, now)
                self.targets[sym] = msg
                self._schedule(sym)
            case RiskState():
                self.risk_seen_ns = time.time_ns()
                self.risk_ready = msg.ready
                self.risk_killed = msg.mode == "killed"
            case FeedStatus(symbol=sym, state=state):
                changed = self.feeds.get(sym, ("", 0))[0] != state
                self.feeds[sym] = (state, time.monotonic_ns())
                if changed and sym in self.instruments:
                    self._schedule(sym)
            case MarkPrice(symbol=sym) if msg.mark_price > 0:
                self.marks[sym] = msg.mark_price

    def _on_user_event(self, ev: UserEvent, recv_ns: int) -> None:
        self._emit(self.oms.on_user_event(ev, recv_ns))
        if isinstance(ev, AccountUpdate):
            self._account_from_event(ev)

    def _bad_event(self, detail: str) -> None:
        """A user-stream payload that did not decode (a broken number, a missing field): counted,
        and a reconcile soon, since the event may have carried a fill."""
        BAD_EVENTS.inc()
        log.warning("user_event_malformed", detail=detail[:300])
        self.publish(topics.OMS_EVENT, OmsEvent(kind="user_event_malformed", detail=detail[:300]))
        self.gap_pending = True

    def _account_from_event(self, ev: AccountUpdate) -> None:
        if ev.a.m == "FUNDING_FEE" and ev.a.S:
            for b in ev.a.B:
                paid = FundingPaid(symbol=ev.a.S, asset=b.a, amount=b.bc, ts_event=ev.E * 1_000_000)
                self.publish(topics.oms_funding(ev.a.S), paid)
                FUNDING.labels(ev.a.S, b.a).inc(float(b.bc))
        if not ev.a.B:
            return
        old = {b.asset: b for b in (self.account.balances if self.account else [])}
        for b in ev.a.B:
            prev = old.get(b.a)
            old[b.a] = Balance(asset=b.a, wallet=b.wb, available=prev.available if prev else EMPTY)
        self.account = Account(
            balances=list(old.values()),
            reason=ev.a.m,
            ts_event=ev.E * 1_000_000,
            account=self.account_name,
            market="spot" if self.spot else "usdm",
        )
        self.publish(topics.OMS_ACCOUNT, self.account)

    def _on_gap(self) -> None:
        """The user stream (re)connected: anything may have been missed; reconcile through REST."""
        self.gap_pending = True

    # ---- reconciliation toward the target ----------------------------------------------------

    def _hold_reason(self, sym: str, now: int) -> str:
        """Why this symbol must have no quotes now ("" = quote the target)."""
        cfg = self.settings.gateway
        if self.kill_state.engaged or self.risk_killed:
            return "killed"
        if sym in self.blocked:
            return self.blocked[sym]
        if not self.risk_seen_ns or now - self.risk_seen_ns > cfg.risk_silence_s * 1e9:
            return "risk silent"
        if not self.risk_ready:
            return "risk not ready"
        if sym in self.paused or "" in self.paused:
            return "paused"
        state, heard = self.feeds.get(sym, ("unknown", 0))
        if state != "live":
            return f"market data {state}"
        silent = (time.monotonic_ns() - heard) / 1e9
        if silent > cfg.md_silence_s:
            return f"market data silent for {silent:.1f} s"
        return ""

    def _quote_hold(self, sym: str) -> str:
        """The guard's view: quotes are refused while the symbol is held."""
        return self._hold_reason(sym, time.time_ns())

    def _schedule(self, sym: str) -> None:
        if self.stopping:  # nothing new goes out once the stop's cancel-all is coming
            return
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
        if reason == "killed" and self.kill_state.engaged:
            return  # the sweeper owns every cancel while the kill switch is engaged
        CAUSE.set(self.causes.get(sym, (0, 0, 0)))
        adm = await self.core.reconcile(sym, self.targets.get(sym), reason, self.target_ns.get(sym, 0))
        for k, n in adm.deferred_by.items():
            DEFERRED.labels(k).inc(n)
        if adm.deferred:
            self._retry_later(sym, adm.retry_at_ns)

    def _retry_later(self, sym: str, at_ns: int | None) -> None:
        delay = max(0.01, (at_ns - time.time_ns()) / 1e9) if at_ns else 0.25
        asyncio.get_running_loop().call_later(delay, self._schedule, sym)

    # ---- the kill switch ---------------------------------------------------------------------

    def _engage(self, reason: str, by: str, flatten: bool) -> None:
        """Persist the kill before anything else: it holds across a restart from this moment."""
        st = self.kill_state
        if not st.engaged or (flatten and not st.flatten):
            self.kill_state = KillState(
                engaged=True,
                reason=reason if not st.engaged else st.reason,
                by=by if not st.engaged else st.by,
                since_ns=st.since_ns if st.engaged else time.time_ns(),
                flatten=flatten or st.flatten,
            )
            self.kill_file.save(self.kill_state)
        KILLED.set(1)
        log.warning("kill_engaged", reason=reason, flatten=flatten, sender=by)

    def _start_sweep(self) -> None:
        if self._connected and (self._sweep is None or self._sweep.done()):
            self.sweeper.begin()
            self._sweep = self.spawn(self.sweeper.run(), "kill-sweep", critical=False)

    def _kill_report(self) -> KillReport:
        st = self.kill_state
        if not st.engaged:
            return KillReport(engaged=False, why="not engaged")
        rep = self.sweeper.report
        if not self._connected:
            return KillReport(
                engaged=True,
                reason=st.reason,
                flatten=st.flatten,
                since_ns=st.since_ns,
                why="gateway starting: the kill is saved and the sweep starts once the venue is connected",
            )
        return rep

    async def _kill(self, cmd: Kill, req: Request) -> dict[str, Any]:
        self._engage(cmd.reason, req.sender, cmd.flatten)
        self._start_sweep()
        # A calm venue confirms within this; otherwise the report goes back now and the operator's
        # tool polls ``GetSnapshot(what="kill")``, so the acknowledgement never waits on a storm.
        budget = min(KILL_REPLY_WAIT_S, (req.deadline_ns - time.time_ns()) / 1e9 - 0.3)
        end = time.monotonic() + max(0.0, budget)
        while not self.sweeper.report.done and self._sweep is not None and not self._sweep.done():
            left = end - time.monotonic()
            if left <= 0:
                break
            self.sweeper.changed.clear()
            if not await wait_set(self.sweeper.changed, left):
                break
        return msgspec.to_builtins(self._kill_report())

    def _release(self, by: str) -> None:
        if not self.kill_state.engaged:
            return
        self.kill_state = KillState()
        self.kill_file.clear()
        KILLED.set(0)
        if self._sweep is not None:
            self._sweep.cancel()
        log.warning("kill_released", sender=by)

    # ---- timers ------------------------------------------------------------------------------

    async def _deadman(self) -> None:
        """Renew the venue's countdownCancelAll: if we stop renewing, the venue cancels everything."""
        cfg, venue = self.settings.gateway, self.venue
        assert isinstance(venue, Venue), "spot has no countdownCancelAll"
        while True:
            for sym in self.symbols:
                try:
                    await venue.countdown(sym, cfg.deadman_ms)
                    DEADMAN.labels(sym).set(time.time())
                except BinanceError as exc:
                    log.warning("deadman_refresh_failed", symbol=sym, error=str(exc)[:200])
            await asyncio.sleep(cfg.deadman_refresh_s)

    async def _watchdog(self) -> None:
        """Re-run passes when a fail-closed condition starts or ends without a new message, and
        sweep again when the kill switch is engaged and something may be live."""
        ticks = 0
        while True:
            await asyncio.sleep(0.2)
            now = time.time_ns()
            ticks += 1
            if ticks % 5 == 0:
                self._activity_gauges()
            for sym in self.symbols:
                if self._hold_reason(sym, now) != self.held.get(sym, ""):
                    self._schedule(sym)
            if (
                self.kill_state.engaged
                and self.oms.live_symbols()
                and (self._sweep is None or self._sweep.done())
            ):
                self._start_sweep()

    async def _reconcile_loop(self) -> None:
        n = 0
        while True:
            # after a gap, at once; otherwise at the interval (while killed the sweep lists orders)
            await asyncio.sleep(0.5 if self.gap_pending else self.settings.gateway.reconcile_interval_s)
            gap, self.gap_pending = self.gap_pending, False
            await self.sync.full(self.symbols)
            self._save_fill_marks()
            n += 1
            if gap or n % 6 == 0:
                await self._refresh_account()
            self.oms.prune(time.time_ns())

    async def _resolver(self) -> None:
        """Settle unknown outcomes by querying by client id (never by resending)."""
        while True:
            await asyncio.sleep(0.1)
            if await self.executor.resolve_unknowns():
                for sym in self.symbols:
                    self._schedule(sym)

    async def _probe(self) -> None:
        """Time a round trip to the venue every ``latency_probe_s``, quoting or not, so a latency
        halt lifts once the venue is fast again; published on ``oms.latency``."""
        while True:
            await asyncio.sleep(self.settings.gateway.latency_probe_s)
            t0 = time.perf_counter()
            try:
                await self.rest.request("GET", "/api/v3/ping" if self.spot else "/fapi/v1/ping", weight=1)
                ok = True
            except BinanceError as exc:
                ok = False
                log.info("latency_probe_failed", error=str(exc)[:120])
            rtt = time.perf_counter() - t0
            PROBE.set(rtt)
            self.publish(topics.OMS_LATENCY, VenueLatency(rtt_ms=rtt * 1000, path="rest", ok=ok))

    async def _refresh_account(self) -> None:
        try:
            data = convert(await self.venue.account(), AccountInfo)
        except BinanceError as exc:
            log.warning("account_refresh_failed", error=str(exc)[:200])
            return
        except msgspec.ValidationError as exc:
            log.warning("account_malformed", error=str(exc)[:200])
            return
        self.account = Account(
            balances=[
                Balance(
                    asset=a.asset,
                    wallet=a.walletBalance,
                    available=a.availableBalance,
                    unrealized_pnl=a.unrealizedProfit,
                    margin_balance=a.marginBalance,
                    maint_margin=a.maintMargin,
                    initial_margin=a.initialMargin,
                )
                for a in data.assets
            ],
            reason="rest",
            account=self.account_name,
            market="spot" if self.spot else "usdm",
        )
        self.publish(topics.OMS_ACCOUNT, self.account)

    # ---- commands ----------------------------------------------------------------------------

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        sym = getattr(cmd, "symbol", "")
        if sym and sym not in self.symbols:
            owner = self.settings.gateway_of(sym)
            why = f"{self.name} does not trade {sym} (account {self.account_name}): {owner} does"
            raise CommandError(why)
        match cmd:
            case Kill():
                return await self._kill(cmd, req)
            case GetSnapshot(what="kill"):
                return msgspec.to_builtins(self._kill_report())
            case GetSnapshot(what="oms" | ""):
                return self._snapshot()
            case GetSnapshot(what="trace"):
                return self.executor.trace.since(0)
            case GetSnapshot(what="latency"):
                return self._latency()
            case CancelAll(symbol=sym):
                return {"canceled": await self._cancel_all([sym] if sym else self.symbols)}
            case Pause(symbol=sym):
                self.paused.add(sym)
                for s in [sym] if sym else self.symbols:
                    self._schedule(s)
                return {"paused": sym or "all"}
            case Resume(symbol=sym):
                self.paused.discard(sym)
                if not sym:
                    self.paused.clear()
                    self._release(req.sender)
                for s in self.symbols:
                    self._schedule(s)
                return {"resumed": sym or "all"}
            case Flatten(symbol=sym, max_slippage_pct=slip, maker_wait_s=wait):
                self._refuse_while_killed()
                return {s: await self._flatten(s, slip, wait) for s in ([sym] if sym else self.symbols)}
            case ReducePosition(symbol=sym, qty=qty, mode=mode, max_slippage_pct=slip, maker_wait_s=wait):
                self._refuse_while_killed()
                self._position(sym)
                filled = await self.reducer.reduce(sym, qty, mode, slip, wait)
                return {"symbol": sym, "filled": str(filled)}
        raise CommandError(f"{self.name} does not handle {type(cmd).__name__}")

    def _refuse_while_killed(self) -> None:
        if self.kill_state.engaged:
            raise CommandError("the kill switch is engaged: only the kill's own flatten sends orders")

    def _latency(self) -> dict[str, Any]:
        out: dict[str, Any] = latency_summary(self.executor.target_to_ack_ns)
        if not out["count"]:
            return out
        out["path"] = self.settings.gateway.order_path
        for stage, d in self.executor.stages_ns.items():
            st = latency_summary(d)
            if st["count"]:
                out[f"{stage}_p50_us"], out[f"{stage}_p99_us"] = st["p50_us"], st["p99_us"]
        return out

    def _position(self, sym: str) -> Decimal:
        if sym not in self.instruments:
            raise CommandError(f"unknown symbol {sym!r}")
        return self.core.position(sym)

    async def _flatten(self, sym: str, slip: float, wait: float) -> str:
        pos = self._position(sym)
        if pos == 0:
            return "flat"
        filled = await self.reducer.reduce(sym, abs(pos), "maker_first_then_taker", slip, wait)
        return f"reduced {filled} of {abs(pos)}"

    async def _cancel_all(self, symbols: list[str]) -> dict[str, str]:
        """One cancel-all per symbol; the answer says per symbol whether the venue accepted it."""
        out: dict[str, str] = {}
        for sym in symbols:
            try:
                await self.executor.cancel_all(sym)
                out[sym] = "accepted"
            except BinanceError as exc:
                log.error("cancel_all_failed", symbol=sym, error=str(exc)[:200])
                out[sym] = f"failed: {str(exc)[:160]}"
        self.gap_pending = True  # the next reconcile confirms every record soon
        if any(v != "accepted" for v in out.values()):
            raise CommandError(f"cancel-all not accepted for every symbol: {out}")
        return out

    def _snapshot(self) -> dict[str, Any]:
        eff = self.oms.snapshot(time.time_ns())
        b = msgspec.to_builtins
        return {
            "orders": [b(u) for u in eff.updates],
            "positions": [b(p) for p in eff.positions],
            "account": b(self.account) if self.account else None,
            "fills": [b(f) for f in self.fills],
            "held": dict(self.held),
            "killed": self.kill_state.engaged,
            "kill_reason": self.kill_state.reason,
        }

    def status_detail(self) -> dict[str, str]:
        out = {
            s: f"orders={len(self.oms.working(s))} pos={self.oms.exposure(s).position}" for s in self.symbols
        }
        out.update({f"{s}_held": r for s, r in self.held.items() if r})
        if self.settings.accounts:
            out["account"] = self.account_name
        if self.kill_state.engaged:
            out["killed"] = self.kill_state.reason or "yes"
        return out

    async def on_stop(self) -> None:
        # No new pass from here (``stopping`` is set before on_stop runs); the ones under way finish
        # (their requests are out) before the cancel-all, so no order of ours lands after it.
        running = [t for t in self.passing.values() if not t.done()]
        if running:
            _done, late = await asyncio.wait(running, timeout=3.0)
            for t in late:
                t.cancel()
        if self.settings.gateway.cancel_on_stop and self._connected:
            try:
                await asyncio.wait_for(self._cancel_all(self.symbols), 5.0)
            except (TimeoutError, CommandError) as exc:
                log.error("cancel_on_stop_incomplete", error=str(exc)[:200])
        if self._connected:
            self._save_fill_marks()
        await self.venue.close()


async def until_answered_bounded(call: Any, tries: int = 5) -> Any:
    """A start-up call retried while the venue is unreachable (5xx, timeouts); a refusal (4xx) is
    final and raised."""
    delay = 0.2
    for attempt in range(tries):
        try:
            return await call()
        except BinanceError as exc:
            if not isinstance(exc, (OutcomeUnknown, ServiceUnavailable)) or attempt == tries - 1:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
