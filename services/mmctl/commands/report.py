"""``mmctl report [--since 4h | --session ID] [--out DIR]``: a Markdown report with PNG charts.

The recorder computes every figure from its store (``Query(kind="report")``); this command draws
the charts and writes ``report.md`` beside them. Without ``--since`` or ``--session`` the report
covers the current session.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import msgspec

from common.bus import RequestRefused, RequestTimeout
from common.messages import Query
from common.messages.report import ReportData
from common.report import write_report
from services.mmctl.context import Ctl, duration_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a session report (Markdown + PNG charts)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--since", default="", type=duration_arg, help="the last 90s, 10m, 4h, 2d (not the current session)"
    )
    which.add_argument("--session", default="", help="a session id (default: the current session)")
    p.add_argument("--out", default="", help="directory to write into (default <run_dir>/reports/<session>)")
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the recorder's figures")
    p.add_argument(
        "--inspection", action="store_true", help="the daily inspection of the last 24 h instead, written now"
    )


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    if args.inspection:
        try:
            path = await ctl.client("recorder").call(Query(kind="inspection"), timeout_s=args.wait)
        except (RequestTimeout, RequestRefused) as exc:
            print(f"recorder did not write the inspection: {exc}")
            return 1
        print(f"inspection written: {path}")
        return 0
    filters = {"session": args.session}
    if args.since:
        filters = {"since_ns": str(time.time_ns() - int(args.since * 1e9))}
    try:
        raw = await ctl.client("recorder").call(Query(kind="report", filters=filters), timeout_s=args.wait)
    except RequestTimeout as exc:
        print(f"recorder did not answer: {exc}")
        return 1
    except RequestRefused as exc:
        print(f"recorder refused: {exc}")
        return 1
    data = msgspec.convert(raw, ReportData)
    name = (data.session or {}).get("session_id") or time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime(data.until_ns / 1e9)
    )
    out = Path(args.out) if args.out else ctl.settings.run_path / ctl.settings.recorder.report_dir / name
    path = write_report(data, out)
    t = data.totals
    print(f"report written: {path}")
    print(
        f"net realized PnL {t['net_pnl']} (realized {t['realized_pnl']} - fees {t['fees']}), "
        f"fills {t['fills']}, orders {t['orders']}, cancels {t['cancels']}"
    )
    return 0
