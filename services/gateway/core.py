"""The gateway's deciding parts composed once, as the service, its property test and the backtester
use them: OMS, guard, executor, venue sync, reducer and kill sweep over one venue connection.

:meth:`GatewayCore.reconcile` is one pass for one symbol: the plan from the OMS's live orders to
the approved target (empty while held), the rate budget, then every admitted action through the
executor (each order through the guard). It holds no socket: the caller feeds targets and holds,
and the venue port is the network client or the simulated exchange.

A new core knows nothing of the requests its predecessor (a crashed process) had in flight: one
may still land until the venue's recvWindow has passed. So until ``unknown_horizon_s`` after the
predecessor's last send (``last_send_ns``, from :mod:`sendmark`), every symbol is held (quotes
canceled, none placed), and the first pass after that lists the venue's open orders again,
adopting whatever landed, before it places anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from prometheus_client import Counter

from common.messages import Instrument, TargetQuotes
from common.params.gateway import GatewayParams
from services.gateway.budget import Admission, Budget
from services.gateway.caps import Caps
from services.gateway.client_ids import ClientIds, new_session
from services.gateway.executor import Emit, Executor
from services.gateway.flatten import Reducer
from services.gateway.guard import Guard
from services.gateway.kill import KillState
from services.gateway.oms import Oms
from services.gateway.reconcile import plan
from services.gateway.sweep import Sweeper
from services.gateway.venue import VenuePort
from services.gateway.venue_sync import VenueSync

SKIPPED = Counter(
    "mm_gateway_quotes_skipped_total",
    "Target quotes not placed because they fail a venue filter or the order-count limit",
    ["symbol", "reason"],
)


def takes_risk_off(target: TargetQuotes | None, held: str) -> bool:
    """Whether this pass's cancels take risk off, and so may overdraw our own cancel pacing (seed
    002's under 50 cancels a minute is about quote churn; the venue's limits still hold): while
    fail-closed, with no target, when risk's mode is not normal (halted, reduce-only), or when the
    target withdraws every quote (a pause, a symbol a calendar rule or ``quote = false`` stops)."""
    return bool(held) or target is None or target.mode != "normal" or not target.quotes


class GatewayCore:
    """Everything that decides, wired to one venue port (see the module docstring)."""

    def __init__(
        self,
        venue: VenuePort,
        params: GatewayParams,
        symbols: list[str],
        instruments: dict[str, Instrument],
        emit: Emit,
        kill_state: Callable[[], KillState],
        hold: Callable[[str], str],
        marks: Mapping[str, Decimal],
        *,
        path: str = "rest",
        stp: str = "",
        foreign: str = "cancel",
        on_repair: Callable[[str, str, str], None] = lambda kind, symbol, detail: None,
        flatten_slippage_pct: float = 0.003,
        session: str = "",
        clock: Callable[[], int] = time.time_ns,
        last_send_ns: int = 0,
        on_send: Callable[[int], None] = lambda now_ns: None,
    ) -> None:
        self.clock = clock
        horizon = int(params.oms.unknown_horizon_s * 1e9)
        self.quiet_until_ns = last_send_ns + horizon if last_send_ns else 0
        self._listed_after_quiet: set[str] = set()
        self.params = params
        self.symbols = symbols
        self.instruments = instruments
        ids = ClientIds(params.client_ids.prefix, session or new_session(clock()))
        self.oms = Oms(ids, params.oms)
        self.budget = Budget(params.budget)
        self.guard = Guard(self.oms, Caps(params.caps), marks, lambda: kill_state().engaged, hold)
        self.executor = Executor(venue, self.oms, self.guard, emit, path, stp, clock, on_send)
        self.sync = VenueSync(venue, self.oms, self.executor, emit, foreign, on_repair, clock)
        self.reducer = Reducer(self.executor, instruments, params.caps.order_cap, self.position)
        self.sweeper = Sweeper(
            self.executor,
            venue,
            self.oms,
            self.sync,
            self.reducer,
            symbols,
            kill_state,
            flatten_slippage_pct,
        )

    def position(self, symbol: str) -> Decimal:
        """The OMS's signed position of ``symbol``."""
        return self.oms.exposure(symbol).position

    async def reconcile(
        self, symbol: str, target: TargetQuotes | None, held: str, target_ns: int = 0
    ) -> Admission:
        """One pass: move the venue toward ``target`` (toward nothing while ``held``); returns what
        the rate budget admitted and deferred, so the caller can come back when it has room."""
        now = self.clock()
        if not held and now < self.quiet_until_ns:
            held = "start-up: orders the last session had in flight may still land"
        elif not held and symbol not in self._listed_after_quiet:
            await self.sync.orders(symbol)  # adopt whatever landed before placing anything
            self._listed_after_quiet.add(symbol)
        urgent = takes_risk_off(target, held)
        if held or target is None:
            target = TargetQuotes(
                symbol=symbol, target_id=target.target_id if target else 0, quotes=[], origin="risk"
            )
        p = plan(target, self.oms.working(symbol), self.instruments[symbol], self.params.reconcile, now)
        for _, why in p.skipped:
            SKIPPED.labels(symbol, why).inc()
        adm = self.budget.admit(p.actions, now, urgent=urgent)
        for action in adm.admitted:
            await self.executor.run(action, target_ns)
        return adm
