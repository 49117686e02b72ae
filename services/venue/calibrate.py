"""Calibrate the synthetic market from a recording in the format of ``shared/data/binance``.

Measures, from the recorded trades and book: the trade-arrival intensity λ(δ) = A·e^(−kδ)
(every 100 ms, the deepest trade price from the mid in force, in ticks; for each depth the
share of intervals reaching it, per second; least squares of log λ on δ), the mid's volatility
per √second, the typical size of the top levels, and the usual spread. Prints TOML for a
``[[simvenue.symbols]]`` entry.

    .venv/bin/python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --tick 0.01
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
from dataclasses import dataclass


@dataclass
class Calibration:
    intensity_a: float
    intensity_k: float
    sigma: float
    level_qty: float
    spread_ticks: int
    seconds: float


def fit_intensity(depths: list[float], seconds: float, max_ticks: int = 60) -> tuple[float, float]:
    """OLS of log λ(δ) on δ; ``depths`` holds each interval's max arrival depth in ticks."""
    xs, ys = [], []
    for d in range(max_ticks):
        count = sum(1 for x in depths if x > d + 0.5)
        if count > 0:
            xs.append(d + 0.5)
            ys.append(math.log(count / seconds))
    if len(xs) < 3:
        raise ValueError("not enough trades to fit the intensity")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - slope * mx), -slope


def calibrate(path: str, tick: float, interval_ms: int = 100) -> Calibration:
    mids: list[tuple[int, float]] = []
    tops: list[float] = []
    spreads: list[int] = []
    depths: list[float] = []
    cur_bucket, cur_max, mid = -1, 0.0, 0.0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, raw = line.partition(" ")
            msg = json.loads(raw)
            data, stream = msg.get("data"), msg.get("stream", "")
            if data is None:
                continue
            if stream.endswith("@bookTicker"):
                b, a = float(data["b"]), float(data["a"])
                mid = (a + b) / 2
                mids.append((data["E"], mid))
                tops.append(float(data["B"]) + float(data["A"]))
                spreads.append(round((a - b) / tick))
            elif stream.endswith("@trade") and mid:
                bucket = data["T"] // interval_ms
                if bucket != cur_bucket:
                    if cur_bucket >= 0:
                        depths.append(cur_max)
                        depths.extend([0.0] * max(0, bucket - cur_bucket - 1))
                    cur_bucket, cur_max = bucket, 0.0
                px = float(data["p"])
                # Depth from the mid in force when the trade printed: the sweep itself, not the
                # drift of the mid over the interval (the synthetic market models that apart).
                d = (mid - px) / tick if data["m"] else (px - mid) / tick
                cur_max = max(cur_max, d)
    seconds = len(depths) * interval_ms / 1000
    a, k = fit_intensity(depths, seconds)
    rets, last_t, last_m = [], 0, 0.0
    for t, m in mids:
        if t - last_t >= 1000:
            if last_m:
                rets.append(math.log(m / last_m) / math.sqrt((t - last_t) / 1000))
            last_t, last_m = t, m
    return Calibration(
        a, k, statistics.pstdev(rets), statistics.median(tops) / 4, int(statistics.median(spreads)), seconds
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--tick", type=float, default=0.01)
    args = ap.parse_args()
    c = calibrate(args.path, args.tick)
    print(f"# calibrated from {args.path} ({c.seconds:.0f} s)")
    print(f"intensity_a = {c.intensity_a:.4f}   # market orders per second reaching the touch")
    print(f"intensity_k = {c.intensity_k:.4f}   # per tick")
    print(f"sigma = {c.sigma:.3e}   # per sqrt(second)")
    print(f'level_qty = "{c.level_qty:.3f}"   # typical size of one top level')
    print(f"spread_ticks = {max(1, c.spread_ticks)}")


if __name__ == "__main__":
    main()
