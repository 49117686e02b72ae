"""The local book and its sync rules: the bookTicker oracle on recorded data, broken streams, the grid."""

from __future__ import annotations

import bisect
import gzip
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.binance.market import BookTicker, DepthSnapshot, DepthUpdate, decode_combined, snapshot_decoder
from services.marketdata.book import InvalidLevelError, OffStepError, OffTickError, OrderBook
from services.marketdata.sync import BookSync, Market
from tests.helpers import DATA

TICK, STEP = Decimal("0.01"), Decimal("0.001")
SPOT_STEP = Decimal("0.0001")  # Binance's ETHUSDT spot stepSize; two levels in the file carry 5 decimals
Top = tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]


@cache
def recording(name: str) -> tuple[Any, ...]:
    """Every line of a recorded file, decoded, in file order (snapshots are lines without "stream")."""
    out: list[Any] = []
    with gzip.open(DATA / name, "rb") as f:
        for line in f:
            _, raw = line.split(b" ", 1)
            out.append(
                decode_combined(raw)[1] if raw.startswith(b'{"stream"') else snapshot_decoder.decode(raw)
            )
    return tuple(out)


def futures() -> tuple[Any, ...]:
    return recording("usdm_ethusdt_20240808.gz")


def spot() -> tuple[Any, ...]:
    return recording("spot_ethusdt_20240808.gz")


def depth_events(events: Iterable[Any]) -> list[DepthUpdate]:
    return [e for e in events if isinstance(e, DepthUpdate)]


def first_snapshot(events: tuple[Any, ...]) -> DepthSnapshot:
    return next(e for e in events if isinstance(e, DepthSnapshot))


def diff(start: int, end: int, prev: int = -1, b: Any = (), a: Any = ()) -> DepthUpdate:
    """A hand-made depth event (``prev`` is futures' ``pu``)."""
    return DepthUpdate(e="depthUpdate", E=0, s="ETHUSDT", U=start, u=end, pu=prev, b=list(b), a=list(a))


def snapshot(last_id: int, b: Any = (("100.00", "1.000"),), a: Any = (("100.01", "1.000"),)) -> DepthSnapshot:
    return DepthSnapshot(lastUpdateId=last_id, bids=list(b), asks=list(a))


def snapshot_of(book: OrderBook) -> DepthSnapshot:
    """The book as a REST snapshot, as the venue would send it."""
    bids, asks = book.top(10**6)
    return DepthSnapshot(
        lastUpdateId=book.last_update_id,
        bids=[(str(book.price(p)), str(book.qty(q))) for p, q in bids],
        asks=[(str(book.price(p)), str(book.qty(q))) for p, q in asks],
    )


def tracked(market: Market, step: Decimal) -> tuple[BookSync, list[tuple[int, int, Top]]]:
    """A sync that records (U, u, top of book) after every diff applied, replayed ones included."""
    applied: list[tuple[int, int, Top]] = []

    def record(ev: DepthUpdate) -> None:
        applied.append(
            (ev.U, ev.u, (_exact(sync.book, sync.book.best_bid()), _exact(sync.book, sync.book.best_ask())))
        )

    sync = BookSync(market, TICK, step, on_apply=record)
    return sync, applied


def feed(sync: BookSync, events: Iterable[Any]) -> None:
    """Feed recorded depth events and snapshots in file order (other streams are skipped)."""
    for ev in events:
        if isinstance(ev, DepthUpdate):
            sync.on_event(ev)
        elif isinstance(ev, DepthSnapshot):
            sync.on_snapshot(ev)


def _exact(book: OrderBook, level: tuple[int, int] | None) -> tuple[Decimal, Decimal] | None:
    """A level as exact (price, qty): comparable whatever the book's units were at the time."""
    return None if level is None else (book.price(level[0]), book.qty(level[1]))


def ticker_top(book: OrderBook, t: BookTicker) -> Top:
    return (Decimal(t.b), Decimal(t.B)), (Decimal(t.a), Decimal(t.A))


# ---- the oracle ------------------------------------------------------------------------------


