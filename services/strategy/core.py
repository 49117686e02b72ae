"""The strategy as pure, stateful code: messages in, what to publish out.

Like risk's :class:`~services.risk.engine.RiskEngine`: no I/O and no clock (``now_ns`` is an
input), so the live service and the backtester run exactly the same decisions. The shell feeds it
and sends what it returns::

    core = StrategyCore(settings.strategy.symbols, symbols, version)
    core.restore(states)                              # the recorder's last snapshot, if any
    core.on_instrument(i); core.on_position(p); core.on_order(u, now) ...   # marketdata and the gateway
    on md.features:   send(core.on_features(f, now))
    on md.status / oms.position / oms.fill / oms.order / risk.state:   core.on_...(msg)
    every 50 ms:      send(core.on_timer(now))
    on Kill / Pause:  send(core.pause(symbol, now));   on Resume: core.resume(symbol)
    periodically:     save(core.snapshot())

where ``send(outputs)`` publishes each ``output.target`` on ``strategy.target.<symbol>`` and sends
each of ``output.actions`` (a ``ReducePosition``) to risk, awaiting its acknowledgement.

What it decides (and the service no longer does): the per-symbol view folded from the messages,
the mode (a pause, the symbol's and the account's risk modes, the most restrictive wins), the set
of working orders from the gateway's order states, when to decide (the quote interval, features
or the timer), when to publish (the model's anti-flicker, a changed mode, or ``republish_s`` since
the last publication), and the passive band's KPIs over what actually rests.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from common.messages import (
    DecisionRecord,
    Features,
    FeedStatus,
    Fill,
    Instrument,
    OrderUpdate,
    Position,
    Quote,
    ReducePosition,
    RiskState,
    TargetQuotes,
)
from common.messages.risk import MODE_ORDER
from common.params.strategy import SymbolStrategy
from services.strategy.engine import StrategyInputs, decide
from services.strategy.kpi import BandKpi
from services.strategy.markouts import add_fill, resolve
from services.strategy.models.passive_band import reference_price
from services.strategy.state import StrategyState

WORKING_STATES = frozenset({"PendingNew", "New", "PartiallyFilled", "PendingModify", "PendingCancel"})
TIMER_FLOOR_MS = 200
"""On the timer, decide no more often than this even with a shorter quote interval (features drive
the fast path; the timer only moves staleness, cool-downs and Phase 1's clocks)."""


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
    band_response_ns: int = 0
    """A return into the band seen on an order update, reported with the next decision."""
    out_of_band_ns: int = 0
    band_inside_once: bool = False  # the first placement is not a response to a price change


class Output(msgspec.Struct, kw_only=True):
    """One decision's result for the shell.

    ``target`` is None when nothing is to be published (``outcome`` "unchanged", or "error" with
    ``error`` saying why); ``pending_since_ns`` is when the features that caused it arrived (0 on
    the timer); ``band_response_ns`` the time the passive band's orders were out of the band, once
    they are all back in.
    """

    symbol: str
    outcome: str
    target: TargetQuotes | None = None
    actions: list[ReducePosition] = msgspec.field(default_factory=list)
    record: DecisionRecord | None = None
    quotes: list[Quote] = msgspec.field(default_factory=list)
    pending_since_ns: int = 0
    band_response_ns: int = 0
    error: str = ""


class StrategyCore:
    """The strategy's decisions over its symbols (see the module docstring for the protocol)."""

    def __init__(
        self,
        params: Mapping[str, SymbolStrategy],
        symbols: list[str],
        version: str = "",
        republish_s: float = 5.0,
    ) -> None:
        self.params = dict(params)
        self.version = version
        self.republish_ns = int(republish_s * 1e9)
        self.views = {s: SymbolView() for s in symbols if s in self.params}
        self.risk_mode: dict[str, str] = {}
        self.account_mode = "halted"  # until risk speaks
        self.paused: set[str] = set()

    # ---- state ---------------------------------------------------------------------------------

    def restore(self, states: Mapping[str, StrategyState]) -> list[str]:
        """Resume the models' memory (a snapshot's); the symbols restored."""
        done = []
        for sym, st in states.items():
            if sym in self.views:
                self.views[sym].state = st
                # the counts go on; the time away is not integrated (nothing was observed)
                self.views[sym].kpi = msgspec.structs.replace(st.kpi, last_ns=0)
                done.append(sym)
        return sorted(done)

    def snapshot(self) -> dict[str, StrategyState]:
        """Each symbol's model memory, to be saved for a restart."""
        return {s: msgspec.structs.replace(v.state, kpi=v.kpi) for s, v in self.views.items()}

    def reload(self, params: Mapping[str, SymbolStrategy], version: str, republish_s: float) -> None:
        """New parameters; raises ``ValueError`` (old ones kept) when a quoted symbol has none."""
        missing = [s for s in self.views if s not in params]
        if missing:
            lacks = ", ".join(missing)
            raise ValueError(f"reload refused: strategy.symbols lacks {lacks}; old parameters kept")
        self.params, self.version = dict(params), version
        self.republish_ns = int(republish_s * 1e9)

    def ready(self) -> bool:
        """Every symbol knows its instrument and position."""
        return all(v.instrument is not None and v.position_known for v in self.views.values())

    # ---- inputs --------------------------------------------------------------------------------

    def on_instrument(self, inst: Instrument) -> None:
        if inst.symbol in self.views:
            self.views[inst.symbol].instrument = inst

    def on_feed_status(self, fs: FeedStatus) -> None:
        if fs.symbol in self.views:
            self.views[fs.symbol].feed = fs.state

    def on_position(self, p: Position) -> None:
        v = self.views.get(p.symbol)
        if v is not None:
            v.position, v.entry, v.position_known = p.qty, p.entry_price, True

    def positions_known(self) -> None:
        """The gateway's snapshot was adopted: a symbol it listed no position for is flat."""
        for v in self.views.values():
            v.position_known = True

    def on_fill(self, f: Fill) -> None:
        v = self.views.get(f.symbol)
        if v is not None:
            v.last_fill_ns, v.last_fill_side = f.ts_event, f.side
            v.kpi = v.kpi.filled()
            if v.features is not None:  # the mid it filled at: what the drift is measured from
                mk = add_fill(v.state.markout, f.ts_event, f.side, v.features.mid)
                v.state = msgspec.structs.replace(v.state, markout=mk)

    def on_order(self, o: OrderUpdate, now_ns: int = 0) -> None:
        """An order's state; with ``now_ns``, the passive band's KPIs see the working set change then
        (not only at the next decision, which would count a re-placement as a whole interval out of
        the band)."""
        v = self.views.get(o.symbol)
        if v is None:
            return
        if o.state in WORKING_STATES:
            v.working[o.client_order_id] = Quote(
                side=o.side, price=o.price, qty=o.qty - o.filled_qty, layer=o.layer, reduce_only=o.reduce_only
            )
        else:
            v.working.pop(o.client_order_id, None)
        if now_ns and v.features is not None and self.params[o.symbol].model == "passive_band":
            v.band_response_ns = self._band_kpis(o.symbol, v.features, now_ns) or v.band_response_ns

    def on_risk_state(self, rs: RiskState) -> None:
        self.account_mode = rs.mode if rs.ready else "halted"
        self.risk_mode = {s: r.mode for s, r in rs.symbols.items()}

    def on_features(self, f: Features, now_ns: int) -> list[Output]:
        """Features as they arrive (stamped with our clock, for staleness); a decision when due."""
        v = self.views.get(f.symbol)
        if v is None:
            return []
        v.features = msgspec.structs.replace(f, ts_init=now_ns)
        v.pending_since_ns = v.pending_since_ns or now_ns
        p = self.params[f.symbol]
        mk = resolve(
            v.state.markout,
            now_ns,
            f.mid,
            int(p.markout_horizon_s * 1e9),
            p.adverse_alpha,
            p.adverse_prior_bps,
        )
        if mk is not v.state.markout:
            v.state = msgspec.structs.replace(v.state, markout=mk)
        return self._maybe_decide(f.symbol, now_ns, self.params[f.symbol].quote_interval_ms)

    def on_timer(self, now_ns: int) -> list[Output]:
        """Decide on time too: staleness, cool-downs and Phase 1's timers move without features."""
        out: list[Output] = []
        for sym in self.views:
            out += self._maybe_decide(sym, now_ns, max(self.params[sym].quote_interval_ms, TIMER_FLOOR_MS))
        return out

    def pause(self, symbol: str, now_ns: int) -> list[Output]:
        """Stop quoting ``symbol`` ("" = all): an empty target for each symbol that has quoted."""
        out = []
        for s in [symbol] if symbol else list(self.views):
            self.paused.add(s)
            v = self.views.get(s)
            if v is not None and v.instrument is not None:
                target = self._publish(s, [], None, "halted", now_ns)
                out.append(Output(symbol=s, outcome="published", target=target))
        return out

    def resume(self, symbol: str) -> None:
        for s in [symbol] if symbol else list(self.views):
            self.paused.discard(s)

    # ---- deciding ------------------------------------------------------------------------------

    def mode(self, sym: str) -> str:
        """The most restrictive of a pause, the symbol's and the account's risk modes."""
        if sym in self.paused:
            return "halted"
        m = self.risk_mode.get(sym, "normal")
        return max(m, self.account_mode, key=lambda x: MODE_ORDER.get(x, 3))

    def _maybe_decide(self, sym: str, now_ns: int, interval_ms: int) -> list[Output]:
        v = self.views[sym]
        if v.instrument is None or not v.position_known:
            return []
        if now_ns - v.last_decision_ns < interval_ms * 1_000_000:
            return []
        return [self._decide(sym, now_ns)]

    def _decide(self, sym: str, now_ns: int) -> Output:
        v = self.views[sym]
        params = self.params[sym]
        assert v.instrument is not None
        side = v.last_fill_side if v.last_fill_side in ("BUY", "SELL") else ""
        inputs = StrategyInputs(
            symbol=sym,
            now_ns=now_ns,
            features=v.features if v.feed == "live" else None,
            instrument=v.instrument,
            position=v.position,
            entry_price=v.entry,
            working=tuple(v.working.values()),
            last_fill_ns=v.last_fill_ns,
            last_fill_side=side,  # type: ignore[arg-type]
            risk_mode=self.mode(sym),  # type: ignore[arg-type]
        )
        pending, v.pending_since_ns = v.pending_since_ns, 0
        try:
            d = decide(inputs, params, v.state, self.version)
        except ValueError as exc:
            return Output(symbol=sym, outcome="error", error=str(exc), pending_since_ns=pending)
        v.state, v.last_decision_ns = d.state, now_ns
        out = Output(
            symbol=sym, outcome="unchanged", actions=list(d.actions), record=d.record, quotes=d.quotes,
            pending_since_ns=pending,
        )  # fmt: skip
        if d.publish or v.last_target is None or now_ns - v.last_publish_ns > self.republish_ns:
            out.target = self._publish(sym, d.quotes, d.record, inputs.risk_mode, now_ns, inputs.features)
            out.outcome = "published"
        if params.model == "passive_band" and inputs.features is not None:
            took = self._band_kpis(sym, inputs.features, now_ns)
            out.band_response_ns, v.band_response_ns = took or v.band_response_ns, 0
        return out

    def _publish(
        self,
        sym: str,
        quotes: list[Quote],
        record: DecisionRecord | None,
        mode: str,
        now_ns: int,
        cause: Features | None = None,
    ) -> TargetQuotes:
        v = self.views[sym]
        params = self.params[sym]
        if params.model == "passive_band":
            before = set(v.last_target.quotes) if v.last_target else set()
            v.kpi = v.kpi.placed([q for q in quotes if q not in before], params.passive_band)
        target = TargetQuotes(
            symbol=sym,
            target_id=max(now_ns // 1000, (v.last_target.target_id + 1) if v.last_target else 0),
            quotes=quotes,
            origin="strategy",
            mode=mode,
            decision=record,
            trace_id=cause.trace_id if cause is not None else 0,
            trace_ns=cause.trace_ns if cause is not None else 0,
        )
        v.last_target, v.last_publish_ns = target, now_ns
        return target

    def _band_kpis(self, sym: str, f: Features, now_ns: int) -> int:
        """Seed 003's KPIs over what actually rests (the gateway's working orders); the time the
        orders were out of the band, when they have just come back (else 0)."""
        v = self.views[sym]
        pb = self.params[sym].passive_band
        ref, _ = reference_price(f, pb)
        v.kpi = v.kpi.observe(now_ns, ref, list(v.working.values()), pb)
        inside = v.kpi.last_in_band and v.kpi.last_two_sided
        if not inside and not v.out_of_band_ns and v.band_inside_once:
            v.out_of_band_ns = now_ns
        elif inside and not v.band_inside_once:
            v.band_inside_once = True
        elif inside and v.out_of_band_ns:
            took, v.out_of_band_ns = now_ns - v.out_of_band_ns, 0
            v.kpi = v.kpi.responded(took)
            return took
        return 0
