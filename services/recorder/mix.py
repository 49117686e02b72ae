"""A deterministic, realistic bus traffic mix for the recorder's tests, benchmark and demo reports.

One simulated 100 ms step per symbol publishes what the running system does: a book, features, a
trade or two, a mark price each second, strategy and risk targets each 500 ms, and an order
life cycle (PendingNew → New → fills or Canceled) with the fills, positions and account updates it
causes; now and then a risk event, a command audit, a degraded status and a state snapshot.
Times are simulated (``ts_event`` advances by the step), so the same seed gives the same messages.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from common import topics
from common.codec import MessageCodec
from common.messages import (
    Account,
    Balance,
    BookLevels,
    CommandAudit,
    DecisionRecord,
    Features,
    Fill,
    Heartbeat,
    MarkPrice,
    Message,
    OrderUpdate,
    Position,
    Quote,
    RiskEvent,
    ServiceStatus,
    StateSnapshot,
    TargetQuotes,
    Trade,
)
from services.recorder.ingest import RawMsg

STEP_NS = 100_000_000
TICK = Decimal("0.01")
STEP = Decimal("0.001")

Published = tuple[str, str, Message]
"""(topic, publishing service, message)."""


@dataclass
class _Book:
    symbol: str
    mid_ticks: int
    position: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    orders: dict[str, OrderUpdate] = field(default_factory=dict)


class MessageMix:
    """Yields ``(topic, service, message)`` in publication order; see the module docstring."""

    def __init__(
        self, symbols: tuple[str, ...] = ("ETHUSDC", "BTCUSDC"), seed: int = 7, t0_ns: int = 0
    ) -> None:
        self.rng = random.Random(seed)
        self.t = t0_ns or 1_790_000_000_000_000_000
        self.books = {s: _Book(s, (268_000, 6_100_000)[i % 2]) for i, s in enumerate(symbols)}
        self.n_orders = 0
        self.n_trades = 0
        self.target_id = 0
        self.step = 0

    def take(self, n: int) -> list[Published]:
        """The next ``n`` messages."""
        out: list[Published] = []
        it = self.stream()
        while len(out) < n:
            out.append(next(it))
        return out

    def stream(self) -> Iterator[Published]:
        """Messages without end."""
        while True:
            self.step += 1
            self.t += STEP_NS
            for b in self.books.values():
                yield from self._symbol_step(b)
            if self.step % 10 == 0:
                yield from self._second()

    # ---- per step ---------------------------------------------------------------------------------

    def _symbol_step(self, b: _Book) -> Iterator[Published]:
        b.mid_ticks += self.rng.choice((-2, -1, 0, 0, 1, 2))
        yield topics.md_book(b.symbol), "marketdata", self._book(b)
        yield topics.md_features(b.symbol), "marketdata", self._features(b)
        for _ in range(self.rng.choice((0, 1, 1, 2))):
            self.n_trades += 1
            yield topics.md_trade(b.symbol), "marketdata", self._trade(b)
        if self.step % 5 == 0:
            yield from self._targets(b)
        yield from self._orders(b)

    def _second(self) -> Iterator[Published]:
        for b in self.books.values():
            yield topics.md_mark(b.symbol), "marketdata", self._mark(b)
        for svc in ("marketdata", "strategy", "risk", "gateway"):
            yield (
                topics.sys_heartbeat(svc),
                svc,
                Heartbeat(service=svc, pid=1, version="0", started_ns=0, ts_event=self.t, ts_init=self.t),
            )
        if self.step % 50 == 0:
            yield from self._every_5s()

    def _every_5s(self) -> Iterator[Published]:
        wallet = Decimal(10000) + sum((b.realized - b.fees for b in self.books.values()), Decimal(0))
        yield (
            topics.OMS_ACCOUNT,
            "gateway",
            Account(balances=[Balance(asset="USDC", wallet=wallet, available=wallet)], ts_event=self.t),
        )
        payload = bytes(self.rng.getrandbits(8) for _ in range(64))
        yield (
            topics.state("strategy"),
            "strategy",
            StateSnapshot(service="strategy", payload=payload, ts_event=self.t),
        )
        yield from self._incident()

    def _incident(self) -> Iterator[Published]:
        """Now and then a risk event, a command audit (half of them failed) or a degraded status."""
        roll = self.rng.random()
        if roll < 0.3:
            sym = self.rng.choice(list(self.books))
            event = RiskEvent(
                rule="inventory_soft",
                action="skew",
                symbol=sym,
                from_mode="normal",
                to_mode="normal",
                reason="inventory above soft cap",
                figures={"position": float(self.books[sym].position)},
                ts_event=self.t,
            )
            yield topics.RISK_EVENT, "risk", event
        elif roll < 0.5:
            ok = self.rng.random() < 0.5
            audit = CommandAudit(
                service="gateway",
                request_id=f"r{self.step}",
                sender="mmctl",
                command="CancelAll",
                ok=ok,
                error="" if ok else "venue timeout",
                ts_event=self.t,
            )
            yield topics.sys_command("gateway"), "gateway", audit
        elif roll < 0.65:
            status = ServiceStatus(
                service="marketdata", state="degraded", reason="feed stale", ts_event=self.t
            )
            yield topics.sys_status("marketdata"), "marketdata", status

    # ---- builders -----------------------------------------------------------------------------------

    def _book(self, b: _Book) -> BookLevels:
        m = b.mid_ticks
        bids = [(m - 1 - i, 100 + 10 * i) for i in range(20)]
        asks = [(m + 1 + i, 100 + 10 * i) for i in range(20)]
        return BookLevels(
            symbol=b.symbol,
            last_update_id=self.step,
            ts_exchange=self.t - 3_000_000,
            price_tick=TICK,
            qty_step=STEP,
            bids=bids,
            asks=asks,
            ts_event=self.t,
            ts_init=self.t,
        )

    def _features(self, b: _Book) -> Features:
        mid = float(b.mid_ticks * TICK)
        bid, ask = mid - 0.01, mid + 0.01
        return Features(
            symbol=b.symbol,
            best_bid=bid,
            best_ask=ask,
            bid_qty=0.1,
            ask_qty=0.1,
            mid=mid,
            microprice=mid,
            spread=ask - bid,
            spread_bps=(ask - bid) / mid * 1e4,
            depth_bid=3.5,
            depth_ask=3.7,
            imbalance=-0.03,
            vol={"1s": 1.1e-4, "60s": 9.0e-4},
            ts_event=self.t,
            ts_init=self.t,
        )

    def _trade(self, b: _Book) -> Trade:
        return Trade(
            symbol=b.symbol,
            trade_id=self.n_trades,
            price=(b.mid_ticks + self.rng.choice((-1, 1))) * TICK,
            qty=self.rng.randint(1, 500) * STEP,
            buyer_is_maker=self.rng.random() < 0.5,
            ts_event=self.t,
        )

    def _mark(self, b: _Book) -> MarkPrice:
        return MarkPrice(
            symbol=b.symbol,
            mark_price=b.mid_ticks * TICK,
            index_price=b.mid_ticks * TICK,
            funding_rate=Decimal("0.0001"),
            next_funding_time_ms=self.t // 1_000_000 + 3_600_000,
            ts_event=self.t,
        )

    def _targets(self, b: _Book) -> Iterator[Published]:
        self.target_id += 1
        half = 5 + self.rng.randint(0, 3)
        quotes = [
            Quote(side="BUY", price=(b.mid_ticks - half - 5 * i) * TICK, qty=Decimal("0.05"), layer=i)
            for i in range(3)
        ] + [
            Quote(side="SELL", price=(b.mid_ticks + half + 5 * i) * TICK, qty=Decimal("0.05"), layer=i)
            for i in range(3)
        ]
        decision = DecisionRecord(
            model="phase2", params_version="v1", inputs={"mid": float(b.mid_ticks * TICK)}
        )
        strat = TargetQuotes(
            symbol=b.symbol, target_id=self.target_id, quotes=quotes, decision=decision, ts_event=self.t
        )
        yield topics.strategy_target(b.symbol), "strategy", strat
        approved = msgspec.structs.replace(
            strat, origin="risk", source_target_id=self.target_id, decision=None
        )
        yield topics.risk_target(b.symbol), "risk", approved

    # ---- orders, fills, positions ---------------------------------------------------------------

    def _orders(self, b: _Book) -> Iterator[Published]:
        far = f"far-{b.symbol.lower()}"
        if far not in b.orders:  # a far layer that rests all session: some order is always open
            o = OrderUpdate(
                symbol=b.symbol, client_order_id=far, side="BUY", price=(b.mid_ticks - 500) * TICK,
                qty=Decimal("0.050"), state="New", layer=20, ts_event=self.t,
            )  # fmt: skip
            b.orders[far] = o
            yield topics.oms_order(b.symbol), "gateway", o
        if self.rng.random() < 0.2:
            yield from self._new_order(b)
        for cid in list(b.orders):
            if cid == far:
                continue
            o = b.orders[cid]
            r = self.rng.random()
            if o.state == "PendingNew" and r < 0.05:  # the venue refuses a post-only that would take
                yield self._update(b, o, state="Rejected", error_code=-5022, reason="post_only")
            elif o.state == "PendingNew" and r < 0.08:  # held back by the gateway, never sent
                yield self._update(b, o, state="Rejected", reason="rate limit: held back")
            elif o.state == "PendingNew":
                yield self._update(b, o, state="New", venue_order_id=int(cid[1:]) + 9000)
            elif r < 0.08:
                yield from self._fill(b, o)
            elif r < 0.2:
                yield self._update(b, o, state="Canceled")

    def _new_order(self, b: _Book) -> Iterator[Published]:
        self.n_orders += 1
        side = self.rng.choice(("BUY", "SELL"))
        px = (b.mid_ticks + (-1 if side == "BUY" else 1) * self.rng.randint(1, 4)) * TICK
        o = OrderUpdate(
            symbol=b.symbol,
            client_order_id=f"c{self.n_orders}",
            side=side,  # type: ignore[arg-type]
            price=px,
            qty=Decimal("0.050"),
            state="PendingNew",
            layer=self.rng.randint(0, 2),
            ts_event=self.t,
        )
        b.orders[o.client_order_id] = o
        yield topics.oms_order(b.symbol), "gateway", o

    def _update(self, b: _Book, o: OrderUpdate, **changes: object) -> Published:
        # A little later than the last event of the order: the order path takes time.
        n = msgspec.structs.replace(o, ts_event=self.t + self.rng.randint(1, 3_000_000), **changes)
        if n.state in ("Filled", "Canceled", "Rejected"):
            b.orders.pop(o.client_order_id, None)
        else:
            b.orders[o.client_order_id] = n
        return topics.oms_order(b.symbol), "gateway", n

    def _fill(self, b: _Book, o: OrderUpdate) -> Iterator[Published]:
        qty = o.qty - o.filled_qty
        part = qty if self.rng.random() < 0.6 else (qty / 2).quantize(STEP)
        self.n_trades += 1
        sign = 1 if o.side == "BUY" else -1
        realized = self._book_fill(b, sign * part, o.price)
        fee = (o.price * part * Decimal("0.0002")).quantize(Decimal("0.00000001"))
        b.fees += fee
        filled = o.filled_qty + part
        state = "Filled" if filled == o.qty else "PartiallyFilled"
        yield topics.oms_order(b.symbol), "gateway", self._update(b, o, state=state, filled_qty=filled)[2]
        yield (
            topics.oms_fill(b.symbol),
            "gateway",
            Fill(
                symbol=b.symbol,
                trade_id=1_000_000 + self.n_trades,
                client_order_id=o.client_order_id,
                venue_order_id=o.venue_order_id,
                side=o.side,
                price=o.price,
                qty=part,
                fee=fee,
                fee_asset="USDC",
                realized_pnl=realized,
                is_maker=True,
                layer=o.layer,
                ts_event=self.t,
            ),
        )
        mark = b.mid_ticks * TICK
        yield (
            topics.oms_position(b.symbol),
            "gateway",
            Position(
                symbol=b.symbol,
                qty=b.position,
                entry_price=b.entry,
                mark_price=mark,
                unrealized_pnl=((mark - b.entry) * b.position).quantize(Decimal("0.00000001")),
                realized_pnl=b.realized,
                fees=b.fees,
                ts_event=self.t,
            ),
        )

    def _book_fill(self, b: _Book, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Average-cost position keeping; returns the realized PnL of this fill."""
        pos = b.position
        realized = Decimal(0)
        if pos == 0 or (pos > 0) == (signed_qty > 0):
            total = pos + signed_qty
            b.entry = (b.entry * abs(pos) + price * abs(signed_qty)) / abs(total)
            b.entry = b.entry.quantize(Decimal("0.0001"))
            b.position = total
            return realized
        closing = min(abs(signed_qty), abs(pos))
        realized = ((price - b.entry) * closing * (1 if pos > 0 else -1)).quantize(Decimal("0.00000001"))
        b.realized += realized
        b.position = pos + signed_qty
        if b.position == 0:
            b.entry = Decimal(0)
        elif (b.position > 0) != (pos > 0):
            b.entry = price
        return realized


class Wire:
    """Encodes mix messages as the recorder receives them (per-topic seq, msgpack body)."""

    def __init__(self) -> None:
        self._codec = MessageCodec()
        self._seq: dict[tuple[str, str], int] = {}

    def raw(self, topic: str, source: str, msg: Message, ts_recv: int = 0) -> RawMsg:
        """One message as the recorder's subscriber hands it over (``ts_recv`` defaults to ``ts_event``)."""
        key = (source, topic)
        seq = self._seq[key] = self._seq.get(key, 0) + 1
        return (ts_recv or msg.ts_event, topic, source, 1, seq, self._codec.encode_body(msg))

    def many(self, items: list[Published]) -> list[RawMsg]:
        """Every message of ``items``, in order."""
        return [self.raw(t, s, m) for t, s, m in items]
