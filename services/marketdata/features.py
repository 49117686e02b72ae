"""Derived market state for one symbol, updated incrementally and published as ``Features``.

The caller drives it with book tops, trades and mark-price updates, each stamped with its own
time in ns (the same clock for all three; exchange time is the natural choice). Nothing here reads
a clock, so a replay gives the same numbers as the live run. Features are floats: they steer the
models and are never sent to the venue as prices.

Units: prices in quote currency, quantities in base asset; ``vol`` is the std of mid log returns
per √second (multiply by the mid for price per √s); intensity A per second, k per tick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from common.messages import Features
from services.marketdata.intensity import IntensityConfig, IntensityEstimator
from services.marketdata.vpin import Vpin
from services.marketdata.windows import DecayedFlow, DecayedVolatility, Twap, Vwap

Levels = Sequence[tuple[int, int]]
"""Book levels best first as (price_ticks, qty_steps), e.g. ``OrderBook.top(n)``."""


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Feature parameters: times in seconds, VPIN bucket in base-asset units.

    ``vol_half_lives_s`` names each volatility horizon (the key in ``Features.vol``).
    ``vpin_bucket_qty`` should be set per symbol, around a fiftieth of a day's volume.
    ``hybrid_twap_weight`` is seed 003 §3.2's reference: 60 % TWAP + 40 % VWAP.
    """

    depth_levels: int = 10
    vol_half_lives_s: tuple[tuple[str, float], ...] = (("1s", 1.0), ("10s", 10.0), ("60s", 60.0))
    trade_flow_half_life_s: float = 10.0
    vpin_bucket_qty: float = 100.0
    vpin_window_buckets: int = 50
    twap_window_s: float = 60.0
    vwap_window_s: float = 60.0
    hybrid_twap_weight: float = 0.6
    intensity: IntensityConfig = field(default_factory=IntensityConfig)

    def __post_init__(self) -> None:
        if self.depth_levels < 1:
            raise ValueError(f"depth_levels must be >= 1, got {self.depth_levels}")
        if not 0.0 <= self.hybrid_twap_weight <= 1.0:
            raise ValueError(f"hybrid_twap_weight must lie in [0, 1], got {self.hybrid_twap_weight}")


@dataclass(slots=True)
class BookTop:
    """Book-derived values of the last ``on_book``; all 0.0 while either side is empty."""

    bid: float = 0.0
    ask: float = 0.0
    bid_qty: float = 0.0
    ask_qty: float = 0.0
    depth_bid: float = 0.0
    depth_ask: float = 0.0
    mid: float = 0.0
    mid_ticks: float = 0.0
    spread: float = 0.0
    ts_ns: int = 0
    last_update_id: int = 0


@dataclass(slots=True)
class MarkState:
    """The last mark-price update."""

    mark: float = 0.0
    index: float = 0.0
    funding_rate: float = 0.0
    next_funding_time_ms: int = 0


