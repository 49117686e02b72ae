"""Market events for the backtester: one merged, time-ordered stream per symbol.

Every source becomes the same :class:`MarketData`: a starting book and a list of events in integer
ticks and steps (the venue's own units), each with the exchange's time and the time our side
received it (``t_local_ns``). Kinds:

* ``DEPTH``: ``(side, price_ticks, qty_steps)`` changes, absolute sizes (0 removes the level),
* ``TRADE``: ``(aggressor_side, price_ticks, qty_steps)``,
* ``MARK``:  ``(mark, index, funding_rate, next_funding_ms)`` as floats and an int.

Sources: the recorded Binance files (``data/binance/*.gz``, the venue's replay format) and the
marketdata service's raw capture (the same format); the recorder's Parquet lake
(:func:`load_lake`: the top of book, trades and marks every session keeps, so any ``make run`` or
live session replays, at the top of book only); the generated markets of the simulated venue
(:mod:`services.venue.market.synthetic`, :mod:`services.venue.market.flow`), whole or, for long
runs, in chunks (:func:`synthetic_chunks`).

Prices in a recording that are off the instrument's tick (levels left from an older filter) are
kept at the nearest tick; the count is reported in ``MarketData.off_grid``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import msgspec

from common.binance.market import (
    AggTradeEvent,
    DepthSnapshot,
    DepthUpdate,
    MarkPriceEvent,
    TradeEvent,
    decode_combined,
    snapshot_decoder,
)
from common.config_sections import VenueSymbolConfig
from services.venue.market import Model, generated
from services.venue.orderbook import BUY, SELL

DEPTH, TRADE, MARK = 0, 1, 2


@dataclass(slots=True)
class MarketData:
    """One symbol's market: its filters, the book at the start and the events after it."""

    symbol: str
    tick: Decimal
    step: Decimal
    start: list[tuple[int, int, int]]
    t_exch_ns: list[int] = field(default_factory=list)
    t_local_ns: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    payload: list[object] = field(default_factory=list)
    ids: list[tuple[int, int]] = field(default_factory=list)
    """Per event, a depth diff's first and last update id (U, u) from the recording, else (0, 0)."""
    source: str = ""
    off_grid: int = 0

    def __len__(self) -> int:
        return len(self.kind)

    def add(
        self, t_exch_ns: int, t_local_ns: int, kind: int, payload: object, ids: tuple[int, int] = (0, 0)
    ) -> None:
        self.t_exch_ns.append(t_exch_ns)
        self.t_local_ns.append(t_local_ns)
        self.kind.append(kind)
        self.payload.append(payload)
        self.ids.append(ids)

    @property
    def rows(self) -> int:
        """Level updates plus trades and marks: the events as hftbacktest counts them (one per row)."""
        return sum(len(p) if k == DEPTH else 1 for k, p in zip(self.kind, self.payload, strict=True))  # type: ignore[arg-type,misc]

    @property
    def span_s(self) -> float:
        return (self.t_exch_ns[-1] - self.t_exch_ns[0]) / 1e9 if self.t_exch_ns else 0.0

    def feed_delays_ns(self) -> list[int]:
        """Local minus exchange time per event, as recorded (clock offset included)."""
        return [loc - ex for loc, ex in zip(self.t_local_ns, self.t_exch_ns, strict=True)]


class _Grid:
    def __init__(self, tick: Decimal, step: Decimal) -> None:
        self.tick, self.step = float(tick), float(step)
        self.off = 0

    def p(self, s: str) -> int:
        x = float(s) / self.tick
        r = round(x)
        if abs(x - r) > 1e-6:
            self.off += 1
        return r

    def q(self, s: str) -> int:
        return round(float(s) / self.step)


