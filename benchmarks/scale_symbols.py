"""Scale: the stack quoting 1, 4, 8 and 15 symbols on the synthetic market, side by side.

For each count, the venue lists the symbols (its catalogue: SOL, BNB, XRP, DOGE, ... in USDC),
marketdata, strategy, risk, gateway and the recorder run as separate processes, and once every
symbol has approved quotes a window of ``--seconds`` is measured:

  * per service: CPU % (of one core, from /proc over the window) and RSS at its end (MB);
  * tick to wire p50 / p99 (the trace of ``benchmarks/tick_to_wire.py``);
  * messages a second per topic family (md, strategy, risk, oms) heard on the bus;
  * the store's and the lake's growth, MB per symbol-hour.

Each symbol gets the ETHUSDC defaults scaled by notional (sizes, caps, VPIN buckets). The product's
default cadence (features every 100 ms, a decision at most every 500 ms); ``--eager`` takes
tick_to_wire's (a decision on every features message).

    .venv/bin/python benchmarks/scale_symbols.py [--counts 1,4,8,15] [--seconds 20] [--step-ms 50]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.tick_to_wire import floor, header, join, line, samples, start
from common.config_sections import CATALOGUE, same_notional
from common.metrics import percentile
from tests.cluster import Cluster

ORDER = ["ETHUSDC", "BTCUSDC"] + [f"{b}USDC" for b in CATALOGUE]
SERVICES = ("venue", "marketdata", "strategy", "risk", "gateway", "recorder")
FAMILIES = ("md.", "strategy.", "risk.", "oms.")
CLK = os.sysconf("SC_CLK_TCK")


def qty(symbol: str, eth_qty: str) -> str:
    """ETHUSDC's size ``eth_qty`` at the same notional on ``symbol``'s step."""
    if symbol == "ETHUSDC":
        return eth_qty
    if symbol == "BTCUSDC":
        return str(same_notional(eth_qty, Decimal(61000), Decimal("0.001")))
    _, step, _, price = CATALOGUE[symbol.removesuffix("USDC")]
    return str(same_notional(eth_qty, Decimal(price), Decimal(step)))


def overlay(symbols: list[str]) -> tuple[str, dict[str, str]]:
    """Each catalogue symbol gets ETHUSDC's defaults at the same notional: the overlay, and the
    lines of each symbol's strategy table."""
    out, strategy = "", {}
    for s in symbols:
        if s not in ("ETHUSDC", "BTCUSDC"):
            strategy[s] = f"netMax = {qty(s, '0.21')}\n"
            out += f"[strategy.symbols.{s}.asmm]\nbaseSize = {qty(s, '0.009')}\n"
            out += f"[risk.params.symbols.{s}]\nnetMax = {qty(s, '0.21')}\nsingleMax = {qty(s, '0.06')}\n"
    caps = ", ".join(f"{s} = {qty(s, '0.5')}" for s in symbols)
    buckets = "".join(f"{s} = {qty(s, '50')}\n" for s in symbols)
    out += f"[gateway.params.caps]\nmax_position = {{ {caps} }}\n"
    out += "[recorder]\nlake_rotate_s = 5.0\n"  # parts written within the window, so the lake's growth shows
    return out + f"[marketdata.vpin_bucket_qty]\n{buckets}", strategy


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