class MarketFeatures:
    """Incremental features of one symbol; :meth:`to_message` builds the ``Features`` message."""

    def __init__(
        self, symbol: str, price_tick: Decimal, qty_step: Decimal, config: FeatureConfig | None = None
    ) -> None:
        self.symbol = symbol
        self.config = cfg = config or FeatureConfig()
        self._price_tick = price_tick
        self._tick = float(price_tick)
        self._inv_tick = 1.0 / self._tick
        self._unit = self._tick  # the book levels' price unit (finer than the tick: see set_units)
        self._ratio = 1.0  # book price units per tick
        self._step = float(qty_step)
        self.top = BookTop()
        self.mark = MarkState()
        self.last_trade_price = 0.0
        self._vol = {name: DecayedVolatility(hl) for name, hl in cfg.vol_half_lives_s}
        self._flow = DecayedFlow(cfg.trade_flow_half_life_s)
        self._vpin = Vpin(cfg.vpin_bucket_qty, cfg.vpin_window_buckets)
        self._twap = Twap(cfg.twap_window_s)
        self._vwap = Vwap(cfg.vwap_window_s)
        self._intensity = IntensityEstimator(cfg.intensity)

    def set_units(self, price_unit: Decimal, qty_unit: Decimal) -> None:
        """The units of the book levels given to :meth:`on_book` (the book's, finer than the
        instrument's tick and step once the feed sent a finer level); intensity stays in ticks."""
        self._unit = float(price_unit)
        self._ratio = float(price_unit / self._price_tick)
        self._step = float(qty_unit)

    def on_book(self, bids: Levels, asks: Levels, ts_ns: int, last_update_id: int = 0) -> None:
        """The book's top levels changed (best first); a one-sided book clears the book features."""
        if not bids or not asks:
            self.top = BookTop(last_update_id=last_update_id)
            return
        top = self.top
        top.last_update_id = last_update_id
        n, step, tick = self.config.depth_levels, self._step, self._unit
        mid_units = (bids[0][0] + asks[0][0]) / 2
        mid = mid_units * tick
        mid_ticks = mid_units if self._ratio == 1.0 else mid_units * self._ratio
        if top.mid > 0:
            self._on_return(math.log(mid / top.mid) if mid != top.mid else 0.0, ts_ns - top.ts_ns)
        top.bid, top.ask = bids[0][0] * tick, asks[0][0] * tick
        top.bid_qty, top.ask_qty = bids[0][1] * step, asks[0][1] * step
        top.depth_bid = sum(q for _, q in bids[:n]) * step
        top.depth_ask = sum(q for _, q in asks[:n]) * step
        top.mid, top.mid_ticks, top.ts_ns = mid, mid_ticks, ts_ns
        top.spread = (asks[0][0] - bids[0][0]) * tick  # from ticks: no float cancellation
        self._twap.update(mid, ts_ns)
        self._intensity.on_mid(mid_ticks, ts_ns)

    def on_trade(self, price: float, qty: float, buyer_is_maker: bool, ts_ns: int) -> None:
        """A public trade; ``buyer_is_maker`` true means the aggressor sold."""
        is_buy = not buyer_is_maker
        self.last_trade_price = price
        self._flow.update(qty, is_buy, ts_ns)
        self._vpin.update(qty, is_buy)
        self._vwap.update(price, qty, ts_ns)
        self._intensity.on_trade(round(price * self._inv_tick), is_buy, ts_ns)

    def on_mark(
        self, mark: float, index: float, funding_rate: float, next_funding_time_ms: int, ts_ns: int
    ) -> None:
        """A mark-price update (futures): mark, index, funding rate, next funding time in ms."""
        self.mark = MarkState(mark, index, funding_rate, next_funding_time_ms)
        self._intensity.advance(ts_ns)

    @property
    def intensity(self) -> IntensityEstimator:
        """The arrival-intensity estimator (A, k and its sample count)."""
        return self._intensity

    def to_message(
        self, ts_ns: int, ts_init: int | None = None, trace_id: int = 0, trace_ns: int = 0
    ) -> Features:
        """The features as of ``ts_ns`` (windows end there); ``ts_init`` defaults to ``ts_ns``;
        ``trace_id`` and ``trace_ns`` name the market event behind them (:class:`Features`)."""
        top, mark = self.top, self.mark
        twap, vwap = self._twap.value(ts_ns), self._vwap.value(ts_ns)
        return Features(
            symbol=self.symbol,
            best_bid=top.bid,
            best_ask=top.ask,
            bid_qty=top.bid_qty,
            ask_qty=top.ask_qty,
            mid=top.mid,
            microprice=microprice(top.bid, top.ask, top.bid_qty, top.ask_qty),
            spread=top.spread,
            spread_bps=top.spread / top.mid * 1e4 if top.mid else 0.0,
            depth_bid=top.depth_bid,
            depth_ask=top.depth_ask,
            imbalance=imbalance(top.depth_bid, top.depth_ask),
            vol={name: v.value for name, v in self._vol.items()},
            trade_imbalance=self._flow.value,
            vpin=self._vpin.value,
            twap=twap,
            vwap=vwap,
            ref_hybrid=hybrid_reference(twap, vwap, self.config.hybrid_twap_weight),
            last_trade_price=self.last_trade_price,
            mark_price=mark.mark,
            funding_rate=mark.funding_rate,
            next_funding_time_ms=mark.next_funding_time_ms,
            intensity_a=self._intensity.a,
            intensity_k=self._intensity.k,
            intensity_a_bid=self._intensity.a_bid,
            intensity_k_bid=self._intensity.k_bid,
            intensity_a_ask=self._intensity.a_ask,
            intensity_k_ask=self._intensity.k_ask,
            price_tick=self._tick,
            last_update_id=top.last_update_id,
            ts_event=ts_ns,
            ts_init=ts_ns if ts_init is None else ts_init,
            trace_id=trace_id,
            trace_ns=trace_ns,
        )

    def _on_return(self, r: float, dt_ns: int) -> None:
        if dt_ns > 0:
            for v in self._vol.values():
                v.update(r, dt_ns)


def microprice(bid: float, ask: float, bid_qty: float, ask_qty: float) -> float:
    """Size-weighted mid: leans toward the side with less size (the one likelier to give way)."""
    total = bid_qty + ask_qty
    return (bid * ask_qty + ask * bid_qty) / total if total > 0 else (bid + ask) / 2


def imbalance(bid_qty: float, ask_qty: float) -> float:
    """(bid − ask) / (bid + ask), in [-1, 1]; 0.0 for an empty book."""
    total = bid_qty + ask_qty
    return (bid_qty - ask_qty) / total if total > 0 else 0.0


def hybrid_reference(twap: float, vwap: float, twap_weight: float = 0.6) -> float:
    """Seed 003 §3.2's reference price: ``w·TWAP + (1 − w)·VWAP``; TWAP alone when no trades (VWAP 0)."""
    if not vwap:
        return twap
    if not twap:
        return vwap
    return twap_weight * twap + (1.0 - twap_weight) * vwap
