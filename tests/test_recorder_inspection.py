"""The daily inspection: its figures agree with what the store holds, counted independently."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.recorder.inspection import inspect, markdown, write
from services.recorder.queries import Queries
from services.recorder.store import SqliteStore
from tests.test_recorder_backup import _fill_store

S = 1_000_000_000
UNTIL = 1_790_000_000_000_000_000


def test_the_inspection_counts_what_the_store_holds(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.sqlite").open()
    _fill_store(store, UNTIL - 3600 * S, 8000)  # an hour of the message mix inside the day
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(b"x" * 1234)
    ins = inspect(store, UNTIL, {"store": tmp_path / "r.sqlite", "logs": logs})
    q = Queries(store)
    window = {"since_ns": str(UNTIL - 86_400 * S), "until_ns": str(UNTIL)}
    rejected = q.run("order_events", {**window, "state": "Rejected"}, 100_000)
    want = Counter(
        f"{r['error_code']} {r['reason']}" if r["error_code"] else f"held back: {r['reason']}"
        for r in rejected
    )
    assert dict(ins.rejects) == dict(want) and len(want) == 2  # the mix: post-only, held back
    events = q.run("risk_events", window, 100_000)
    assert sum(n for _, n in ins.risk_events) == len(events)
    assert len(ins.slowest) == 5 and [s[0] for s in ins.slowest] == sorted(
        (s[0] for s in ins.slowest), reverse=True
    )
    assert ins.slowest[0][0] <= 3.0  # the mix acknowledges within 3 ms
    assert (
        dict(ins.disk)["logs"] == 1234 and dict(ins.disk)["store"] == (tmp_path / "r.sqlite").stat().st_size
    )
    text = markdown(ins)
    assert f"| Fills | {len(q.run('fills', window, 100_000))} |" in text
    assert "## Rejects by reason" in text and "held back: rate limit: held back" in text
    path = write(ins, tmp_path / "reports")
    assert path.name == "inspection-2026-09-21.md" and path.read_text() == text
    store.close()


def test_the_summary_for_the_alert_channels_on_a_hand_built_inspection() -> None:
    from services.recorder.inspection import Inspection, summary

    ins = Inspection(
        since_ns=0,
        until_ns=1_790_000_000 * 10**9,  # 2026-09-21 14:13:20 UTC
        totals={"net_pnl": "-1.25", "fills": "40", "orders": "120"},
        rejects=[("-5022 post_only", 7), ("-2022 reduce_only", 1)],
        command_errors=[("gateway Flatten: killed", 2), ("risk Pause: not ready", 1)],
        risk_events=[("churn.clip", 30), ("shock.hold", 1)],
        reloads=[(0, "risk", True, "")],
        degraded=[],
        disk_free=3 * 1024 * 1024 * 1024,
    )
    assert summary(ins, Path("run/reports/inspection.md")) == (
        "[P2] daily inspection to 2026-09-21 14:13 UTC: net PnL -1.25, fills 40, orders 120\n"
        "rejects: -5022 post_only x7, -2022 reduce_only x1; risk events: churn.clip x30, shock.hold x1\n"
        "command errors: 3; degraded: none; config reloads: 1; disk free 3,221.2 MB\n"  # 3 GiB in 10^6 B
        "report: run/reports/inspection.md"
    )
