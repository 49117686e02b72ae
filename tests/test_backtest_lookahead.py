"""No look-ahead in the backtester, one test per latency, on a hand-made market whose every event time
is known: the strategy sees a move only ``feed`` after it happened, an order reaches the venue's book
only ``entry`` after it left, its answer and every user-data event come back ``response`` later."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from common.config import load_settings
from services.backtest.data import DEPTH, MARK, TRADE, MarketData
from services.backtest.engine import Backtest, BacktestConfig, Latency
from services.venue.orderbook import BUY, SELL

MS = 1_000_000
T0 = 1_723_161_600_000_000_000  # 2024-08-09 00:00 UTC
BID, ASK = 268_000, 268_001  # ticks of 0.01: 2680.00 / 2680.01
MOVE_AT = T0 + 2_000 * MS  # the market moves 10 ticks up at 2.000 s
TRADE_AT = T0 + 4_000 * MS  # a sell sweeps through our bids at 4.000 s


def _market() -> MarketData:
    """A quiet book, 5 ETH a level, 30 levels a side; one 10-tick move up; one large sell."""
    start = [(BUY, BID - i, 5000) for i in range(30)] + [(SELL, ASK + i, 5000) for i in range(30)]
    md = MarketData("ETHUSDC", Decimal("0.01"), Decimal("0.001"), start, source="hand-made")
    for k in range(1, 80):  # a depth event every 100 ms: the feed stays alive
        t = T0 + k * 100 * MS
        if t == MOVE_AT:
            up = [(SELL, ASK + i, 0) for i in range(10)] + [(BUY, BID + i, 5000) for i in range(1, 11)]
            up += [(SELL, ASK + 30 + i, 5000) for i in range(10)]
            md.add(t, t, DEPTH, tuple(up))
        else:
            md.add(t, t, DEPTH, ((BUY, BID - 29, 5000 + k),))
        if t == TRADE_AT:
            md.add(t, t, TRADE, (SELL, BID - 200, 1_000_000))  # trades through every bid of ours
    return md


def _run(lat: Latency) -> tuple[Backtest, list[tuple[int, float]]]:
    seen: list[tuple[int, float]] = []

    class Watched(Backtest):
        def _features(self, t: int) -> None:
            super()._features(t)
            f = self.strategy.views[self.symbol].features
            if f is not None and f.ts_init == t:
                seen.append((t, f.best_bid))

    bt = Watched(_market(), BacktestConfig(settings=load_settings("paper"), latency=lat))
    bt.run()
    return bt, seen


@pytest.mark.parametrize("feed_ms", [0, 50, 150, 330])
def test_the_strategy_sees_a_move_only_feed_latency_after_it_happened(feed_ms: int) -> None:
    _, seen = _run(Latency(feed_ns=feed_ms * MS))
    # features go out every 100 ms (marketdata.features_interval_ms); the move reaches our book at
    # 2.000 s + feed, so the first features with the new bid are those of the next 100 ms mark
    arrives = MOVE_AT + feed_ms * MS
    first_new = min(t for t, bid in seen if bid == pytest.approx(2680.10))
    assert first_new == T0 + -(-(arrives - T0) // (100 * MS)) * 100 * MS
    assert all(bid == pytest.approx(2680.00) for t, bid in seen if t < arrives)


def test_an_order_reaches_the_book_entry_latency_after_it_left_and_its_answer_response_later() -> None:
    bt, _ = _run(Latency(entry_ns=7 * MS, response_ns=3 * MS))
    places = [c for c in bt.venue.calls if c[0] in ("POST /fapi/v1/order", "POST /fapi/v1/batchOrders")]
    assert places, "no order was placed"
    for _path, sent, landed, answered in bt.venue.calls:
        assert (landed - sent, answered - landed) == (7 * MS, 3 * MS)
    # the venue stamped each order with the time it arrived, never the time it left
    ours = [o for o in bt.exchange.orders.values() if o.account == "paper"]
    landed_ms = {landed // MS for _p, _s, landed, _a in places}
    assert ours and all(o.time_ms in landed_ms for o in ours)
    assert min(o.time_ms for o in ours) * MS >= min(sent for _p, sent, _l, _a in places) + 7 * MS


def test_the_oms_hears_of_an_order_and_of_a_fill_only_response_latency_after_the_venue() -> None:
    bt, _ = _run(Latency(entry_ns=7 * MS, response_ns=3 * MS))
    rows = bt.record.orders
    pending: dict[str, int] = {}
    acked: dict[str, int] = {}  # the first New of each order (an amend makes it New again)
    for r in rows:
        if r["state"] == "PendingNew":
            pending.setdefault(r["client_order_id"], r["ts_ns"])
        elif r["state"] == "New":
            acked.setdefault(r["client_order_id"], r["ts_ns"])
    gaps = {acked[c] - pending[c] for c in acked}
    assert gaps == {10 * MS}  # 7 ms to the venue, 3 ms back: never sooner
    fills = bt.record.fills
    assert fills, "the sell at 4.000 s should have filled our bids"
    assert {f["ts_ns"] for f in fills} == {TRADE_AT + 3 * MS}


def test_recorded_order_round_trips_are_drawn_per_request_and_split_in_half() -> None:
    # two round trips measured in a session, 4 ms and 10 ms: each request takes one of them, half
    # to reach the venue and half to come back
    bt, _ = _run(Latency(order_path_ns=(4 * MS, 10 * MS)))
    legs = {(landed - sent, answered - landed) for _p, sent, landed, answered in bt.venue.calls}
    assert legs == {(2 * MS, 2 * MS), (5 * MS, 5 * MS)}  # both drawn, never anything else


def test_a_sessions_round_trips_are_read_from_the_recorders_store(tmp_path: Path) -> None:
    from services.backtest.api import session_round_trips
    from services.recorder.queries import Queries
    from services.recorder.store import SqliteStore
    from tests.test_recorder_backup import _fill_store

    store = SqliteStore(tmp_path / "recorder.sqlite").open()
    _fill_store(store, T0, 6000)
    q = Queries(store)
    pending = {
        r["client_order_id"]: r["ts_event"] for r in q.run("order_events", {"state": "PendingNew"}, 100_000)
    }
    acked = {r["client_order_id"]: r["ts_event"] for r in q.run("order_events", {"state": "New"}, 100_000)}
    store.close()
    want = sorted(acked[c] - pending[c] for c in acked if c in pending)
    got = sorted(session_round_trips(tmp_path))
    assert got == want and len(got) > 50 and max(got) <= 3 * MS  # the mix acknowledges within 3 ms
    with pytest.raises(ValueError, match="no recorder store"):
        session_round_trips(tmp_path / "nowhere")


def test_funding_is_settled_at_the_recordings_funding_time_and_counted() -> None:
    # the lookahead market (our bids swept at 4.000 s: we are long), with marks carrying a funding
    # rate of 0.0001 and the next funding at 6.000 s; the venue settles it on its clock
    md = _market()
    fund_at_ms = (T0 + 6_000 * MS) // MS
    for k in range(1, 80):
        t = T0 + k * 100 * MS + 1
        md.add(t, t, MARK, (2680.05, 2680.05, 0.0001, fund_at_ms))
    order = sorted(range(len(md)), key=lambda i: (md.t_exch_ns[i], i))
    for name in ("t_exch_ns", "t_local_ns", "kind", "payload", "ids"):
        setattr(md, name, [getattr(md, name)[i] for i in order])
    bt = Backtest(md, BacktestConfig(settings=load_settings("paper"), latency=Latency()))
    rec = bt.run()
    settled = [(t, amount) for t, what, amount in rec.events_log if what == "funding"]
    assert len(settled) == 1 and settled[0][0] >= T0 + 6_000 * MS  # once, at the funding time
    # by hand: a long q pays q x mark x rate, sent (as Binance does) with 8 decimals; the market
    # has no trade after 4 s, so the position at 6 s is the final one
    pos = bt.exchange.accounts["paper"].positions["ETHUSDC"].qty
    assert pos > 0
    due = (-(pos * Decimal("2680.05") * Decimal("0.0001"))).quantize(Decimal("1e-8"))
    assert rec.funding == Decimal(settled[0][1]) == due
    assert rec.summary()["funding"] == float(rec.funding) < 0
