"""Rate budgets: admit a plan's actions in priority order and defer what does not fit.

Each budget is a token bucket whose tokens come back exactly one interval after they were spent
(a sliding window). Unlike a bucket that refills continuously, it never lets any interval hold
more than ``limit`` — so it also keeps every one of Binance's fixed windows under the limit.

Buckets, per account and per symbol (``BudgetParams``):

* our own pacing, in orders: places + modifies per 10 s and per minute, cancels per minute
  (the seeds keep cancels under 50 a minute, seed 002 §4.4 / §6.2);
* per account, the venue's counters (reference A.3): a place or modify costs 1 on ORDERS-10s and
  1 on ORDERS-1m; a batch place or modify costs 5 and 1 whatever its size, plus 5 request weight;
  a cancel (single or batch) costs 1 request weight and no order count.

:meth:`Budget.admit` walks the actions cancels first, then reduce-only, then new quotes, admits
each fully or as the longest prefixes that fit (a batch that no longer fits may go as smaller
requests), and defers the rest. A place of new quotes is also held
back while a cancel of the same symbol waits, so a replacement never goes out before the order it
replaces. Nothing is queued: the next plan recomputes what is still missing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.messages.base import NS_PER_S
from common.params.gateway import BudgetParams, SymbolBudget
from services.gateway.reconcile import (
    PRIORITY_QUOTE,
    Action,
    CancelOrders,
    PlaceOrders,
)

BATCH_ORDER_COUNT_10S = 5
BATCH_WEIGHT = 5
CANCEL_WEIGHT = 1


class Window:
    """``limit`` tokens; a spent token returns ``interval_ns`` after it was spent."""

    def __init__(self, limit: int, interval_ns: int) -> None:
        self.limit = limit
        self.interval_ns = interval_ns
        self._spent: deque[tuple[int, int]] = deque()
        self._used = 0

    def _expire(self, now: int) -> None:
        while self._spent and self._spent[0][0] + self.interval_ns <= now:
            self._used -= self._spent.popleft()[1]

    def available(self, now: int) -> int:
        """Tokens left now (negative after an urgent overdraft)."""
        self._expire(now)
        return self.limit - self._used

    def spend(self, cost: int, now: int) -> None:
        """Take ``cost`` tokens (even beyond the limit: the caller decided it must)."""
        if cost > 0:
            self._expire(now)
            self._spent.append((now, cost))
            self._used += cost

    def ready_at(self, cost: int, now: int) -> int:
        """The earliest time ``cost`` tokens are available (``now`` if they are)."""
        need = cost - self.available(now)
        if need <= 0:
            return now
        for t, c in self._spent:
            need -= c
            if need <= 0:
                return t + self.interval_ns
        return now + self.interval_ns  # cost above the limit: never fits; retry after a full interval


@dataclass(frozen=True, slots=True)
class Cost:
    """What one request costs in every bucket."""

    orders: int = 0
    cancels: int = 0
    venue_10s: int = 0
    venue_1m: int = 0
    weight: int = 0


def cost_of(action: Action, n: int | None = None) -> Cost:
    """The cost of sending ``n`` (default all) items of ``action`` as one request."""
    k = len(action.items) if n is None else n
    if isinstance(action, CancelOrders):
        return Cost(cancels=k, weight=CANCEL_WEIGHT)
    if k == 1:
        return Cost(orders=1, venue_10s=1, venue_1m=1)
    return Cost(orders=k, venue_10s=BATCH_ORDER_COUNT_10S, venue_1m=1, weight=BATCH_WEIGHT)


class _Buckets:
    """The windows of one scope (a symbol, or the account with the venue's counters)."""

    def __init__(self, b: SymbolBudget, venue: tuple[int, int, int] | None) -> None:
        self.w: dict[str, tuple[Window, str]] = {
            "orders_10s": (Window(b.orders_per_10s, 10 * NS_PER_S), "orders"),
            "orders_1m": (Window(b.orders_per_minute, 60 * NS_PER_S), "orders"),
            "cancels_1m": (Window(b.cancels_per_minute, 60 * NS_PER_S), "cancels"),
        }
        if venue is not None:
            self.w["venue_10s"] = (Window(venue[0], 10 * NS_PER_S), "venue_10s")
            self.w["venue_1m"] = (Window(venue[1], 60 * NS_PER_S), "venue_1m")
            self.w["weight_1m"] = (Window(venue[2], 60 * NS_PER_S), "weight")

    def blocker(self, cost: Cost, now: int, urgent: bool) -> str:
        """The first bucket ``cost`` does not fit in, or ''."""
        for name, (win, attr) in self.w.items():
            if urgent and attr == "cancels":
                continue
            c = getattr(cost, attr)
            if c and win.available(now) < c:
                return name
        return ""

    def spend(self, cost: Cost, now: int) -> None:
        for win, attr in self.w.values():
            win.spend(getattr(cost, attr), now)

    def ready_at(self, cost: Cost, now: int) -> int:
        return max(
            (win.ready_at(getattr(cost, attr), now) for win, attr in self.w.values() if getattr(cost, attr)),
            default=now,
        )


@dataclass(slots=True)
class Admission:
    """The outcome of one pass: what to send now, what waits, and why (for metrics)."""

    admitted: list[Action] = field(default_factory=list)
    deferred: list[Action] = field(default_factory=list)
    deferred_by: dict[str, int] = field(default_factory=dict)
    retry_at_ns: int | None = None

    def _defer(self, action: Action, why: str) -> None:
        self.deferred.append(action)
        self.deferred_by[why] = self.deferred_by.get(why, 0) + len(action.items)


class Budget:
    """The account's and every symbol's buckets; one instance per gateway."""

    def __init__(self, params: BudgetParams) -> None:
        self.params = params
        a = params.account
        self.account = _Buckets(a, (a.venue_orders_per_10s, a.venue_orders_per_minute, a.weight_per_minute))
        self._symbols: dict[str, _Buckets] = {}

    def _sym(self, symbol: str) -> _Buckets:
        b = self._symbols.get(symbol)
        if b is None:
            b = self._symbols[symbol] = _Buckets(self.params.for_symbol(symbol), None)
        return b

    def admit(self, actions: Sequence[Action], now: int, urgent: bool = False) -> Admission:
        """Admit in priority order (stable); ``urgent`` lets cancels overdraw the cancel buckets."""
        out = Admission()
        cancel_waiting: set[str] = set()
        waiting: list[Action] = []
        for action in sorted(actions, key=lambda a: a.priority):
            if (
                isinstance(action, PlaceOrders)
                and action.priority >= PRIORITY_QUOTE
                and action.symbol in cancel_waiting
            ):
                out._defer(action, "cancel_first")
                continue
            rest = action
            while rest.items:  # the longest prefix that fits, again and again: a batch may shrink
                n, why = self._fit(rest, now, urgent)
                if not n:
                    out._defer(rest, why)
                    waiting.append(rest)
                    if isinstance(rest, CancelOrders):
                        cancel_waiting.add(rest.symbol)
                    break
                head, rest = rest.split(n)
                self.spend(head, now)
                out.admitted.append(head)
        # after every admitted action is charged: when the first deferred one could go
        out.retry_at_ns = min((self._ready_at(a, now) for a in waiting), default=None)
        return out

    def _fit(self, action: Action, now: int, urgent: bool) -> tuple[int, str]:
        """The most items of ``action`` that fit now, and the bucket that stopped more.

        Fitting is monotone (a smaller request never costs more in any bucket: cancels and
        orders grow with the count, a batch's fixed costs are at least a single request's), so
        the largest count that fits is found by bisection.
        """
        sym = self._sym(action.symbol)

        def blocker(n: int) -> str:
            cost = cost_of(action, n)
            return self.account.blocker(cost, now, urgent) or sym.blocker(cost, now, urgent)

        k = len(action.items)
        first = blocker(k)
        if not first:
            return k, ""
        lo, hi = 0, k - 1  # lo fits (0 trivially), hi + 1 does not
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if blocker(mid):
                hi = mid - 1
            else:
                lo = mid
        return lo, first

    def _ready_at(self, action: Action, now: int) -> int:
        cost = cost_of(action, 1)
        return max(self.account.ready_at(cost, now), self._sym(action.symbol).ready_at(cost, now))

    def spend(self, action: Action, now: int) -> None:
        """Charge a request sent outside :meth:`admit` (a kill's cancels, a flatten order)."""
        cost = cost_of(action)
        self.account.spend(cost, now)
        self._sym(action.symbol).spend(cost, now)

    def charge_weight(self, weight: int, now: int) -> None:
        """Charge request weight spent on other calls (queries, openOrders, the dead-man's switch)."""
        self.account.spend(Cost(weight=weight), now)
