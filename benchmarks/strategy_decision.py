"""Strategy decision latency: from a Features message to a complete Decision, in process.

Each model quotes ETHUSDC with 24 layers a side (ASMM and Phase 2 with a ladder whose every layer
passes the minimum notional and a netMax wide enough to keep them all). The inputs vary from call to
call (a random-walk touch, spread, volatility and position, so pinning, grinding, momentum and
anti-flicker all take their turns) and the state flows from one decision to the next, as in the
service. Timed per call: building ``StrategyInputs`` from the Features plus ``decide()``.

    .venv/bin/python benchmarks/strategy_decision.py [--decisions 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.messages import Features
from common.metrics import latency_summary
from common.params.strategy import SymbolStrategy, params_version
from services.strategy.engine import StrategyInputs, decide
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, instrument

LADDER = {"baseSize": 0.02, "layerSizeDecay": 0.97, "maxLayers": 24}
MODELS: dict[str, dict[str, Any]] = {
    "asmm (A&S)": {"model": "asmm", "asmm": {**LADDER, "reservation": {"variant": "avellaneda_stoikov"}}},
    "asmm (GLFT)": {"model": "asmm", "asmm": LADDER},
    "phase2": {"model": "phase2", "phase2": {**LADDER, "minLayers": 24}},
    "passive_band": {"model": "passive_band"},
    "phase1": {"model": "phase1"},
}


def scenario(n: int, seed: int) -> list[tuple[int, Features, Decimal]]:
    """``n`` (time, features, position) steps 50 ms apart: a random-walk market and a drifting position."""
    rng = random.Random(seed)
    out = []
    ticks, pos = 268_000, 0
    for i in range(n):
        ticks += rng.choice((-2, -1, 0, 0, 1, 2))
        pos = max(-800, min(800, pos + rng.choice((-20, 0, 0, 20))))
        now = T0_NS + i * 50_000_000
        vol = {"10s": rng.uniform(2e-5, 3e-4), "60s": rng.uniform(3e-5, 1.2e-4)}
        f = features(
            ticks / 100, (ticks + rng.randint(1, 3)) / 100, ts_ns=now, vol=vol, imbalance=rng.uniform(-1, 1)
        )
        out.append((now, f, Decimal(pos) / 1000))
    return out


def time_model(params: SymbolStrategy, steps: list[tuple[int, Features, Decimal]]) -> dict[str, float]:
    """Per-call latency (µs) percentiles, throughput, quotes per decision and the publish share."""
    inst, version, state = instrument("ETHUSDC"), params_version(params), StrategyState()
    lat, quotes, published = [], 0, 0
    entry = Decimal("2680")
    t_start = time.perf_counter_ns()
    for now, f, pos in steps:
        t0 = time.perf_counter_ns()
        inputs = StrategyInputs(
            symbol="ETHUSDC", now_ns=now, features=f, instrument=inst, position=pos, entry_price=entry
        )
        d = decide(inputs, params, state, version)
        lat.append(time.perf_counter_ns() - t0)
        state = d.state
        quotes += len(d.quotes)
        published += d.publish
    total_s = (time.perf_counter_ns() - t_start) / 1e9
    st, n = latency_summary(lat), len(lat)
    return {
        "p50": st["p50_us"],
        "p99": st["p99_us"],
        "max": st["max_us"],
        "rate": n / total_s,
        "quotes": quotes / n,
        "published": published / n,
    }


def in_process(decisions: int, seed: int) -> None:
    """Section 1: the pure engine in this process, every model."""
    steps = scenario(decisions, seed)
    print(f"in-process decide(), ETHUSDC, {decisions} decisions with varying inputs")
    head = f"{'model':<14} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'decisions/s':>12}"
    print(f"{head} {'quotes':>7} {'published':>10}")
    for name, raw in MODELS.items():
        params = SymbolStrategy.model_validate({"netMax": 1.0, **raw})
        time_model(params, steps[: min(2000, decisions)])  # warm-up
        r = time_model(params, steps)
        print(
            f"{name:<14} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['rate']:>12,.0f} "
            f"{r['quotes']:>7.1f} {r['published']:>9.1%}"
        )


def service_section(seconds: float) -> None:
    """The running service: from an md.features message's arrival in the strategy to the target it
    caused leaving the socket, with every layer the seeds allow (quote interval 0: every message)."""
    if seconds <= 0:
        return
    import tempfile

    from common.messages import GetSnapshot
    from tests.cluster import Cluster
    from tests.helpers import wait_until

    overlay = "\n".join(
        f"[strategy.symbols.{s}]\nquoteIntervalMs = 0\n[strategy.symbols.{s}.asmm]\nbaseSize = {b}\n"
        f"layerSizeDecay = 0.97\n"
        for s, b in (("ETHUSDC", 0.02), ("BTCUSDC", 0.002))
    )
    with tempfile.TemporaryDirectory() as d, Cluster(Path(d), overlay) as c:
        c.start("venue", "marketdata", "gateway", "risk", "strategy")

        def count() -> int:
            return int((c.request("strategy", GetSnapshot(what="latency")).result or {}).get("count", 0))

        wait_until(lambda: count() > 0, 60)
        time.sleep(seconds)
        r = c.request("strategy", GetSnapshot(what="latency")).result
        t = c.request("strategy", GetSnapshot(what="targets")).result
    layers = {s: len(v["quotes"]) if v else 0 for s, v in t.items()}
    print(f"running service ({seconds:.0f} s, quotes per target {layers}):")
    print("  md.features arrival -> strategy.target sent")
    print(f"  {r['count']:,} decisions   p50 {r['p50_us']:7.1f} µs   p99 {r['p99_us']:7.1f} µs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=20_000, help="decisions per model")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--service-seconds", type=float, default=20.0, help="running-service section; 0 skips it")
    args = ap.parse_args()
    in_process(args.decisions, args.seed)
    service_section(args.service_seconds)


if __name__ == "__main__":
    main()
