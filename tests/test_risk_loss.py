"""PnL bookkeeping (by hand and against the venue's) and the loss rules: band, stop, daily, drawdown."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.messages import CancelAll, Flatten, Resume, TargetQuotes
from services.risk.engine import Outcome, RiskEngine
from services.venue.accounts import Account as VenueAccount
from tests.fixtures.risk_samples import (
    T0_NS,
    S,
    account,
    feed_market,
    fill,
    ladder,
    loose,
    ready_engine,
    target,
)

D = Decimal
DAY = 86_400 * S


def _at(e: RiskEngine, t: int, eth: str = "2680.00") -> Outcome:
    """Fresh market data at ``T0 + t`` ns, then a tick."""
    feed_market(e, "ETHUSDC", eth, T0_NS + t)
    feed_market(e, "BTCUSDC", "61000.0", T0_NS + t)
    return e.tick(T0_NS + t)


def _quote(e: RiskEngine, t: int, price: str = "2680.00") -> TargetQuotes:
    return e.check(target("ETHUSDC", ladder("ETHUSDC", price, 3, "0.01"), ts=T0_NS + t), T0_NS + t).targets[0]


def _rules(out: Outcome) -> list[tuple[str, str]]:
    return [(ev.rule, ev.action) for ev in out.events]


def test_pnl_bookkeeping_equals_the_hand_computation_with_fees_and_funding() -> None:
    e = ready_engine(loose())
    fills = [
        fill("ETHUSDC", "BUY", "2680.00", "0.1", 1, fee="0.1072"),
        fill("ETHUSDC", "BUY", "2700.00", "0.1", 2, fee="0.1080"),  # entry 2690
        fill("ETHUSDC", "SELL", "2710.00", "0.15", 3, fee="0"),  # +20 x 0.15 = 3.00
        fill("ETHUSDC", "SELL", "2650.00", "0.1", 4, fee="0.1060"),  # -40 x 0.05 = -2.00, short 0.05 @ 2650
    ]
    for f in fills:
        e.on_fill(f)
    e.on_fill(fills[2])  # a replay during a rebuild is booked once
    e.on_funding("ETHUSDC", D("-0.25"))
    feed_market(e, "ETHUSDC", "2640.00", T0_NS + S)
    fig = e.state(T0_NS + S).figures
    fees, realized, upnl = D("0.3212"), D("1.00"), D("0.50")  # (2640 - 2650) x -0.05
    assert fig["ETHUSDC.position"] == -0.05 and fig["ETHUSDC.entry"] == 2650.0
    assert (fig["ETHUSDC.realized"], fig["ETHUSDC.fees"], fig["ETHUSDC.funding"]) == (1.0, 0.3212, -0.25)
    assert fig["ETHUSDC.upnl"] == float(upnl)
    assert fig["ETHUSDC.pnl_day"] == float(realized - fees - D("0.25") + upnl)
    assert fig["account.equity"] == float(D(10000) + realized - fees - D("0.25") + upnl)
    venue = VenueAccount("a", "k", "s", {"USDC": D(10000)})  # the simulated venue's own books
    pos = venue.position("ETHUSDC", "USDC")
    for f in fills:
        venue.book_fill(pos, f.qty if f.side == "BUY" else -f.qty, f.price, f.fee, 0)
    assert venue.book_funding(pos, D("2500"), D("-0.002")) == D("-0.25")  # the short pays
    assert (pos.qty, pos.entry, pos.realized) == (D("-0.05"), D("2650.00"), realized)
    assert float(venue.wallet("USDC") + pos.unrealized(D("2640.00"))) == fig["account.equity"]


def test_pnl_min_makes_the_symbol_reduce_only_until_the_loss_recedes() -> None:
    e = ready_engine(loose(ETHUSDC={"pnlMin": -15}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.1", 1))
    out = _at(e, S, "2529.00")  # -15.10
    assert ("pnl_band", "hold") in _rules(out) and out.state_changed
    assert e.state(T0_NS + S).symbols["ETHUSDC"].mode == "reduce_only"
    t = _quote(e, S)
    assert {q.side for q in t.quotes} == {"SELL"} and all(q.reduce_only for q in t.quotes)
    assert _rules(_at(e, 2 * S, "2600.00")) == [] and e.state(0).symbols["ETHUSDC"].mode == "reduce_only"
    out = _at(e, 3 * S, "2606.00")  # -7.40, inside half the band
    assert ("pnl_band", "release") in _rules(out) and e.state(0).symbols["ETHUSDC"].mode == "normal"


def test_pnl_max_locks_in_the_day_profit() -> None:
    e = ready_engine(loose(ETHUSDC={"pnlMax": 100}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 1))
    out = _at(e, S, "2780.00")
    assert ("pnl_band", "hold") in _rules(out)
    assert {q.side for q in _quote(e, S, "2780.00").quotes} == {"SELL"}


def test_stop_loss_halts_cancels_and_flattens_until_an_operator_resumes() -> None:
    e = ready_engine(loose(ETHUSDC={"stopLoss": -60}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.5", 1))
    out = _at(e, S, "2560.00")  # -60
    assert ("stop_loss", "hold") in _rules(out)
    assert [type(a) for a in out.actions] == [CancelAll, Flatten]
    assert all(a.symbol == "ETHUSDC" for a in out.actions)
    sym = e.state(T0_NS + S).symbols["ETHUSDC"]
    assert (sym.mode, sym.until_ns) == ("halted", 0) and sym.reason.startswith("stop_loss")
    assert _quote(e, S).quotes == [] and e.state(0).symbols["BTCUSDC"].mode == "normal"
    assert _at(e, DAY + S, "2700.00").actions == []  # recovered, next day: still held
    assert e.state(0).symbols["ETHUSDC"].mode == "halted"
    assert _at(e, DAY + 2 * S, "2560.00").actions == []  # -70 today, and held already
    out = e.on_command(Resume(symbol="ETHUSDC"), T0_NS + DAY + 2 * S)
    assert ("stop_loss", "release") in _rules(out)
    assert _at(e, DAY + 3 * S, "2560.00").actions == []  # re-based at the resume: no second stop
    assert e.state(0).symbols["ETHUSDC"].mode == "normal" and _quote(e, DAY + 3 * S).quotes


def test_daily_loss_halts_everything_until_the_next_utc_day() -> None:
    e = ready_engine(loose(dailyMax=50))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 1))
    e.on_fill(fill("ETHUSDC", "SELL", "2630.00", "1", 2, fee="0.5"))  # -50.50
    out = _at(e, 3600 * S)
    assert ("daily_loss", "hold") in _rules(out) and len(out.actions) == 1
    assert isinstance(out.actions[0], CancelAll) and out.actions[0].symbol == ""
    st = e.state(T0_NS + 3600 * S)
    assert (st.mode, st.symbols["BTCUSDC"].mode, st.symbols["ETHUSDC"].until_ns) == (
        "halted",
        "halted",
        T0_NS + DAY,
    )
    assert _quote(e, 3600 * S).quotes == []
    assert _rules(_at(e, DAY - S)) == []
    out = _at(e, DAY)
    assert ("daily_loss", "release") in _rules(out) and e.state(T0_NS + DAY).mode == "normal"
    assert len(_quote(e, DAY).quotes) == 6 and e.state(0).figures["account.pnl_day"] == 0.0


def test_an_operator_resume_rebases_the_daily_loss() -> None:
    e = ready_engine(loose(dailyMax=50))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 1))
    e.on_fill(fill("ETHUSDC", "SELL", "2620.00", "1", 2))
    _at(e, S)
    e.on_command(Resume(), T0_NS + 2 * S)
    assert _rules(_at(e, 3 * S)) == [] and e.state(0).mode == "normal"
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 3))
    e.on_fill(fill("ETHUSDC", "SELL", "2629.00", "1", 4))  # another 51 since the resume
    assert ("daily_loss", "hold") in _rules(_at(e, 4 * S))


def test_intraday_drawdown_from_the_day_peak_halts_and_flattens() -> None:
    e = ready_engine(loose(maxDrawdownPct=0.02, ETHUSDC={"netMax": 5}), wallet="1000")
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 1))
    _at(e, S, "2700.00")  # equity 1020: the peak
    assert _rules(_at(e, 2 * S, "2680.00")) == []  # 1.96 %
    out = _at(e, 3 * S, "2679.00")  # 999: 2.06 % below 1020
    assert ("drawdown", "hold") in _rules(out)
    assert [type(a) for a in out.actions] == [CancelAll, Flatten]
    assert e.state(0).figures["account.peak_equity"] == 1020.0
    assert e.state(0).symbols["ETHUSDC"].until_ns == T0_NS + DAY
    assert ("drawdown", "release") in _rules(_at(e, DAY, "2679.00"))
    assert e.state(0).figures["account.peak_equity"] == 999.0


def test_equity_follows_the_gateway_wallet_after_an_account_update() -> None:
    e = ready_engine(loose(), wallet="1000")
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 1, fee="1"))
    assert e.state(0).figures["account.equity"] == 999.0  # booked by risk until the gateway reports
    e.on_account(account("999"))
    assert e.state(0).figures["account.equity"] == 999.0


def _venue_events(
    cid: str, side: str, t: int, qty: str, price: str, rp: str, pos: str, entry: str, ts: int
) -> tuple[Any, Any]:
    """One of our fills as Binance's user stream carries it: the trade and the position it left."""
    from tests.test_gateway_fills import decode

    o = {"s": "ETHUSDC", "c": cid, "S": side, "o": "LIMIT", "f": "GTX", "q": qty, "p": price, "ap": price,
         "x": "TRADE", "X": "FILLED", "i": t, "l": qty, "z": qty, "L": price, "T": ts, "t": t, "m": True,
         "R": False, "rp": rp, "N": "USDC", "n": "0"}  # fmt: skip
    trade = decode({"e": "ORDER_TRADE_UPDATE", "E": ts, "T": ts, "o": o})
    p = {"s": "ETHUSDC", "pa": pos, "ep": entry, "up": "0", "ps": "BOTH"}
    position = decode({"e": "ACCOUNT_UPDATE", "E": ts, "T": ts, "a": {"m": "ORDER", "B": [], "P": [p]}})
    return trade, position