def test_futures_book_matches_every_checkable_book_ticker() -> None:
    sync, states = tracked("usdm", STEP)
    feed(sync, futures())
    tickers = [e for e in futures() if isinstance(e, BookTicker)]
    ends = [u for _, u, _ in states]
    checks = mismatches = 0
    for t in tickers:
        # After diff k the book holds until diff k+1 starts: tickers with u in [u_k, U_(k+1)).
        k = bisect.bisect_right(ends, t.u) - 1
        if k < 0 or k + 1 >= len(states) or t.u >= states[k + 1][0]:
            continue
        checks += 1
        mismatches += ticker_top(sync.book, t) != states[k][2]
    assert (checks, mismatches) == (551, 0)
    assert sync.state == "live" and sync.resyncs == 0


def test_futures_sync_drops_stale_buffered_events_and_bridges_the_snapshot() -> None:
    events = futures()
    cut = events.index(first_snapshot(events))
    sync = BookSync("usdm", TICK, STEP)
    outcomes = [sync.on_event(e) for e in depth_events(events[:cut])]
    assert [o.kind for o in outcomes] == ["buffered"] * 7
    assert not sync.book_valid
    out = sync.on_snapshot(first_snapshot(events))
    # The snapshot's lastUpdateId is the u of the sixth buffered diff: five are dropped, two applied.
    assert (out.kind, out.applied, sync.last_update_id) == (
        "applied",
        2,
        depth_events(events[:cut])[-1].u,
    )
    assert sync.book_valid


def test_spot_book_stays_live_through_the_file_and_matches_tickers_at_its_update_ids() -> None:
    events = spot()
    sync, states = tracked("spot", SPOT_STEP)
    feed(sync, events)
    top_at = {u: top for _, u, top in states}
    tickers = [e for e in events if isinstance(e, BookTicker) and e.u in top_at]
    mismatches = sum(ticker_top(sync.book, t) != top_at[t.u] for t in tickers)
    # 3,434 diffs: two end at or before the snapshot's lastUpdateId and are dropped. No resync
    # means no gap and no crossed book after any diff.
    assert (sync.events_applied, sync.events_ignored, sync.resync_reasons) == (3432, 2, {})
    # Spot diffs are contiguous (U = prev u + 1), so only a ticker whose u ends a diff is checkable.
    assert (len(tickers), mismatches) == (577, 0)
    assert sync.state == "live"
    # the two 5-decimal sizes made the size unit finer once, and the book kept them exactly
    assert (sync.book.qty_unit, sync.book.refinements) == (Decimal("0.00001"), 1)


# ---- broken streams ----------------------------------------------------------------------------


def test_futures_pu_gap_invalidates_the_book_until_a_fresh_snapshot_recovers_it() -> None:
    prefix, events = futures()[:300], depth_events(futures())
    reference, broken, later = (BookSync("usdm", TICK, STEP) for _ in range(3))
    for sync in (reference, broken, later):
        feed(sync, prefix)
    i = next(j for j, e in enumerate(events) if e.u > reference.last_update_id)
    feed(reference, events[i : i + 40])
    out = broken.on_event(events[i + 1])  # events[i] was lost: pu no longer matches
    assert (out.kind, out.reason, broken.state, broken.book_valid) == (
        "needs_snapshot",
        "gap",
        "resyncing",
        False,
    )
    assert broken.book.best_bid() is None and broken.resync_reasons == {"gap": 1}
    assert {broken.on_event(e).kind for e in events[i + 2 : i + 40]} == {"buffered"}
    # A fresh snapshot taken at u of events[i + 10]: the buffered tail from there on bridges it.
    feed(later, events[i : i + 11])
    out = broken.on_snapshot(snapshot_of(later.book))
    assert (out.kind, out.applied, broken.state, broken.resyncs) == ("applied", 30, "live", 1)
    assert broken.book.top(10**6) == reference.book.top(10**6)
    assert broken.last_update_id == reference.last_update_id == events[i + 39].u


def test_futures_out_of_order_event_resyncs() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    assert sync.on_event(diff(95, 105, 90)).kind == "applied"
    assert sync.on_event(diff(106, 110, 105)).kind == "applied"
    out = sync.on_event(diff(95, 105, 90))  # a repeat of an older event
    assert (out.kind, out.reason, sync.book_valid) == ("needs_snapshot", "out_of_order", False)


