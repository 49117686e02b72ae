"""Property: whatever the targets, fills and prices, what risk approves never breaks netMax or singleMax.

The fills come only from approved quotes (the gateway rests nothing else) and the shell ticks the
engine after each one, as the engine's protocol asks; at every approval the worst case holds:
``position + all approved bids <= netMax`` and ``position − all approved asks >= −netMax``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.instrument import round_down
from common.messages import Quote, Side, TargetQuotes
from common.params.risk import RiskParams
from services.risk.engine import Outcome, RiskEngine
from tests.fixtures.risk_samples import T0_NS, feed_market, fill, ready_engine, target

NET, SINGLE, STEP, TICK = Decimal("0.21"), Decimal("0.06"), Decimal("0.001"), Decimal("0.01")
MS = 1_000_000

quotes_st = st.lists(
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 400), st.integers(1, 90), st.booleans()),
    max_size=30,
)
fill_st = st.tuples(st.just("fill"), st.integers(0, 10**6), st.floats(0.01, 1.0))
steps_st = st.lists(
    st.one_of(
        st.tuples(st.just("target"), quotes_st),
        fill_st,
        fill_st,
        st.tuples(st.just("sweep"), st.sampled_from(["BUY", "SELL"])),
        st.tuples(st.just("move"), st.integers(-300, 300)),
        st.tuples(st.just("jump"), st.integers(-30_000, 30_000)),
        st.tuples(st.just("wait"), st.integers(1, 3000)),
    ),
    max_size=60,
)


class World:
    """The engine, the true position, the price, the clock and the latest approved target."""

    def __init__(self) -> None:
        params = RiskParams.model_validate({"symbols": {"ETHUSDC": {"maxActionsPerSecond": 40}}})
        self.engine: RiskEngine = ready_engine(params, symbols=("ETHUSDC",))
        self.pos = Decimal(0)
        self.ticks = 268_000
        self.now = T0_NS
        self.trade = 0
        self.approved: TargetQuotes | None = None

    def take(self, out: Outcome) -> None:
        for t in out.targets:
            self.approved = t
        self.check()

    def check(self) -> None:
        t = self.approved
        if t is None:
            return
        bids = sum((q.qty for q in t.quotes if q.side == "BUY"), Decimal(0))
        asks = sum((q.qty for q in t.quotes if q.side == "SELL"), Decimal(0))
        assert self.pos + bids <= NET and self.pos - asks >= -NET, (self.pos, bids, asks)
        assert all(q.qty <= SINGLE for q in t.quotes)
        assert self.engine.state(self.now).figures["ETHUSDC.position"] == float(self.pos)

    def step(self, kind: str, *args: Any) -> None:
        self.now += 200 * MS
        feed_market(self.engine, "ETHUSDC", self.ticks * TICK, self.now)
        getattr(self, kind)(*args)

    def target(self, spec: list[tuple[Side, int, int, bool]]) -> None:
        quotes = [
            Quote(side=side, price=(self.ticks + (-d if side == "BUY" else d)) * TICK, qty=n * STEP, layer=i,
                  reduce_only=ro)
            for i, (side, d, n, ro) in enumerate(spec)
        ]  # fmt: skip
        self.trade += 1
        self.take(self.engine.check(target("ETHUSDC", quotes, self.trade, self.now), self.now))

    def fill(self, pick: int, fraction: float) -> None:
        if self.approved is None or not self.approved.quotes:
            return
        q = self.approved.quotes[pick % len(self.approved.quotes)]
        qty = round_down(q.qty * Decimal(repr(fraction)), STEP)
        if qty <= 0:
            return
        self.trade += 1
        self.engine.on_fill(fill("ETHUSDC", q.side, q.price, qty, self.trade, ts=self.now))
        self.pos += qty if q.side == "BUY" else -qty
        self.take(self.engine.tick(self.now))

    def sweep(self, side: Side) -> None:
        """The market takes every approved quote of one side, one fill each, then the shell ticks."""
        quotes = [q for q in self.approved.quotes if q.side == side] if self.approved else []
        for q in quotes:
            self.trade += 1
            self.engine.on_fill(fill("ETHUSDC", q.side, q.price, q.qty, self.trade, ts=self.now))
            self.pos += q.qty if side == "BUY" else -q.qty
        self.take(self.engine.tick(self.now))

    def move(self, ticks: int) -> None:
        self.ticks = max(1000, self.ticks + ticks)
        feed_market(self.engine, "ETHUSDC", self.ticks * TICK, self.now)
        self.take(self.engine.tick(self.now))

    jump = move

    def wait(self, ms: int) -> None:
        self.now += ms * MS
        feed_market(self.engine, "ETHUSDC", self.ticks * TICK, self.now)
        self.take(self.engine.tick(self.now))


@settings(max_examples=150, deadline=None)
@given(steps_st)
def test_approved_quotes_never_break_net_max_or_single_max(steps: list[tuple[Any, ...]]) -> None:
    w = World()
    for kind, *args in steps:
        w.step(kind, *args)
