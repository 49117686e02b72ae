"""Calibrate the synthetic market from a recording in the format of ``shared/data/binance``.

Measures, from the recorded trades and book: the trade-arrival intensity λ(δ) = A·e^(−kδ) per
side, with the very estimator the marketdata service runs live
(:class:`~services.marketdata.intensity.IntensityEstimator`, over the whole file: every 100 ms,
each side's deepest trade from the mid at the interval's start), the mid's volatility per
√second, the typical size of the top levels, and the usual spread. Prints TOML for a
``[[simvenue.symbols]]`` entry, whose ``intensity_a`` is per side as the synthetic market uses it.

    .venv/bin/python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --tick 0.01
    .venv/bin/python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --compare

``--compare`` sets the recording against the synthetic market over the same span (spread, top
size, taker rate and sizes, sweeps, clustering, impact; :mod:`services.backtest.market_stats`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
from dataclasses import dataclass

from services.marketdata.intensity import IntensityConfig, IntensityEstimator

MS = 1_000_000


@dataclass
class Calibration:
    intensity_a: float
    intensity_k: float
    sigma: float
    level_qty: float
    spread_ticks: int
    seconds: float
    intensity_a_bid: float = 0.0
    intensity_a_ask: float = 0.0


def calibrate(path: str, tick: float, interval_ms: int = 100) -> Calibration:
    mids: list[tuple[int, float]] = []
    tops: list[float] = []
    spreads: list[int] = []
    est = IntensityEstimator(
        IntensityConfig(sample_interval_s=interval_ms / 1000, window_s=30 * 86400.0, refit_interval_s=1e12)
    )
    first_ns = last_ns = 0
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
                t = int(data["E"]) * MS
                mids.append((data["E"], mid))
                tops.append(float(data["B"]) + float(data["A"]))
                spreads.append(round((a - b) / tick))
                est.on_mid(mid / tick, t)
            elif stream.endswith(("@trade", "@aggTrade")):
                t = int(data["T"]) * MS
                est.on_trade(float(data["p"]) / tick, not data["m"], t)
            else:
                continue
            first_ns, last_ns = first_ns or t, max(last_ns, t)
    est.advance(last_ns + interval_ms * MS)
    if not est.refit():
        raise ValueError(f"{path}: not enough trades to fit the intensity on each side")
    rets, last_t, last_m = [], 0, 0.0
    for t_ms, m in mids:
        if t_ms - last_t >= 1000:
            if last_m:
                rets.append(math.log(m / last_m) / math.sqrt((t_ms - last_t) / 1000))
            last_t, last_m = t_ms, m
    return Calibration(
        est.a, est.k, statistics.pstdev(rets), statistics.median(tops) / 4, int(statistics.median(spreads)),
        est.samples * interval_ms / 1000, est.a_bid, est.a_ask,
    )  # fmt: skip


def compare_with_synthetic(path: str, symbol: str, venue_symbol: str, seed: int) -> str:
    """The recorded market against the simulated venue's synthetic one over the same span, the
    statistics of :mod:`services.backtest.market_stats` side by side."""
    from common.config import load_settings
    from services.backtest.api import SYNTHETIC_START_NS, load
    from services.backtest.data import synthetic
    from services.backtest.market_stats import compare, measure, render

    settings = load_settings()
    cfg = next((s for s in settings.simvenue.symbols if s.symbol == venue_symbol), None)
    if cfg is None:
        raise SystemExit(f"--venue-symbol {venue_symbol}: not a simvenue symbol")
    md = load(path, symbol, settings)
    real = measure(md)
    synth = measure(synthetic(cfg, md.span_s, SYNTHETIC_START_NS, settings.simvenue.step_ms, seed))
    head = f"{path} ({symbol}, {md.span_s:.0f} s) against the synthetic {venue_symbol} (seed {seed})"
    return head + "\n" + render(compare(real, synth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--tick", type=float, default=0.01)
    ap.add_argument("--compare", action="store_true", help="real against synthetic, side by side")
    ap.add_argument("--symbol", default="ETHUSDT", help="the recording's symbol (with --compare)")
    ap.add_argument("--venue-symbol", default="ETHUSDC", help="the synthetic symbol (with --compare)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.compare:
        try:
            print(compare_with_synthetic(args.path, args.symbol, args.venue_symbol, args.seed))
        except ValueError as exc:  # no such file, not a recording, a bad configuration
            raise SystemExit(f"calibrate --compare: {exc}") from None
        return
    c = calibrate(args.path, args.tick)
    print(f"# calibrated from {args.path} ({c.seconds:.0f} s)")
    print(f"intensity_a = {c.intensity_a:.4f}   # market orders per second and side reaching the touch")
    print(f"# per side: bids (sells) {c.intensity_a_bid:.4f}, asks (buys) {c.intensity_a_ask:.4f}")
    print(f"intensity_k = {c.intensity_k:.4f}   # per tick")
    print(f"sigma = {c.sigma:.3e}   # per sqrt(second)")
    print(f'level_qty = "{c.level_qty:.3f}"   # typical size of one top level')
    print(f"spread_ticks = {max(1, c.spread_ticks)}")


if __name__ == "__main__":
    main()
