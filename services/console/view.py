"""What the console shows, kept from the bus: the latest of each kind, and short histories.

* :meth:`ConsoleView.snapshot`: services, risk, account, each symbol's row and top-of-book ladder,
  recent fills, risk events, commands and the alerts that hold now;
* :meth:`ConsoleView.series`: the charts' data, one point a second per symbol (mid, our best
  approved bid and ask, position) and for the account (the day's PnL), the last ``SERIES_S``
  seconds, with our fills as markers.

Pure: messages in, a JSON-ready dict out. No I/O; the clock comes with the message (``ts_event``)
or the call.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import msgspec

from common.messages import (
    Account,
    BookLevels,
    CommandAudit,
    Features,
    FeedStatus,
    Fill,
    Heartbeat,
    OrderUpdate,
    Position,
    RiskEvent,
    RiskState,
    TargetQuotes,
)

OPEN = ("PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingModify")
SERIES_S = 900  # the charts' window: 15 minutes at one point a second
LADDER = 10  # levels a side in the top-of-book ladder
READS = frozenset({"GetStatus", "GetSnapshot", "Query"})  # audited, but not what an operator reviews
STALE_HEARTBEAT_S = 5.0


class Point(msgspec.Struct, array_like=True):
    t_ms: int
    mid: float | None
    bid: float | None
    ask: float | None
    position: float


class ConsoleView:
    """The console's model of the system."""

    def __init__(self, history: int = 50, accounts: dict[str, tuple[str, list[str]]] | None = None) -> None:
        # account -> (its gateway, its symbols); the primary account alone when there is one
        self.account_map = accounts or {"main": ("gateway", [])}
        self.accounts: dict[str, Account] = {}
        self.heartbeats: dict[str, Heartbeat] = {}
        self.books: dict[str, dict[str, Any]] = {}
        self.features: dict[str, Features] = {}
        self.feeds: dict[str, FeedStatus] = {}
        self.targets: dict[str, dict[str, TargetQuotes]] = {}
        self.positions: dict[str, Position] = {}
        self.account: Account | None = None
        self.risk: RiskState | None = None
        self.open_orders: dict[str, dict[str, OrderUpdate]] = {}
        self.fills: deque[Fill] = deque(maxlen=history)
        self.risk_events: deque[RiskEvent] = deque(maxlen=history)
        self.commands: deque[CommandAudit] = deque(maxlen=history)
        self.points: dict[str, deque[Point]] = {}
        self.pnl: deque[tuple[int, float]] = deque(maxlen=SERIES_S)
        self.fill_marks: deque[tuple[int, str, str, float]] = deque(maxlen=500)  # t_ms, symbol, side, price
        self.version = 0

    def on_message(self, topic: str, msg: Any) -> None:
        self.version += 1
        match msg:
            case Heartbeat(service=s):
                self.heartbeats[s] = msg
            case BookLevels(symbol=s):
                tick, step = msg.price_tick, msg.qty_step
                self.books[s] = {
                    "bid": str(msg.best_bid()),
                    "ask": str(msg.best_ask()),
                    "id": msg.last_update_id,
                    "bids": [[str(p * tick), str(q * step)] for p, q in msg.bids[:LADDER]],
                    "asks": [[str(p * tick), str(q * step)] for p, q in msg.asks[:LADDER]],
                }
            case Features(symbol=s):
                self.features[s] = msg
                self._sample(s, msg.ts_event)
            case FeedStatus(symbol=s):
                self.feeds[s] = msg
            case TargetQuotes(symbol=s, origin=origin):
                self.targets.setdefault(s, {})[origin] = msg
            case Position(symbol=s):
                self.positions[s] = msg
            case Account(market="spot"):
                self.accounts[f"{msg.account} spot"] = msg  # the spot wallet, beside the margin account
            case Account():
                self.accounts[msg.account] = msg
                if msg.account == "main":
                    self.account = msg
            case RiskState():
                self.risk = msg
                pnl = msg.figures.get("account.pnl_day")
                t_ms = msg.ts_event // 1_000_000
                if pnl is not None and (not self.pnl or t_ms - self.pnl[-1][0] >= 1000):
                    self.pnl.append((t_ms, pnl))
            case OrderUpdate(symbol=s, client_order_id=cid):
                book = self.open_orders.setdefault(s, {})
                if msg.state in OPEN:
                    book[cid] = msg
                else:
                    book.pop(cid, None)
            case Fill():
                self.fills.append(msg)
                self.fill_marks.append((msg.ts_event // 1_000_000, msg.symbol, msg.side, float(msg.price)))
            case RiskEvent():
                self.risk_events.append(msg)
            case CommandAudit(command=c) if c not in READS:
                self.commands.append(msg)

    def _sample(self, s: str, ts_ns: int) -> None:
        """One chart point a second per symbol, taken when its features arrive."""
        pts = self.points.setdefault(s, deque(maxlen=SERIES_S))
        t_ms = ts_ns // 1_000_000
        if pts and t_ms - pts[-1].t_ms < 1000:
            return
        f = self.features[s]
        quotes = self.targets.get(s, {}).get("risk")
        bids = [q.price for q in quotes.quotes if q.side == "BUY"] if quotes else []
        asks = [q.price for q in quotes.quotes if q.side == "SELL"] if quotes else []
        pos = self.positions.get(s)
        pts.append(
            Point(
                t_ms=t_ms,
                mid=f.mid or None,
                bid=float(max(bids)) if bids else None,
                ask=float(min(asks)) if asks else None,
                position=float(pos.qty) if pos else 0.0,
            )
        )

    def series(self) -> dict[str, Any]:
        """The charts' data: per symbol columns of time, mid, bid, ask and position, fills as
        markers; the account's PnL."""
        out: dict[str, Any] = {}
        for s, pts in sorted(self.points.items()):
            t0 = pts[0].t_ms if pts else 0
            out[s] = {
                "t": [p.t_ms for p in pts],
                "mid": [p.mid for p in pts],
                "bid": [p.bid for p in pts],
                "ask": [p.ask for p in pts],
                "position": [p.position for p in pts],
                "fills": [
                    [t, side, price] for t, sym, side, price in self.fill_marks if sym == s and t >= t0
                ],
            }
        return {"symbols": out, "pnl": {"t": [t for t, _ in self.pnl], "v": [v for _, v in self.pnl]}}

    def alerts(self, now_ns: int) -> list[dict[str, str]]:
        """What holds now that an operator must see, by severity (P0 first), as deploy/alerts.yml
        names them: a kill, a risk mode, a stale feed, a silent or degraded service."""
        out: list[dict[str, str]] = []
        r = self.risk
        if r is not None and r.mode == "killed":
            out.append({"severity": "P0", "alert": "KillEngaged", "text": r.reason or "killed"})
        elif r is not None and r.mode != "normal":
            out.append({"severity": "P1", "alert": "RiskNotNormal", "text": f"{r.mode}: {r.reason}"})
        for sym, sr in sorted((r.symbols if r else {}).items()):
            if sr.mode != "normal" and (r is None or r.mode == "normal"):
                out.append(
                    {"severity": "P1", "alert": "RiskNotNormal", "text": f"{sym} {sr.mode}: {sr.reason}"}
                )
        for sym, f in sorted(self.feeds.items()):
            if f.state != "live":
                out.append(
                    {"severity": "P1", "alert": "MarketDataStale", "text": f"{sym} {f.state}: {f.reason}"}
                )
        for name, h in sorted(self.heartbeats.items()):
            age = (now_ns - h.ts_event) / 1e9
            if age > STALE_HEARTBEAT_S:
                out.append(
                    {
                        "severity": "P0",
                        "alert": "ServiceDown",
                        "text": f"{name}: no heartbeat for {age:.0f} s",
                    }
                )
            elif h.state not in ("running", "starting"):
                out.append({"severity": "P1", "alert": "ServiceDegraded", "text": f"{name}: {h.state}"})
        return sorted(out, key=lambda a: a["severity"])

    def snapshot(self) -> dict[str, Any]:
        now = time.time_ns()
        b = msgspec.to_builtins
        symbols = sorted(set(self.books) | set(self.positions) | set(self.targets))
        return {
            "now_ns": now,
            "services": {
                s: {
                    "state": h.state,
                    "pid": h.pid,
                    "age_s": round((now - h.ts_event) / 1e9, 2),
                    "uptime_s": round((now - h.started_ns) / 1e9),
                    "detail": h.detail,
                }
                for s, h in sorted(self.heartbeats.items())
            },
            "risk": b(self.risk) if self.risk else None,
            "account": b(self.account) if self.account else None,
            "accounts": self._accounts(),
            "symbols": {s: self._symbol(s) for s in symbols},
            "fills": [b(f) for f in reversed(self.fills)],
            "risk_events": [b(e) for e in reversed(self.risk_events)],
            "commands": [b(c) for c in reversed(self.commands)],
            "alerts": self.alerts(now),
        }

    def _accounts(self) -> dict[str, Any]:
        """Each account: its gateway, symbols, balances and risk's figures for it (``account.<name>.*``)."""
        figs = self.risk.figures if self.risk else {}
        out = {}
        for name, (gateway, syms) in self.account_map.items():
            acct = self.accounts.get(name)
            prefix = f"account.{name}."
            out[name] = {
                "gateway": gateway,
                "symbols": syms,
                "balances": msgspec.to_builtins(acct.balances) if acct else [],
                "figures": {k.removeprefix(prefix): v for k, v in figs.items() if k.startswith(prefix)},
            }
        return out

    def _symbol(self, s: str) -> dict[str, Any]:
        f = self.features.get(s)
        tgt = self.targets.get(s, {})
        pos = self.positions.get(s)
        return {
            "book": self.books.get(s),
            "feed": self.feeds[s].state if s in self.feeds else "?",
            "mid": f.mid if f else None,
            "spread_bps": f.spread_bps if f else None,
            "vol": f.vol if f else {},
            "position": str(pos.qty) if pos else "0",
            "entry": str(pos.entry_price) if pos else "0",
            "upnl": str(pos.unrealized_pnl) if pos else "0",
            "strategy_quotes": len(tgt["strategy"].quotes) if "strategy" in tgt else 0,
            "approved_quotes": len(tgt["risk"].quotes) if "risk" in tgt else 0,
            "clipped": tgt["risk"].clipped if "risk" in tgt else [],
            "open_orders": len(self.open_orders.get(s, {})),
        }
