"""The matching engine's book: other participants' size per level plus our accounts' orders.

Pure and deterministic: integers of ticks (price) and steps (size), no I/O, no clock. The market
model sets the *other* size of each level (``set_market``) and reports the tape's trades
(``market_trade``); accounts' orders rest in price-time priority behind the other size that was
displayed when they joined, tracked by a queue model. A marketable order (``take``) walks the
opposite side best level first. The displayed book is other size plus resting orders.

Sides are ``BUY = 1`` and ``SELL = -1``; a level's queue is FIFO.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from services.venue.queue import QueueModel, RiskAverseQueue

BUY, SELL = 1, -1


def _gap(o: Resting, used_other: int) -> int:
    """Whole steps of other size still ahead of ``o`` once ``used_other`` was consumed (rounded up)."""
    return max(0, math.ceil(o.ahead - used_other - 1e-9))


@dataclass(slots=True, eq=False)
class Resting:
    """An account's order resting on the book (sizes in steps, price in ticks)."""

    oid: int
    account: str
    side: int
    price: int
    remaining: int
    ahead: float = 0.0


@dataclass(slots=True)
class Level:
    price: int
    other: int = 0
    orders: list[Resting] = field(default_factory=list)
    cum_trade: int = 0

    def displayed(self) -> int:
        return self.other + sum(o.remaining for o in self.orders)


@dataclass(slots=True, frozen=True)
class Execution:
    """One match: ``maker`` is None when the resting side was another participant's size."""

    price: int
    qty: int
    maker: Resting | None


@dataclass(slots=True)
class TakeResult:
    executions: list[Execution]
    filled: int
    stp_expired_makers: list[Resting]
    stp_stopped: bool


class Side:
    """One side of the book: levels by price and a sorted price list."""

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []  # ascending

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.sign == BUY else self.prices[0]

    def level(self, price: int) -> Level:
        lv = self.levels.get(price)
        if lv is None:
            lv = self.levels[price] = Level(price)
            bisect.insort(self.prices, price)
        return lv

    def drop_if_empty(self, lv: Level) -> None:
        if lv.other <= 0 and not lv.orders:
            del self.levels[lv.price]
            i = bisect.bisect_left(self.prices, lv.price)
            del self.prices[i]

    def best_first(self) -> list[int]:
        return self.prices[::-1] if self.sign == BUY else list(self.prices)

    def crossing(self, limit: int | None) -> list[int]:
        """Prices a taker from the other side limited at ``limit`` reaches, best first (a copy)."""
        if limit is None:
            return self.best_first()
        if self.sign == BUY:
            return self.prices[bisect.bisect_left(self.prices, limit) :][::-1]
        return self.prices[: bisect.bisect_right(self.prices, limit)]


