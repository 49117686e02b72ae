"""Sample instruments, features and inputs with realistic Binance filters, for tests, benchmarks and docs.

The instruments mirror the simulated venue's defaults (ETHUSDC: tick 0.01, step 0.001, min
notional 10; BTCUSDC: tick 0.1, step 0.001, min notional 50).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from common.messages import Features, Instrument
from services.strategy.engine import StrategyInputs

T0_NS = 1_723_161_600_000_000_000
"""2024-08-09 00:00 UTC, a round start time for scenarios."""


def instrument(symbol: str = "ETHUSDC") -> Instrument:
    """ETHUSDC or BTCUSDC with the venue's filters."""
    if symbol.startswith("BTC"):
        return Instrument(
            symbol=symbol, price_tick=Decimal("0.1"), qty_step=Decimal("0.001"), min_qty=Decimal("0.001"),
            max_qty=Decimal(1000), min_notional=Decimal(50), min_price=Decimal("0.1"), ts_event=0, ts_init=0,
        )  # fmt: skip
    return Instrument(
        symbol=symbol, price_tick=Decimal("0.01"), qty_step=Decimal("0.001"), min_qty=Decimal("0.001"),
        max_qty=Decimal(10000), min_notional=Decimal(10), min_price=Decimal("0.01"), ts_event=0, ts_init=0,
    )  # fmt: skip


def features(
    bid: float = 2680.00, ask: float = 2680.01, ts_ns: int = T0_NS, symbol: str = "ETHUSDC", **extra: Any
) -> Features:
    """A consistent Features message around a touch; ``extra`` overrides any field."""
    fields: dict[str, Any] = {
        "symbol": symbol,
        "best_bid": bid,
        "best_ask": ask,
        "bid_qty": 5.0,
        "ask_qty": 5.0,
        "mid": (bid + ask) / 2,
        "microprice": (bid + ask) / 2,
        "spread": ask - bid,
        "spread_bps": (ask - bid) / ((bid + ask) / 2) * 1e4,
        "depth_bid": 60.0,
        "depth_ask": 60.0,
        "imbalance": 0.0,
        "vol": {"1s": 1.0e-4, "10s": 8.0e-5, "60s": 5.0e-5},
        "intensity_a": 1.5,
        "intensity_k": 0.05,
        "ts_event": ts_ns,
        "ts_init": ts_ns,
    }
    fields.update(extra)
    return Features(**fields)


def inputs(
    position: str | Decimal = "0", entry: str | Decimal = "0", now_ns: int = T0_NS, **extra: Any
) -> StrategyInputs:
    """Inputs at ``now_ns`` with fresh default features unless ``features=`` is given (None allowed)."""
    symbol = extra.pop("symbol", "ETHUSDC")
    fields: dict[str, Any] = {
        "symbol": symbol,
        "now_ns": now_ns,
        "features": extra.pop("features") if "features" in extra else features(ts_ns=now_ns, symbol=symbol),
        "instrument": instrument(symbol),
        "position": Decimal(position),
        "entry_price": Decimal(entry),
    }
    fields.update(extra)
    return StrategyInputs(**fields)
