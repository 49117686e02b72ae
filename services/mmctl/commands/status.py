"""``mmctl status``: every service's state, pid, heartbeat age, version and uptime; with several
accounts, each account's gateway, symbols and risk figures apart."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import topics
from common.bus import RequestTimeout, Subscriber
from common.messages import Envelope, GetStatus, Heartbeat
from services.mmctl.context import Ctl, fmt_age, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="state of every service")
    p.add_argument("--json", action="store_true", help="one JSON object per service")
    p.add_argument(
        "--listen", type=float, default=0.0, help="seconds to listen for heartbeats (default: 1.5 x interval)"
    )


async def collect(ctl: Ctl, listen_s: float) -> list[dict[str, Any]]:
    """Ask every service for its status while listening to heartbeats."""
    beats: dict[str, Heartbeat] = {}

    def on_beat(topic: str, msg: Any, env: Envelope) -> None:
        if isinstance(msg, Heartbeat):
            beats[msg.service] = msg

    sub = Subscriber(
        ctl.sync_ctx,
        [ctl.settings.pub_endpoint(s) for s in ctl.settings.services],
        [topics.family("sys", "heartbeat")],
        on_beat,
        "mmctl",
    )
    sub.start()

    async def ask(service: str) -> dict[str, Any] | None:
        try:
            reply = await ctl.client(service).request(GetStatus(), timeout_s=min(ctl.timeout_s, listen_s))
        except RequestTimeout:
            return None
        return reply.result if reply.ok else None

    services = ctl.settings.services
    answers = await asyncio.gather(*(ask(s) for s in services))
    await asyncio.sleep(max(0.0, listen_s - 0.05))
    sub.close()
    now = time.time_ns()
    rows = []
    for service, ans in zip(services, answers, strict=True):
        hb = beats.get(service)
        row: dict[str, Any] = {"service": service, "up": ans is not None or hb is not None}
        if ans:
            row.update(state=ans["state"], pid=ans["pid"], version=ans["version"], uptime_s=ans["uptime_s"])
            row["detail"] = ans.get("detail", {})
        elif hb:
            row.update(state=hb.state, pid=hb.pid, version=hb.version, uptime_s=(now - hb.started_ns) / 1e9)
            row["detail"] = hb.detail
        row["heartbeat_age_s"] = (now - hb.ts_event) / 1e9 if hb else None
        rows.append(row)
    return rows


def _exit_code(rows: list[dict[str, Any]], profile: str) -> int:
    """0 when every service this profile runs is up, 3 when one is down (the simulated venue runs
    only in the paper profiles)."""
    expected = [r for r in rows if r["service"] != "venue" or profile in ("paper", "paper-live")]
    return 0 if all(r["up"] for r in expected) else 3


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    listen = args.listen or ctl.settings.heartbeat_interval_s * 1.5
    rows = await collect(ctl, listen)
    code = _exit_code(rows, ctl.settings.profile)
    if args.json:
        for r in rows:
            print_json(r)
        return code
    print(f"{'SERVICE':<15} {'STATE':<10} {'PID':>7} {'HEARTBEAT':>9} {'UPTIME':>8} {'VERSION':<8} DETAIL")
    for r in rows:
        if not r["up"]:
            print(f"{r['service']:<15} {'down':<10} {'-':>7} {'-':>9} {'-':>8} {'-':<8}")
            continue
        detail = " ".join(f"{k}={v}" for k, v in sorted(r.get("detail", {}).items()))
        print(
            f"{r['service']:<15} {r['state']:<10} {r['pid']:>7} {fmt_age(r['heartbeat_age_s']):>9} "
            f"{fmt_age(r['uptime_s']):>8} {r['version']:<8} {detail}"
        )
    if ctl.settings.accounts:
        print()
        print(accounts_table(ctl, rows))
    for gw in ctl.settings.all_gateways:
        kill = kill_notice(ctl.settings.run_path / f"{gw}.kill.json")
        if kill:
            print(kill if gw == "gateway" else f"{gw}: {kill}")
    if code:
        down = ", ".join(r["service"] for r in rows if not r["up"])
        print(f"down: {down} (start the stack with `make run`)", file=sys.stderr)
    return code


KILL_FILE = "gateway.kill.json"
"""Where the gateway keeps the kill state across restarts (services/gateway/kill.py); an extra
account's gateway keeps its own, ``gateway-<account>.kill.json``."""


def accounts_table(ctl: Ctl, rows: list[dict[str, Any]]) -> str:
    """Each account: its gateway and that gateway's state, its symbols, and risk's figures for it."""
    by_service = {r["service"]: r for r in rows}
    risk = (by_service.get("risk") or {}).get("detail") or {}
    lines = [f"{'ACCOUNT':<10} {'GATEWAY':<14} {'STATE':<10} {'SYMBOLS':<24} RISK"]
    for name in ctl.settings.account_names:
        gw = ctl.settings.gateways[ctl.settings.account_names.index(name)]
        row = by_service.get(gw) or {}
        state = row.get("state", "down") if row.get("up") else "down"
        syms = ",".join(ctl.settings.account_symbols(name))
        lines.append(f"{name:<10} {gw:<14} {state:<10} {syms:<24} {risk.get(f'account.{name}', '')}")
    return "\n".join(lines)


def kill_notice(path: Path) -> str:
    """One line when the saved kill state is engaged (or unreadable: the gateway fails closed on
    it), saying how to lift it; "" otherwise."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as exc:
        return f"KILL SWITCH: {path} is unreadable ({exc}); the gateway treats it as engaged."
    if not isinstance(data, dict) or not data.get("engaged"):
        return ""
    since = data.get("since_ns", 0)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since / 1e9)) if since else "an unknown time"
    return (
        f"KILL SWITCH ENGAGED since {when} ({data.get('reason') or 'no reason given'}): nothing is "
        "quoted, and it survives restarts. `mmctl resume` lifts it."
    )
