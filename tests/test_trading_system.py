"""The trading path end to end, as processes: venue -> marketdata -> strategy -> risk -> gateway.

Strategy targets follow the market; a bad reload is refused; stale market data pauses quoting;
a price shock halts and shows in ``mmctl status``; a restarted risk approves nothing until it
has rebuilt; PnL agrees with the venue's books after fees and funding; a stopLoss breach ends flat
with no open order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from common.config import SERVICES
from common.messages import GetSnapshot, Pause, ReloadConfig, Resume, RiskEvent, RiskState, TargetQuotes
from tests.cluster import Cluster
from tests.drills.support import mmctl
from tests.helpers import free_port, metrics_port_env, wait_until
from tests.test_recorder_nolose_e2e import recorder_up
from tests.venue_proc import book_mid

pytestmark = pytest.mark.system
SYMS = ("ETHUSDC", "BTCUSDC")

BASE = """
[simvenue]
funding_interval_s = 6.0
[marketdata]
stale_after_ms = 700
"""


def _start(tmp: Path, overlay: str, env: dict[str, str] | None = None, recorder: bool = False) -> Cluster:
    """The trading services; with ``recorder`` it starts first (the gateway and risk ask it for
    the day's fills at start), without it they are told not to wait for it."""
    no_recorder = {"MM_GATEWAY__RECORDER_WAIT_S": "0", "MM_RISK__RECORDER_WAIT_S": "0"}
    c = Cluster(tmp, overlay, {**({} if recorder else no_recorder), **(env or {})})
    try:
        c.listen("strategy.target.", "risk.", "md.status.", "oms.")
        c.start("venue", *(["recorder"] if recorder else []), "marketdata", "gateway", "risk", "strategy")
        wait_until(lambda: all(_approved(c, s) for s in SYMS), 40, what="approved quotes on both symbols")
    except BaseException:
        c.stop()  # a start that failed leaves nothing running
        raise
    return c


def _approved(c: Cluster, sym: str) -> bool:
    ts = c.heard.of(f"risk.target.{sym}", TargetQuotes)
    return bool(ts) and bool(ts[-1].quotes)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = _start(tmp_path_factory.mktemp("trading"), BASE)
    try:
        yield c
    finally:
        c.stop()


def _mid(c: Cluster, sym: str) -> Decimal:
    return book_mid(c.venue_url, sym)


def _last_target(c: Cluster, sym: str, since: float = 0.0) -> TargetQuotes | None:
    ts = [m for t, m in c.heard.since(since, f"strategy.target.{sym}") if isinstance(m, TargetQuotes)]
    return ts[-1] if ts else None


def _brackets(t: TargetQuotes, mid: Decimal) -> bool:
    bids = [q.price for q in t.quotes if q.side == "BUY"]
    asks = [q.price for q in t.quotes if q.side == "SELL"]
    return (
        bool(bids)
        and bool(asks)
        and max(bids) < mid * Decimal("1.002")
        and min(asks) > mid * Decimal("0.998")
    )


def test_strategy_targets_follow_the_market(cluster: Cluster) -> None:
    for sym in SYMS:
        t = _last_target(cluster, sym)
        assert t is not None and t.decision is not None and t.decision.model == "asmm"
        assert _brackets(t, _mid(cluster, sym))
        assert all(q.price % Decimal("0.01") == 0 for q in t.quotes)
    before = _mid(cluster, "ETHUSDC")
    t0 = time.monotonic()
    cluster.fault(shock={"symbol": "ETHUSDC", "pct": 0.03})
    wait_until(
        lambda: (
            (t := _last_target(cluster, "ETHUSDC", t0)) is not None
            and _brackets(t, _mid(cluster, "ETHUSDC"))
            and _mid(cluster, "ETHUSDC") > before * Decimal("1.02")
        ),
        20,
        what="targets that follow the jump",
    )


def test_a_bad_parameter_reload_is_refused_and_the_old_set_kept(cluster: Cluster) -> None:
    cfg = Path(cluster.env["MM_CONFIG_FILE"])
    good = cfg.read_text()
    version = _last_target(cluster, "ETHUSDC").decision.params_version  # type: ignore[union-attr]
    cfg.write_text(good + "\n[strategy.symbols.ETHUSDC.asmm]\nspacingRatio = 0.5\n")
    try:
        reply = cluster.request("strategy", ReloadConfig())
        assert not reply.ok and "spacing" in reply.error.lower()
        cluster.check_alive("strategy")
        t0 = time.monotonic()
        wait_until(lambda: _last_target(cluster, "ETHUSDC", t0), 10)
        assert _last_target(cluster, "ETHUSDC", t0).decision.params_version == version  # type: ignore[union-attr]
    finally:
        cfg.write_text(good)
    assert cluster.request("strategy", ReloadConfig()).ok


def test_stale_market_data_pauses_quoting_on_that_symbol(cluster: Cluster) -> None:
    t0 = time.monotonic()
    cluster.fault(symbol="ETHUSDC", stall_s=3.0)
    wait_until(lambda: any(m.state == "stale" for t, m in cluster.heard.since(t0, "md.status.ETHUSDC")), 10)
    wait_until(lambda: cluster.open_orders("ETHUSDC") == [], 10, what="ETHUSDC orders canceled while stale")

    def empty_heard() -> bool:
        heard = cluster.heard.since(t0, "risk.target.ETHUSDC")
        return any(isinstance(m, TargetQuotes) and not m.quotes for _, m in heard)

    wait_until(empty_heard, 5, what="risk's empty ETHUSDC target heard")
    assert cluster.open_orders("BTCUSDC") != []  # the other symbol quotes on
    wait_until(
        lambda: _approved(cluster, "ETHUSDC") and cluster.open_orders("ETHUSDC") != [],
        20,
        what="quoting again once live",
    )


def test_pnl_agrees_with_the_venues_books_after_fees_and_funding(cluster: Cluster) -> None:
    wait_until(lambda: cluster.heard.of("oms.funding."), 30, what="a funding settlement")
    assert cluster.request("risk", Pause()).ok  # no new fills while the books are compared

    def agree() -> bool:
        st = cluster.heard.of("risk.state", RiskState)[-1].figures
        wallet = next(
            Decimal(a["walletBalance"])
            for a in cluster.signed("GET", "/fapi/v3/account")["assets"]
            if a["asset"] == "USDC"
        )
        ours = sum(st[f"{s}.realized"] - st[f"{s}.fees"] + st[f"{s}.funding"] for s in SYMS)
        return abs(float(wallet) - 10000.0 - ours) < 1e-6

    wait_until(agree, 20, what="risk's PnL equal to the venue's wallet change")
    st = cluster.heard.of("risk.state", RiskState)[-1].figures
    assert any(st[f"{s}.fees"] != 0 or st[f"{s}.funding"] != 0 for s in SYMS)
    assert cluster.request("risk", Resume()).ok


def test_a_price_shock_halts_the_symbol_and_shows_in_mmctl_status(cluster: Cluster) -> None:
    t0 = time.monotonic()
    cluster.fault(shock={"symbol": "BTCUSDC", "pct": -0.12})
    wait_until(
        lambda: any(
            isinstance(m, RiskEvent) and m.rule == "shock" and m.symbol == "BTCUSDC"
            for t, m in cluster.heard.since(t0, "risk.event")
        ),
        15,
        what="a shock event",
    )
    wait_until(lambda: cluster.open_orders("BTCUSDC") == [], 10, what="BTCUSDC pulled")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mmctl"), "status", "--json"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    rows = {r["service"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows["risk"]["detail"]["BTCUSDC"].startswith("halted")
    st = cluster.heard.of("risk.state", RiskState)[-1]
    assert st.symbols["BTCUSDC"].mode == "halted"
    shock = [
        m for t, m in cluster.heard.since(t0, "risk.event") if isinstance(m, RiskEvent) and m.rule == "shock"
    ]
    assert shock[0].to_mode == "halted" and shock[0].figures


def test_a_restarted_risk_approves_nothing_until_it_has_rebuilt(cluster: Cluster) -> None:
    cluster.kill("risk", signal.SIGKILL)
    t0 = time.monotonic()
    cluster.start("risk")
    wait_until(
        lambda: any(
            isinstance(m, RiskEvent) and m.rule == "ready" for t, m in cluster.heard.since(t0, "risk.event")
        ),
        30,
        what="risk ready again",
    )
    seq = cluster.heard.since(t0, "risk.")
    ready_at = next(i for i, (t, m) in enumerate(seq) if isinstance(m, RiskEvent) and m.rule == "ready")
    before = [m for t, m in seq[:ready_at]]
    states = [m for m in before if isinstance(m, RiskState)]
    assert states and all(not s.ready for s in states)
    assert all(not m.quotes for m in before if isinstance(m, TargetQuotes))
    wait_until(lambda: _approved(cluster, "ETHUSDC"), 20, what="approving again after the rebuild")


BAND_AND_STOP = (
    BASE
    + """
[risk.params]
dailyMax = 1000.0
[strategy.symbols.ETHUSDC]
model = "passive_band"
netMax = 20.0
[risk.params.symbols.ETHUSDC]
netMax = 20
singleMax = 10
[risk.params.symbols.BTCUSDC]
stopLoss = -3.0
pnlMin = -2.0
[gateway.params.caps]
max_position = { ETHUSDC = 30, BTCUSDC = 0.1 }
max_order_notional = 50000
max_global_notional = 200000
[schedule]
check_interval_s = 0.5
"""
)


@pytest.fixture(scope="module")
def band_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One stack for the four tests below (a stack costs ~20 s to start), on the order-flow market
    ``make run`` trades on, with the recorder: ETHUSDC on the passive band, BTCUSDC on ASMM with a
    3 USDC stop loss. In order: the band; a calendar rule withdrawing BTCUSDC and back; the stop
    loss (halts BTCUSDC only); a timed session that ends everything paused."""
    ports = metrics_port_env({s: free_port() for s in SERVICES})
    c = _start(tmp_path_factory.mktemp("band"), BAND_AND_STOP, {"MM_SIMVENUE__MODEL": "flow", **ports}, True)
    try:
        yield c
    finally:
        c.stop()


def test_the_passive_band_keeps_two_sided_liquidity_inside_the_band(band_cluster: Cluster) -> None:
    c = band_cluster

    def band_ok() -> bool:
        orders = c.open_orders("ETHUSDC")
        mid = _mid(c, "ETHUSDC")
        sides = {o["side"] for o in orders}
        inside = all(
            Decimal("0.002") <= abs(Decimal(o["price"]) / mid - 1) <= Decimal("0.004") for o in orders
        )
        big = all(Decimal(o["price"]) * Decimal(o["origQty"]) >= 10000 for o in orders)
        return sides == {"BUY", "SELL"} and inside and big

    wait_until(band_ok, 30, what="one order a side, inside the band, each worth at least 10,000")
    k0 = c.request("strategy", GetSnapshot(what="band")).result["ETHUSDC"]

    def observed() -> dict[str, Any] | None:
        k = c.request("strategy", GetSnapshot(what="band")).result["ETHUSDC"]
        return k if k["observed_ns"] - k0["observed_ns"] >= 5_000_000_000 else None

    kpi = wait_until(observed, 30, interval=0.5, what="5 s of band KPIs observed")
    span = kpi["observed_ns"] - k0["observed_ns"]
    # seed 003 §1.2: in the band 99.8 % and two-sided 99.9 % of the time, 99.95 % of orders at the
    # minimum value, fills under 0.5 % of orders placed, price changes answered within 100 ms
    assert (kpi["in_band_ns"] - k0["in_band_ns"]) / span >= 0.998, (k0, kpi)
    assert (kpi["two_sided_ns"] - k0["two_sided_ns"]) / span >= 0.999, (k0, kpi)
    assert kpi["min_value_share"] >= 0.9995
    assert kpi["fill_ratio"] < 0.005, kpi
    out = subprocess.run([str(Path(sys.executable).parent / "mmctl"), "status", "--json"], env=c.env,
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    band = next(r for r in rows if r["service"] == "strategy")["detail"]["ETHUSDC_band"]
    assert band.startswith("in_band=") and "adjust<=100ms=" in band  # the five KPIs in mmctl status


def test_a_calendar_rule_that_becomes_active_changes_the_quoted_symbols_by_reload(
    band_cluster: Cluster,
) -> None:
    """A rule active now, added to the config file while the stack runs: the recorder sees the
    active set change and reloads the services; BTCUSDC stops quoting, ETHUSDC goes on; the rule
    removed, BTCUSDC quotes again."""
    c = band_cluster
    wait_until(lambda: recorder_up(c), 30, what="recorder up")
    wait_until(lambda: c.open_orders("BTCUSDC") and c.open_orders("ETHUSDC"), 40, what="both symbols quoted")
    cfg = c.tmp / "cluster.toml"
    before = cfg.read_text()
    cfg.write_text(before + '\n[[schedule.rules]]\nname = "eth-only"\nsymbols = ["ETHUSDC"]\n')
    wait_until(lambda: c.open_orders("BTCUSDC") == [], 20, what="BTCUSDC quotes withdrawn")
    assert c.open_orders("ETHUSDC"), "ETHUSDC still quoted"
    log = (c.run_dir / "logs" / "recorder.log").read_text()
    assert "calendar_change" in log and "after=eth-only" in log
    cfg.write_text(before)
    wait_until(lambda: c.open_orders("BTCUSDC"), 30, what="BTCUSDC quoted again once the rule is gone")


def test_a_stop_loss_breach_ends_flat_with_no_open_order(band_cluster: Cluster) -> None:
    c, sym = band_cluster, "BTCUSDC"
    # 0.005 BTC (~305 USDC) bought, then the price shocked 5 % down: a ~15 USDC loss, past −3
    r = c.signed("POST", "/fapi/v1/order", symbol=sym, side="BUY", type="MARKET", quantity="0.005")
    assert r.get("orderId"), r
    t0 = time.monotonic()
    c.fault(shock={"symbol": sym, "pct": -0.05})
    wait_until(
        lambda: any(
            isinstance(m, RiskEvent) and m.rule == "stop_loss" and m.symbol == sym
            for t, m in c.heard.since(t0, "risk.event")
        ),
        20,
        what="the stop loss",
    )

    def flat() -> bool:
        pos = [p for p in c.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == sym]
        return (not pos or Decimal(pos[0]["positionAmt"]) == 0) and c.open_orders(sym) == []

    wait_until(flat, 30, what="flat with no open order")
    time.sleep(2.0)
    assert flat()  # and it stays so: halted until an operator resumes
    st = c.heard.of("risk.state", RiskState)[-1]
    assert st.symbols[sym].mode == "halted"


def _position(c: Cluster, sym: str) -> Decimal:
    rows = [p for p in c.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == sym]
    return Decimal(rows[0]["positionAmt"]) if rows else Decimal(0)


def test_a_timed_session_ends_itself_flat_with_its_files_across_a_recorder_restart(
    band_cluster: Cluster,
) -> None:
    c = band_cluster
    wait_until(lambda: recorder_up(c), 30, what="recorder up")
    wait_until(lambda: len(c.open_orders("ETHUSDC")) > 0, 40, what="quotes resting")
    r = c.signed("POST", "/fapi/v1/order", symbol="ETHUSDC", side="BUY", type="MARKET", quantity="0.050")
    assert r.get("orderId"), r
    code, started = mmctl(c, "session", "start", "--duration", "8s", "--flatten-at-end")
    assert code == 0 and started["state"] == "running" and started["flatten_at_end"], started
    c.kill("recorder", signal.SIGKILL)  # the timer lives on disk
    c.start("recorder")
    wait_until(lambda: recorder_up(c), 30, what="recorder back")

    def ended() -> dict | None:  # type: ignore[type-arg]
        code, st = mmctl(c, "session", "status")
        return st if code == 0 and st["state"] == "ended" else None

    st = wait_until(ended, 90, interval=1.0, what="the session ended")
    assert st["outcome"].startswith("flat, no open order"), st
    assert c.open_orders("ETHUSDC") == [] and c.open_orders("BTCUSDC") == []
    assert _position(c, "ETHUSDC") == 0
    folder = Path(st["folder"])
    assert (folder / "report" / "report.md").read_text().startswith("#")
    proms = list((folder / "metrics").glob("*.prom"))
    assert len(proms) >= 6 and all("mm_service_up" in p.read_text() for p in proms), proms
    assert (folder / "logs" / "gateway.log").stat().st_size > 0
    wait_until(lambda: c.open_orders("ETHUSDC") == [], 5, what="still nothing quoted (paused)")
    code, again = mmctl(c, "session", "stop")
    assert code == 1 and again is None  # nothing running to stop
