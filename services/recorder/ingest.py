"""Bus messages to rows: the raw ``events`` row of every message, typed rows, and lake records.

Pure and synchronous (it runs on the writer thread): :class:`Ingestor` decodes each stored body
once and dispatches on its type to the builders of :mod:`services.recorder.rows`. Its only state
is what keeps storage bounded: an unchanged target, position or account is stored at most once
per sample interval (the skipped count travels with the next stored target), and market samples
for the report are taken once per interval. Fills and order events are never sampled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from common.codec import DecodeError, MessageCodec, message_kind
from common.messages import (
    Account,
    BookLevels,
    CommandAudit,
    Features,
    Fill,
    MarkPrice,
    OrderUpdate,
    Position,
    RiskEvent,
    ServiceStatus,
    StateSnapshot,
    TargetQuotes,
    Trade,
)
from services.recorder import rows as build

RawMsg = tuple[int, str, str, int, int, bytes]
"""One message as received: (ts_recv, topic, source, epoch, seq, msgpack body)."""

LakeRecord = tuple[str, str, int, tuple[Any, ...]]
"""(dataset, symbol, partition time, row) for :mod:`services.recorder.lake`; the partition time is
``ts_event``, or ``ts_recv`` for a message published without one."""


@dataclass(frozen=True)
class Sampling:
    """How often an unchanged value is stored again (seconds); 0 stores every message."""

    target_s: float = 5.0
    position_s: float = 1.0
    account_s: float = 5.0
    market_s: float = 1.0
    lake_datasets: frozenset[str] = frozenset({"book", "trade", "features", "mark"})
    events_everything: bool = False
    """Keep a raw event row of every message (else :data:`KEPT_ELSEWHERE` make none)."""


KEPT_ELSEWHERE = ("md.book.", "md.features.", "md.trade.", "md.mark.", "strategy.target.", "risk.target.")
"""Topics with no events row by default: market data is in the lake, targets in the ``targets``
table (every change, and an unchanged one every ``target_sample_s``). md.status and md.instrument,
orders, fills, risk, commands and everything else stay in the events table."""


@dataclass
class Ingested:
    """The output of one batch: rows by table, lake records, and what the writer must do after."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    lake: list[LakeRecord] = field(default_factory=list)
    link_fills: bool = False
    snapshots: bool = False
    messages: int = 0
    undecodable: int = 0
    bad_snapshots: list[str] = field(default_factory=list)
    """Why a strategy snapshot of the batch gave no band KPIs (stored all the same)."""

    def add(self, table: str, r: tuple[Any, ...]) -> None:
        """Append one row of ``table``."""
        self.rows.setdefault(table, []).append(r)


@dataclass
class _Last:
    sig: Any = None
    ts: int = 0
    skipped: int = 0


