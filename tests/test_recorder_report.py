"""The session report: every chart file, and figures that agree with what the store answers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from common.report import write_report
from common.report.text import CHART_TITLES
from services.recorder import report
from services.recorder.ingest import Ingestor
from services.recorder.queries import Queries
from services.recorder.store import PostgresStore, SqliteStore, Store
from tests.fixtures.recorder_mix import MessageMix, Wire
from tests.pg import PgServer, shared_server

T0 = 1_790_000_000_000_000_000
MINUTES = 3


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with shared_server() as srv:
        yield srv


def _session(store: Store) -> tuple[int, int]:
    """Six simulated minutes of the message mix; returns the window."""
    mix = MessageMix(t0_ns=T0)
    items = []
    for topic, svc, msg in mix.stream():
        if msg.ts_event > T0 + MINUTES * 60 * 10**9:
            break
        items.append((topic, svc, msg))
    ing = Ingestor()
    raws = Wire().many(items)
    for i in range(0, len(raws), 1000):
        out = ing.ingest(raws[i : i + 1000])
        store.write(out.rows, link_fills=out.link_fills)
    store.write({"sessions": [("s-test", T0, 0, T0, "host-a", "paper", 1)]})
    return T0, T0 + MINUTES * 60 * 10**9


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[Store, int, int]]:
    st = SqliteStore(tmp_path / "r.sqlite").open()
    t0, t1 = _session(st)
    yield st, t0, t1
    st.close()


def test_the_report_has_every_chart_and_its_figures_agree_with_the_store(
    filled: tuple[Store, int, int], tmp_path: Path
) -> None:
    store, t0, t1 = filled
    q = Queries(store)
    sess = q.run("sessions", {"session_id": "s-test"}, 1)[0]
    data = report.build(store, t0, t1, sess)
    path = write_report(data, tmp_path / "out")
    text = path.read_text()
    for name in CHART_TITLES:
        png = tmp_path / "out" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in text
    window = {"since_ns": str(t0), "until_ns": str(t1)}
    fills = q.run("fills", window, 100_000)
    realized = sum((Decimal(f["realized_pnl"]) for f in fills), Decimal(0))
    fees = sum((Decimal(f["fee"]) for f in fills), Decimal(0))
    t = data.totals
    assert (Decimal(t["realized_pnl"]), Decimal(t["fees"])) == (realized, fees)
    assert Decimal(t["net_pnl"]) == realized - fees != 0
    assert int(t["fills"]) == len(fills) == sum(data.per_minute["fills"]) > 0
    orders = q.run("orders", {}, 100_000)
    assert (
        int(t["orders"])
        == sum(1 for o in orders if t0 <= o["created_ns"] <= t1)
        == sum(data.per_minute["orders"])
    )
    cancels = q.run("order_events", {**window, "state": "Canceled"}, 100_000)
    assert int(t["cancels"]) == len(cancels) == sum(data.per_minute["cancels"]) > 0
    rejected = q.run("order_events", {**window, "state": "Rejected"}, 100_000)
    venue = [e for e in rejected if e["error_code"]]
    assert int(t["rejects"]) == len(venue) > 0 and int(t["held_back"]) == len(rejected) - len(venue) > 0
    assert f"| Orders the venue rejected | {len(venue)} |" in text
    assert int(t["risk_events"]) == len(q.run("risk_events", window, 1000))
    assert int(t["command_errors"]) == len(q.run("commands", {**window, "ok": "false"}, 1000))
    pending = {
        e["client_order_id"] for e in q.run("order_events", {**window, "state": "PendingNew"}, 100_000)
    }
    acked = {e["client_order_id"] for e in q.run("order_events", {**window, "state": "New"}, 100_000)}
    assert data.latency["count"] == len(pending & acked) > 0
    assert (
        0 < data.latency["p50"] <= data.latency["p99"] <= data.latency["max"] <= 3.0
    )  # the mix acks within 3 ms
    last_pos = {p["symbol"]: p for p in q.run("positions", window, 100_000)}
    for f in data.symbols:
        assert f.position == last_pos[f.symbol]["qty"]
        assert f.quoted_spread_bps > 0
        assert set(f.markouts_bps) == {"1s", "5s", "30s"}, f.markouts_bps
    assert f"| Realized PnL after fees | {Decimal(t['net_pnl']):,.4f} |" in text
    assert f"| Fills | {len(fills)} (" in text
    assert "Markout 1/5/30 s (bps)" in text
    assert "mm_rest_errors_total" in text, "the report says where REST/WS errors are really counted"
    assert len(data.minutes) == MINUTES


def test_both_backends_produce_the_same_report(filled: tuple[Store, int, int], pg: PgServer) -> None:
    lite, t0, t1 = filled
    post = PostgresStore(pg.fresh_dsn()).open()
    try:
        _session(post)
        a = msgspec.to_builtins(report.build(lite, t0, t1))
        b = msgspec.to_builtins(report.build(post, t0, t1))
    finally:
        post.close()
    a.pop("generated_ns")
    b.pop("generated_ns")
    assert a == b


def test_an_empty_window_still_writes_every_chart_and_says_what_is_missing(tmp_path: Path) -> None:
    st = SqliteStore(tmp_path / "e.sqlite").open()
    try:
        data = report.build(st, T0, T0 + 120 * 10**9)
    finally:
        st.close()
    path = write_report(data, tmp_path / "empty")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == sorted(
        [*(f"{n}.png" for n in CHART_TITLES), "report.md"]
    )
    assert data.totals["fills"] == "0" and data.totals["net_pnl"] == "0"
    assert "No approved targets" in path.read_text()


def test_markouts_per_symbol_on_a_hand_computed_case() -> None:
    """Mids 100.0, 100.1, 99.9, 100.5 at 0, 1, 5 and 30 s; a buy of 1 at 100.00 and a sell of 3 at
    100.05 at 0 s. 1 s: buy +10 bps, sell (100.05 − 100.1)/100.05 = −4.9975 bps → (10 − 14.9925)/4
    = −1.2481; 5 s: −10 and +14.9925 → 8.7444; 30 s: +50 and −44.9775 → −21.2331. A fill at 29 s
    has no mid 5 s later and counts at 1 s only."""
    s = 1_000_000_000
    mids = ((0, 100.0), (1, 100.1), (5, 99.9), (30, 100.5))
    samples = [{"ts_event": t * s, "symbol": "X", "mid": m} for t, m in mids]
    fills = [
        {"ts_event": 0, "side": "BUY", "price": "100.00", "qty": "1"},
        {"ts_event": 0, "side": "SELL", "price": "100.05", "qty": "3"},
    ]
    m = report._markouts(fills, samples)
    assert m == pytest.approx({"1s": -1.2481, "5s": 8.7444, "30s": -21.2331}, abs=1e-3)
    late = report._markouts([{"ts_event": 29 * s, "side": "BUY", "price": "100.00", "qty": "1"}], samples)
    assert late == pytest.approx({"1s": 50.0})


def test_the_band_kpis_of_a_window_add_what_the_strategys_snapshots_gained_across_a_cold_restart() -> None:
    """By hand: from the first snapshot to the second 100 s observed, 99.95 in band, 99.99
    two-sided, 6 orders all of the minimum value, 2 excursions answered in time (the slowest 40 ms);
    then a cold restart whose first snapshot has 5 s, all in band and two-sided, 2 orders. Over the
    window: 105 s, in band 104.95 / 105, two-sided 104.99 / 105, min value 8 / 8, no fill."""
    import msgspec

    from common.messages import StateSnapshot
    from services.recorder.report import band_kpis
    from services.recorder.rows import band_rows
    from services.recorder.schema import TABLE
    from services.strategy.kpi import BandKpi
    from services.strategy.state import StrategyState

    def snap(**kpi: int) -> dict[str, object]:
        """The strategy's snapshot as the recorder stores its band row."""
        payload = msgspec.msgpack.encode(
            {"ETHUSDT": StrategyState(kpi=BandKpi(**kpi)), "ETHUSDC": StrategyState()}
        )
        (r,) = band_rows(StateSnapshot(service="strategy", payload=payload), 0)  # ETHUSDC: no band, no row
        return dict(zip(TABLE["band_kpis"].names, r, strict=True))

    s = 1_000_000_000
    rows = [
        snap(observed_ns=10 * s, in_band_ns=9_900_000_000, two_sided_ns=9_950_000_000, orders=4,
             orders_min_value=4, responses=1, responses_in_time=1, response_max_ns=20_000_000),
        snap(observed_ns=110 * s, in_band_ns=109_850_000_000, two_sided_ns=109_940_000_000, orders=10,
             orders_min_value=10, responses=3, responses_in_time=3, response_max_ns=40_000_000),
        snap(observed_ns=5 * s, in_band_ns=5 * s, two_sided_ns=5 * s, orders=2, orders_min_value=2),
    ]  # fmt: skip
    k = band_kpis(rows)
    assert set(k) == {"ETHUSDT"}
    e = k["ETHUSDT"]
    assert e["observed_s"] == 105.0 and e["excursions"] == 2 and e["response_max_ms"] == 40.0
    assert (e["time_in_band"], e["two_sided_time"]) == pytest.approx((104.95 / 105, 104.99 / 105), rel=1e-12)
    assert (e["min_value_share"], e["fill_ratio"], e["response_within_100ms"]) == (1.0, 0.0, 1.0)
