"""The backtester end to end: ``mmctl backtest run`` on the recorded ETHUSDT file prints its summary and
writes its tables and plots; the run agrees with the venue it ran on; the summary's figures match
hand-computed cases; bad arguments are refused with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.messages import Fill
from services.backtest import run
from services.backtest.record import Recorder

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "data" / "binance" / "usdm_ethusdt_20240808.gz"
PNG = b"\x89PNG\r\n\x1a\n"


def _mmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.mmctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_mmctl_backtest_run_on_the_recorded_file_prints_its_summary_and_writes_tables_and_plots(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bt"
    p = _mmctl("backtest", "run", "--data", str(RECORDED), "--symbol", "ETHUSDT", "--model", "asmm",
               "--out", str(out), "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.splitlines()[-1])
    assert summary["symbol"] == "ETHUSDT" and summary["model"] == "asmm"
    assert summary["span_s"] == pytest.approx(344.5, abs=1.0)  # data/README.md: about 345 s recorded
    assert summary["events"] > 20_000
    for name in ("equity", "inventory", "quotes"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG
    fills = pq.read_table(out / "fills.parquet").to_pylist()
    assert len(fills) == summary["fills"]
    saved = json.loads((out / "summary.json").read_text())
    assert saved["summary"] == summary and saved["config"]["data"] == str(RECORDED)


def test_a_run_agrees_with_the_venue_it_ran_on_and_trades_on_the_instruments_grid() -> None:
    res = run(RECORDED, "ETHUSDT", "asmm", entry_ms=1, response_ms=1)
    rec = res.record
    assert rec.fills, "the default ASMM should trade in 5.7 minutes of ETHUSDT"
    signed = sum((Decimal(f["qty"]) * (1 if f["side"] == "BUY" else -1) for f in rec.fills), Decimal(0))
    assert rec.position == signed
    assert Decimal(str(res.summary["final_position"])) == signed
    for f in rec.fills:  # exact on the wire: tick 0.01, step 0.001
        assert Decimal(f["price"]) % Decimal("0.01") == 0 and Decimal(f["qty"]) % Decimal("0.001") == 0
    ids = [(f["trade_id"], f["side"]) for f in rec.fills]
    assert len(ids) == len(set(ids))  # every venue trade counted once
    assert res.table("orders").num_rows == len(rec.orders)
    assert res.summary["errors"] == 0  # every user-data event of the venue read
    # every equity sample is the balance plus the cash and position of the fills recorded by then,
    # valued at the sample's mid (never a position the fills have not yet shown)
    fills = sorted(rec.fills, key=lambda f: f["ts_ns"])
    funding = sorted((t, Decimal(amount)) for t, what, amount in rec.events_log if what == "funding")
    assert len(funding) == 1  # the file crosses 00:00 UTC, a funding time: settled once
    i, j, cash, pos = 0, 0, Decimal(0), Decimal(0)
    for t, mid, position, equity, _b, _a in rec.samples:
        while j < len(funding) and funding[j][0] <= t:
            cash += funding[j][1]
            j += 1
        while i < len(fills) and fills[i]["ts_ns"] <= t:
            sign = 1 if fills[i]["side"] == "BUY" else -1
            pos += sign * Decimal(fills[i]["qty"])
            cash -= sign * Decimal(fills[i]["qty"]) * Decimal(fills[i]["price"]) + Decimal(fills[i]["fee"])
            i += 1
        assert position == float(pos)
        if mid:
            expected = Decimal(100_000) + cash + pos * Decimal(repr(mid))
            assert equity == pytest.approx(float(expected), abs=1e-6)


def _fill(side: str, price: str, qty: str, maker: bool = True, fee: str = "0", tid: int = 1) -> Fill:
    return Fill(symbol="ETHUSDC", trade_id=tid, client_order_id=f"c{tid}", venue_order_id=tid, side=side,  # type: ignore[arg-type]
                price=Decimal(price), qty=Decimal(qty), fee=Decimal(fee), fee_asset="USDC",
                realized_pnl=Decimal(0), is_maker=maker)  # fmt: skip


def test_a_malformed_user_event_is_counted_and_the_run_goes_on() -> None:
    from common.config import load_settings
    from services.backtest.api import load
    from services.backtest.engine import Backtest, BacktestConfig

    settings = load_settings("paper")
    bt = Backtest(load("synthetic", "ETHUSDC", settings, seconds=5.0), BacktestConfig(settings=settings))
    bt._on_user(b'{"e": "ORDER_TRADE_UPDATE", "o": {"q": "abc"}}')  # as a broken venue would send
    rec = bt.run()
    assert rec.summary()["errors"] == 1 and rec.errors[0].startswith("user event:")
    assert rec.summary()["orders_placed"] > 0  # and it traded on


def test_the_summary_figures_match_a_hand_computed_round_trip() -> None:
    t0 = 1_723_161_600_000_000_000
    r = Recorder("ETHUSDC", t0, Decimal(1000))
    r.sample(t0, 100.5, Decimal(0), 0.0, 0.0)  # equity 1000
    r.fill(_fill("BUY", "100", "1", fee="0.01"), t0 + 10**9, 100.5)  # 0.5 inside the mid: 49.75 bps
    r.sample(t0 + 60 * 10**9, 99.0, Decimal(1), 0.0, 0.0)  # 1000 - 100.01 + 99 = 998.99
    r.fill(_fill("SELL", "101", "1", maker=False, fee="0.02", tid=2), t0 + 61 * 10**9, 100.5)  # 49.75 bps
    r.sample(t0 + 120 * 10**9, 100.0, Decimal(0), 0.0, 0.0)  # 1000 - 100.01 + 101 - 0.02 = 1000.97
    s = r.summary()
    assert s["pnl"] == pytest.approx(0.97)  # 101 - 100 - 0.01 - 0.02
    assert s["fees"] == pytest.approx(0.03)
    assert s["max_drawdown"] == pytest.approx(1.01)  # from 1000 down to 998.99
    assert s["spread_captured_bps"] == pytest.approx(0.5 / 100.5 * 1e4, abs=1e-3)
    assert s["maker_share"] == 0.5  # one unit of two made as maker
    assert (s["fills"], s["final_position"], s["max_abs_position"]) == (2, 0.0, 1.0)
    # per-minute changes -1.01 and +1.98: Sharpe = mean / sample std x sqrt(1440)
    mean, std = (1.98 - 1.01) / 2, ((1.98 + 1.01) ** 2 / 2) ** 0.5
    assert s["sharpe_day"] == pytest.approx(mean / std * 1440**0.5, rel=1e-3)


def test_bad_arguments_are_refused_with_a_clear_message_and_exit_2(tmp_path: Path) -> None:
    p = _mmctl("backtest", "run", "--data", "synthetic", "--symbol", "ETHUSDC", "--set", "gamma=abc",
               "--out", str(tmp_path))  # fmt: skip
    assert p.returncode == 2 and "gamma" in p.stderr and "Traceback" not in p.stderr
    p = _mmctl("backtest", "run", "--data", str(tmp_path / "missing.gz"), "--out", str(tmp_path))
    assert p.returncode == 2 and "no market data file" in p.stderr
    p = _mmctl("backtest", "run", "--data", "synthetic", "--symbol", "DOGEUSDC", "--out", str(tmp_path))
    assert p.returncode == 2 and "not a simvenue symbol" in p.stderr


def test_a_raw_capture_written_by_the_marketdata_service_replays_in_the_backtester(tmp_path: Path) -> None:
    """marketdata captures the venue's feed (depth@100ms diffs, aggTrade, snapshots) for a while; the
    backtester reads the capture directory as it reads the recorded files, and trades on it."""
    from tests.cluster import Cluster
    from tests.helpers import wait_until

    with Cluster(tmp_path, "[marketdata]\ncapture = true\ncapture_rotate_mb = 1\n") as c:
        c.start("venue", "marketdata")
        cap = c.run_dir / "capture"

        def enough() -> bool:
            files = list(cap.glob("usdm_ethusdc_*.gz")) if cap.is_dir() else []
            return bool(files) and c.heard.of("md.status.ETHUSDC") is not None and _lines(files) > 250

        c.listen("md.status.")
        wait_until(enough, 60, interval=0.5, what="250 captured lines of ETHUSDC")
        c.stop()  # closes the capture files (gzip trailers written)
    res = run(cap, "ETHUSDC", "asmm", template="ETHUSDC", entry_ms=1, response_ms=1)
    s = res.summary
    assert s["events"] > 200 and s["span_s"] > 5
    assert res.config["data"] == str(cap)
    assert s["publications_per_min"] > 0 and s["orders_placed"] > 0  # it quoted on the captured market


def _lines(files: list[Path]) -> int:
    import gzip
    import zlib

    n = 0
    for f in files:
        try:
            with gzip.open(f, "rb") as fh:
                for _ in fh:
                    n += 1
        except (EOFError, OSError, zlib.error):  # still being written: what could be read counts
            pass
    return n
