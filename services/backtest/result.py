"""A backtest's typed result: the summary, the tables as Arrow (to pandas or polars in one call), Parquet
files and PNG plots.

    res = run(...)                       # services.backtest.run
    res.summary["pnl"]                   # the figures of services.backtest.record
    res.table("fills").to_pandas()       # or polars.from_arrow(res.table("fills"))
    res.save(Path("out"))                # summary.json, <table>.parquet, equity/inventory/quotes.png
    res.figure("quotes")                 # a matplotlib Figure, shown inline by a notebook

Tables: ``equity`` (ts, mid, position, equity, quoted best bid and ask), ``fills``, ``orders``
(every order state), ``decisions`` (every decision with its inputs), ``events`` (risk events and
refusals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from services.backtest.record import Recorder

TABLES = ("equity", "fills", "orders", "decisions", "events")
PLOTS = ("equity", "inventory", "quotes")


@dataclass(slots=True)
class Result:
    record: Recorder
    summary: dict[str, Any]
    config: dict[str, Any]

    def table(self, name: str) -> pa.Table:
        r = self.record
        if name == "equity":
            names = ["ts_ns", "mid", "position", "equity", "quote_bid", "quote_ask"]
            return pa.table({n: [row[i] for row in r.samples] for i, n in enumerate(names)})
        if name == "events":
            names = ["ts_ns", "kind", "detail"]
            return pa.table({n: [row[i] for row in r.events_log] for i, n in enumerate(names)})
        rows = {"fills": r.fills, "orders": r.orders, "decisions": r.decisions}[name]
        keys = list(dict.fromkeys(k for row in rows for k in row))  # every column, first-seen order
        return pa.table({k: [row.get(k) for row in rows] for k in keys})

    def save(self, out: Path) -> list[Path]:
        """Write the summary, every table and every plot into ``out``; the files written."""
        out.mkdir(parents=True, exist_ok=True)
        files = [out / "summary.json"]
        doc = {"summary": self.summary, "config": self.config}
        files[0].write_text(json.dumps(doc, indent=2, default=str))
        for name in TABLES:
            path = out / f"{name}.parquet"
            pq.write_table(self.table(name), path)
            files.append(path)
        for name in PLOTS:
            path = out / f"{name}.png"
            fig = self.figure(name)
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            files.append(path)
        return files

    def figure(self, name: str) -> Figure:
        """One plot as a matplotlib Figure (no pyplot state: safe in scripts and notebooks)."""
        s = np.asarray(self.record.samples, dtype=np.float64).reshape(-1, 6)
        t = (s[:, 0] - self.record.t0_ns) / 1e9 if len(s) else s[:, 0]
        fig = Figure(figsize=(10, 4.2))
        ax = fig.add_subplot(1, 1, 1)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("seconds from the start")
        sym = self.record.symbol
        if name == "equity":
            ax.set_title(f"{sym}: PnL after fees (cash + position × mid)")
            ax.plot(t, s[:, 3] - float(self.record.balance), linewidth=1.0)
            ax.set_ylabel("quote asset")
        elif name == "inventory":
            ax.set_title(f"{sym}: position")
            ax.step(t, s[:, 2], where="post", linewidth=1.0)
            ax.axhline(0, color="black", linewidth=0.6)
            ax.set_ylabel("base asset")
        elif name == "quotes":
            ax.set_title(f"{sym}: best quoted bid and ask against the venue's mid, with fills")
            ax.plot(t, s[:, 1], color="black", linewidth=0.8, label="mid")
            bid = np.where(s[:, 4] > 0, s[:, 4], np.nan)
            ask = np.where(s[:, 5] > 0, s[:, 5], np.nan)
            ax.step(t, bid, where="post", color="tab:green", linewidth=0.8, label="our best bid")
            ax.step(t, ask, where="post", color="tab:red", linewidth=0.8, label="our best ask")
            for side, colour, mark in (("BUY", "tab:green", "^"), ("SELL", "tab:red", "v")):
                fl = [f for f in self.record.fills if f["side"] == side]
                if fl:
                    ft = [(f["ts_ns"] - self.record.t0_ns) / 1e9 for f in fl]
                    ax.scatter(ft, [float(f["price"]) for f in fl], color=colour, marker=mark, s=25,
                               label=f"{side.lower()} fills", zorder=3)  # fmt: skip
            ax.set_ylabel("price")
            ax.legend(fontsize=8)
        else:
            raise ValueError(f"unknown plot {name!r}; one of {', '.join(PLOTS)}")
        return fig
