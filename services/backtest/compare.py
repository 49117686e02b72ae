"""Does the strategy earn? ASMM (GLFT and Avellaneda–Stoikov reservation) against a symmetric
fixed-spread baseline at a matched fill count, and the passive band's KPIs against seed 003's
targets, on one market (the recorded ETHUSDT file by default). Prints the README's table.

    .venv/bin/python -m services.backtest.compare [--data PATH] [--symbol ETHUSDT] [--markdown]

The baseline quotes ASMM's base size at the best bid − n and best ask + n ticks every 100 ms
within ±5 lots (:class:`~services.backtest.fixed.FixedQuoter`); n is the one of :data:`OFFSETS`
whose fill count is nearest the GLFT run's. Every run: entry and response latency 1 ms, feed latency from the
data, risk-averse queues, maker fee 0, taker 0.0004.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.config import load_settings
from services.backtest.api import load, run, with_strategy
from services.backtest.engine import Backtest, BacktestConfig, Latency, for_symbol
from services.backtest.fixed import FixedQuoter, reference_settings

ROOT = Path(__file__).resolve().parent.parent.parent
RECORDED = ROOT / "data" / "binance" / "usdm_ethusdt_20240808.gz"
MS = 1_000_000
OFFSETS = (0, 5, 10, 20, 30, 40, 60, 80, 120)
"""The baseline's distances from the touch tried (ticks); ASMM's floor alone is ~80 ticks here."""
SEED_003 = {"time_in_band": 0.998, "two_sided_time": 0.999, "min_value_share": 0.9995, "fill_ratio": 0.005}
"""Seed 003 §1.2: in band > 99.8 %, two-sided > 99.9 %, orders of minimum value > 99.95 %,
passive fill ratio < 0.5 %."""
COLUMNS = ("pnl", "fills", "filled_qty", "pnl_per_inventory_risk", "max_drawdown", "maker_share",
           "spread_captured_bps", "markout_1s_bps", "markout_5s_bps", "markout_30s_bps",
           "markout_5s_layer0_bps", "fills_by_layer", "publications_per_min", "places_per_min",
           "modifies_per_min", "venue_cancels_per_min")  # fmt: skip


def _baseline(data: Path, symbol: str, lot: Decimal, offset: int) -> dict[str, Any]:
    s = reference_settings(for_symbol(load_settings(), symbol, "ETHUSDC"), symbol)
    md = load(data, symbol, s)
    cfg = BacktestConfig(settings=s, latency=Latency(entry_ns=MS, response_ns=MS, feed_from_data=True),
                         taker_fee=Decimal("0.0004"), use_risk=False)  # fmt: skip
    summary = Backtest(md, cfg, strategy=FixedQuoter(symbol, lot, offset, 5)).run().summary()
    return summary


def table(
    data: Path = RECORDED, symbol: str = "ETHUSDT"
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """The rows (name, summary) and the passive band's KPI figures."""
    glft = run(data, symbol, "asmm", {"asmm.reservation.variant": "glft"}).summary
    a_s = run(data, symbol, "asmm", {"asmm.reservation.variant": "avellaneda_stoikov"}).summary
    base = with_strategy(load_settings(), symbol, "ETHUSDC", "asmm", {}).strategy.symbols[symbol]
    lot = Decimal(str(base.asmm.base_size))
    tries = [(n, _baseline(data, symbol, lot, n)) for n in OFFSETS]
    n, fixed = min(tries, key=lambda t: abs(t[1]["fills"] - glft["fills"]))
    band = run(data, symbol, "passive_band").summary
    kpi = {k: band.get(f"band_{k}") for k in SEED_003}
    rows = [
        ("ASMM, GLFT reservation", glft),
        ("ASMM, Avellaneda–Stoikov reservation", a_s),
        (f"symmetric fixed spread, {n} ticks off the touch (fills matched)", fixed),
    ]
    return rows, kpi


def render(rows: list[tuple[str, dict[str, Any]]], kpi: dict[str, Any], markdown: bool) -> str:
    head = ["run", *COLUMNS]
    lines = []
    if markdown:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join([name, *(str(s.get(c)) for c in COLUMNS)]) + " |" for name, s in rows]
    else:
        lines += ["  ".join(head)] + [
            "  ".join([name, *(str(s.get(c)) for c in COLUMNS)]) for name, s in rows
        ]
    lines.append("")
    for name, s in rows[:2]:  # the share of decisions in which each overlay acted
        acted = [f"{k[7:]} {v:.1%}" for k, v in sorted(s.items()) if k.startswith("active_") and v]
        lines.append(f"overlay shares of decisions, {name}: " + (", ".join(acted) or "none"))
    lines.append("")
    lines.append("passive band KPIs (seed 003 targets): " + ", ".join(
        f"{k} {kpi.get(k)} (target {'<' if k == 'fill_ratio' else '>'} {v})" for k, v in SEED_003.items()
    ))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=RECORDED)
    ap.add_argument("--symbol", default="ETHUSDT")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows, kpi = table(args.data, args.symbol)
    print(render(rows, kpi, args.markdown))


if __name__ == "__main__":
    main()