def size_mb(path: Path) -> float:
    """A directory's files in MB, or an SQLite database's pages in use (what its write-ahead log
    holds included, which the file's size is not until a checkpoint)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    if not path.exists():
        return 0.0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pages = (
            con.execute("pragma page_count").fetchone()[0]
            - con.execute("pragma freelist_count").fetchone()[0]
        )
        return float(pages * con.execute("pragma page_size").fetchone()[0]) / 2**20
    finally:
        con.close()


def measure(n: int, seconds: float, step_ms: int, eager: bool) -> dict[str, object]:
    symbols = ORDER[:n]
    with tempfile.TemporaryDirectory() as d:
        extra, strategy = overlay(symbols)
        c: Cluster = start(Path(d), symbols, step_ms, extra, strategy, True, eager, FAMILIES)
        try:
            pids = {s: c.procs[s].pid for s in SERVICES}
            store, lake = c.run_dir / "recorder.sqlite", c.run_dir / "lake"
            t0, w0 = time.time_ns(), time.monotonic()
            ticks0 = {s: cpu_ticks(p) for s, p in pids.items()}
            store0, lake0 = size_mb(store), size_mb(lake)
            time.sleep(seconds)  # the measuring window
            wall = time.monotonic() - w0
            cpu = {s: (cpu_ticks(p) - ticks0[s]) / CLK / wall * 100 for s, p in pids.items()}
            rss = {s: rss_mb(p) for s, p in pids.items()}
            grow = (size_mb(store) - store0, size_mb(lake) - lake0)
            stages = join(c, t0)
            rates = {f: sum(1 for _ in c.heard.since(w0, f)) / wall for f in FAMILIES}
            feats = sum(1 for t, _ in c.heard.since(w0, "md.features.")) / wall
            payloads = samples(c)
        finally:
            c.stop()
    per_sym_hour = 3600 / wall / n
    total = sorted(stages["total"])
    return {
        "n": n, "cpu": cpu, "rss": rss, "rates": rates, "traced": len(total),
        "p50": percentile(total, 0.5) / 1e3 if total else float("nan"),
        "p99": percentile(total, 0.99) / 1e3 if total else float("nan"),
        "store": grow[0] * per_sym_hour, "lake": grow[1] * per_sym_hour,
        "payloads": payloads, "features_rate": feats, "total": total,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="1,4,8,15")
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring window per count")
    ap.add_argument("--step-ms", type=int, default=50, help="the synthetic market's step")
    ap.add_argument(
        "--eager", action="store_true", help="tick_to_wire's settings: decide on every features message"
    )
    args = ap.parse_args()
    rows = [measure(int(n), args.seconds, args.step_ms, args.eager) for n in args.counts.split(",")]
    how = (
        "a decision on every features message"
        if args.eager
        else "the product's defaults (a decision at most every 500 ms)"
    )
    print(f"scale: synthetic market at {args.step_ms} ms a step, {args.seconds:.0f} s windows, {how}")
    for what, key, unit in (("CPU % of one core", "cpu", "cpu%"), ("RSS at the window's end", "rss", "MB")):
        print(f"{'symbols':>7} " + " ".join(f"{s[:5] + ' ' + unit:>11}" for s in SERVICES) + f"   ({what})")
        for r in rows:
            vals: dict[str, float] = r[key]  # type: ignore[assignment]
            print(f"{r['n']:>7} " + " ".join(f"{vals[s]:>11.1f}" for s in SERVICES))
    fams = " ".join(f"{f + ' msg/s':>13}" for f in FAMILIES)
    print(f"{'symbols':>7} {'t2w p50 us':>11} {'t2w p99 us':>11} {'traced':>7} {fams} {'store MB/sym-h':>15} "
          f"{'lake MB/sym-h':>14}")  # fmt: skip
    for r in rows:
        rates: dict[str, float] = r["rates"]  # type: ignore[assignment]
        per = " ".join(f"{rates[f]:>13.0f}" for f in FAMILIES)
        print(f"{r['n']:>7} {r['p50']:>11.0f} {r['p99']:>11.0f} {r['traced']:>7} {per} {r['store']:>15.1f} "
              f"{r['lake']:>14.1f}")  # fmt: skip

    # the floor, in the same run: the raw chain carrying the largest run's messages at its rate
    last = rows[-1]
    rate = max(float(last["features_rate"]), 50.0)  # type: ignore[arg-type]
    raw = floor(last["payloads"], 3000, rate)  # type: ignore[arg-type]
    print(header())
    print(line(f"tick to wire at {last['n']} symbols", last["total"]))  # type: ignore[arg-type]
    print(line(f"floor: raw 4-process chain at {rate:.0f} msg/s", raw))
    p50 = percentile(sorted(raw), 0.5)
    print("ratio to the floor, p50: " + ", ".join(
        f"{r['n']} symbols {float(r['p50']) * 1e3 / p50:.0f}x" for r in rows))  # type: ignore[arg-type]  # fmt: skip


if __name__ == "__main__":
    main()