@pytest.mark.parametrize("position_first", [False, True])
def test_a_closing_fill_books_its_realized_pnl_whichever_of_trade_and_position_comes_first(
    position_first: bool,
) -> None:
    """Binance sends ORDER_TRADE_UPDATE and ACCOUNT_UPDATE in either order. When the position
    arrives first it already holds the fill: risk must not move it again (a close booked as a new
    open, its realized PnL lost). By hand: buy 0.1 at 2680, sell 0.1 at 2700: +2.00, flat; then
    sell 0.1 at 2690 and buy 0.2 at 2670: +2.00 and long 0.1 at 2670."""
    from common.params.gateway import OmsParams
    from services.gateway.client_ids import ClientIds
    from services.gateway.oms import Oms

    e = ready_engine(loose())
    oms = Oms(ClientIds("mm", "s1"), OmsParams())
    ms = 1_763_000_000_000
    steps = [
        ("BUY", "0.100", "2680.00", "0", "0.100", "2680.00"),
        ("SELL", "0.100", "2700.00", "2.00", "0", "0"),
        ("SELL", "0.100", "2690.00", "0", "-0.100", "2690.00"),
        ("BUY", "0.200", "2670.00", "2.00", "0.100", "2670.00"),
    ]
    for i, (side, qty, price, rp, pos, entry) in enumerate(steps, start=1):
        trade, position = _venue_events(f"c{i}", side, i, qty, price, rp, pos, entry, ms + i)
        first, second = (position, trade) if position_first else (trade, position)
        for ev in (first, second):
            eff = oms.on_user_event(ev, T0_NS + i)
            for f in eff.fills:
                e.on_fill(f)
            for p in eff.positions:
                e.on_position(p)
    fig = e.state(T0_NS + S).figures
    assert (fig["ETHUSDC.realized"], fig["ETHUSDC.position"], fig["ETHUSDC.entry"]) == (4.0, 0.1, 2670.0)
    assert fig["ETHUSDC.gw_fill_realized"] == 4.0  # the venue's own rp, the same