def test_futures_first_event_must_bridge_the_snapshot() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    assert sync.on_event(diff(90, 99, 80)).kind == "ignored"  # u < lastUpdateId: dropped
    out = sync.on_event(diff(102, 110, 99))  # U > lastUpdateId and pu != it: ids 100..101 lost
    assert (out.kind, out.reason) == ("needs_snapshot", "snapshot_too_old")
    assert sync.on_event(diff(111, 120, 110)).kind == "buffered"
    out = sync.on_snapshot(snapshot(115))
    assert (out.kind, out.applied, sync.last_update_id) == ("applied", 1, 120)


def test_futures_event_right_after_the_snapshot_bridges_it() -> None:
    """A snapshot taken between two events: lastUpdateId 100 is the last event's u, and the next
    event (U 101, pu 100) carries exactly the updates after it. Step 5's U <= L fails, step 6's
    continuity holds: applied (a quiet book otherwise resyncs for ever)."""
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    assert sync.on_event(diff(101, 110, 100)).kind == "applied"
    assert sync.on_event(diff(111, 115, 110)).kind == "applied" and sync.last_update_id == 115


def test_crossed_book_after_an_event_resyncs() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    out = sync.on_event(diff(100, 101, 99, b=[("100.01", "2.000")]))
    assert (out.kind, out.reason, sync.state, sync.book.bid_count) == (
        "needs_snapshot",
        "crossed",
        "resyncing",
        0,
    )
    assert sync.buffered == 1  # the event is kept: a snapshot older than it will need it


def test_buffer_overflow_while_waiting_for_a_snapshot_resyncs() -> None:
    sync = BookSync("usdm", TICK, STEP, max_buffer=3)
    assert [sync.on_event(diff(i, i, i - 1)).kind for i in range(1, 4)] == ["buffered"] * 3
    out = sync.on_event(diff(4, 4, 3))
    assert (out.kind, out.reason, sync.buffered) == ("needs_snapshot", "buffer_overflow", 1)
    out = sync.on_snapshot(snapshot(2))  # older than the one event left
    assert (out.kind, out.reason) == ("needs_snapshot", "snapshot_too_old")
    assert sync.on_snapshot(snapshot(4)).kind == "applied" and sync.last_update_id == 4


def test_spot_snapshot_older_than_the_first_buffered_event_is_rejected() -> None:
    sync = BookSync("spot", TICK, SPOT_STEP)
    sync.on_event(diff(51, 60))
    out = sync.on_snapshot(snapshot(49))  # ids 50 lost between the snapshot and the stream
    assert (out.kind, out.reason, sync.book_valid, sync.buffered) == (
        "needs_snapshot",
        "snapshot_too_old",
        False,
        1,
    )
    out = sync.on_snapshot(snapshot(50))  # L + 1 == U: bridged
    assert (out.kind, out.applied, sync.last_update_id) == ("applied", 1, 60)


def test_spot_ignores_old_events_and_resyncs_on_a_gap() -> None:
    sync = BookSync("spot", TICK, SPOT_STEP)
    sync.on_snapshot(snapshot(100))
    assert sync.on_event(diff(95, 100)).kind == "ignored"  # spot drops u <= lastUpdateId
    assert sync.on_event(diff(99, 105)).kind == "applied"  # covers 101
    assert sync.on_event(diff(101, 104)).kind == "ignored"  # u < local id
    out = sync.on_event(diff(107, 110))  # 106 missing
    assert (out.kind, out.reason, sync.resyncs) == ("needs_snapshot", "gap", 1)


def test_an_off_tick_level_in_the_stream_is_kept_exactly_without_a_resync() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    out = sync.on_event(diff(100, 101, 99, b=[("99.995", "1.000")]))
    assert (out.kind, sync.book_valid, sync.resyncs) == ("applied", True, 0)
    book = sync.book
    # the unit went from 0.01 to 0.001: every level is held in the finer unit, exactly
    assert (book.price_unit, book.refinements) == (Decimal("0.001"), 1)
    bids, asks = book.top(5)
    assert [(book.price(p), book.qty(q)) for p, q in bids] == [
        (Decimal("100.00"), Decimal("1.000")),
        (Decimal("99.995"), Decimal("1.000")),
    ]
    assert [(book.price(p), book.qty(q)) for p, q in asks] == [(Decimal("100.01"), Decimal("1.000"))]
    msg = book.to_levels(5, "ETHUSDC", 1)
    assert msg.price_tick == Decimal("0.001") and msg.bids[1] == (99995, 1000)


