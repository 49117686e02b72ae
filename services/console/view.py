"""What the console shows, kept from the bus: the latest of each kind, and short histories.

Pure: messages in, a JSON-ready dict out. No I/O.
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


class ConsoleView:
    """The console's model of the system."""

    def __init__(self, history: int = 50) -> None:
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
        self.version = 0

    def on_message(self, topic: str, msg: Any) -> None:
        self.version += 1
        match msg:
            case Heartbeat(service=s):
                self.heartbeats[s] = msg
            case BookLevels(symbol=s):
                self.books[s] = {
                    "bid": str(msg.best_bid()),
                    "ask": str(msg.best_ask()),
                    "id": msg.last_update_id,
                }
            case Features(symbol=s):
                self.features[s] = msg
            case FeedStatus(symbol=s):
                self.feeds[s] = msg
            case TargetQuotes(symbol=s, origin=origin):
                self.targets.setdefault(s, {})[origin] = msg
            case Position(symbol=s):
                self.positions[s] = msg
            case Account():
                self.account = msg
            case RiskState():
                self.risk = msg
            case OrderUpdate(symbol=s, client_order_id=cid):
                book = self.open_orders.setdefault(s, {})
                if msg.state in OPEN:
                    book[cid] = msg
                else:
                    book.pop(cid, None)
            case Fill():
                self.fills.append(msg)
            case RiskEvent():
                self.risk_events.append(msg)
            case CommandAudit():
                self.commands.append(msg)

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
            "symbols": {s: self._symbol(s) for s in symbols},
            "fills": [b(f) for f in reversed(self.fills)],
            "risk_events": [b(e) for e in reversed(self.risk_events)],
            "commands": [b(c) for c in reversed(self.commands)],
        }

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
