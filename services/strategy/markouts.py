"""Adverse selection measured on our own fills: each fill's markout ``h`` seconds later.

A fill's markout is how the mid moved for us after it: (mid − price) / price for a buy, the
opposite for a sell, in bps. Negative markouts are the adverse selection a quote must earn back.
The strategy keeps, per symbol, an exponential average of the *cost* (−markout) with weight
``adverseAlpha`` per fill, starting from ``adversePriorBps`` (the fallback before any fill), and the
share of fills whose markout went against us (``mm_adverse_selection_rate``). ASMM's measured
spread floor reads it (:mod:`services.strategy.models.asmm`).

Pure: the state is a frozen struct inside :class:`~services.strategy.state.StrategyState` (so it
survives a restart with the rest of the snapshot); the core adds fills and resolves them against
the mid of each decision.
"""

from __future__ import annotations

import msgspec

MAX_PENDING = 256
"""Fills awaiting their horizon beyond this many are dropped oldest first (a burst of tiny fills)."""


class MarkoutState(msgspec.Struct, frozen=True, kw_only=True):
    """Fills waiting for their horizon: (time ns, +1 buy / −1 sell, price); the averaged cost in
    bps (None: nothing measured yet, the prior applies); fills measured and those against us."""

    pending: tuple[tuple[int, int, float], ...] = ()
    cost_bps: float | None = None
    fills: int = 0
    adverse: int = 0

    def cost(self, prior_bps: float) -> float:
        """The adverse-selection cost to price in, bps: the average, or the prior before any fill."""
        return prior_bps if self.cost_bps is None else self.cost_bps

    def rate(self) -> float:
        """The share of measured fills whose markout went against us (0 before any)."""
        return self.adverse / self.fills if self.fills else 0.0


def add_fill(st: MarkoutState, ts_ns: int, side: str, price: float) -> MarkoutState:
    """Remember a fill until its horizon."""
    if price <= 0:
        return st
    entry = (ts_ns, 1 if side == "BUY" else -1, price)
    return msgspec.structs.replace(st, pending=(*st.pending, entry)[-MAX_PENDING:])


def resolve(
    st: MarkoutState, now_ns: int, mid: float, horizon_ns: int, alpha: float, prior_bps: float
) -> MarkoutState:
    """Measure every pending fill whose horizon has passed against ``mid`` (the mid of now)."""
    if not st.pending or mid <= 0 or st.pending[0][0] + horizon_ns > now_ns:
        return st
    due = [p for p in st.pending if p[0] + horizon_ns <= now_ns]
    rest = tuple(p for p in st.pending if p[0] + horizon_ns > now_ns)
    cost = st.cost(prior_bps)
    adverse = st.adverse
    for _ts, sign, price in due:
        markout = sign * (mid - price) / price * 1e4
        cost += alpha * (-markout - cost)
        adverse += markout < 0
    return MarkoutState(pending=rest, cost_bps=cost, fills=st.fills + len(due), adverse=adverse)
