"""The pure pieces composed as the shell composes them: target → plan → budget → caps → OMS → answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from common.messages import Instrument, Quote, TargetQuotes
from common.params.gateway import GatewayParams, ReconcileParams
from services.gateway.budget import Budget
from services.gateway.caps import Caps
from services.gateway.client_ids import ClientIds
from services.gateway.core import takes_risk_off
from services.gateway.oms import Effects, Oms
from services.gateway.orders import RequestKind
from services.gateway.reconcile import CancelOrders, ModifyOrders, PlaceOrders, plan

T0 = 1_763_000_000_000_000_000
MS = 1_000_000
INST = Instrument(
    symbol="ETHUSDC",
    price_tick=Decimal("0.01"),
    qty_step=Decimal("0.001"),
    min_price=Decimal("0.01"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal(10000),
    min_notional=Decimal(10),
)


class Loop:
    """A test double of the shell: sends what is admitted and lets the test answer later."""

    def __init__(self) -> None:
        self.params = GatewayParams()
        self.oms = Oms(ClientIds("mm", "s1"), self.params.oms)
        self.budget = Budget(self.params.budget)
        self.caps = Caps(self.params.caps)
        self.sent: list[tuple[RequestKind, str, dict[str, Any]]] = []
        self.refused: list[str] = []
        self.venue_ids = iter(range(100, 10**6))

    def step(self, target: TargetQuotes, now: int) -> Effects:
        eff = Effects()
        p = plan(target, self.oms.working("ETHUSDC"), INST, self.params.reconcile, now)
        for action in self.budget.admit(p.actions, now, urgent=takes_risk_off(target, "")).admitted:
            match action:
                case CancelOrders(items=cids):
                    for cid in cids:
                        eff.merge(self.oms.request_cancel(cid, now))
                        self.sent.append(("cancel", cid, {}))
                case PlaceOrders(items=news):
                    for new in news:
                        exposures = self.oms.exposures({"ETHUSDC": Decimal(2000)})
                        why = self.caps.check_place(new, exposures, now)
                        if why:
                            self.refused.append(why)
                            continue
                        rec, e = self.oms.submit(new, now, target.ts_event)
                        eff.merge(e)
                        self.sent.append(("place", rec.client_id, {"price": rec.price, "qty": rec.qty}))
                case ModifyOrders(items=amends):
                    for a in amends:
                        eff.merge(self.oms.request_modify(a.client_id, a.price, a.qty, now))
                        self.sent.append(("modify", a.client_id, {"price": a.price, "qty": a.qty}))
        return eff

    def answer_all(self, now: int) -> None:
        for kind, cid, terms in self.sent:
            rec = self.oms.orders[cid]
            status = "CANCELED" if kind == "cancel" else "NEW"
            body = {
                "orderId": rec.venue_id or next(self.venue_ids),
                "clientOrderId": cid,
                "symbol": "ETHUSDC",
                "status": status,
                "side": rec.side,
                "price": str(terms.get("price", rec.price)),
                "origQty": str(terms.get("qty", rec.qty)),
                "timeInForce": rec.tif,
            }
            self.oms.on_answer(cid, kind, body, now)
        self.sent.clear()


def target(target_id: int, *quotes: tuple[str, str, str, int]) -> TargetQuotes:
    return TargetQuotes(
        symbol="ETHUSDC",
        target_id=target_id,
        quotes=[
            Quote(side="BUY" if s == "BUY" else "SELL", price=Decimal(p), qty=Decimal(q), layer=layer)
            for s, p, q, layer in quotes
        ],
        ts_event=T0,
        ts_init=T0,
    )


def test_the_loop_converges_and_never_repeats_an_action_while_answers_are_pending() -> None:
    loop = Loop()
    t1 = target(
        1, ("BUY", "1999.00", "0.010", 0), ("SELL", "2001.00", "0.010", 0), ("BUY", "1998.00", "0.010", 1)
    )
    loop.step(t1, T0)
    assert [k for k, _, _ in loop.sent] == ["place"] * 3
    loop.step(t1, T0 + MS)  # no answers yet: nothing again
    assert len(loop.sent) == 3
    loop.answer_all(T0 + 2 * MS)
    loop.step(t1, T0 + 3 * MS)
    assert loop.sent == []  # steady state
    # the bid moves by half a tick-range beyond tolerance, the ask within: one modify
    t2 = target(
        2, ("BUY", "1998.50", "0.010", 0), ("SELL", "2001.01", "0.010", 0), ("BUY", "1998.00", "0.010", 1)
    )
    loop.step(t2, T0 + 4 * MS)
    assert [k for k, _, _ in loop.sent] == ["modify"]
    loop.step(t2, T0 + 5 * MS)
    assert len(loop.sent) == 1
    loop.answer_all(T0 + 6 * MS)
    loop.step(t2, T0 + 7 * MS)
    assert loop.sent == []
    # risk empties the target: everything is canceled once
    t3 = target(3)
    loop.step(t3, T0 + 8 * MS)
    assert sorted(k for k, _, _ in loop.sent) == ["cancel"] * 3
    loop.step(t3, T0 + 9 * MS)
    assert len(loop.sent) == 3
    loop.answer_all(T0 + 10 * MS)
    assert loop.oms.working("ETHUSDC") == []


def test_withdrawing_every_quote_is_not_held_back_by_the_cancel_pacing_and_repricing_is() -> None:
    """The default pacing: 49 cancels a minute per symbol (seeds: under 50). Thirty bids rest and
    twenty cancels were spent this minute, so 29 more fit. A target of thirty other prices cancels
    (no modify here) 29 now and the last one a minute after the first cancels; a target with no
    quote (a pause, a calendar rule stopping the symbol) or risk's halt cancels all thirty at once."""

    def resting() -> Loop:
        loop = Loop()
        loop.params = GatewayParams.model_validate({"reconcile": {"amend": False}})
        loop.budget.admit([CancelOrders("ETHUSDC", 0, tuple(f"x{i}" for i in range(20)))], T0)
        loop.step(target(1, *[("BUY", f"{1990 - i}.00", "0.010", i) for i in range(30)]), T0)
        loop.answer_all(T0 + MS)
        return loop

    loop = resting()
    loop.step(target(2, *[("BUY", f"{1950 - i}.00", "0.010", i) for i in range(30)]), T0 + 2 * MS)
    assert sum(k == "cancel" for k, _, _ in loop.sent) == 29
    for mode, quotes in (("normal", []), ("halted", []), ("reduce_only", [("SELL", "2001.00", "0.010", 0)])):
        loop = resting()
        t = msgspec.structs.replace(target(2, *quotes), mode=mode)
        loop.step(t, T0 + 2 * MS)
        assert sum(k == "cancel" for k, _, _ in loop.sent) == 30, mode
    assert not takes_risk_off(target(3, ("BUY", "1999.00", "0.010", 0)), "")
    assert takes_risk_off(target(3, ("BUY", "1999.00", "0.010", 0)), "market data stale")


def test_caps_stop_what_risk_let_through() -> None:
    loop = Loop()
    t = target(1, *[("BUY", f"{1999 - i}.00", "0.200", i) for i in range(4)])  # 0.8 ETH > the 0.5 cap
    loop.step(t, T0)
    assert [k for k, _, _ in loop.sent] == ["place", "place"] and loop.refused == ["position_cap"] * 2


def test_params_accept_camel_case_and_refuse_bad_values_naming_the_key() -> None:
    p = GatewayParams.model_validate({"reconcile": {"priceToleranceTicks": 3}})
    assert p.reconcile.price_tolerance_ticks == 3
    with pytest.raises(ValidationError, match="batch_place_max"):
        ReconcileParams(batch_place_max=6)
    with pytest.raises(ValidationError, match="unknown_key"):
        GatewayParams.model_validate({"unknown_key": 1})
    assert GatewayParams().budget.for_symbol("ETHUSDC").cancels_per_minute < 50
