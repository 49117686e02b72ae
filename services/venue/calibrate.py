"""Calibrate the synthetic market from a recording in the format of ``shared/data/binance``.

Measures, from the recorded trades and book: the trade-arrival intensity λ(δ) = A·e^(−kδ) per
side, with the very estimator the marketdata service runs live
(:class:`~services.marketdata.intensity.IntensityEstimator`, over the whole file: every 100 ms,
each side's deepest trade from the mid at the interval's start), the mid's volatility per
√second, the typical size of the top levels, and the usual spread. Prints TOML for a
``[[simvenue.symbols]]`` entry, whose ``intensity_a`` is per side as the synthetic market uses it.

    .venv/bin/python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --tick 0.01
    .venv/bin/python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --compare

``--compare`` sets the recording against the generated market (over four times its span) (spread, top
size, taker rate and sizes, sweeps, clustering, impact, volatility;
:mod:`services.backtest.market_stats`). ``--flow`` fits the order-flow market
(:mod:`services.venue.market.flow`) to the recording and prints its parameters:

* by moments of the recording: the taker rate per side (half the taker orders a second), the
  Hawkes branching ratio from the dispersion of counts per second (inverting the Hawkes count
  variance over a one-second window for the kernel ``taker_decay_s``), the taker size's median and
  log-scale (from its p50 and p90);
* by simulated moments (the model run over the recording's span, a few rounds, each parameter
  moved towards the figure it governs): the level size (top-of-book size), the refill time (the
  share of taker orders that walk), the impact (the signed move one second after an order) and the
  diffusion (the one-second volatility, what the flow's impact leaves unexplained).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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


SPAN_FACTOR = 4
"""The generated market is measured over this many times the recording's span: its clustered flow
makes a short sample's dispersion and impact vary by ±30 % from seed to seed, and what is compared
is the model, not one draw of it."""


def compare_with_synthetic(path: str, symbol: str, venue_symbol: str, seed: int, model: str = "flow") -> str:
    """The recorded market against the simulated venue's generated one (over ``SPAN_FACTOR`` times
    the recording's span), the statistics of :mod:`services.backtest.market_stats` side by side."""
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
    span = SPAN_FACTOR * md.span_s
    synth = measure(synthetic(cfg, span, SYNTHETIC_START_NS, settings.simvenue.step_ms, seed, model))
    head = (
        f"{path} ({symbol}, {md.span_s:.0f} s) against {span:.0f} s of the {model} market "
        f"{venue_symbol} (seed {seed})"
    )
    return head + "\n" + render(compare(real, synth))


def hawkes_dispersion(n: float, decay_s: float, window_s: float = 1.0) -> float:
    """Variance over mean of a stationary Hawkes process's counts in windows of ``window_s``, for
    an exponential kernel of time constant ``decay_s`` and branching ratio ``n`` (Hawkes 1971:
    the count variance of a window T is mean·[1/(1−n)²]·[1 − (1 − (1−n)²)(1 − e^(−γT))/(γT)],
    γ = (1−n)/decay_s)."""
    g = (1.0 - n) / decay_s * window_s
    return (1.0 / (1.0 - n) ** 2) * (1.0 - (1.0 - (1.0 - n) ** 2) * (1.0 - math.exp(-g)) / g)


def branching_for(dispersion: float, decay_s: float) -> float:
    """The branching ratio whose one-second dispersion is ``dispersion`` (bisection; 0 if ≤ 1)."""
    lo, hi = 0.0, 0.94
    if dispersion <= 1.0:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if hawkes_dispersion(mid, decay_s) < dispersion else (lo, mid)
    return round((lo + hi) / 2, 3)


def calibrate_flow(
    path: str, symbol: str, venue_symbol: str, rounds: int = 6, seed: int = 11
) -> dict[str, Any]:
    """The order-flow market's parameters fitted to the recording (module docstring)."""
    from common.config import load_settings
    from services.backtest.api import SYNTHETIC_START_NS, load
    from services.backtest.data import synthetic
    from services.backtest.market_stats import measure

    settings = load_settings()
    cfg = next((s for s in settings.simvenue.symbols if s.symbol == venue_symbol), None)
    if cfg is None:
        raise ValueError(f"--venue-symbol {venue_symbol}: not a simvenue symbol")
    md = load(path, symbol, settings)
    real = measure(md)
    p50, p90 = real["taker_qty_p50"], real["taker_qty_p90"]
    step = float(cfg.qty_step)
    fit: dict[str, Any] = {
        "taker_rate": round(real["taker_per_s"] / 2, 3),
        "taker_branching": branching_for(real["dispersion"], cfg.taker_decay_s),
        "taker_qty_median": max(1, round(p50 / step)) * cfg.qty_step,
        "taker_qty_sigma": round(math.log(max(p90, p50) / p50) / 1.2816, 3),
        "flow_level_qty": real["top_qty_p50"],
        "refill_s": cfg.refill_s,
        "impact_ticks": cfg.impact_ticks,
        "flow_sigma": cfg.flow_sigma,
    }
    for _ in range(rounds):
        trial = cfg.model_copy(
            update={**fit, "flow_level_qty": Decimal(repr(round(fit["flow_level_qty"], 3)))}
        )
        sim = measure(
            synthetic(trial, 2 * md.span_s, SYNTHETIC_START_NS, settings.simvenue.step_ms, seed, "flow")
        )
        fit["flow_level_qty"] *= real["top_qty_p50"] / max(sim["top_qty_p50"], 1e-9)
        fit["refill_s"] *= (real["walk_share"] / max(sim["walk_share"], 1e-6)) ** 1.5
        fit["impact_ticks"] *= real["impact_1s_ticks"] / max(sim["impact_1s_ticks"], 1e-6)
        var = fit["flow_sigma"] ** 2 + ((real["sigma_1s_bps"] ** 2 - sim["sigma_1s_bps"] ** 2) * 1e-8)
        fit["flow_sigma"] = math.sqrt(max(0.0, var))
    fit["flow_level_qty"] = Decimal(repr(round(fit["flow_level_qty"], 3)))
    fit["refill_s"] = round(fit["refill_s"], 2)
    fit["impact_ticks"] = round(fit["impact_ticks"], 3)
    fit["flow_sigma"] = float(f"{fit['flow_sigma']:.3e}")
    return fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--tick", type=float, default=0.01)
    ap.add_argument("--compare", action="store_true", help="real against synthetic, side by side")
    ap.add_argument("--symbol", default="ETHUSDT", help="the recording's symbol (with --compare)")
    ap.add_argument("--venue-symbol", default="ETHUSDC", help="the synthetic symbol (with --compare)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", choices=("flow", "synthetic"), default="flow", help="the market compared")
    ap.add_argument("--flow", action="store_true", help="fit the order-flow market; print its parameters")
    args = ap.parse_args()
    if args.flow:
        try:
            fit = calibrate_flow(args.path, args.symbol, args.venue_symbol)
        except ValueError as exc:
            raise SystemExit(f"calibrate --flow: {exc}") from None
        print(f'# the order-flow market fitted to {args.path} ({args.symbol}); simvenue.model = "flow"')
        for k, v in fit.items():
            print(f'{k} = "{v}"' if isinstance(v, Decimal) else f"{k} = {v}")
        return
    if args.compare:
        try:
            print(compare_with_synthetic(args.path, args.symbol, args.venue_symbol, args.seed, args.model))
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