class OrderBook:
    """Both sides of one symbol, with change tracking for the depth streams."""

    def __init__(self, queue_model: QueueModel | None = None) -> None:
        self.bids = Side(BUY)
        self.asks = Side(SELL)
        self.queue = queue_model or RiskAverseQueue()
        self.dirty: set[tuple[int, int]] = set()

    def side(self, sign: int) -> Side:
        return self.bids if sign == BUY else self.asks

    # ---- the market model's inputs ----------------------------------------------------------

    def set_market(self, sign: int, price: int, qty: int) -> list[Execution]:
        """Set other participants' size at a level; returns fills of our orders it crossed.

        A new ask at or below our resting bids (or a bid at or above our asks) trades with them
        first, as it would on the exchange; what is left rests.
        """
        opp = self.asks if sign == BUY else self.bids
        best = (opp.prices[0] if sign == BUY else opp.prices[-1]) if opp.prices else None
        crosses = best is not None and (best <= price if sign == BUY else best >= price)
        execs = self._cross_incoming(sign, price, qty) if qty > 0 and crosses else []
        left = qty - sum(e.qty for e in execs) if execs else qty
        side = self.bids if sign == BUY else self.asks
        lv = side.levels.get(price)
        if lv is None:
            if left <= 0:
                return execs
            lv = side.level(price)
        prev = lv.other
        for o in lv.orders:
            o.ahead = self.queue.on_depth(o.ahead, prev, left, lv.cum_trade)
        lv.cum_trade = 0
        lv.other = max(left, 0)
        self.dirty.add((sign, price))
        side.drop_if_empty(lv)
        return execs

    def _cross_incoming(self, sign: int, price: int, qty: int) -> list[Execution]:
        opp = self.side(-sign)
        execs: list[Execution] = []
        for p in opp.crossing(price):
            if qty <= 0:
                break
            lv = opp.levels[p]
            if not lv.orders:
                continue
            for o in list(lv.orders):
                if qty <= 0:
                    break
                q = min(o.remaining, qty)
                execs.append(Execution(p, q, o))
                self._consume_order(lv, o, q)
                qty -= q
            opp.drop_if_empty(lv)
        return execs

    def market_trade(self, aggressor: int, price: int, qty: int) -> list[Execution]:
        """A tape trade by another participant: fills our makers it reached, in queue order.

        Our orders priced better than the trade were traded through and fill whole. The other
        size of the level is left to the model's next depth update (it is in the data already).
        """
        opp = self.side(-aggressor)
        execs: list[Execution] = []
        for p in opp.crossing(price):
            lv = opp.levels[p]
            if p != price:
                for o in list(lv.orders):
                    execs.append(Execution(p, o.remaining, o))
                    self._consume_order(lv, o, o.remaining)
            else:
                execs.extend(self._walk_queue(lv, qty, consume_other=False))
                lv.cum_trade += qty
            opp.drop_if_empty(lv)
        return execs

    # ---- accounts' orders ------------------------------------------------------------------

    def add(self, order: Resting) -> None:
        """Rest an order at the back of its level, behind all size displayed there now."""
        lv = self.side(order.side).level(order.price)
        order.ahead = float(lv.other)
        lv.orders.append(order)
        self.dirty.add((order.side, order.price))

    def remove(self, order: Resting) -> None:
        side = self.side(order.side)
        lv = side.levels.get(order.price)
        if lv is None or order not in lv.orders:
            return
        lv.orders.remove(order)
        self.dirty.add((order.side, order.price))
        side.drop_if_empty(lv)

    def would_take(self, sign: int, limit: int | None) -> bool:
        """True if an order of ``sign`` at ``limit`` would match something now (post-only check)."""
        return bool(self.side(-sign).crossing(limit))

    def available(self, sign: int, limit: int | None, exclude_account: str = "") -> int:
        """Size a taker could get within ``limit`` (for FOK); excludes one account's own orders."""
        opp = self.side(-sign)
        total = 0
        for p in opp.crossing(limit):
            lv = opp.levels[p]
            total += lv.other + sum(o.remaining for o in lv.orders if o.account != exclude_account)
        return total

    def take(self, sign: int, limit: int | None, qty: int, account: str, stp: str = "NONE") -> TakeResult:
        """Match a taker of ``sign`` for up to ``qty`` within ``limit`` (None = market order)."""
        opp = self.side(-sign)
        res = TakeResult([], 0, [], False)
        for p in opp.crossing(limit):
            if res.filled >= qty or res.stp_stopped:
                break
            lv = opp.levels[p]
            self._take_level(lv, -sign, qty - res.filled, account, stp, res)
            opp.drop_if_empty(lv)
        return res

    def _take_level(self, lv: Level, sign: int, want: int, account: str, stp: str, res: TakeResult) -> None:
        taken_other = 0
        for o in list(lv.orders):
            q = min(_gap(o, taken_other), want)
            if q:
                res.executions.append(Execution(lv.price, q, None))
                taken_other += q
                want -= q
                res.filled += q
            if want <= 0:
                break
            if o.account == account and stp != "NONE":
                if stp in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
                    res.stp_expired_makers.append(o)
                    lv.orders.remove(o)
                if stp in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
                    res.stp_stopped = True
                    break
                continue
            f = min(o.remaining, want)
            res.executions.append(Execution(lv.price, f, o))
            self._consume_order(lv, o, f)
            want -= f
            res.filled += f
        if want > 0 and not res.stp_stopped:
            q = min(lv.other - taken_other, want)
            if q > 0:
                res.executions.append(Execution(lv.price, q, None))
                taken_other += q
                res.filled += q
        self._advance(lv, taken_other)
        lv.other = max(0, lv.other - taken_other)
        self.dirty.add((sign, lv.price))

    # ---- internals ---------------------------------------------------------------------------

    def _walk_queue(self, lv: Level, qty: int, consume_other: bool) -> list[Execution]:
        """Consume ``qty`` from the front of a level's queue: other size ahead, then our orders."""
        execs: list[Execution] = []
        used_other = 0
        for o in list(lv.orders):
            step = min(_gap(o, used_other), qty)
            used_other += step
            qty -= step
            if qty <= 0:
                break
            f = min(o.remaining, qty)
            execs.append(Execution(lv.price, f, o))
            self._consume_order(lv, o, f)
            qty -= f
        self._advance(lv, used_other)
        if consume_other:
            lv.other = max(0, lv.other - used_other)
        return execs

    def _advance(self, lv: Level, used_other: int) -> None:
        for o in lv.orders:
            o.ahead = max(0.0, o.ahead - used_other)

    def _consume_order(self, lv: Level, o: Resting, q: int) -> None:
        o.remaining -= q
        if o.remaining <= 0:
            lv.orders.remove(o)
        self.dirty.add((o.side, lv.price))

    # ---- views -------------------------------------------------------------------------------

    def displayed(self, sign: int, price: int) -> int:
        lv = self.side(sign).levels.get(price)
        return lv.displayed() if lv else 0

    def top(self, sign: int) -> tuple[int, int] | None:
        """Best (price, displayed size) of a side."""
        side = self.side(sign)
        best = side.best()
        return None if best is None else (best, side.levels[best].displayed())

    def depth(self, sign: int, n: int) -> list[tuple[int, int]]:
        side = self.side(sign)
        out = []
        for p in side.best_first():
            d = side.levels[p].displayed()
            if d > 0:
                out.append((p, d))
                if len(out) >= n:
                    break
        return out

    def take_changes(self) -> list[tuple[int, int, int]]:
        """(side, price, displayed size) of every level changed since the last call."""
        out = [(s, p, self.displayed(s, p)) for s, p in self.dirty]
        self.dirty.clear()
        return out

    def is_crossed(self) -> bool:
        b, a = self.bids.best(), self.asks.best()
        return b is not None and a is not None and b >= a
