"""Replay of a recorded Binance feed (``shared/data/binance`` format) as the market of one symbol.

Depth diffs set the other participants' size per level; recorded trades become tape trades that
consume the queue ahead of our orders. Time runs at ``speed`` times real time. At the end the
recording loops: prices are shifted so the loop starts where the last one ended (no jump in the
mid), and the book is reset to the first snapshot in one update.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import msgspec

from common.binance.market import DepthSnapshot, DepthUpdate, TradeEvent, decode_combined, snapshot_decoder
from services.venue.market import MarketStep
from services.venue.orderbook import BUY, SELL


@dataclass(slots=True, frozen=True)
class _Rec:
    t_ms: int
    kind: str  # "depth" | "trade"
    levels: tuple[tuple[int, int, int], ...] = ()
    trade: tuple[int, int, int] = (0, 0, 0)


class ReplayMarket:
    """Plays a recording in a loop; ``step(elapsed_s)`` returns the ops due by then, in order."""

    def __init__(self, path: str, tick: float, step: float, speed: float = 1.0) -> None:
        self.tick, self.qstep, self.speed = tick, step, speed
        self.snapshot, self.records = self._load(path)
        if not self.records:
            raise ValueError(f"{path}: no depth or trade records after the first snapshot")
        self.t0 = self.records[0].t_ms
        self.span_ms = self.records[-1].t_ms - self.t0 + 1
        self.pos = 0
        self.loops = 0
        self.offset = 0
        self.book: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        self.first_mid = 0.0
        self.started = False

    def _p(self, s: str) -> int:
        return round(float(s) / self.tick)

    def _q(self, s: str) -> int:
        return round(float(s) / self.qstep)

    def _load(self, path: str) -> tuple[DepthSnapshot, list[_Rec]]:
        snap: DepthSnapshot | None = None
        recs: list[_Rec] = []
        with gzip.open(path, "rb") as fh:
            for line in fh:
                _, _, raw = line.partition(b" ")
                if not raw.startswith(b'{"stream"'):
                    if snap is None:
                        snap = snapshot_decoder.decode(raw)
                    continue
                if snap is None:
                    continue
                try:
                    _, ev = decode_combined(raw)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if isinstance(ev, DepthUpdate) and ev.u > snap.lastUpdateId:
                    lv = tuple((BUY, self._p(p), self._q(q)) for p, q in ev.b)
                    lv += tuple((SELL, self._p(p), self._q(q)) for p, q in ev.a)
                    recs.append(_Rec(ev.E, "depth", levels=lv))
                elif isinstance(ev, TradeEvent):
                    recs.append(
                        _Rec(ev.T, "trade", trade=(SELL if ev.m else BUY, self._p(ev.p), self._q(ev.q)))
                    )
        if snap is None:
            raise ValueError(f"{path}: no REST depth snapshot in the recording")
        recs.sort(key=lambda r: r.t_ms)
        return snap, recs

    def _mid(self) -> float:
        if not self.book[BUY] or not self.book[SELL]:
            return 0.0
        return (max(self.book[BUY]) + min(self.book[SELL])) / 2

    def _reset(self) -> list[tuple[int, int, int]]:
        """Levels that turn the current book into the (shifted) first snapshot."""
        if self.started:  # the book's mid already includes the offset so far (and any shock)
            self.offset = round(self._mid() - self.first_mid)
        new: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        for side, rows in ((BUY, self.snapshot.bids), (SELL, self.snapshot.asks)):
            for p, q in rows:
                new[side][self._p(p) + self.offset] = self._q(q)
        changes = [(s, p, 0) for s in (BUY, SELL) for p in self.book[s] if p not in new[s]]
        changes += [(s, p, q) for s in (BUY, SELL) for p, q in new[s].items()]
        self.book = new
        if not self.started:
            self.first_mid = self._mid()
            self.started = True
        return changes

    def shock(self, pct: float) -> MarketStep:
        """Shift the whole book by ``pct`` at once (the fault control's price shock); later data follows."""
        delta = round(self._mid() * pct)
        old = self.book
        self.book = {s: {p + delta: q for p, q in old[s].items()} for s in (BUY, SELL)}
        self.offset += delta
        changes = [(s, p, 0) for s in (BUY, SELL) for p in old[s] if p not in self.book[s]]
        changes += [(s, p, q) for s in (BUY, SELL) for p, q in self.book[s].items()]
        return MarketStep(pre=changes, mid=self._mid() * self.tick)

    def _apply(self, rec: _Rec) -> MarketStep:
        if rec.kind == "trade":
            side, p, q = rec.trade
            return MarketStep(trades=[(side, p + self.offset, q)])
        out = MarketStep()
        for side, raw_p, q in rec.levels:
            p = raw_p + self.offset
            if q:
                self.book[side][p] = q
            else:
                self.book[side].pop(p, None)
            out.pre.append((side, p, q))
        return out

    def step(self, elapsed_s: float) -> list[MarketStep]:
        """Every op due by ``elapsed_s`` seconds of replay (scaled by ``speed``), in recorded order."""
        out: list[MarketStep] = []
        if not self.started:
            out.append(MarketStep(pre=self._reset()))
        due = self.t0 + int(elapsed_s * 1000 * self.speed) - self.loops * self.span_ms
        while self.records[self.pos].t_ms <= due:
            out.append(self._apply(self.records[self.pos]))
            self.pos += 1
            if self.pos == len(self.records):
                self.pos, self.loops = 0, self.loops + 1
                due -= self.span_ms
                out.append(MarketStep(pre=self._reset()))
        mid = self._mid() * self.tick
        for s in out:
            s.mid = mid
        return out
