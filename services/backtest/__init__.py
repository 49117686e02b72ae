"""The backtester: the same code that trades (strategy core, risk engine, gateway core) on recorded
and synthetic markets, in one process on simulated time. ``run`` and ``sweep`` are the Python API."""

from services.backtest.api import run
from services.backtest.result import Result
from services.backtest.sweep import sweep

__all__ = ["Result", "run", "sweep"]
