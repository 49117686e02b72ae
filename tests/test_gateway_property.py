"""The gateway's OMS, guard, executor, venue sync, reducer and kill sweep against the venue's own
matching engine in process, under random interleavings of targets, taker flow, kills, restarts,
timeouts, late NEWs, lost and malformed user events and malformed answers (hypothesis, stateful).

After every step, from the venue's truth:

* the worst case of our live orders never exceeds the position cap of a symbol, and no open order
  of ours can fill more than the per-order notional cap;
* every fill is published at most once, and after a venue sync every venue trade of ours has been
  published (exactly once);
* after a kill with the venue reachable, the venue holds zero open orders of ours within two rounds
  of the sweep, and stays there while the kill is engaged;
* never two of our orders open at the venue for one (symbol, side, layer) unless the OMS is
  canceling the extra ones.

The generators are steered toward the caps (sizes drawn as fractions of the cap, several layers a
side, taker flow sized to the cap), and :data:`STATS` counts how often each invariant was checked
at its limit; the test asserts those counts, so a generator that drifts away from the caps fails.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from common.binance.errors import MalformedResponse, OutcomeUnknown, TransportError
from common.binance.exchange_info import instruments
from common.binance.user import user_event_decoder
from common.config_sections import SimVenueConfig, VenueAccountConfig
from common.messages import Fill, Quote, TargetQuotes
from common.params.gateway import CapsParams, GatewayParams, OmsParams
from services.gateway.client_ids import parse
from services.gateway.core import GatewayCore
from services.gateway.kill import KillState
from services.gateway.oms import Effects
from services.venue.inprocess import InProcessVenue
from services.venue.state import VenueState

D = Decimal
SYMS = ["ETHUSDC", "BTCUSDC"]
CAP = {"ETHUSDC": D("0.5"), "BTCUSDC": D("0.05")}
ORDER_NOTIONAL = D(2000)
STEP = {"ETHUSDC": D("0.001"), "BTCUSDC": D("0.001")}
TICK = {"ETHUSDC": D("0.01"), "BTCUSDC": D("0.1")}
START = {"ETHUSDC": D("2680"), "BTCUSDC": D("61000")}
STATS: Counter[str] = Counter()
RECV_WINDOW_NS = 5_000_000_000
FAULTS = ("timeout_before", "timeout_after", "late", "malformed_200", "html_502")


def _params() -> GatewayParams:
    return GatewayParams(
        caps=CapsParams(
            max_position=CAP,
            max_order_notional=ORDER_NOTIONAL,
            max_global_notional=D(100000),
            max_orders_per_second=1000,
        ),
        oms=OmsParams(unknown_horizon_s=7.0),
    )


class FaultyVenue(InProcessVenue):
    """The in-process venue with faults on the next quote orders and on user events.

    ``late`` orders are held and land when the test says so (a late NEW after a timeout).
    """

    def __init__(self, state: VenueState, on_user: Any, clock: Any) -> None:
        super().__init__(state, "paper", self._user)
        self.sink = on_user
        self.clock = clock
        self.next_faults: list[str] = []
        self.late: list[tuple[int, dict[str, Any]]] = []
        self.drop = 0
        self.corrupt = 0

    def _user(self, payload: bytes) -> None:
        if self.drop:
            self.drop -= 1
            STATS["user_event_dropped"] += 1
            return
        if self.corrupt and b'"ORDER_TRADE_UPDATE"' in payload:
            self.corrupt -= 1
            ev = json.loads(payload)
            ev["o"]["l"] = ev["o"]["z"] = "abc"
            payload = json.dumps(ev).encode()
        self.sink(payload)

    async def place(self, params: dict[str, Any]) -> Any:
        parsed = parse(str(params.get("newClientOrderId", "")))
        if not self.next_faults or parsed is None or parsed.layer < 0:
            return await super().place(params)
        fault = self.next_faults.pop(0)
        STATS[f"fault_{fault}"] += 1
        if fault == "timeout_before":
            raise TransportError("POST /fapi/v1/order: ReadTimeout (test)")
        if fault == "late":
            self.late.append((self.clock(), params))
            raise TransportError("POST /fapi/v1/order: ReadTimeout (test, lands later)")
        await super().place(params)
        if fault == "timeout_after":
            raise TransportError("POST /fapi/v1/order: ReadTimeout after the venue acted (test)")
        if fault == "malformed_200":
            raise MalformedResponse("POST /fapi/v1/order: HTTP 200 with a body that is not JSON (test)")
        raise OutcomeUnknown("<html><title>502 Bad Gateway</title></html>", 0, 502)

    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]:
        return [await self._one(o) for o in orders]

    async def _one(self, params: dict[str, Any]) -> Any:
        """A batch item through the same faults: an unknown outcome becomes an item that is not an
        order object, which the executor must resolve by query."""
        try:
            return await self.place(params)
        except OutcomeUnknown:
            return {"unexpected": "not an order object"}
        except Exception as exc:  # noqa: BLE001 - a refusal is a batch item's {"code","msg"}
            return {"code": getattr(exc, "code", -1), "msg": str(exc)}

    def land_late(self) -> int:
        """Land the held orders sent within the venue's recvWindow (5 s); older ones never land
        (the matching engine refuses them, -5028)."""
        n = 0
        now = self.clock()
        for sent, params in self.late:
            if now - sent > RECV_WINDOW_NS:
                STATS["late_expired"] += 1
                continue
            try:
                self.call("POST", "/fapi/v1/order", params)
                n += 1
            except Exception:  # noqa: BLE001 - a late order may be refused when it lands (e.g. GTX would take)
                pass
        self.late = []
        return n


class GatewayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        cfg = SimVenueConfig(
            accounts=[
                VenueAccountConfig(name="paper", balances={"USDC": D(100000)}),
                VenueAccountConfig(name="b", balances={"USDC": D(10_000_000)}),
            ],
        )
        self.v = VenueState(cfg, {"paper": ("k", "s"), "b": ("kb", "sb")})
        self.now_ns = 1_763_000_000_000_000_000
        self.last_send = 0
        self.venue = FaultyVenue(self.v, self._on_user, self._clock)
        self.taker = InProcessVenue(self.v, "b", lambda payload: None)
        info = self.taker.call("GET", "/fapi/v1/exchangeInfo")
        self.instruments = instruments(info, SYMS, "usdm")
        self.kill = KillState()
        self.published: Counter[tuple[str, int, str]] = Counter()
        self.synced = False
        self.restarts = 0
        self._seed_book()
        self.core = self._core()

    # ---- wiring --------------------------------------------------------------------------------

    def _core(self) -> GatewayCore:
        self.restarts += 1
        return GatewayCore(
            self.venue,
            _params(),
            SYMS,
            self.instruments,
            self._emit,
            lambda: self.kill,
            lambda sym: "",
            {},
            session=f"s{self.restarts}",
            clock=self._clock,
            last_send_ns=self.last_send,
            on_send=self._sent,
        )

    def _sent(self, now_ns: int) -> None:
        self.last_send = now_ns

    def _clock(self) -> int:
        """The OMS's clock: its own, so every example replays exactly (each step is 3 s apart)."""
        self.now_ns += 1_000
        return self.now_ns

    def _emit(self, eff: Effects) -> None:
        for f in eff.fills:
            self.published[(f.symbol, f.trade_id, f.side)] += 1

    def _on_user(self, payload: bytes) -> None:
        try:
            ev = user_event_decoder.decode(payload)
        except ValueError:  # msgspec's DecodeError/ValidationError: the stream counts it, reconciles
            STATS["malformed_event"] += 1
            return
        self._emit(self.core.oms.on_user_event(ev, self._clock()))

    def run(self, coro: Any) -> Any:
        self.now_ns += 1_000_000_000  # a step: a second on the OMS's clock
        return self.loop.run_until_complete(coro)

    def _seed_book(self) -> None:
        """Account b rests 20 levels a side, so our post-only quotes rest behind them."""
        for sym in SYMS:
            for k in range(1, 21):
                for side, sign in (("BUY", -1), ("SELL", 1)):
                    px = START[sym] + sign * k * TICK[sym] * 5
                    qty = D("5") if sym == "ETHUSDC" else D("0.5")
                    self.taker.call(
                        "POST",
                        "/fapi/v1/order",
                        {"symbol": sym, "side": side, "type": "LIMIT", "timeInForce": "GTC",
                         "quantity": qty, "price": px, "newClientOrderId": f"book-{sym}-{side}-{k}"},
                    )  # fmt: skip

    def _venue_open(self, sym: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.venue.call("GET", "/fapi/v1/openOrders", {"symbol": sym})
        return rows

    def _venue_position(self, sym: str) -> Decimal:
        pos = self.v.exchange.accounts["paper"].positions.get(sym)
        return pos.qty if pos is not None else D(0)

    # ---- rules ---------------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.run(self.core.sync.full(SYMS, startup=True))

    @rule(
        sym=st.sampled_from(SYMS),
        layers=st.integers(1, 5),
        frac=st.sampled_from([D("0.1"), D("0.2"), D("0.3"), D("0.45")]),
        offset=st.integers(0, 15),
    )
    def target(self, sym: str, layers: int, frac: Decimal, offset: int) -> None:
        """A full ladder: every layer a fraction of the cap, so a few layers reach it."""
        size = (CAP[sym] * frac).quantize(STEP[sym])
        best_bid = START[sym] - TICK[sym] * 5
        best_ask = START[sym] + TICK[sym] * 5
        quotes = []
        for i in range(layers):
            gap = TICK[sym] * (offset + i * 3)
            quotes.append(Quote(side="BUY", price=best_bid - gap, qty=size, layer=i))
            quotes.append(Quote(side="SELL", price=best_ask + gap, qty=size, layer=i))
        t = TargetQuotes(symbol=sym, target_id=1, quotes=quotes, origin="risk")
        self.run(self.core.executor.resolve_unknowns())  # the service's resolver runs between passes
        self.run(self.core.reconcile(sym, t, "killed" if self.kill.engaged else ""))

    @rule(
        sym=st.sampled_from(SYMS),
        side=st.sampled_from(["BUY", "SELL"]),
        frac=st.sampled_from([D("0.3"), D("0.7"), D("1.2")]),
    )
    def taker_flow(self, sym: str, side: str, frac: Decimal) -> None:
        """Account b sweeps into our quotes (and the book behind them)."""
        qty = (CAP[sym] * frac).quantize(STEP[sym])
        far = START[sym] * (D("1.02") if side == "BUY" else D("0.98"))
        px = far.quantize(TICK[sym])
        order = {"symbol": sym, "side": side, "type": "LIMIT", "timeInForce": "IOC"}
        order.update(quantity=qty, price=px)
        self.taker.call("POST", "/fapi/v1/order", order)
        self._refill(sym)

    @rule(
        sym=st.sampled_from(SYMS),
        side=st.sampled_from(["BUY", "SELL"]),
        layers=st.integers(2, 5),
        frac=st.sampled_from([D("0.2"), D("0.3"), D("0.45")]),
    )
    def taker_flow_in_a_stream_blackout(self, sym: str, side: str, layers: int, frac: Decimal) -> None:
        """Taker flow while the user stream loses every event (fills, positions), then the strategy
        re-sends its ladder twice: the OMS learns of the fills only from the venue's answers and
        queries (an amend or cancel of a filled order) until the next sync, and must count them."""
        self.target(sym, layers, frac, 0)
        self.venue.drop = 10**6
        self.taker_flow(sym, side, D("0.7"))
        self.venue.drop = 0
        STATS["blackout"] += 1
        self.target(sym, layers, frac, 0)
        self.target(sym, layers, frac, 0)

    @rule(sym=st.sampled_from(SYMS), layers=st.integers(1, 4), frac=st.sampled_from([D("0.2"), D("0.45")]))
    def a_place_times_out_and_lands_after_the_retarget(self, sym: str, layers: int, frac: Decimal) -> None:
        """The next quote's request times out but its order lands later: the ladder is sent again
        (the resolver asks the venue in between, which does not know the order yet), then it lands."""
        self.venue.next_faults.insert(0, "late")
        self.target(sym, layers, frac, 1)
        self.target(sym, layers, frac, 1)
        STATS["late_landed"] += self.venue.land_late()

    def _refill(self, sym: str) -> None:
        """Put back the book levels the taker consumed (keeps our quotes passive)."""
        mine = {o["clientOrderId"] for o in self.taker.call("GET", "/fapi/v1/openOrders", {"symbol": sym})}
        for k in range(1, 21):
            for side, sign in (("BUY", -1), ("SELL", 1)):
                cid = f"book-{sym}-{side}-{k}"
                if cid in mine:
                    continue
                px = START[sym] + sign * k * TICK[sym] * 5
                qty = D("5") if sym == "ETHUSDC" else D("0.5")
                self.taker.call("POST", "/fapi/v1/order", {"symbol": sym, "side": side, "type": "LIMIT",
                    "timeInForce": "GTC", "quantity": qty, "price": px, "newClientOrderId": cid})  # fmt: skip

    @rule(fault=st.sampled_from(FAULTS), n=st.integers(1, 3))
    def fault_next_orders(self, fault: str, n: int) -> None:
        self.venue.next_faults += [fault] * n

    @rule(n=st.integers(1, 4))
    def drop_user_events(self, n: int) -> None:
        self.venue.drop += n

    @rule(n=st.integers(1, 2))
    def corrupt_user_events(self, n: int) -> None:
        self.venue.corrupt += n

    @precondition(lambda self: bool(self.venue.late))
    @rule()
    def late_orders_land(self) -> None:
        STATS["late_landed"] += self.venue.land_late()

    @rule()
    def resolve_unknowns(self) -> None:
        self.run(self.core.executor.resolve_unknowns())

    @rule()
    def venue_sync(self) -> None:
        self.run(self.core.sync.full(SYMS))
        self.synced = True

    @rule(sym=st.sampled_from(SYMS))
    def reduce(self, sym: str) -> None:
        pos = self.core.position(sym)
        if pos:
            STATS["reduce"] += 1
            self.run(self.core.reducer.reduce(sym, abs(pos), "taker", 0.01, 0.0))

    @rule()
    def restart(self) -> None:
        """A kill -9 and restart: a fresh OMS that learns what was published from the 'recorder'
        (a contiguous watermark per symbol and the fills above it), then the start-up sync."""
        self.core = self._core()
        marks = {}
        for sym in SYMS:
            ids = sorted(t["id"] for t in self.v.exchange.trades["paper"] if t["symbol"] == sym)
            mark = 0
            for tid in ids:
                if not any(k[0] == sym and k[1] == tid for k in self.published):
                    break
                mark = tid
            marks[sym] = mark
            self.core.oms.remember_fills(
                Fill(
                    symbol=s,
                    trade_id=t,
                    side=side,
                    client_order_id="",
                    venue_order_id=0,
                    price=D(1),  # type: ignore[arg-type]
                    qty=D(1),
                    fee=D(0),
                    fee_asset="",
                    realized_pnl=D(0),
                    is_maker=True,
                )
                for (s, t, side) in self.published
                if s == sym and t > mark
            )
        self.core.sync.seed(marks)
        self.run(self.core.sync.full(SYMS, startup=True))
        self.synced = True

    @rule(flatten=st.booleans())
    def kill_switch(self, flatten: bool) -> None:
        self.kill = KillState(engaged=True, reason="test", flatten=flatten)
        live_unknown = any(r.unknown for s in SYMS for r in self.core.oms.working(s))
        STATS["kill_with_unknown_outcome" if live_unknown else "kill"] += 1
        for _ in range(2):
            self.run(self.core.sweeper._round())
        for sym in SYMS:
            assert self._venue_open(sym) == [], f"{sym}: open orders after two kill rounds"
        if flatten:
            self.run(self.core.sweeper._flatten())
            STATS["kill_flatten"] += 1

    @precondition(lambda self: self.kill.engaged)
    @rule()
    def resume(self) -> None:
        self.kill = KillState()

    # ---- invariants --------------------------------------------------------------------------

    @invariant()
    def worst_case_within_the_caps(self) -> None:
        for sym in SYMS:
            pos = self._venue_position(sym)
            rows = self._venue_open(sym)
            buys = sum((D(o["origQty"]) - D(o["executedQty"]) for o in rows if o["side"] == "BUY"), D(0))
            sells = sum((D(o["origQty"]) - D(o["executedQty"]) for o in rows if o["side"] == "SELL"), D(0))
            worst = max(pos + buys, sells - pos)
            assert worst <= CAP[sym], f"{sym}: worst case {worst} > cap {CAP[sym]} (pos {pos})"
            if worst >= CAP[sym] * D("0.9"):
                STATS["worst_case_at_cap"] += 1
        for o in self.v.exchange.orders.values():
            if o.account == "paper" and o.price and o.is_open:
                # what can still fill: an amended order's total also holds what already filled
                sym = self.v.exchange.symbols[o.symbol].sym
                notional = sym.price_dec(o.price) * sym.qty_dec(o.qty - o.executed)
                assert notional <= ORDER_NOTIONAL, f"order {o.client_id} open notional {notional}"

    @invariant()
    def fills_once_and_complete_after_a_sync(self) -> None:
        dup = [k for k, n in self.published.items() if n > 1]
        assert not dup, f"fills published twice: {dup}"
        if self.synced:
            self.synced = False
            venue = {(t["symbol"], t["id"], t["side"]) for t in self.v.exchange.trades["paper"]}
            missing = venue - set(self.published)
            assert not missing, f"venue trades never published after a sync: {sorted(missing)[:5]}"
            STATS["fills_checked_complete"] += 1

    @invariant()
    def zero_while_killed(self) -> None:
        if not self.kill.engaged:
            return
        if any(self._venue_open(s) for s in SYMS):  # a late order landed: the watchdog sweeps again
            STATS["late_landing_while_killed"] += 1
            for _ in range(2):
                self.run(self.core.sweeper._round())
        for sym in SYMS:
            assert self._venue_open(sym) == [], f"{sym}: open orders while killed"

    @invariant()
    def one_order_per_layer(self) -> None:
        for sym in SYMS:
            layers: Counter[tuple[str, int]] = Counter()
            for o in self._venue_open(sym):
                parsed = parse(o["clientOrderId"])
                rec = self.core.oms.orders.get(o["clientOrderId"])
                if parsed is None or parsed.layer < 0 or (rec is not None and rec.intent == "cancel"):
                    continue
                layers[(o["side"], parsed.layer)] += 1
            assert all(n <= 1 for n in layers.values()), f"{sym}: two live orders for one layer {layers}"

    def teardown(self) -> None:
        self.loop.close()


def test_the_gateway_holds_every_invariant_under_faults() -> None:
    STATS.clear()
    run_state_machine_as_test(
        GatewayMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=50,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\ninvariants exercised at their limits:", dict(sorted(STATS.items())))
    # the generators must actually reach the caps and the faults, or the invariants prove little
    assert STATS["worst_case_at_cap"] >= 100
    assert STATS["kill_with_unknown_outcome"] >= 3
    assert STATS["late_landed"] >= 5
    assert STATS["fills_checked_complete"] >= 30
    assert STATS["malformed_event"] >= 5
    assert STATS["blackout"] >= 20
    assert STATS["reduce"] >= 10