class Ingestor:
    """Turns batches of raw bus messages into rows; keeps only the sampling state."""

    def __init__(self, sampling: Sampling | None = None) -> None:
        self.s = sampling or Sampling()
        self._codec = MessageCodec()
        self._last: dict[tuple[str, ...], _Last] = {}
        self._tick_f: dict[Decimal, float] = {}
        self.deduplicated = 0

    def ingest(self, msgs: Iterable[RawMsg]) -> Ingested:
        """Rows for every message of the batch: the raw event row (of :data:`KEPT_ELSEWHERE` only
        with ``events_everything``), typed rows and lake records where due."""
        out = Ingested()
        events = out.rows.setdefault("events", [])
        everything = self.s.events_everything
        for ts_recv, topic, source, epoch, seq, body in msgs:
            out.messages += 1
            if not everything and topic.startswith(KEPT_ELSEWHERE):
                try:
                    self._typed(out, self._codec.decode_body(body), ts_recv, topic, body)
                except DecodeError:
                    out.undecodable += 1
                    events.append((ts_recv, topic, source, epoch, seq, 0, message_kind(body), body))
                continue
            try:
                msg: Any = self._codec.decode_body(body)
            except DecodeError:
                out.undecodable += 1
                events.append((ts_recv, topic, source, epoch, seq, 0, message_kind(body), body))
                continue
            events.append((ts_recv, topic, source, epoch, seq, msg.ts_event, type(msg).__name__, body))
            self._typed(out, msg, ts_recv, topic, body)
        return out

    def _typed(self, out: Ingested, msg: Any, ts_recv: int, topic: str, body: bytes) -> None:
        match msg:
            case BookLevels():
                self._book(out, msg, ts_recv)
            case Features():
                self._features(out, msg, ts_recv)
            case Trade():
                self._lake(out, "trade", msg.symbol, msg.ts_event or ts_recv, build.trade_lake(msg, ts_recv))
            case MarkPrice():
                self._lake(out, "mark", msg.symbol, msg.ts_event or ts_recv, build.mark_lake(msg, ts_recv))
            case OrderUpdate():
                event, current = build.order_rows(msg, ts_recv, "bus")
                out.add("order_events", event)
                out.add("orders", current)
                out.link_fills = True
            case Fill():
                out.add("fills", build.fill_row(msg, ts_recv, "bus"))
                out.link_fills = out.link_fills or not msg.client_order_id
            case Position():
                self._position(out, msg, ts_recv)
            case Account():
                self._account(out, msg, ts_recv)
            case TargetQuotes():
                self._target(out, msg, ts_recv)
            case _:
                self._control(out, msg, ts_recv)
        if "raw" in self.s.lake_datasets and topic.startswith("md."):
            sym = topic.rsplit(".", 1)[-1]
            self._lake(out, "raw", sym, msg.ts_event or ts_recv, (msg.ts_event, ts_recv, topic, body))

    def _control(self, out: Ingested, msg: Any, ts_recv: int) -> None:
        match msg:
            case RiskEvent():
                out.add("risk_events", build.risk_row(msg, ts_recv))
            case CommandAudit():
                out.add("commands", build.command_row(msg, ts_recv))
            case ServiceStatus():
                out.add("service_status", build.status_row(msg, ts_recv))
            case StateSnapshot():
                out.add("state_snapshots", build.snapshot_row(msg, ts_recv))
                out.snapshots = True
                if msg.service == "strategy":
                    try:
                        out.rows.setdefault("band_kpis", []).extend(build.band_rows(msg, ts_recv))
                    except ValueError as exc:
                        out.bad_snapshots.append(str(exc))

    # ---- sampling ------------------------------------------------------------------------------

    def _due(self, key: tuple[str, ...], sig: Any, ts: int, every_s: float) -> _Last | None:
        """The sampling slot if this value must be stored now (changed, or the interval passed)."""
        last = self._last.get(key)
        if last is None:
            last = self._last[key] = _Last()
        elif sig == last.sig and ts - last.ts < every_s * 1e9:
            last.skipped += 1
            self.deduplicated += 1
            return None
        last.sig, last.ts = sig, ts
        return last

    def _target(self, out: Ingested, t: TargetQuotes, ts_recv: int) -> None:
        sig = (t.mode, tuple((q.side, q.price, q.qty, q.layer) for q in t.quotes), tuple(t.clipped))
        last = self._due(("target", t.symbol, t.origin), sig, t.ts_event, self.s.target_s)
        if last is None:
            return
        skipped, last.skipped = last.skipped, 0
        out.add("targets", build.target_row(t, ts_recv, skipped))

    def _position(self, out: Ingested, p: Position, ts_recv: int) -> None:
        sig = (p.qty, p.entry_price)
        if self._due(("position", p.symbol), sig, p.ts_event, self.s.position_s) is not None:
            out.add("positions", build.position_row(p, ts_recv, "bus"))

    def _account(self, out: Ingested, a: Account, ts_recv: int) -> None:
        sig = tuple((b.asset, b.wallet, b.available) for b in a.balances)
        if self._due(("account", a.account, a.market), sig, a.ts_event, self.s.account_s) is not None:
            out.rows.setdefault("account_snapshots", []).extend(build.account_rows(a, ts_recv))

    def _features(self, out: Ingested, f: Features, ts_recv: int) -> None:
        self._lake(out, "features", f.symbol, f.ts_event or ts_recv, build.features_lake(f, ts_recv))
        if self._due(("market", f.symbol), None, f.ts_event, self.s.market_s) is not None:
            out.add("market_samples", build.market_sample(f))

    def _book(self, out: Ingested, b: BookLevels, ts_recv: int) -> None:
        if "book" in self.s.lake_datasets:
            tick, step = self._float(b.price_tick), self._float(b.qty_step)
            out.lake.append(
                ("book", b.symbol, b.ts_event or ts_recv, build.book_lake(b, ts_recv, tick, step))
            )

    def _lake(self, out: Ingested, dataset: str, symbol: str, ts: int, r: tuple[Any, ...]) -> None:
        if dataset in self.s.lake_datasets:
            out.lake.append((dataset, symbol, ts, r))

    def _float(self, d: Decimal) -> float:
        f = self._tick_f.get(d)
        if f is None:
            f = self._tick_f[d] = float(d)
        return f