def load_binance(paths: str | Path | list[Path], symbol: str, tick: Decimal, step: Decimal) -> MarketData:
    """A recorded Binance file, or a marketdata raw capture (one file, a directory of them, or a
    list, read in name order): ``<local ns> <raw JSON>`` per line, gzip. The first REST snapshot
    starts the book; depth diffs after it, trades (``trade`` or ``aggTrade``) and mark prices follow,
    sorted by exchange time. A diff whose ``pu`` is not the last ``u`` is a gap: the diffs after it
    are dropped until the next snapshot, which replaces the book (as the live book's resync does)."""
    files = _files(paths, symbol)
    g = _Grid(tick, step)
    rows: list[tuple[int, int, int, object, tuple[int, int]]] = []
    start: list[tuple[int, int, int]] | None = None
    book: dict[tuple[int, int], int] = {}
    last_u = -1
    gapped = False
    early: list[tuple[DepthUpdate, int]] = []  # diffs before the first snapshot: the bridge may be here

    def depth(ev: DepthUpdate, t_local: int) -> None:
        nonlocal last_u, gapped
        if gapped or ev.u <= last_u:
            return
        if ev.pu >= 0 and ev.pu != last_u and last_u + 1 < ev.U:
            gapped = True  # lost diffs: wait for the next snapshot
            return
        lv = [(BUY, g.p(p), g.q(q)) for p, q in ev.b] + [(SELL, g.p(p), g.q(q)) for p, q in ev.a]
        for sd, p, q in lv:
            if q:
                book[(sd, p)] = q
            else:
                book.pop((sd, p), None)
        last_u = ev.u
        at = (ev.T or ev.E) * 1_000_000  # transaction time where the stream has it (futures)
        rows.append((at, t_local, DEPTH, tuple(lv), (ev.U, ev.u)))

    for path in files:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                local, _, raw = line.partition(b" ")
                if not raw.startswith(b'{"stream"'):
                    snap = _snapshot(raw)
                    if snap is None or not (start is None or gapped):
                        continue
                    levels = [(BUY, g.p(p), g.q(q)) for p, q in snap.bids]
                    levels += [(SELL, g.p(p), g.q(q)) for p, q in snap.asks]
                    if start is None:
                        start = levels
                    else:  # a resync: the whole book replaced at once
                        fresh = {(sd, p) for sd, p, _q in levels}
                        change = [(sd, p, 0) for (sd, p) in book if (sd, p) not in fresh] + levels
                        t = int(local)
                        at = snap.E * 1_000_000 if snap.E else t
                        rows.append((at, t, DEPTH, tuple(change), (snap.lastUpdateId, snap.lastUpdateId)))
                    book = {(sd, p): q for sd, p, q in levels if q}
                    last_u, gapped = snap.lastUpdateId, False
                    for early_ev, t_loc in early:
                        depth(early_ev, t_loc)
                    early.clear()
                    continue
                try:
                    _, ev = decode_combined(raw)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                t_local = int(local)
                if isinstance(ev, DepthUpdate):
                    if start is None:
                        early.append((ev, t_local))
                    else:
                        depth(ev, t_local)
                elif start is None:
                    continue
                elif isinstance(ev, TradeEvent | AggTradeEvent):
                    trade = (SELL if ev.m else BUY, g.p(ev.p), g.q(ev.q))
                    rows.append((ev.T * 1_000_000, t_local, TRADE, trade, (0, 0)))
                elif isinstance(ev, MarkPriceEvent):
                    mark = (float(ev.p), float(ev.i), float(ev.r), int(ev.T))
                    rows.append((ev.E * 1_000_000, t_local, MARK, mark, (0, 0)))
    if start is None:
        raise ValueError(f"{', '.join(map(str, files))}: no REST depth snapshot in the recording")
    rows.sort(key=lambda r: (r[0], r[1]))
    md = MarketData(symbol, tick, step, start, source=", ".join(map(str, files)))
    for t_ex, t_loc, kind, payload, ids in rows:
        md.add(t_ex, t_loc, kind, payload, ids)
    md.off_grid = g.off
    return md


