"""``mmctl backtest run``: the live decision code on a recorded or synthetic market, offline.

    mmctl backtest run --data data/binance/usdm_ethusdt_20240808.gz --symbol ETHUSDT --model asmm \\
        [--set gamma=0.05 --set asmm.layers=3 ...] [--entry-ms 1 --response-ms 1] --out out/bt

Prints the summary, writes ``summary.json``, the Parquet tables and the PNG plots into ``--out``.
    mmctl backtest sweep --grid GRID.toml --out out/sweep [--ray-address ADDR] [--workers N]

Exit codes: 0 done, 1 a sweep point failed (its row says why), 2 bad arguments or data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.config import ConfigError, load_settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="run the live decision code on recorded or synthetic market data")
    bsub = p.add_subparsers(dest="backtest_command", required=True)
    r = bsub.add_parser("run", help="one backtest: prints its summary, writes tables and plots")
    r.add_argument("--data", required=True, help='a recorded Binance file (.gz), or "synthetic"')
    r.add_argument("--symbol", default="ETHUSDT", help="the data's symbol (default ETHUSDT)")
    r.add_argument("--model", default="", help="asmm | phase1 | phase2 | passive_band (default: config's)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy parameter (dotted for nested, e.g. asmm.gamma=0.1)")  # fmt: skip
    r.add_argument("--template", default="ETHUSDC", help="symbol whose risk/caps/params a new symbol copies")
    r.add_argument("--seconds", type=float, default=600.0, help="length of a synthetic market")
    r.add_argument("--seed", type=int, default=7, help="seed of a synthetic market")
    r.add_argument("--feed-ms", type=float, default=0.0, help="feed latency added to the data's own")
    r.add_argument("--no-feed-from-data", action="store_true", help="ignore the data's receive times")
    r.add_argument("--entry-ms", type=float, default=1.0, help="order entry latency")
    r.add_argument("--response-ms", type=float, default=1.0, help="answer and user-stream latency")
    r.add_argument(
        "--order-path-from", default="", metavar="RUN_DIR",
        help="draw entry + response from the order round trips a session recorded (run dir or sqlite)",
    )  # fmt: skip
    r.add_argument("--session", default="", help="with --order-path-from: this session's only")
    r.add_argument("--queue", choices=["risk_averse", "power_prob"], default="risk_averse")
    r.add_argument("--maker-fee", default="0", help="maker fee rate (e.g. 0.0002)")
    r.add_argument("--taker-fee", default="0.0004", help="taker fee rate")
    r.add_argument("--out", type=Path, required=True, help="directory for summary, tables and plots")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    w = bsub.add_parser("sweep", help="one backtest per grid point on Ray: a table and a heatmap")
    w.add_argument(
        "--grid", type=Path, required=True, help="the grid file (TOML, see services/backtest/sweep.py)"
    )
    w.add_argument("--out", type=Path, required=True, help="directory for sweep.parquet and heatmap.png")
    w.add_argument("--ray-address", default=None, help="join this Ray cluster (default: a local Ray)")
    w.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--set {pair!r}: expected KEY=VALUE")
        out[key.strip()] = _value(value.strip())
    return out


def run_offline(args: argparse.Namespace) -> int:
    if args.backtest_command == "sweep":
        return _sweep(args)
    from services.backtest import run  # heavy imports only for this command

    try:
        settings = load_settings(args.profile)
        res = run(
            args.data, args.symbol, args.model, _overrides(args.set), settings=settings,
            template=args.template, seconds=args.seconds, seed=args.seed, feed_ms=args.feed_ms,
            feed_from_data=not args.no_feed_from_data, entry_ms=args.entry_ms,
            response_ms=args.response_ms, queue=args.queue, maker_fee=args.maker_fee,
            taker_fee=args.taker_fee, progress=sys.stderr.isatty(),
            order_path_from=args.order_path_from, session=args.session,
        )  # fmt: skip
    except (ConfigError, ValidationError, ValueError, KeyError) as exc:
        print(f"mmctl backtest: {exc}", file=sys.stderr)
        return 2
    files = res.save(args.out)
    if args.json:
        print(json.dumps(res.summary, default=str))
    else:
        width = max(len(k) for k in res.summary)
        for k, v in res.summary.items():
            print(f"{k:<{width}}  {v}")
        print(f"wrote {len(files)} files to {args.out}: {', '.join(f.name for f in files)}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from services.backtest.sweep import load_grid, sweep

    try:
        doc = load_grid(args.grid)
    except ValueError as exc:
        print(f"mmctl backtest sweep: {exc}", file=sys.stderr)
        return 2
    table = sweep(doc, args.out, args.ray_address, args.workers)
    rows = table.to_pylist()
    failed = [r for r in rows if r.get("error")]
    metric = doc.get("metric", "pnl")
    for r in rows:
        params = ", ".join(f"{k}={r[k]}" for k in doc["grid"])
        print(f"{params}: {metric}={r.get(metric)}" + (f"  ERROR {r['error']}" if r.get("error") else ""))
    wrote = f"{args.out / 'sweep.parquet'} and {args.out / 'heatmap.png'}"
    print(f"{len(rows)} runs, {len(failed)} failed; wrote {wrote}")
    return 1 if failed else 0
