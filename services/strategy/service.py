"""The strategy service: features, positions and risk mode in; ``strategy.target.<SYMBOL>`` out.

A thin shell around :func:`services.strategy.engine.decide`. It never talks to the venue: taker
requests (``ReducePosition``) go to risk, which checks them and forwards them to the gateway. It
quotes nothing until it knows the instrument (from marketdata) and the position (from the
gateway); it resumes the models' state from the recorder's last snapshot after a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge, Histogram

from common import topics
from common.bus import RequestRefused, RequestTimeout
from common.config import ConfigError, Settings, config_files, load_settings
from common.logging import log
from common.messages import (
    AnyCommand,
    Envelope,
    Features,
    FeedStatus,
    Fill,
    GetSnapshot,
    Instrument,
    Kill,
    OrderUpdate,
    Pause,
    Position,
    Quote,
    Request,
    Resume,
    RiskState,
    StateSnapshot,
    TargetQuotes,
)
from common.metrics import latency_summary
from common.params.strategy import StrategyParams, params_version
from common.runtime import CommandError, Service
from services.strategy.engine import StrategyInputs, decide
from services.strategy.kpi import BandKpi
from services.strategy.models.passive_band import reference_price
from services.strategy.state import StrategyState

TARGETS = Counter("mm_quotes_generated_total", "Target quote sets published", ["symbol"])
DECISIONS = Counter("mm_strategy_decisions_total", "Decisions made", ["symbol", "outcome"])
DECISION_TIME = Histogram(
    "mm_strategy_decision_seconds",
    "From an md.features message's arrival to the target it caused leaving the socket",
    buckets=(5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01),
)
RESERVATION = Gauge("mm_reservation_price", "Reservation price of the last decision", ["symbol"])
SKEW = Gauge("mm_inventory_skew_bps", "Skew of the reservation price from mid, bps", ["symbol"])
SPREAD = Gauge("mm_spread_gauge", "Quoted spread of the last target, bps of mid", ["symbol"])
INTERVAL = Gauge("mm_quote_interval_gauge", "Quote interval, seconds", ["symbol"])
RELOADS = Counter("mm_config_reloads_total", "Configuration reloads", ["service", "outcome"])
ACTIONS = Counter("mm_strategy_taker_requests_total", "Taker requests sent to risk", ["symbol", "outcome"])
BAND = Gauge("mm_band_kpi_ratio", "Passive band KPIs (seed 003 §1.2)", ["symbol", "kpi"])
BAND_RESPONSE = Histogram(
    "mm_band_response_seconds",
    "Passive band: from resting orders leaving the band to all of them back inside",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class SymbolView(msgspec.Struct, kw_only=True):
    """What the strategy knows of one symbol."""

    instrument: Instrument | None = None
    features: Features | None = None
    feed: str = "resyncing"
    position: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)
    position_known: bool = False
    last_fill_ns: int = 0
    last_fill_side: str = ""
    working: dict[str, Quote] = msgspec.field(default_factory=dict)
    state: StrategyState = msgspec.field(default_factory=StrategyState)
    last_decision_ns: int = 0
    pending_since_ns: int = 0
    last_target: TargetQuotes | None = None
    last_publish_ns: int = 0
    kpi: BandKpi = msgspec.field(default_factory=BandKpi)
    out_of_band_ns: int = 0


class StrategyService(Service):
    """Decides, per symbol, the complete set of quotes that should rest now."""

    name = "strategy"

    async def on_start(self) -> None:
        self.views = {s: SymbolView() for s in self.settings.strategy.symbols if s in self.settings.symbols}
        self.risk_mode: dict[str, str] = {}
        self.account_mode = "halted"  # until risk speaks
        self.paused: set[str] = set()
        self.latency_ns: deque[int] = deque(maxlen=100_000)
        self._version = self._params_version(self.settings)
        self._mtimes = self._config_mtimes()
        syms = list(self.views)
        self.subscribe(
            [topics.md_features(s) for s in syms]
            + [topics.md_status(s) for s in syms]
            + [topics.oms_position(s) for s in syms]
            + [topics.oms_fill(s) for s in syms]
            + [topics.oms_order(s) for s in syms]
            + [topics.RISK_STATE],
            self._on_message,
        )
        await self._restore()
        self.spawn(self._bootstrap(), "bootstrap")
        self.spawn(self._loop(), "decide")
        self.spawn(self._snapshots(), "snapshots")
        if self.settings.strategy.watch_config:
            self.spawn(self._watch(), "config-watch")

    # ---- start-up ----------------------------------------------------------------------------

    async def _restore(self) -> None:
        """Resume each model's state from the recorder's last snapshot, if there is one."""
        try:
            snap = await self.client("recorder").call(
                GetSnapshot(what="state", symbol=self.name), timeout_s=1.0
            )
            states = msgspec.msgpack.decode(snap["payload"], type=dict[str, StrategyState])
        except (
            RequestTimeout,
            RequestRefused,
            msgspec.DecodeError,
            msgspec.ValidationError,
            KeyError,
            TypeError,
        ) as exc:
            log.info("strategy_state_not_restored", reason=str(exc)[:200])
            return
        for sym, st in states.items():
            if sym in self.views:
                self.views[sym].state = st
        log.info("strategy_state_restored", symbols=sorted(states))

    async def _bootstrap(self) -> None:
        """Instruments from marketdata, positions and working orders from the gateway (retrying)."""
        while any(v.instrument is None for v in self.views.values()):
            try:
                snap = await self.client("marketdata").call(GetSnapshot(what="all"), timeout_s=2.0)
                for sym, row in snap.items():
                    if sym in self.views:
                        self.views[sym].instrument = msgspec.convert(row["instrument"], Instrument)
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_marketdata", reason=str(exc)[:120])
                await asyncio.sleep(1.0)
        while any(not v.position_known for v in self.views.values()):
            try:
                oms = await self.client("gateway").call(GetSnapshot(what="oms"), timeout_s=2.0)
                self._adopt_oms(oms)
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_gateway", reason=str(exc)[:120])
                await asyncio.sleep(1.0)
        log.info("strategy_ready", symbols=sorted(self.views))

    def _adopt_oms(self, oms: dict[str, Any]) -> None:
        for p in oms.get("positions", []):
            pos = msgspec.convert(p, Position)
            if pos.symbol in self.views:
                self._on_position(pos)
        for o in oms.get("orders", []):
            self._on_order(msgspec.convert(o, OrderUpdate))
        for v in self.views.values():
            v.position_known = True

    # ---- bus ---------------------------------------------------------------------------------

    def _on_message(self, topic: str, msg: Any, env: Envelope) -> None:
        match msg:
            case Features(symbol=sym) if sym in self.views:
                v = self.views[sym]
                v.features = msgspec.structs.replace(msg, ts_init=time.time_ns())  # our clock for staleness
                v.pending_since_ns = v.pending_since_ns or v.features.ts_init
                self._maybe_decide(sym, time.time_ns())
            case FeedStatus(symbol=sym, state=state) if sym in self.views:
                self.views[sym].feed = state
            case Position(symbol=sym) if sym in self.views:
                self._on_position(msg)
            case Fill(symbol=sym) if sym in self.views:
                v = self.views[sym]
                v.last_fill_ns, v.last_fill_side = msg.ts_event, msg.side
                v.kpi = v.kpi.filled()
            case OrderUpdate(symbol=sym) if sym in self.views:
                self._on_order(msg)
            case RiskState():
                self.account_mode = msg.mode if msg.ready else "halted"
                self.risk_mode = {s: r.mode for s, r in msg.symbols.items()}

    def _on_position(self, p: Position) -> None:
        v = self.views[p.symbol]
        v.position, v.entry, v.position_known = p.qty, p.entry_price, True

    def _on_order(self, o: OrderUpdate) -> None:
        v = self.views.get(o.symbol)
        if v is None:
            return
        if o.state in ("PendingNew", "New", "PartiallyFilled", "PendingModify", "PendingCancel"):
            rest = o.qty - o.filled_qty
            v.working[o.client_order_id] = Quote(
                side=o.side, price=o.price, qty=rest, layer=o.layer, reduce_only=o.reduce_only
            )
        else:
            v.working.pop(o.client_order_id, None)

    # ---- deciding ----------------------------------------------------------------------------

    def _mode(self, sym: str) -> str:
        order = {"normal": 0, "reduce_only": 1, "halted": 2, "killed": 3}
        if sym in self.paused:
            return "halted"
        m = self.risk_mode.get(sym, "normal")
        return max(m, self.account_mode, key=lambda x: order.get(x, 3))

    def _maybe_decide(self, sym: str, now: int) -> None:
        v = self.views[sym]
        p = self.settings.strategy.symbols[sym]
        if v.instrument is None or not v.position_known:
            return
        if now - v.last_decision_ns < p.quote_interval_ms * 1_000_000:
            return
        self._decide(sym, now)

    def _decide(self, sym: str, now: int) -> None:
        v = self.views[sym]
        params = self.settings.strategy.symbols[sym]
        assert v.instrument is not None
        inputs = StrategyInputs(
            symbol=sym,
            now_ns=now,
            features=v.features if v.feed == "live" else None,
            instrument=v.instrument,
            position=v.position,
            entry_price=v.entry,
            working=tuple(v.working.values()),
            last_fill_ns=v.last_fill_ns,
            last_fill_side=v.last_fill_side if v.last_fill_side in ("BUY", "SELL") else "",  # type: ignore[arg-type]
            risk_mode=self._mode(sym),  # type: ignore[arg-type]
        )
        try:
            d = decide(inputs, params, v.state, self._version)
        except ValueError as exc:
            DECISIONS.labels(sym, "error").inc()
            log.error("decision_failed", symbol=sym, error=str(exc))
            return
        v.state, v.last_decision_ns = d.state, now
        for cmd in d.actions:
            self.spawn(self._send_action(sym, cmd), f"taker-{sym}", critical=False)
        republish = now - v.last_publish_ns > self.settings.strategy.republish_s * 1e9
        if d.publish or republish or v.last_target is None:
            self._publish(sym, d.quotes, d.record, inputs.risk_mode, now)
            DECISIONS.labels(sym, "published").inc()
        else:
            DECISIONS.labels(sym, "unchanged").inc()
        if v.pending_since_ns:
            lat = time.time_ns() - v.pending_since_ns
            self.latency_ns.append(lat)
            DECISION_TIME.observe(lat / 1e9)
            v.pending_since_ns = 0
        self._gauges(sym, d.record.inputs, d.quotes, params.quote_interval_ms)
        if params.model == "passive_band" and inputs.features is not None:
            self._band_kpis(sym, inputs.features, now)

    def _publish(self, sym: str, quotes: list[Quote], record: Any, mode: str, now: int) -> None:
        v = self.views[sym]
        if self.settings.strategy.symbols[sym].model == "passive_band":
            before = set(v.last_target.quotes) if v.last_target else set()
            v.kpi = v.kpi.placed(
                [q for q in quotes if q not in before], self.settings.strategy.symbols[sym].passive_band
            )
        target = TargetQuotes(
            symbol=sym,
            target_id=time.time_ns() // 1000,
            quotes=quotes,
            origin="strategy",
            mode=mode,
            decision=record,
        )
        self.publish(topics.strategy_target(sym), target)
        v.last_target, v.last_publish_ns = target, now
        TARGETS.labels(sym).inc()

    def _band_kpis(self, sym: str, f: Features, now: int) -> None:
        """Seed 003's KPIs over what actually rests (the gateway's working orders)."""
        v = self.views[sym]
        pb = self.settings.strategy.symbols[sym].passive_band
        ref, _ = reference_price(f, pb)
        v.kpi = v.kpi.observe(now, ref, list(v.working.values()), pb)
        inside = v.kpi.last_in_band and v.kpi.last_two_sided
        if not inside and not v.out_of_band_ns:
            v.out_of_band_ns = now
        elif inside and v.out_of_band_ns:
            BAND_RESPONSE.observe((now - v.out_of_band_ns) / 1e9)
            v.out_of_band_ns = 0
        for kpi, value in v.kpi.ratios().items():
            BAND.labels(sym, kpi).set(value)

    def _gauges(self, sym: str, inputs: dict[str, float], quotes: list[Quote], interval_ms: int) -> None:
        mid = inputs.get("mid", 0.0)
        if "reservation" in inputs:
            RESERVATION.labels(sym).set(inputs["reservation"])
            if mid:
                SKEW.labels(sym).set((inputs["reservation"] - mid) / mid * 1e4)
        bids = [q.price for q in quotes if q.side == "BUY"]
        asks = [q.price for q in quotes if q.side == "SELL"]
        if bids and asks and mid:
            SPREAD.labels(sym).set(float(min(asks) - max(bids)) / mid * 1e4)
        INTERVAL.labels(sym).set(interval_ms / 1000)

    async def _send_action(self, sym: str, cmd: AnyCommand) -> None:
        try:
            await self.client("risk").call(cmd, timeout_s=5.0)
            ACTIONS.labels(sym, "ok").inc()
        except (RequestTimeout, RequestRefused) as exc:
            ACTIONS.labels(sym, "refused").inc()
            log.warning("taker_request_refused", symbol=sym, command=type(cmd).__name__, error=str(exc)[:200])

    async def _loop(self) -> None:
        """Decide on time too: staleness, cool-downs and Phase 1 timers move without new features."""
        while True:
            await asyncio.sleep(0.05)
            now = time.time_ns()
            for sym, v in self.views.items():
                interval = self.settings.strategy.symbols[sym].quote_interval_ms
                if now - v.last_decision_ns >= max(interval, 200) * 1_000_000:
                    self._maybe_decide(sym, now)

    # ---- snapshots, reload -------------------------------------------------------------------

    async def _snapshots(self) -> None:
        enc = msgspec.msgpack.Encoder()
        while True:
            await asyncio.sleep(self.settings.strategy.snapshot_interval_s)
            payload = enc.encode({s: v.state for s, v in self.views.items()})
            self.publish(topics.state(self.name), StateSnapshot(service=self.name, payload=payload))

    def _params_version(self, s: Settings) -> str:
        return params_version(StrategyParams(symbols=dict(s.strategy.symbols)))

    async def on_reload(self, new: Settings) -> None:
        missing = [s for s in self.views if s not in new.strategy.symbols]
        if missing:
            RELOADS.labels(self.name, "refused").inc()
            raise CommandError(
                f"reload refused: strategy.symbols lacks {', '.join(missing)}; old parameters kept"
            )
        self.settings = new
        self._version = self._params_version(new)
        RELOADS.labels(self.name, "ok").inc()
        log.info("strategy_params_reloaded", version=self._version)

    def _config_mtimes(self) -> dict[str, float]:
        try:
            return {str(p): p.stat().st_mtime for p in config_files(self.settings.profile)}
        except (OSError, ConfigError):
            return {}

    async def _watch(self) -> None:
        """Reload when a config file changes; a bad file is refused and the old set kept."""
        while True:
            await asyncio.sleep(2.0)
            now = self._config_mtimes()
            if now == self._mtimes:
                continue
            self._mtimes = now
            try:
                await self.on_reload(load_settings(self.settings.profile))
            except (ConfigError, CommandError) as exc:
                RELOADS.labels(self.name, "refused").inc()
                log.error("config_reload_refused", error=str(exc)[:500])

    # ---- commands ----------------------------------------------------------------------------

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        match cmd:
            case GetSnapshot(what="latency"):
                return latency_summary(self.latency_ns)
            case GetSnapshot(what="targets"):
                return {s: msgspec.to_builtins(v.last_target) for s, v in self.views.items()}
            case GetSnapshot(what="band"):
                return {
                    s: {**v.kpi.ratios(), **msgspec.to_builtins(v.kpi)}
                    for s, v in self.views.items()
                    if self.settings.strategy.symbols[s].model == "passive_band"
                }
        return await self._control(cmd)

    async def _control(self, cmd: AnyCommand) -> Any:
        """Kill and Pause stop quoting here too (risk enforces them; this stops the churn)."""
        match cmd:
            case Kill() | Pause():
                sym = getattr(cmd, "symbol", "")
                for s in [sym] if sym else list(self.views):
                    self.paused.add(s)
                    if s in self.views and self.views[s].instrument is not None:
                        self._publish(s, [], None, "halted", time.time_ns())
                return {"paused": sym or "all"}
            case Resume(symbol=sym):
                for s in [sym] if sym else list(self.views):
                    self.paused.discard(s)
                return {"resumed": sym or "all"}
        raise CommandError(f"strategy does not handle {type(cmd).__name__}")

    def status_detail(self) -> dict[str, str]:
        views = getattr(self, "views", {})
        return {s: f"pos={v.position} working={len(v.working)}" for s, v in views.items()}
