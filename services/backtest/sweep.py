"""Parameter sweeps on Ray: one backtest per grid point, gathered into one table and a heatmap.

A grid file (TOML)::

    data = "data/binance/usdm_ethusdt_20240808.gz"   # or "synthetic"
    symbol = "ETHUSDT"
    model = "asmm"
    metric = "pnl"                                    # a summary figure, for the heatmap
    [set]                                             # fixed overrides for every point
    "asmm.maxLayers" = 4
    [run]                                             # keyword arguments of services.backtest.run
    entry_ms = 1.0
    [grid]                                            # every combination runs; the first two
    "asmm.reservation.gamma" = [100, 555, 2000]        # parameters are the heatmap's axes (gamma per USDC)
    "asmm.minSpread" = [0.0002, 0.0006]

``sweep(grid, out, ray_address=None)`` starts a local Ray (``num_cpus`` workers) or joins the
cluster at ``ray_address``; each point is one Ray task running :func:`services.backtest.run`, which
needs the repository importable on every node (``pip install -e .``). It writes
``sweep.parquet`` (one row per point: its parameters, then its summary) and ``heatmap.png``.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.figure import Figure

ALLOWED = {"data", "symbol", "model", "metric", "set", "run", "grid"}


def load_grid(path: Path) -> dict[str, Any]:
    """A grid file, checked: ValueError naming what is wrong."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"grid {path}: {exc}") from None
    return check_grid(doc, str(path))


def check_grid(doc: Mapping[str, Any], where: str = "grid") -> dict[str, Any]:
    unknown = set(doc) - ALLOWED
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(ALLOWED)})")
    if "data" not in doc:
        raise ValueError(f'{where}: no data (a recorded file or "synthetic")')
    grid = doc.get("grid") or {}
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"{where}: [grid] needs at least one parameter with a non-empty list of values")
    return dict(doc)


def points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the file's order."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _one(doc: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """One grid point's run (in a Ray worker): its parameters and summary, or its error."""
    from services.backtest.api import run

    overrides = {**(doc.get("set") or {}), **point}
    try:
        res = run(
            doc["data"],
            doc.get("symbol", "ETHUSDT"),
            doc.get("model", ""),
            overrides,
            **(doc.get("run") or {}),
        )
    except Exception as exc:  # noqa: BLE001 - a bad point is reported in its row, the sweep goes on
        return {**point, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return {**point, **res.summary, "error": ""}


def sweep(
    grid: Mapping[str, Any] | Path,
    out: Path,
    ray_address: str | None = None,
    num_cpus: int | None = None,
) -> pa.Table:
    """Run every point of ``grid`` as a Ray task; write ``sweep.parquet`` and ``heatmap.png``."""
    import ray

    doc = load_grid(grid) if isinstance(grid, Path) else check_grid(grid)
    data = doc["data"]
    if data != "synthetic":  # workers may start elsewhere: give them an absolute path
        doc["data"] = str(Path(data).resolve())
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if ray_address:
            ray.init(address=ray_address, **kw)
        else:
            ray.init(num_cpus=num_cpus, **kw)
        started = True
    try:
        task = ray.remote(num_cpus=1)(_one)
        rows = ray.get([task.remote(doc, p) for p in points(doc["grid"])])
    finally:
        if started:
            ray.shutdown()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    table = pa.table({k: [r.get(k) for r in rows] for k in keys})
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "sweep.parquet")
    heatmap(rows, list(doc["grid"]), doc.get("metric", "pnl")).savefig(out / "heatmap.png", dpi=100)
    return table


def heatmap(rows: list[dict[str, Any]], params: list[str], metric: str) -> Figure:
    """``metric`` over the first two parameters (the mean over any others); one row if one parameter."""
    x_key = params[0]
    y_key = params[1] if len(params) > 1 else None
    xs = sorted({r[x_key] for r in rows}, key=_order)
    ys = sorted({r[y_key] for r in rows}, key=_order) if y_key else [""]
    cells: dict[tuple[Any, Any], list[float]] = {}
    for r in rows:
        v = r.get(metric)
        if isinstance(v, int | float) and math.isfinite(v):
            cells.setdefault((r[x_key], r[y_key] if y_key else ""), []).append(float(v))
    grid = [[_mean(cells.get((x, y))) for x in xs] for y in ys]
    fig = Figure(figsize=(max(6.0, 1.6 + 1.1 * len(xs)), max(3.5, 1.4 + 0.7 * len(ys))))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key or "")
    ax.set_title(f"{metric}\nby {x_key}" + (f" and {y_key}" if y_key else ""), fontsize=10)
    for j, row in enumerate(grid):
        for i, v in enumerate(row):
            ax.text(
                i,
                j,
                "—" if math.isnan(v) else f"{v:.4g}",
                ha="center",
                va="center",
                color="white",
                fontsize=8,
            )
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def _mean(xs: list[float] | None) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _order(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) else (1, str(v))
