"""The strategy service: features, positions and risk mode in; ``strategy.target.<SYMBOL>`` out.

The I/O around :class:`services.strategy.core.StrategyCore`, which decides. It never talks to the
venue: taker requests (``ReducePosition``) go to risk, which checks them and forwards them to the
gateway. It quotes nothing until it knows the instrument (from marketdata) and the position (from
the gateway); it resumes the models' state from the recorder's last snapshot after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge, Histogram

from common import operator, topics
from common.bus import RequestRefused, RequestTimeout
from common.config import ConfigError, Settings, load_settings, watched_files
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
)
from common.metrics import latency_summary
from common.params.strategy import StrategyParams, params_version
from common.runtime import CommandError, Service
from services.strategy.core import Output, StrategyCore
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
SPREAD = Gauge(
    "mm_spread_bps", "Quoted spread of the last target, bps of mid (seed: mm_spread_gauge)", ["symbol"]
)
INTERVAL = Gauge("mm_quote_interval_seconds", "Quote interval (seed: mm_quote_interval_gauge)", ["symbol"])
VPIN = Gauge("mm_vpin_current", "VPIN of the symbol's recent trades (marketdata's estimate)", ["symbol"])
REGIME = Gauge(
    "mm_volatility_regime",
    "0 calm (60 s volatility under 0.75 × adaptiveNetMax.refSigma), 1 normal, 2 high (over 1.5 ×)",
    ["symbol"],
)
PINNING = Gauge("mm_pinning_active", "1 while pinning holds the reducing side at the touch", ["symbol"])
SUPPRESSED = Gauge(
    "mm_cancel_suppression_active",
    "1 while the rate budget holds price moves back (the last decision's budget_held)",
    ["symbol"],
)
GRINDS = Counter("mm_grind_count", "Grinding slices sent as taker (seed 002 §4.5)", ["symbol"])
RELOADS = Counter("mm_config_reloads_total", "Configuration reloads", ["service", "outcome"])
ACTIONS = Counter("mm_strategy_taker_requests_total", "Taker requests sent to risk", ["symbol", "outcome"])
ADVERSE_RATE = Gauge(
    "mm_adverse_selection_rate",
    "Share of our fills whose markout (markoutHorizonS after the fill) went against us",
    ["symbol"],
)
ADVERSE_BPS = Gauge(
    "mm_adverse_selection_bps",
    "Average adverse-selection cost of our fills (minus their markout), bps; the prior before any",
    ["symbol"],
)
LAYERS = Gauge(
    "mm_strategy_layers",
    "Plain layers of the last decision: quoted, and missing (asked for by the model but dropped by "
    "the venue's filters or netMax's worst case)",
    ["symbol", "state"],
)
NET_MAX = Gauge(
    "mm_adaptive_netmax",
    "The inventory cap the strategy quoted within: netMax scaled down in high volatility (base units)",
    ["symbol"],
)
TOXICITY = Gauge("mm_flow_toxicity", "VPIN beyond its threshold, 0 (calm) to 1 (toxic)", ["symbol"])
BAND = Gauge("mm_band_kpi_ratio", "Passive band KPIs (seed 003 §1.2)", ["symbol", "kpi"])
BAND_RESPONSE = Histogram(
    "mm_band_response_seconds",
    "Passive band: from resting orders leaving the band to all of them back inside",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class StrategyService(Service):
    """Decides, per symbol, the complete set of quotes that should rest now (in :class:`StrategyCore`)."""

    name = "strategy"

    async def on_start(self) -> None:
        s = self.settings
        self.core = StrategyCore(
            s.strategy.symbols,
            [x for x in s.strategy.symbols if x in s.quoted_symbols],
            self._params_version(s),
            s.strategy.republish_s,
        )
        self.latency_ns: deque[int] = deque(maxlen=100_000)
        self._mtimes = self._config_mtimes()
        syms = list(self.core.views)
        self.subscribe(
            [topics.md_features(x) for x in syms]
            + [topics.md_status(x) for x in syms]
            + [topics.oms_position(x) for x in syms]
            + [topics.oms_fill(x) for x in syms]
            + [topics.oms_order(x) for x in syms]
            + [topics.RISK_STATE],
            self._on_message,
        )
        await self._restore()
        self.spawn(self._bootstrap(), "bootstrap")
        self.spawn(self._loop(), "decide")
        self.spawn(self._snapshots(), "snapshots")
        if s.strategy.watch_config:
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
        log.info("strategy_state_restored", symbols=self.core.restore(states))

    async def _bootstrap(self) -> None:
        """Instruments from marketdata, positions and working orders from the gateway (retrying)."""
        views = self.core.views
        while any(v.instrument is None for v in views.values()):
            try:
                feeds = self.settings.instances["marketdata"]
                snap = await operator.marketdata_snapshot(self.client, feeds, 2.0)
                for row in snap.values():
                    self.core.on_instrument(msgspec.convert(row["instrument"], Instrument))
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_marketdata", reason=str(exc)[:120])
                await asyncio.sleep(1.0)
        while any(not v.position_known for v in views.values()):
            try:
                oms = await operator.gateway_snapshot(self.client, self.settings.all_gateways, 2.0)
                self._adopt_oms(oms)
            except (RequestTimeout, RequestRefused) as exc:
                log.info("waiting_for_gateway", reason=str(exc)[:120])
                await asyncio.sleep(1.0)
        log.info("strategy_ready", symbols=sorted(views))

    def _adopt_oms(self, oms: dict[str, Any]) -> None:
        for p in oms.get("positions", []):
            self.core.on_position(msgspec.convert(p, Position))
        for o in oms.get("orders", []):
            self.core.on_order(msgspec.convert(o, OrderUpdate))
        self.core.positions_known()

    # ---- bus ---------------------------------------------------------------------------------

    def _on_message(self, topic: str, msg: Any, env: Envelope) -> None:
        match msg:
            case Features():
                self._send(self.core.on_features(msg, time.time_ns()))
            case FeedStatus():
                self.core.on_feed_status(msg)
            case Position():
                self.core.on_position(msg)
            case Fill():
                self.core.on_fill(msg)
            case OrderUpdate():
                self.core.on_order(msg, time.time_ns())
            case RiskState():
                self.core.on_risk_state(msg)

    def _send(self, outputs: list[Output]) -> None:
        """Publish each target, send each taker request to risk, and keep the figures."""
        for out in outputs:
            sym = out.symbol
            if out.outcome == "error":
                DECISIONS.labels(sym, "error").inc()
                log.error("decision_failed", symbol=sym, error=out.error)
                continue
            for cmd in out.actions:
                self.spawn(self._send_action(sym, cmd), f"taker-{sym}", critical=False)
            if out.target is not None:
                self.publish(topics.strategy_target(sym), out.target)
                TARGETS.labels(sym).inc()
            DECISIONS.labels(sym, out.outcome).inc()
            if out.pending_since_ns:
                lat = time.time_ns() - out.pending_since_ns
                self.latency_ns.append(lat)
                DECISION_TIME.observe(lat / 1e9)
            for cmd in out.actions:
                if getattr(cmd, "reason", "") == "grinding":
                    GRINDS.labels(sym).inc()
            if out.record is not None:
                self._gauges(sym, out.record.inputs, out.quotes, self.core.params[sym].quote_interval_ms)
                self._flags(sym, out.record.flags)
                mk = self.core.views[sym].state.markout
                ADVERSE_RATE.labels(sym).set(mk.rate())
                ADVERSE_BPS.labels(sym).set(mk.cost(self.core.params[sym].adverse_prior_bps))
            if out.band_response_ns:
                BAND_RESPONSE.observe(out.band_response_ns / 1e9)
            if self.core.params[sym].model == "passive_band":
                for kpi, value in self.core.views[sym].kpi.ratios().items():
                    BAND.labels(sym, kpi).set(value)

    def _flags(self, sym: str, flags: list[str]) -> None:
        PINNING.labels(sym).set(1 if "pinning" in flags else 0)
        SUPPRESSED.labels(sym).set(1 if "budget_held" in flags else 0)
        f = self.core.views[sym].features
        if f is None:
            return
        VPIN.labels(sym).set(f.vpin)
        a = self.core.params[sym].adaptive_net_max
        sigma = f.vol.get(a.vol_key, 0.0)
        if sigma > 0:
            REGIME.labels(sym).set(
                0 if sigma < 0.75 * a.ref_sigma else (2 if sigma > 1.5 * a.ref_sigma else 1)
            )

    def _gauges(self, sym: str, inputs: dict[str, float], quotes: list[Quote], interval_ms: int) -> None:
        mid = inputs.get("mid", 0.0)
        if "layers_quoted" in inputs:
            LAYERS.labels(sym, "quoted").set(inputs["layers_quoted"])
            LAYERS.labels(sym, "missing").set(inputs["layers_missing"])
        if "net_max" in inputs:
            NET_MAX.labels(sym).set(inputs["net_max"])
        if "toxicity" in inputs:
            TOXICITY.labels(sym).set(inputs["toxicity"])
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
            self._send(self.core.on_timer(time.time_ns()))

    # ---- snapshots, reload -------------------------------------------------------------------

    async def _snapshots(self) -> None:
        enc = msgspec.msgpack.Encoder()
        while True:
            await asyncio.sleep(self.settings.strategy.snapshot_interval_s)
            payload = enc.encode(self.core.snapshot())
            self.publish(topics.state(self.name), StateSnapshot(service=self.name, payload=payload))

    def _params_version(self, s: Settings) -> str:
        return params_version(StrategyParams(symbols=dict(s.strategy.symbols)))

    async def on_reload(self, new: Settings) -> None:
        try:
            self.core.reload(new.strategy.symbols, self._params_version(new), new.strategy.republish_s)
        except ValueError as exc:
            RELOADS.labels(self.name, "refused").inc()
            raise CommandError(str(exc)) from None
        self.settings = new
        RELOADS.labels(self.name, "ok").inc()
        log.info("strategy_params_reloaded", version=self.core.version)

    def _config_mtimes(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in watched_files(self.settings):
            with contextlib.suppress(OSError):  # absent (the overrides file until an edit)
                out[str(p)] = p.stat().st_mtime
        return out

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
                return {s: msgspec.to_builtins(v.last_target) for s, v in self.core.views.items()}
            case GetSnapshot(what="params"):
                version = self.core.version
                return {
                    s: {"version": version, **p.model_dump(mode="json")} for s, p in self.core.params.items()
                }
            case GetSnapshot(what="band"):
                return {
                    s: {**v.kpi.ratios(), **msgspec.to_builtins(v.kpi)}
                    for s, v in self.core.views.items()
                    if self.core.params[s].model == "passive_band"
                }
        return await self._control(cmd)

    async def _control(self, cmd: AnyCommand) -> Any:
        """Kill and Pause stop quoting here too (risk enforces them; this stops the churn)."""
        match cmd:
            case Kill() | Pause():
                sym = getattr(cmd, "symbol", "")
                self._send(self.core.pause(sym, time.time_ns()))
                return {"paused": sym or "all"}
            case Resume(symbol=sym):
                self.core.resume(sym)
                return {"resumed": sym or "all"}
        raise CommandError(f"strategy does not handle {type(cmd).__name__}")

    def status_detail(self) -> dict[str, str]:
        core = getattr(self, "core", None)
        views = core.views if core is not None else {}
        out = {s: f"pos={v.position} working={len(v.working)}" for s, v in views.items()}
        for s, v in views.items():  # the passive band's seed 003 KPIs, for mmctl status and the console
            if core is not None and core.params[s].model == "passive_band":
                out[f"{s}_band"] = v.kpi.summary()
        return out
