"""A sweep on a local two-worker Ray: one row per grid point with its parameters and summary, the
heatmap written; a bad grid refused with the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"

GRID = """
data = "synthetic"
symbol = "ETHUSDC"
model = "asmm"
metric = "pnl"
[run]
seconds = 30
[grid]
"asmm.reservation.gamma" = [100.0, 2000.0]
"asmm.minSpread" = [0.0002, 0.0006]
"""


def _mmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.mmctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_a_two_worker_sweep_on_local_ray_writes_one_row_per_point_and_a_heatmap(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "out"
    p = _mmctl("backtest", "sweep", "--grid", str(grid), "--out", str(out), "--workers", "2")
    assert p.returncode == 0, p.stderr[-2000:]
    rows = pq.read_table(out / "sweep.parquet").to_pylist()
    got = sorted((r["asmm.reservation.gamma"], r["asmm.minSpread"]) for r in rows)
    assert got == [(100.0, 0.0002), (100.0, 0.0006), (2000.0, 0.0002), (2000.0, 0.0006)]
    assert all(r["error"] == "" and r["symbol"] == "ETHUSDC" and r["span_s"] > 25 for r in rows)
    assert (out / "heatmap.png").read_bytes()[:8] == PNG
    assert "4 runs, 0 failed" in p.stdout


def test_a_bad_grid_is_refused_with_the_reason(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('data = "synthetic"\n[grid]\n"asmm.minSpread" = []\n')
    p = _mmctl("backtest", "sweep", "--grid", str(grid), "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "non-empty list" in p.stderr
    grid.write_text('data = "synthetic"\nmodle = "asmm"\n[grid]\n"asmm.minSpread" = [0.001]\n')
    p = _mmctl("backtest", "sweep", "--grid", str(grid), "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "modle" in p.stderr
