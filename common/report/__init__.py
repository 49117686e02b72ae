"""A session report drawn from its data (:class:`common.messages.report.ReportData`): charts
(PNG, matplotlib, imported only here) and ``report.md``. Used by the recorder (periodic and
session-end reports) and ``mmctl report`` alike."""

from __future__ import annotations

import time
from pathlib import Path

from common.messages.report import ReportData


def _utc(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ns / 1e9))


def markdown(data: ReportData, charts: dict[str, str]) -> str:
    """The report as Markdown; ``charts`` maps a chart name to its file name beside the report."""
    from common.report.text import render

    return render(data, charts, _utc)


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Charts (PNG) and ``report.md`` into ``out_dir``; returns the Markdown file's path."""
    from common.report.charts import draw_all

    out_dir.mkdir(parents=True, exist_ok=True)
    charts = draw_all(data, out_dir)
    path = out_dir / "report.md"
    path.write_text(markdown(data, charts))
    return path
