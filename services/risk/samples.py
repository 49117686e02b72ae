"""Sample instruments, market messages, fills and ladders for the risk engine's tests, benchmark and docs.

The instruments mirror the simulated venue's defaults (ETHUSDC: tick 0.01, step 0.001, min notional
10; BTCUSDC: tick 0.1, step 0.001, min notional 50). :func:`ready_engine` builds an engine that has
seen a live feed, a mark, features and an account for each symbol, and is ready at ``T0_NS``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from common.messages import (
    Account,
    Balance,
    Features,
    FeedStatus,
    Fill,
    Instrument,
    MarkPrice,
    Quote,
    Side,
    TargetQuotes,
)
from common.params.risk import RiskParams
from services.risk.engine import RiskEngine

T0_NS = 1_723_161_600_000_000_000
"""2024-08-09 00:00 UTC."""
S = 1_000_000_000
PRICES = {"ETHUSDC": Decimal("2680.00"), "BTCUSDC": Decimal("61000.0")}


LOOSE_SYMBOL: dict[str, Any] = {
    "netMax": 100, "singleMax": 100, "pnlMin": -1e6, "pnlMax": 1e6, "stopLoss": -1e6,
    "drawdownBands": [1e6, 2e6, 3e6], "reduceOnlyThreshold": 1e6, "shockPct": 0.9,
    "bookMarkMaxDeviationPct": 0.5, "latencyMs": 1e6, "latencyPauseMs": 1e6, "liqDistanceMinPct": 0.001,
    "maxActionsPerSecond": 10**6, "maxCancelsPerMinute": 10**6,
}  # fmt: skip
LOOSE_ACCOUNT: dict[str, Any] = {
    "dailyMax": 1e9, "maxDrawdownPct": 0.99, "totalNotionalMax": 1e12, "leverageMax": 1e6,
    "marginRatioMax": 0.99,
}  # fmt: skip


def loose(symbols: tuple[str, ...] = ("ETHUSDC", "BTCUSDC"), **account: Any) -> RiskParams:
    """Every limit out of the way except those given: ``account`` keys and ``<SYMBOL>={...}`` dicts.

    ``loose(dailyMax=50)`` tests the daily loss alone; ``loose(ETHUSDC={"stopLoss": -60})`` the stop loss.
    """
    per = {s: _loose_symbol(account.pop(s, {})) for s in symbols}
    return RiskParams.model_validate({**LOOSE_ACCOUNT, **account, "symbols": per})


def _loose_symbol(tight: dict[str, Any]) -> dict[str, Any]:
    out = {**LOOSE_SYMBOL, **tight}
    if "singleMax" not in tight:
        out["singleMax"] = out["netMax"]
    return out


def instrument(symbol: str = "ETHUSDC") -> Instrument:
    """ETHUSDC or BTCUSDC with the venue's filters."""
    btc = symbol.startswith("BTC")
    return Instrument(
        symbol=symbol, price_tick=Decimal("0.1" if btc else "0.01"), qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"), max_qty=Decimal(1000 if btc else 10000),
        min_notional=Decimal(50 if btc else 10), min_price=Decimal("0.1" if btc else "0.01"),
        ts_event=0, ts_init=0,
    )  # fmt: skip


def mark(symbol: str, price: Decimal | str, ts: int) -> MarkPrice:
    """A mark price stamped ``ts``."""
    p = Decimal(price)
    return MarkPrice(
        symbol=symbol, mark_price=p, index_price=p, funding_rate=Decimal("0.0001"),
        next_funding_time_ms=0, ts_event=ts, ts_init=ts,
    )  # fmt: skip


def features(symbol: str, mid: float, ts: int, half_spread: float = 0.005) -> Features:
    """A consistent touch around ``mid`` stamped ``ts``."""
    bid, ask = mid - half_spread, mid + half_spread
    return Features(
        symbol=symbol, best_bid=bid, best_ask=ask, bid_qty=5.0, ask_qty=5.0, mid=mid, microprice=mid,
        spread=ask - bid, spread_bps=(ask - bid) / mid * 1e4, depth_bid=60.0, depth_ask=60.0,
        imbalance=0.0, ts_event=ts, ts_init=ts,
    )  # fmt: skip


def feed(symbol: str, state: str = "live", ts: int = T0_NS) -> FeedStatus:
    """A feed status."""
    return FeedStatus(symbol=symbol, state=state, ts_event=ts, ts_init=ts)  # type: ignore[arg-type]


def account(wallet: Decimal | str = "10000", maint: Decimal | str = "0") -> Account:
    """One USDC balance."""
    w, m = Decimal(wallet), Decimal(maint)
    bal = Balance(asset="USDC", wallet=w, margin_balance=w, maint_margin=m)
    return Account(balances=[bal], ts_event=T0_NS, ts_init=T0_NS)


def fill(
    symbol: str,
    side: Side,
    price: Decimal | str,
    qty: Decimal | str,
    trade_id: int,
    fee: str = "0",
    ts: int = 0,
) -> Fill:
    """One of our executions (realized PnL left to risk's own bookkeeping)."""
    return Fill(
        symbol=symbol, trade_id=trade_id, client_order_id=f"c{trade_id}", venue_order_id=trade_id,
        side=side, price=Decimal(price), qty=Decimal(qty), fee=Decimal(fee), fee_asset="USDC",
        realized_pnl=Decimal(0), is_maker=True, ts_event=ts or T0_NS, ts_init=ts or T0_NS,
    )  # fmt: skip


def ladder(
    symbol: str, mid: Decimal | str, layers: int, size: Decimal | str, gap_ticks: int = 10
) -> list[Quote]:
    """``layers`` bids and asks around ``mid``, ``gap_ticks`` apart, all of ``size``."""
    inst = instrument(symbol)
    m, q = Decimal(mid), Decimal(size)
    out = []
    for i in range(layers):
        d = inst.price_tick * gap_ticks * (i + 1)
        out.append(Quote(side="BUY", price=m - d, qty=q, layer=i))
        out.append(Quote(side="SELL", price=m + d, qty=q, layer=i))
    return out


def target(symbol: str, quotes: list[Quote], target_id: int = 1, ts: int = T0_NS) -> TargetQuotes:
    """A strategy target."""
    return TargetQuotes(symbol=symbol, target_id=target_id, quotes=quotes, ts_event=ts, ts_init=ts)


def feed_market(engine: RiskEngine, symbol: str, price: Decimal | str, ts: int) -> None:
    """A mark and consistent features at ``price``, stamped ``ts``."""
    engine.on_mark(mark(symbol, price, ts))
    engine.on_features(features(symbol, float(price), ts))


def ready_engine(
    params: RiskParams | None = None, symbols: tuple[str, ...] = ("ETHUSDC", "BTCUSDC"), wallet: str = "10000"
) -> RiskEngine:
    """An engine with instruments, live feeds, marks, features and an account, ready at ``T0_NS``."""
    engine = RiskEngine(params or RiskParams(), {s: instrument(s) for s in symbols})
    for s in symbols:
        engine.on_feed_status(feed(s))
        feed_market(engine, s, PRICES[s], T0_NS)
    engine.on_account(account(wallet))
    engine.mark_ready(T0_NS)
    return engine
