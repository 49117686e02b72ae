"""Adverse selection measured on our own fills: how the mid moved against each fill ``h`` later.

A fill's markout against its price, (mid(t+h) − price) / price for a buy, is the half-spread it
captured, (mid(t) − price) / price, plus the mid's drift after it, (mid(t+h) − mid(t)) / mid(t).
The captured part is the quote's own distance; the drift is what the quote must earn back: the
*adverse selection*, in bps, the drift against us (−drift for a buy, +drift for a sell). The
strategy keeps, per symbol, an exponential average of it with weight ``adverseAlpha`` per fill,
starting from ``adversePriorBps`` (the fallback before any fill), and the share of fills the mid
moved against (``mm_adverse_selection_rate``). ASMM's measured spread floor, fee + adverse
selection + edge, reads it (:mod:`services.strategy.models.asmm`): a quote at least that far from
the mid earns the edge on the average fill.

Pure: the state is a frozen struct inside :class:`~services.strategy.state.StrategyState` (so it
survives a restart with the rest of the snapshot); the core adds fills and resolves them against
the mid of each decision.
"""

from __future__ import annotations

import msgspec

MAX_PENDING = 256
"""Fills awaiting their horizon beyond this many are dropped oldest first (a burst of tiny fills)."""


class MarkoutState(msgspec.Struct, frozen=True, kw_only=True):
    """Fills waiting for their horizon: (time ns, +1 buy / −1 sell, the mid when it filled); the
    averaged cost in bps (None: nothing measured yet, the prior applies); fills measured and those
    the mid moved against."""

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


def add_fill(st: MarkoutState, ts_ns: int, side: str, mid: float) -> MarkoutState:
    """Remember a fill, with the mid when it filled, until its horizon."""
    if mid <= 0:
        return st
    entry = (ts_ns, 1 if side == "BUY" else -1, mid)
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
    for _ts, sign, then in due:
        drift = sign * (mid - then) / then * 1e4
        cost += alpha * (-drift - cost)
        adverse += drift < 0
    return MarkoutState(pending=rest, cost_bps=cost, fills=st.fills + len(due), adverse=adverse)