def load_lake(root: str | Path, symbol: str, tick: Decimal, step: Decimal) -> MarketData:
    """``symbol``'s market from the recorder's Parquet lake (``<root>/dataset=.../symbol=.../``).

    The lake keeps the top of book, not the depth: the book replayed is one level a side, each
    change of the best bid or ask a depth event (the old best removed, the new one set). Trades
    keep their side (the buyer the maker: a sell aggressor) and marks their funding. Exchange time
    is the book's ``ts_exchange`` (else ``ts_event``) and the trades' and marks' ``ts_event``; our
    side's time is ``ts_recv``, when the recorder had it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = Path(root)

    def read(dataset: str) -> pa.Table | None:
        parts = sorted((base / f"dataset={dataset}" / f"symbol={symbol}").rglob("*.parquet"))
        return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None

    book = read("book")
    if book is None or book.num_rows == 0:
        raise ValueError(f"{base}: no book tops of {symbol} in the lake")
    g = _Grid(tick, step)
    rows: list[tuple[int, int, int, object]] = []
    b = book.sort_by("ts_event").to_pydict()
    top: tuple[int, int, int, int] | None = None
    start: list[tuple[int, int, int]] = []
    t_start = 0
    for i in range(book.num_rows):
        bp, bq = g.p(repr(b["bid_price"][i])), g.q(repr(b["bid_qty"][i]))
        ap, aq = g.p(repr(b["ask_price"][i])), g.q(repr(b["ask_qty"][i]))
        if bp <= 0 or ap <= bp:
            continue
        if top is None:
            start = [(BUY, bp, bq), (SELL, ap, aq)]
            top = (bp, bq, ap, aq)
            t_start = b["ts_exchange"][i] or b["ts_event"][i]
            continue
        change: list[tuple[int, int, int]] = []
        for side, old_p, old_q, p, q in ((BUY, top[0], top[1], bp, bq), (SELL, top[2], top[3], ap, aq)):
            if p != old_p:
                change += [(side, old_p, 0), (side, p, q)]
            elif q != old_q:
                change.append((side, p, q))
        top = (bp, bq, ap, aq)
        if change:
            t_ex = b["ts_exchange"][i] or b["ts_event"][i]
            rows.append((t_ex, b["ts_recv"][i], DEPTH, tuple(change)))
    trades = read("trade")
    if trades is not None:
        tr = trades.to_pydict()
        for i in range(trades.num_rows):
            side = SELL if tr["buyer_is_maker"][i] else BUY
            rows.append(
                (
                    tr["ts_event"][i],
                    tr["ts_recv"][i],
                    TRADE,
                    (side, g.p(repr(tr["price"][i])), g.q(repr(tr["qty"][i]))),
                )
            )
    marks = read("mark")
    if marks is not None:
        mk = marks.to_pydict()
        for i in range(marks.num_rows):
            mark = (
                mk["mark_price"][i],
                mk["index_price"][i],
                mk["funding_rate"][i],
                mk["next_funding_time_ms"][i],
            )
            rows.append((mk["ts_event"][i], mk["ts_recv"][i], MARK, mark))
    if top is None:
        raise ValueError(f"{base}: no valid top of book of {symbol} in the lake")
    rows = [r for r in rows if r[0] >= t_start]  # nothing from before the first book
    rows.sort(key=lambda r: (r[0], r[1]))
    md = MarketData(symbol, tick, step, start, source=str(base))
    for t_ex, t_loc, kind, payload in rows:
        md.add(t_ex, t_loc, kind, payload)
    md.off_grid = g.off
    return md


def _files(paths: str | Path | list[Path], symbol: str) -> list[Path]:
    """The files to read: a directory holds a capture, one file per symbol and rotation."""
    if isinstance(paths, list):
        return sorted(paths)
    p = Path(paths)
    if p.is_dir():
        found = sorted(p.glob(f"*_{symbol.lower()}_*.gz"))
        if not found:
            raise ValueError(f"{p}: no capture files of {symbol} (*_{symbol.lower()}_*.gz)")
        return found
    if not p.is_file():
        raise ValueError(f"no market data file at {p}")
    return [p]


def _snapshot(raw: bytes) -> DepthSnapshot | None:
    try:
        return snapshot_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def synthetic(
    cfg: VenueSymbolConfig,
    seconds: float,
    start_ns: int,
    step_ms: int = 100,
    seed: int = 7,
    model: str = "synthetic",
) -> MarketData:
    """The simulated venue's generated market ``model`` ("synthetic" or "flow") for ``seconds``:
    each step's level changes before its trades at the step's start, its trades at their own times
    within the step (the flow model times them; the textbook one puts them at the start) and the
    levels they left at its end; received ``feed`` later by the caller's latency model
    (``t_local_ns`` = exchange time here)."""
    m = generated(cfg, model, seed)
    first = m.step(step_ms / 1000)
    md = MarketData(cfg.symbol, cfg.price_tick, cfg.qty_step, list(first.pre), source=_source(cfg, seed))
    _steps(m, md, start_ns, int(seconds * 1000 / step_ms), step_ms)
    return md


def synthetic_chunks(
    cfg: VenueSymbolConfig,
    seconds: float,
    start_ns: int,
    step_ms: int = 100,
    seed: int = 7,
    model: str = "synthetic",
    chunk_s: float = 600.0,
) -> Iterator[MarketData]:
    """The same market as :func:`synthetic` (the same events for the same arguments), generated
    ``chunk_s`` at a time, for runs too long to hold in memory (72 hours of the flow market are
    some 200 million level updates): each chunk continues the one before, from the same model.
    The first chunk carries the starting book; the later ones' ``start`` is empty (the market is
    already running). Feed them to :class:`~services.backtest.engine.Backtest` as its ``more``."""
    m = generated(cfg, model, seed)
    first = m.step(step_ms / 1000)
    total = int(seconds * 1000 / step_ms)
    per = max(1, int(chunk_s * 1000 / step_ms))
    start: list[tuple[int, int, int]] = list(first.pre)
    t, done = start_ns, 0
    while True:
        md = MarketData(cfg.symbol, cfg.price_tick, cfg.qty_step, start, source=_source(cfg, seed))
        n = min(per, total - done)
        t = _steps(m, md, t, n, step_ms)
        done += n
        yield md
        if done >= total:
            return
        start = []


def _source(cfg: VenueSymbolConfig, seed: int) -> str:
    return f"synthetic {cfg.symbol} seed {seed}"


def _steps(m: Model, md: MarketData, t: int, n: int, step_ms: int) -> int:
    """``n`` steps of ``m`` after time ``t`` into ``md``; the time of the last step."""
    dt = step_ms / 1000
    for _ in range(n):
        t += step_ms * 1_000_000
        s = m.step(dt)
        if s.pre:
            md.add(t, t, DEPTH, tuple(s.pre))
        for i, tr in enumerate(s.trades):
            tt = t + int(s.trade_dt[i] * 1e9) if s.trade_dt else t
            md.add(tt, tt, TRADE, tr)
        if s.post:
            end = t + step_ms * 1_000_000 - 1 if s.trade_dt else t
            md.add(end, end, DEPTH, tuple(s.post))
    return t
