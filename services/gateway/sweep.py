"""The kill switch at work: cancel through every path until the venue shows zero, then flatten.

One round: wait out any 429/418 stop (sending more would extend a ban), then per symbol a REST
cancel-all, per-order cancels of whatever the OMS still holds live (over the WS-API when it is up,
REST batches otherwise), queries of orders of unknown outcome, and a fresh ``openOrders`` listing
that adopts anything the OMS did not know. The kill is confirmed when every listing is empty and no
order may still be live; rounds repeat with a capped back-off until then. With ``flatten`` the
positions are then closed with reduce-only IOC orders inside the caps (IOC never rests, so the
venue stays at zero). The report says at every moment what is open and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from prometheus_client import Counter, Gauge

from common.binance.errors import BinanceError, LocalRateLimit
from common.logging import log
from services.gateway.executor import Executor
from services.gateway.flatten import Reducer
from services.gateway.kill import KillReport, KillState
from services.gateway.oms import Oms
from services.gateway.venue import VenuePort
from services.gateway.venue_sync import VenueSync

KILL_ROUNDS = Counter("mm_kill_rounds_total", "Rounds of the kill switch's cancel sweep")
KILL_OPEN = Gauge("mm_kill_open_orders", "Orders that may still be live while the kill is engaged")
BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
FLATTEN_ROUNDS = 3


class Sweeper:
    """Runs kill sweeps for the gateway; ``state()`` is the kill switch's current state."""

    def __init__(
        self,
        executor: Executor,
        venue: VenuePort,
        oms: Oms,
        sync: VenueSync,
        reducer: Reducer,
        symbols: list[str],
        state: Callable[[], KillState],
        max_slippage_pct: float,
    ) -> None:
        self.ex = executor
        self.venue = venue
        self.oms = oms
        self.sync = sync
        self.reducer = reducer
        self.symbols = symbols
        self.state = state
        self.slip = max_slippage_pct
        self.report = KillReport(engaged=False)
        self.changed = asyncio.Event()
        self._listed: dict[str, int] = {}

    def _set(self, **kw: object) -> None:
        for k, v in kw.items():
            setattr(self.report, k, v)
        self.changed.set()

    def begin(self) -> None:
        """A new sweep: the report starts over (synchronously, before the sweep task runs, so no one
        reads the last sweep's ``done``), listing every order the OMS holds as possibly live."""
        st = self.state()
        live = {s: [r.client_id for r in self.oms.working(s)] for s in self.symbols}
        self.report = KillReport(
            engaged=True, reason=st.reason, flatten=st.flatten, since_ns=st.since_ns,
            open={s: ids for s, ids in live.items() if ids},  # what may be live until a round says more
            why="sweep started: cancels going out",
        )  # fmt: skip
        self.changed.set()

    async def run(self) -> None:
        """Sweep until confirmed (or the kill is lifted), then flatten if asked; call :meth:`begin` first."""
        attempt = failed = 0
        while self.state().engaged:
            attempt += 1
            KILL_ROUNDS.inc()
            self._set(attempts=attempt)
            wait = self.venue.rest.blocked_for_s()
            if wait > 0:  # sending more would extend a ban: wait it out, then go at once
                why = f"the venue refused us (429/418): sending stopped for {wait:.1f} s more, then retrying"
                self._set(blocked_until_ns=time.time_ns() + int(wait * 1e9))
                self._assess(False, [why])
                await asyncio.sleep(wait)
                continue
            if await self._round():
                break
            failed += 1
            await asyncio.sleep(BACKOFF_S[min(failed - 1, len(BACKOFF_S) - 1)])
        if self.state().engaged and self.state().flatten:
            await self._flatten()
        KILL_OPEN.set(0 if self.report.orders_zero else sum(len(v) for v in self.report.open.values()))

    async def _round(self) -> bool:
        """One pass over every path; True when the venue confirmed zero."""
        errors: list[str] = []
        sent = time.time_ns()
        # every symbol at once: the venue answers them in parallel
        done = await asyncio.gather(
            *(self._try(errors, f"{s} cancel-all", self.ex.cancel_all(s)) for s in self.symbols)
        )
        cancels = []
        for sym, all_gone in zip(self.symbols, done, strict=True):
            # per order: every order when the cancel-all failed, else the ones it may have missed
            work = self.oms.working(sym)
            ids = [r.client_id for r in work if r.acknowledged and (not all_gone or r.ts_ack_ns > sent)]
            if ids:
                cancels.append(self._try(errors, f"{sym} cancels", self.ex.cancel(sym, ids)))
        await asyncio.gather(*cancels)
        await self._try(errors, "queries", self.ex.resolve_unknowns())
        listed = await asyncio.gather(
            *(self._try(errors, f"{s} openOrders", self.sync.orders(s, urgent=True)) for s in self.symbols)
        )
        return self._assess(all(listed), errors)

    async def _try(self, errors: list[str], what: str, coro: object) -> bool:
        try:
            await coro  # type: ignore[misc]
            return True
        except LocalRateLimit as exc:
            errors.append(f"{what}: held back by the rate limit ({exc.wait_s:.1f} s)")
        except BinanceError as exc:
            errors.append(f"{what}: {str(exc)[:160]}")
        return False

    def _assess(self, listed_all: bool, errors: list[str]) -> bool:
        """Confirmed when every symbol was listed empty and the OMS holds nothing that may be live."""
        live = {s: [r.client_id for r in self.oms.working(s)] for s in self.symbols}
        live = {s: ids for s, ids in live.items() if ids}
        unknown = [r for s in live for r in self.oms.working(s) if r.unknown or r.status == "PendingNew"]
        zero = listed_all and not live
        why = "; ".join(errors)
        if not zero and not why:
            why = (
                f"{len(unknown)} order(s) of unknown outcome may still land (settled by query within "
                f"{self.oms.params.unknown_horizon_s:g} s of sending)"
                if unknown
                else "cancels sent; waiting for the venue to confirm"
            )
        now = time.time_ns()
        self._set(orders_zero=zero, open=live, why="" if zero else why)
        if zero:
            self._set(confirmed_ns=now, done=not self.state().flatten)
            log.warning(
                "kill_confirmed_zero",
                attempts=self.report.attempts,
                after_ms=round((now - self.state().since_ns) / 1e6, 1),
            )
        elif errors:
            log.warning("kill_round_incomplete", attempt=self.report.attempts, why=why[:300])
        return zero

    async def _flatten(self) -> None:
        """Close every position with reduce-only IOC slices; report what is left."""
        for _ in range(FLATTEN_ROUNDS):
            left = {s: self.oms.exposure(s).position for s in self.symbols}
            left = {s: q for s, q in left.items() if q}
            if not left:
                break
            for sym in left:
                try:
                    await self.reducer.reduce(sym, abs(left[sym]), "taker", self.slip, 0.0, purpose="kill")
                except BinanceError as exc:
                    self._set(why=f"flatten {sym}: {str(exc)[:160]}")
            try:
                await self.sync.positions(self.symbols)
            except BinanceError as exc:
                self._set(why=f"positions: {str(exc)[:160]}")
        left = {s: self.oms.exposure(s).position for s in self.symbols}
        positions = {s: str(q) for s, q in left.items() if q != Decimal(0)}
        flat = not positions
        self._set(
            positions=positions,
            done=flat and self.report.orders_zero,
            why="" if flat else f"not flat after {FLATTEN_ROUNDS} rounds inside the slippage bound",
        )
