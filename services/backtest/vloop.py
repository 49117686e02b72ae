"""An asyncio event loop on simulated time, so the live gateway's async code runs unchanged in a backtest.

``loop.time()`` is a number the backtest owns. When the loop has nothing ready to run, it does not
wait: it jumps its clock to the next timer (an ``await asyncio.sleep(entry_latency)`` in the venue
port returns at once, at the right simulated time). The market driver moves the clock forward
between events with :meth:`VirtualClockLoop.advance_to`, which first runs every callback due
before that time, in time order.

``loop.time()`` counts seconds from the backtest's start (a float); :attr:`now_ns` is the exact
integer time since the epoch that the backtest's components read as their clock.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _NoWaitSelector(selectors.DefaultSelector):
    """Polls the real selector (for the loop's self-pipe) without blocking; a wait becomes a jump."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0 and self.loop is not None:
            self.loop._jump(timeout)
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector loop whose clock is simulated (see the module docstring)."""

    def __init__(self, start_ns: int) -> None:
        sel = _NoWaitSelector()
        super().__init__(sel)
        sel.loop = self
        self._now_ns = start_ns
        # asyncio's clock counts from the start: seconds since the epoch as a float are too coarse
        # (0.24 µs) for asyncio's 1 ns "is it due" test, which would then spin for ever.
        self._origin_ns = start_ns

    @property
    def now_ns(self) -> int:
        return self._now_ns

    def time(self) -> float:
        return (self._now_ns - self._origin_ns) / 1e9

    def _jump(self, seconds: float) -> None:
        self._now_ns += max(1, round(seconds * 1e9))

    def next_due_ns(self) -> int | None:
        """When the earliest pending callback is due (now when one is ready), else None."""
        if self._ready:  # type: ignore[attr-defined]
            return self._now_ns
        scheduled: list[Any] = self._scheduled  # type: ignore[attr-defined]
        if not scheduled:
            return None
        head = scheduled[0]
        if head.cancelled():  # asyncio drops cancelled timers lazily: look past them
            live = [h.when() for h in scheduled if not h.cancelled()]
            if not live:
                return None
            return max(self._now_ns, self._origin_ns + round(min(live) * 1e9))
        return max(self._now_ns, self._origin_ns + round(head.when() * 1e9))

    async def advance_to(self, t_ns: int) -> None:
        """Run everything due up to ``t_ns`` in time order, then set the clock to ``t_ns``."""
        while True:
            due = self.next_due_ns()
            if due is None or due > t_ns:
                break
            # A zero-length sleep lets the loop run what is ready; a positive one jumps to the timer.
            await asyncio.sleep(max(0.0, (due - self._now_ns) / 1e9))
        self._now_ns = max(self._now_ns, t_ns)