def test_an_off_tick_snapshot_is_taken_whole_and_bridges_the_buffer() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_event(diff(95, 105, 90))
    out = sync.on_snapshot(snapshot(100, b=[("100.001", "1.000"), ("99.99", "0.0005")]))
    assert (out.kind, sync.book_valid, out.applied) == ("applied", True, 1)
    book = sync.book
    assert (book.price_unit, book.qty_unit) == (Decimal("0.001"), Decimal("0.0001"))
    assert book.best_bid() == (100001, 10000) and book.qty(book.top(2)[0][1][1]) == Decimal("0.0005")


def test_reset_after_a_reconnect_needs_a_snapshot() -> None:
    sync = BookSync("usdm", TICK, STEP)
    sync.on_snapshot(snapshot(100))
    out = sync.reset()
    assert (out.kind, out.reason, sync.book_valid, sync.last_update_id) == (
        "needs_snapshot",
        "reset",
        False,
        0,
    )


# ---- the book ----------------------------------------------------------------------------------


def test_off_tick_and_off_step_values_refine_the_units_and_bad_values_raise() -> None:
    book = OrderBook(TICK, STEP)
    book.apply_levels([("2681.62", "2.000")], [("2681.64", "1.000")])
    book.apply_levels([("2681.625", "1.000")], [("2681.63", "0.0005")])
    assert (book.price_unit, book.qty_unit, book.refinements) == (Decimal("0.001"), Decimal("0.0001"), 2)
    bids, asks = book.top(5)
    assert [(book.price(p), book.qty(q)) for p, q in bids] == [
        (Decimal("2681.625"), Decimal("1.000")),
        (Decimal("2681.62"), Decimal("2.000")),
    ]
    assert [(book.price(p), book.qty(q)) for p, q in asks] == [
        (Decimal("2681.63"), Decimal("0.0005")),
        (Decimal("2681.64"), Decimal("1.000")),
    ]
    # the parser alone still says which value was off its unit
    with pytest.raises(OffTickError, match=r"2681\.6255"):
        book.parse_price("2681.6255")
    with pytest.raises(OffStepError, match=r"0\.00005"):
        book.parse_qty("0.00005")
    for bad in ("-1.00", "0.00", "nan", "abc"):
        with pytest.raises(InvalidLevelError):
            book.apply_levels([(bad, "1.000")], [])


def test_a_unit_that_is_not_a_power_of_ten_refines_to_one_that_divides_it() -> None:
    book = OrderBook(Decimal("0.5"), Decimal(1))  # a tick of 0.5 (BTC-like contracts), a step of 1
    book.apply_levels([("100.5", "3")], [("101.0", "2")])
    book.apply_levels([("100.1", "1.5")], [])
    assert (book.price_unit, book.qty_unit) == (Decimal("0.1"), Decimal("0.1"))
    bids, asks = book.top(5)
    assert [(book.price(p), book.qty(q)) for p, q in bids] == [
        (Decimal("100.5"), Decimal(3)),
        (Decimal("100.1"), Decimal("1.5")),
    ]
    assert [(book.price(p), book.qty(q)) for p, q in asks] == [(Decimal("101.0"), Decimal(2))]


def test_book_parses_exactly_far_beyond_float_precision_of_the_fast_path() -> None:
    book = OrderBook(Decimal("0.00000001"), Decimal("1"))
    book.apply_levels([("123456789.12345678", "1")], [("123456789.12345679", "99999999999")])
    assert book.best_bid() == (12345678912345678, 1)
    assert book.best_ask() == (12345678912345679, 99999999999)
    assert book.price(12345678912345679) == Decimal("123456789.12345679")
    assert book.qty(99999999999) == Decimal("99999999999")


def test_zero_qty_deletes_a_level_and_deleting_an_absent_level_is_harmless() -> None:
    book = OrderBook(TICK, STEP)
    book.apply_snapshot(7, [("100.00", "1.000"), ("99.99", "2.000")], [("100.02", "3.000")])
    book.apply_levels([("100.00", "0.000"), ("98.00", "0.000")], [("100.01", "0")])
    assert book.top(5) == ([(9999, 2000)], [(10002, 3000)])
    assert not book.is_crossed()


