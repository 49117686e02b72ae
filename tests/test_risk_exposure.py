"""Exposure: the netMax worst case, singleMax, filters, the global notional and leverage rooms."""

from __future__ import annotations

from decimal import Decimal

from common.messages import Quote, TargetQuotes
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import T0_NS, S, fill, ladder, loose, ready_engine, target

D = Decimal


def _bids(t: TargetQuotes) -> Decimal:
    return sum((q.qty for q in t.quotes if q.side == "BUY"), D(0))


def _asks(t: TargetQuotes) -> Decimal:
    return sum((q.qty for q in t.quotes if q.side == "SELL"), D(0))


def _check(e: RiskEngine, quotes: list[Quote], symbol: str = "ETHUSDC", t: int = 1) -> TargetQuotes:
    out = e.check(target(symbol, quotes, target_id=t), T0_NS + t * S // 10)
    assert out.targets[0].symbol == symbol and out.targets[0].source_target_id == t
    return out.targets[0]


def test_net_max_clips_the_worst_case_from_the_outermost_layer() -> None:
    e = ready_engine(loose(ETHUSDC={"netMax": 0.21}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680", "0.05", 1))
    approved = _check(e, ladder("ETHUSDC", "2680.00", 10, "0.03"))
    # bids: 0.05 + bids <= 0.21 -> 0.16 = five full layers and one shrunk to 0.01; asks: 0.05 - asks >= -0.21
    bids = [q for q in approved.quotes if q.side == "BUY"]
    assert [q.qty for q in bids] == [D("0.03")] * 5 + [D("0.01")]
    assert [q.layer for q in bids] == [0, 1, 2, 3, 4, 5]
    assert (_bids(approved), _asks(approved)) == (D("0.16"), D("0.26"))
    assert any(c.startswith("netMax: BUY room 0.16") for c in approved.clipped)


def test_a_fill_shrinks_what_rests_at_the_next_tick_and_a_reduction_gives_room_back() -> None:
    e = ready_engine(loose(ETHUSDC={"netMax": 0.1}))
    approved = _check(e, ladder("ETHUSDC", "2680.00", 4, "0.02"))
    assert _bids(approved) == D("0.08")
    e.on_fill(fill("ETHUSDC", "BUY", "2679.90", "0.04", 1))  # the two inner bids filled
    out = e.tick(T0_NS + S)
    # the gateway would put the filled bids back: what rests must fit 0.04 + bids <= 0.1
    assert _bids(out.targets[0]) == D("0.06") and out.targets[0].source_target_id == 1
    assert [(ev.rule, ev.action) for ev in out.events] == [("netMax", "reclip")]
    e.on_fill(fill("ETHUSDC", "SELL", "2680.10", "0.04", 2))
    assert _bids(_check(e, ladder("ETHUSDC", "2680.00", 4, "0.02"), t=20)) == D("0.08")


def test_a_shrunk_layer_below_the_minimum_notional_is_dropped_with_the_rest() -> None:
    e = ready_engine(loose(ETHUSDC={"netMax": 0.062}))
    approved = _check(e, ladder("ETHUSDC", "2680.00", 4, "0.03"))
    # 0.062 leaves 0.002 for layer 2: 0.002 * 2679 < 10 USDC minimum notional
    assert [q.qty for q in approved.quotes if q.side == "BUY"] == [D("0.03"), D("0.03")]


def test_single_max_shrinks_each_order_and_sizes_round_down_to_the_step() -> None:
    e = ready_engine(loose(ETHUSDC={"singleMax": 0.06}))
    quotes = [
        Quote(side="BUY", price=D("2679.00"), qty=D("0.0809"), layer=0),
        Quote(side="SELL", price=D("2681.00"), qty=D("0.0459"), layer=0),
        Quote(side="SELL", price=D("2681.005"), qty=D("0.01"), layer=1),
    ]
    out = e.check(target("ETHUSDC", quotes), T0_NS + 1)
    approved = out.targets[0]
    assert [(q.side, q.qty) for q in approved.quotes] == [("BUY", D("0.06")), ("SELL", D("0.045"))]
    assert any("singleMax 0.06" in c for c in approved.clipped)
    assert any("off the price tick" in c for c in approved.clipped)
    assert [(ev.rule, ev.action) for ev in out.events] == [("grid", "clip"), ("singleMax", "clip")]
    out = e.check(target("ETHUSDC", quotes[1:2], target_id=2), T0_NS + 2 * S)
    assert sorted((ev.rule, ev.action) for ev in out.events) == [("grid", "unclip"), ("singleMax", "unclip")]


def test_a_symbol_without_limits_or_instrument_approves_nothing() -> None:
    p = loose(symbols=("ETHUSDC",))  # config files overlay the default symbols; drop BTCUSDC here
    p = p.model_copy(update={"symbols": {"ETHUSDC": p.symbols["ETHUSDC"]}})
    e = ready_engine(p, symbols=("ETHUSDC",))
    assert _check(e, ladder("BTCUSDC", "61000.0", 2, "0.001"), "BTCUSDC").clipped == [
        "no risk limits for BTCUSDC"
    ]
    e = RiskEngine(loose(), {})
    e.mark_ready(T0_NS)
    assert _check(e, ladder("ETHUSDC", "2680.00", 2, "0.01")).clipped == ["instrument of ETHUSDC unknown"]


def test_reduce_only_quotes_are_exempt_from_the_minimum_notional() -> None:
    e = ready_engine(loose())
    e.on_fill(fill("ETHUSDC", "BUY", "2680", "0.002", 1))
    small = [
        Quote(side="SELL", price=D("2681.00"), qty=D("0.002"), layer=0, reduce_only=True),
        Quote(side="BUY", price=D("2679.00"), qty=D("0.002"), layer=0),
    ]
    assert [q.side for q in _check(e, small).quotes] == ["SELL"]


def test_total_notional_max_pauses_adds_on_every_symbol_and_lets_reductions_pass() -> None:
    e = ready_engine(loose(totalNotionalMax=1000, ETHUSDC={"netMax": 1}, BTCUSDC={"netMax": 1}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680", "0.38", 1))  # 1018.4 USDC alone: over the cap
    e.on_fill(fill("BTCUSDC", "BUY", "61000", "0.002", 2))
    e.tick(T0_NS)
    eth = _check(e, ladder("ETHUSDC", "2680.00", 3, "0.01"))
    btc = _check(e, ladder("BTCUSDC", "61000.0", 3, "0.001"), "BTCUSDC", t=2)
    assert _bids(eth) == 0 and _asks(eth) == D("0.03")
    assert _bids(btc) == 0 and _asks(btc) == D("0.002")  # only what closes the position
    assert any(c.startswith("total_notional_max: BUY") for c in eth.clipped + btc.clipped)
    # released: half the ETH position goes, room comes back for both
    e.on_fill(fill("ETHUSDC", "SELL", "2680", "0.2", 3))
    e.tick(T0_NS + S)
    assert _bids(_check(e, ladder("ETHUSDC", "2680.00", 3, "0.01"), t=12)) == D("0.03")
    assert _bids(_check(e, ladder("BTCUSDC", "61000.0", 3, "0.001"), "BTCUSDC", t=13)) == D("0.003")


def test_the_global_room_counts_other_symbols_resting_quotes() -> None:
    e = ready_engine(loose(totalNotionalMax=1000, ETHUSDC={"netMax": 1}, BTCUSDC={"netMax": 1}))
    eth = _check(e, ladder("ETHUSDC", "2680.00", 3, "0.1"))
    assert (_bids(eth), _asks(eth)) == (D("0.3"), D("0.3"))  # worst case 0.3 * 2680 = 804
    btc = _check(e, ladder("BTCUSDC", "61000.0", 4, "0.001"), "BTCUSDC", t=2)
    assert _bids(btc) == D("0.003")  # 196 USDC left: 0.003 BTC is 183, 0.004 would be 244
    assert btc.clipped[0].startswith("total_notional_max: BUY room 0.003")


def test_leverage_caps_the_worst_case_notional_at_a_multiple_of_equity() -> None:
    e = ready_engine(loose(leverageMax=2, ETHUSDC={"netMax": 10}), wallet="1000")
    approved = _check(e, ladder("ETHUSDC", "2680.00", 10, "0.1"))
    # 2 x 1000 / 2680 = 0.746 ETH of worst case a side
    assert (_bids(approved), _asks(approved)) == (D("0.746"), D("0.746"))
    assert any(c.startswith("leverage: BUY room 0.746") for c in approved.clipped)
