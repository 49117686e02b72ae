"""The risk engine: every limit between the strategy's targets and the gateway, as pure code.

Synchronous and deterministic: no I/O, no clock (``now_ns`` is an input), every memory in
:class:`~services.risk.state.EngineState`. The shell feeds it and sends what it returns::

    engine = RiskEngine(params, instruments)          # or RiskEngine.restore(params, blob, instruments)
    engine.restore_day(fills)                         # the rebuild: the day's fills (PnL figures only),
    engine.on_position(p); engine.on_account(a)       # then the gateway's positions, account, orders
    engine.on_order(u) ...; engine.on_gateway_kill(reason)  # and its kill switch, if engaged
    send(engine.mark_ready(now))                      # until then every target is approved empty
    on strategy.target.<S>:  send(engine.check(target, now))
    on oms.fill / oms.position / oms.account / oms.order / oms.latency / md.mark / md.features / md.status:
                             engine.on_...(msg); send(engine.tick(now))   # or batch, then one tick
    every 100 ms or so:      send(engine.tick(now))
    on a command:            send(engine.on_command(cmd, now))            # CommandRefused → error reply
    periodically:            save(engine.snapshot()); publish(engine.state(now))

where ``send(outcome)`` publishes each ``outcome.targets[i]`` on ``risk.target.<symbol>``, each
event on ``risk.event``, sends each action (CancelAll, Flatten, ReducePosition) to the gateway and
awaits its acknowledgement, and republishes ``state(now)`` when ``outcome.state_changed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from common.messages import (
    Account,
    Command,
    Features,
    FeedStatus,
    Fill,
    Instrument,
    Kill,
    MarkPrice,
    OrderUpdate,
    Position,
    Quote,
    RiskEvent,
    RiskState,
    TargetQuotes,
    VenueLatency,
)
from common.params.risk import RiskParams
from services.risk import accounts, commands, errors
from services.risk.approval import Approved, Limits, approve, effective_mode, gate, reshape
from services.risk.context import NS
from services.risk.loss import start_day
from services.risk.market import on_features, on_mark
from services.risk.modes import Action, Changes
from services.risk.pnl import apply_position, book_fill, book_funding, equity, fill_key, restore_day
from services.risk.publish import clip_events, publish, reclip_events
from services.risk.report import risk_state
from services.risk.rules import evaluate
from services.risk.state import SCHEMA, ZERO, EngineState, LiveOrder

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineState)
LATENCY_ALPHA = 0.3
"""Weight of a new latency sample: a lone spike moves the estimate a third of the way; a steady
fast venue brings it back under any threshold within a handful of samples."""
FINAL_STATES = frozenset({"Filled", "Canceled", "Expired", "Rejected"})


class Outcome(msgspec.Struct, kw_only=True):
    """What the shell must send: approved targets, events, gateway actions, whether the state changed.

    From :meth:`RiskEngine.check`, ``targets[0]`` is always the verdict on the checked target; any
    further ones are other symbols' sets re-approved because a mode or a limit changed.
    """

    targets: list[TargetQuotes] = msgspec.field(default_factory=list)
    events: list[RiskEvent] = msgspec.field(default_factory=list)
    actions: list[Action] = msgspec.field(default_factory=list)
    state_changed: bool = False


class RiskEngine:
    """Every risk rule over one account's symbols (see the module docstring for the protocol)."""

    def __init__(
        self,
        params: RiskParams,
        instruments: Mapping[str, Instrument] | None = None,
        state: EngineState | None = None,
    ) -> None:
        self.params = params
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self._st = state or EngineState()
        for name in params.symbols:
            self._st.symbol(name)

    # ---- inputs: state only; decisions follow on the next check() or tick() ----------------------

    def on_instrument(self, inst: Instrument) -> None:
        """The venue's filters of one symbol (``md.instrument``)."""
        self.instruments[inst.symbol] = inst

    def on_fill(self, fill: Fill) -> None:
        """One of our executions (``oms.fill``): position, realized PnL and fees (a replay is ignored)."""
        realized = book_fill(self._st.symbol(fill.symbol).book, fill)
        if realized is not None:
            accounts.book(self._st, fill.symbol, realized - fill.fee)

    def on_funding(self, symbol: str, amount: Decimal) -> None:
        """One funding settlement of ``symbol`` (positive when received), as the venue booked it."""
        book_funding(self._st.symbol(symbol).book, amount)
        accounts.book(self._st, symbol, amount)

    def on_position(self, pos: Position) -> None:
        """The gateway's position (``oms.position``): the truth for size and entry."""
        apply_position(self._st.symbol(pos.symbol).book, pos)

    def on_account(self, acct: Account) -> None:
        """An account's balances (``oms.account``): wallet and maintenance margin, summed over the
        margin assets, and over the accounts for the global rules (:mod:`services.risk.accounts`)."""
        accounts.on_account(self._st, acct)

    def set_accounts(self, account_of: Mapping[str, str]) -> None:
        """Which account trades each symbol when there are several (symbol -> account name); a
        symbol left out is the primary account's (``main``)."""
        self._st.account_of = {s: a for s, a in account_of.items() if a != accounts.PRIMARY}

    def on_mark(self, mp: MarkPrice) -> None:
        """The mark price (``md.mark``): unrealized PnL and the mark's shock window; ≤ 0 is ignored."""
        if not mp.mark_price > 0:
            return
        s = self._st.symbol(mp.symbol)
        s.book.mark = mp.mark_price
        on_mark(s.market, mp, self._window(mp.symbol))

    def on_features(self, f: Features) -> None:
        """Derived book state (``md.features``): mid, touch and the mid's shock window."""
        on_features(self._st.symbol(f.symbol).market, f, self._window(f.symbol))

    def on_feed_status(self, fs: FeedStatus) -> None:
        """Freshness of a symbol's feed (``md.status``)."""
        m = self._st.symbol(fs.symbol).market
        m.feed, m.feed_reason = fs.state, fs.reason

    def on_latency(self, symbol: str, ms: float) -> None:
        """One venue latency sample for ``symbol`` in ms (an order's PendingNew to New), smoothed."""
        m = self._st.symbol(symbol).market
        m.latency_ms = ms if m.latency_ms <= 0 else m.latency_ms + LATENCY_ALPHA * (ms - m.latency_ms)

    def on_venue_latency(self, vl: VenueLatency, failed_ms: float) -> None:
        """The gateway's timed round trip (``oms.latency``), a sample for every symbol; one that
        failed counts as ``failed_ms``. It comes whether or not we quote, so a latency halt lifts
        once the venue is fast again."""
        ms = vl.rtt_ms if vl.ok else max(vl.rtt_ms, failed_ms)
        for name in self.params.symbols:
            self.on_latency(name, ms)

    def on_order(self, u: OrderUpdate) -> None:
        """One of our orders as the gateway shows it (``oms.order``): what may be live, per symbol."""
        sym = self._st.symbol(u.symbol)
        orders = sym.orders
        prev = orders.get(u.client_order_id)
        first = prev is None or prev.state == "PendingNew"
        # no code: held back, never sent; -5022: a post-only quote that would have taken (the market
        # moved first), a maker's ordinary outcome, not a venue error
        venue_reject = u.state == "Rejected" and u.error_code not in (0, errors.POST_ONLY_WOULD_TAKE)
        answered = u.state in errors.ACCEPTED or (u.state == "Rejected" and u.error_code != 0)
        if first and answered:
            errors.record(sym.market, venue_reject, u.ts_event)
        born = prev.born_ns if prev is not None else 0
        if not born and u.state == "New":
            born = u.ts_event
            if u.time_in_force in errors.RESTING:
                errors.placed(sym.market, born)
        if u.state == "Canceled" and prev is not None:
            errors.canceled(sym.market, prev.born_ns, u.ts_event)
        if u.state in FINAL_STATES:
            orders.pop(u.client_order_id, None)
            return
        since = prev.since_ns if prev is not None and prev.state == u.state else u.ts_event
        orders[u.client_order_id] = LiveOrder(
            side=u.side,
            open_qty=max(ZERO, u.qty - u.filled_qty),
            state=u.state,
            layer=u.layer,
            since_ns=since,
            reduce_only=u.reduce_only,
            born_ns=born,
        )

    def reset_orders(self) -> None:
        """Forget every order (a rebuild re-reads them from the gateway's snapshot)."""
        for s in self._st.symbols.values():
            s.orders.clear()

    def restore_day(self, fills: list[Fill], now_ns: int) -> None:
        """The day's PnL figures from the day's fills (each once), without moving a position or the
        wallet: the gateway's positions and account, applied next, already include them all. A cold
        engine (or one restored from another day's snapshot) starts the UTC day of ``now_ns`` first."""
        start_day(self._st, now_ns)
        by_symbol: dict[str, dict[int, Fill]] = {}
        for f in fills:
            by_symbol.setdefault(f.symbol, {})[fill_key(f)] = f
        for name, day in by_symbol.items():
            restore_day(self._st.symbol(name).book, day.values())

    def on_gateway_kill(self, reason: str, now_ns: int) -> Outcome:
        """The gateway's kill switch is engaged (it persists it): risk is killed too, until resumed."""
        return self.on_command(Kill(reason=f"gateway kill switch engaged: {reason}"), now_ns)

    def set_params(self, params: RiskParams) -> None:
        """New limits (a config reload); they apply from the next check() or tick()."""
        self.params = params
        for name in params.symbols:
            self._st.symbol(name)

    # ---- decisions -------------------------------------------------------------------------------

    def check(self, target: TargetQuotes, now_ns: int) -> Outcome:
        """The verdict on a strategy target (``targets[0]``), after every rule ran at ``now_ns``."""
        if target.origin != "strategy":
            raise ValueError(f"risk checks strategy targets, got origin {target.origin!r}")
        ch = self._evaluate(now_ns)
        s = self._st.symbol(target.symbol)
        s.target = target
        trace = (target.trace_id, target.trace_ns)
        verdict = publish(self._st, target.symbol, self._approve(target, ch), target.target_id, now_ns, trace)
        others = self._refresh(ch, skip=target.symbol) if ch.changed else []
        return self._outcome(ch, [verdict, *others])

    def tick(self, now_ns: int) -> Outcome:
        """Run every rule at ``now_ns`` and re-approve what rests under the limits of now."""
        ch = self._evaluate(now_ns)
        return self._outcome(ch, self._refresh(ch, retry=True))

    def on_command(self, cmd: Command, now_ns: int) -> Outcome:
        """Kill, Pause, Resume, CancelAll, Flatten, ReducePosition; raises ``CommandRefused``."""
        ch = Changes(now_ns)
        commands.apply(cmd, self._st, self.params, self.instruments, ch)
        return self._outcome(ch, self._refresh(ch))

    def mark_ready(self, now_ns: int) -> Outcome:
        """The rebuild is complete: start approving (and run every rule once)."""
        was = self._st.ready
        self._st.ready = True
        out = self.tick(now_ns)
        if not was:
            out.events.insert(0, _ready_event(now_ns))
            out.state_changed = True
        return out

    # ---- views -----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the rebuild is complete and targets are being approved."""
        return self._st.ready

    def state(self, now_ns: int) -> RiskState:
        """The RiskState to publish on ``risk.state``."""
        return risk_state(self._st, now_ns)

    def snapshot(self) -> bytes:
        """The whole engine state, msgpack-encoded, for the recorder."""
        return _encoder.encode(self._st)

    @classmethod
    def restore(
        cls, params: RiskParams, blob: bytes, instruments: Mapping[str, Instrument] | None = None
    ) -> RiskEngine:
        """An engine from a snapshot: modes, bands, cool-downs, the day's figures; never ready."""
        st = _decoder.decode(blob)
        if st.schema != SCHEMA:
            raise ValueError(f"risk snapshot schema {st.schema}, this engine reads {SCHEMA}")
        st.ready = False
        return cls(params, instruments, st)

    # ---- internals -------------------------------------------------------------------------------

    def _window(self, symbol: str) -> float:
        p = self.params.symbols.get(symbol)
        return p.shock_window_seconds if p is not None else 60.0

    def _equity(self) -> Decimal | None:
        return equity(self._st.account, (s.book for s in self._st.symbols.values()))

    def _evaluate(self, now_ns: int) -> Changes:
        return evaluate(self._st, self.params, self.instruments, self._equity(), now_ns)

    def _approve(self, target: TargetQuotes, ch: Changes) -> Approved:
        """A strategy target through the gate, caps and churn budget (clip events on changes)."""
        name = target.symbol
        lim = gate(self._st, name, self.params, self.instruments.get(name), self._equity(), ch.now)
        if not isinstance(lim, Limits):
            return lim
        result = approve(lim, target.quotes, effective_mode(self._st, name), ch.now)
        lim.s.pending = result.deferred > 0
        lim.s.churn.throttled += result.deferred > 0
        lim.s.churn.deferred += result.deferred
        clip_events(self._st, name, result.clips, ch)
        return result

    def _refresh(self, ch: Changes, skip: str = "", retry: bool = False) -> list[TargetQuotes]:
        """Re-approve every symbol's resting set (but ``skip``) under the limits of now; the changed ones.

        With ``retry``, a symbol whose last target waited on the churn budget gets that target
        approved again (while it is younger than ``targetMaxAgeSeconds``), so the rest follows.
        """
        out: list[TargetQuotes] = []
        for name, s in self._st.symbols.items():
            if name == skip or s.approved is None:
                continue
            if retry and s.pending and s.target is not None and self._fresh(name, s.target, ch.now):
                result = self._approve(s.target, ch)
            else:
                result = self._reshaped(name, s.approved.quotes, ch)
            if result.quotes != s.approved.quotes or result.mode != s.approved.mode:
                out.append(publish(self._st, name, result, s.approved.source_target_id, ch.now))
        return out

    def _reshaped(self, name: str, quotes: list[Quote], ch: Changes) -> Approved:
        lim = gate(self._st, name, self.params, self.instruments.get(name), self._equity(), ch.now)
        if not isinstance(lim, Limits):
            return lim
        result = reshape(lim, quotes, effective_mode(self._st, name))
        if result.quotes != quotes:
            reclip_events(name, result.clips, ch)
        return result

    def _fresh(self, name: str, target: TargetQuotes, now_ns: int) -> bool:
        p = self.params.symbols.get(name)
        return p is not None and now_ns - target.ts_init <= p.target_max_age_seconds * NS

    @staticmethod
    def _outcome(ch: Changes, targets: list[TargetQuotes]) -> Outcome:
        return Outcome(targets=targets, events=ch.events, actions=ch.actions, state_changed=ch.changed)


def _ready_event(now_ns: int) -> RiskEvent:
    return RiskEvent(
        rule="ready", action="ready", from_mode="halted", reason="rebuild complete: approving targets",
        ts_event=now_ns, ts_init=now_ns,
    )  # fmt: skip