def test_book_levels_message_is_exact() -> None:
    book = OrderBook(TICK, STEP)
    book.apply_snapshot(42, [("2681.62", "16.969")], [("2681.63", "0.001")])
    msg = book.to_levels(10, "ETHUSDT", ts_exchange=1_723_161_256_567_000_000)
    assert (msg.best_bid(), msg.best_ask(), msg.last_update_id) == (
        Decimal("2681.62"),
        Decimal("2681.63"),
        42,
    )
    assert msg.bids == [(268162, 16969)] and msg.ts_event == msg.ts_init == msg.ts_exchange


updates = st.lists(
    st.tuples(st.booleans(), st.integers(1, 60), st.sampled_from([0, 0, 1, 7, 1500, 10**9]), st.booleans()),
    max_size=80,
)


@given(updates=updates, n=st.integers(1, 70))
def test_book_equals_a_naive_dict_model_after_any_updates(
    updates: list[tuple[bool, int, int, bool]], n: int
) -> None:
    book = OrderBook(TICK, STEP, cache_limit=8)  # small: the parse caches empty and refill
    model: dict[bool, dict[int, int]] = {True: {}, False: {}}
    for is_bid, ticks, steps, as_ints in updates:
        if as_ints:
            book.set_level(is_bid, ticks, steps)
        else:
            level = [(str(ticks * TICK), str(steps * STEP))]
            book.apply_levels(level if is_bid else [], [] if is_bid else level)
        if steps:
            model[is_bid][ticks] = steps
        else:
            model[is_bid].pop(ticks, None)
    bids, asks = model[True], model[False]
    assert book.top(n) == (sorted(bids.items(), reverse=True)[:n], sorted(asks.items())[:n])
    assert (book.bid_count, book.ask_count) == (len(bids), len(asks))
    assert book.best_bid() == (max(bids.items()) if bids else None)
    assert book.best_ask() == (min(asks.items()) if asks else None)
    assert book.is_crossed() == bool(bids and asks and max(bids) >= min(asks))


def test_a_spot_stream_with_off_step_and_off_tick_levels_stays_live() -> None:
    sync = BookSync("spot", TICK, SPOT_STEP)
    sync.on_event(diff(101, 102))
    sync.on_snapshot(snapshot(101, b=[("100.00", "1.0000")], a=[("100.02", "2.0000")]))
    out = sync.on_event(diff(103, 104, b=[("99.999", "0.00001")], a=[("100.015", "0.5")]))
    assert (out.kind, sync.book_valid, sync.resyncs) == ("applied", True, 0)
    bids, asks = sync.book.top(5)
    assert [_exact(sync.book, lv) for lv in bids] == [
        (Decimal("100.00"), Decimal(1)),
        (Decimal("99.999"), Decimal("0.00001")),
    ]
    assert [_exact(sync.book, lv) for lv in asks] == [
        (Decimal("100.015"), Decimal("0.5")),
        (Decimal("100.02"), 2),
    ]


def test_features_read_a_refined_book_at_its_units_and_keep_intensity_in_ticks() -> None:
    from common.messages import Instrument
    from services.marketdata.feed import Freshness, SymbolFeed

    inst = Instrument(
        symbol="ETHUSDC", price_tick=TICK, qty_step=STEP, min_qty=STEP, max_qty=Decimal(1000),
        min_notional=Decimal(10), min_price=TICK, ts_event=0, ts_init=0,
    )  # fmt: skip
    f = SymbolFeed(inst, "usdm", 5, Freshness(1000, 1000))
    f.on_snapshot(snapshot(100, b=[("100.005", "1.0005")], a=[("100.01", "2.000")]), 1)
    msg = f.features_message(1)
    assert msg is not None
    # features are floats: equal to the exact values within a double's rounding
    assert (msg.best_bid, msg.best_ask, msg.mid) == pytest.approx((100.005, 100.01, 100.0075), rel=1e-14)
    assert msg.bid_qty == pytest.approx(1.0005, rel=1e-14)
    assert msg.price_tick == 0.01  # the instrument's tick, for intensity
    assert f.features.top.mid_ticks == pytest.approx(10000.75, rel=1e-14)  # the mid in ticks of 0.01
