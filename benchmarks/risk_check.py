"""Risk check latency: from a strategy target of 24 layers a side to the approved set, in process.

ETHUSDC quotes a 24-layer ladder a side (0.009 each) around a random-walk mid, so most targets
move every layer; BTCUSDC rests a small ladder beside it so the global room has another symbol to
count; now and then a fill moves the position and the shell ticks the engine, as in the service.
Every rule runs at every check; netMax (1.0) and singleMax (0.06) keep the whole ladder. Two limit
sets: the seeds' churn budget (under 20 actions a second and 50 cancels a minute, so most targets
take the partial-merge path) and a budget that never binds. Timed per call: ``check()`` alone.

    .venv/bin/python benchmarks/risk_check.py [--checks 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.messages import Quote
from common.metrics import latency_summary
from common.params.risk import RiskParams
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import T0_NS, feed_market, fill, ladder, ready_engine, target

LAYERS = 24
TICK = Decimal("0.01")
LIMITS = {
    "seed churn budget": {"netMax": 1.0, "singleMax": 0.06},
    "budget never binds": {
        "netMax": 1.0,
        "singleMax": 0.06,
        "maxActionsPerSecond": 10**6,
        "maxCancelsPerMinute": 10**6,
    },
}


def engine(symbol_limits: dict[str, float]) -> RiskEngine:
    """An engine past its rebuild with BTCUSDC's resting ladder already approved."""
    params = RiskParams.model_validate({"symbols": {"ETHUSDC": symbol_limits, "BTCUSDC": {}}})
    e = ready_engine(params)
    e.check(target("BTCUSDC", ladder("BTCUSDC", "61000.0", 3, "0.001")), T0_NS)
    return e


def scenario(n: int, seed: int) -> list[tuple[int, list[Quote], Decimal]]:
    """``n`` (time, quotes, fill) steps 50 ms apart; ``fill`` is a signed size, 0 for none."""
    rng = random.Random(seed)
    ticks, out = 268_000, []
    for i in range(n):
        ticks += rng.choice((-2, -1, 0, 1, 2))
        quotes = ladder("ETHUSDC", ticks * TICK, LAYERS, "0.009", gap_ticks=rng.randint(4, 6))
        size = Decimal(rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 3, -3))) / 1000
        out.append((T0_NS + (i + 1) * 50_000_000, quotes, size))
    return out


def time_checks(e: RiskEngine, steps: list[tuple[int, list[Quote], Decimal]]) -> dict[str, float]:
    """Per-call latency (µs) percentiles, throughput, and what the approvals kept."""
    lat, kept, trade = [], 0, 0
    for i, (now, quotes, size) in enumerate(steps):
        mid = quotes[0].price + quotes[1].price
        feed_market(e, "ETHUSDC", mid / 2, now)
        feed_market(e, "BTCUSDC", "61000.0", now)
        if size:
            trade += 1
            e.on_fill(fill("ETHUSDC", "BUY" if size > 0 else "SELL", mid / 2, abs(size), trade, ts=now))
            e.tick(now)
        tq = target("ETHUSDC", quotes, target_id=i + 1, ts=now)
        t0 = time.perf_counter_ns()
        out = e.check(tq, now)
        lat.append(time.perf_counter_ns() - t0)
        kept += len(out.targets[0].quotes)
    st, n = latency_summary(lat), len(lat)
    return {
        "p50": st["p50_us"],
        "p99": st["p99_us"],
        "max": st["max_us"],
        "rate": n / (sum(lat) / 1e9),
        "kept": kept / n,
    }


def in_process(checks: int, seed: int) -> None:
    """Section 1: the pure engine in this process."""
    steps = scenario(checks, seed)
    print(f"in-process check(), ETHUSDC {LAYERS} layers a side, {checks} targets 50 ms apart")
    print(f"{'limits':<20} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'checks/s':>10} {'kept':>6}")
    for name, limits in LIMITS.items():
        time_checks(engine(limits), steps[: min(2000, checks)])  # warm-up
        r = time_checks(engine(limits), steps)
        print(
            f"{name:<20} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['rate']:>10,.0f} "
            f"{r['kept']:>6.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=20_000, help="targets checked per limit set")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    in_process(args.checks, args.seed)


if __name__ == "__main__":
    main()
