"""Order and fill activity per symbol over the last minutes, for the seeds' fill-rate metrics
(seed 001 ``mm_fill_rate_current``, ``mm_recent_fills_count``; seed 002 ``mm_fill_rate_5m``, its
"fill rate > 35 %" figure): fills over orders placed in the window. Pure; the service feeds it the
orders it admits (``PendingNew``) and the fills it publishes, and reads it on a timer."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

NS = 1_000_000_000
WINDOW_NS = 300 * NS


class Figures(NamedTuple):
    """Fills in the last minute, fills/orders over the last minute and over five (0 without orders)."""

    recent_fills: int
    fill_rate_1m: float
    fill_rate_5m: float


class Activity:
    """Timestamps of orders and fills per symbol, five minutes deep."""

    def __init__(self) -> None:
        self._orders: dict[str, deque[int]] = {}
        self._fills: dict[str, deque[int]] = {}

    def on_order(self, symbol: str, t_ns: int) -> None:
        self._orders.setdefault(symbol, deque()).append(t_ns)

    def on_fill(self, symbol: str, t_ns: int) -> None:
        self._fills.setdefault(symbol, deque()).append(t_ns)

    def figures(self, symbol: str, now_ns: int) -> Figures:
        orders = _pruned(self._orders.get(symbol), now_ns)
        fills = _pruned(self._fills.get(symbol), now_ns)
        o1, f1 = _since(orders, now_ns - 60 * NS), _since(fills, now_ns - 60 * NS)
        return Figures(f1, f1 / o1 if o1 else 0.0, len(fills) / len(orders) if orders else 0.0)


def _pruned(q: deque[int] | None, now_ns: int) -> deque[int]:
    if q is None:
        return deque()
    while q and q[0] <= now_ns - WINDOW_NS:
        q.popleft()
    return q


def _since(q: deque[int], t_ns: int) -> int:
    n = 0
    for t in reversed(q):
        if t <= t_ns:
            break
        n += 1
    return n
