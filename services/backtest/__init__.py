"""The backtester: the same code that trades (strategy core, risk engine, gateway core) on recorded
and synthetic markets, in one process on simulated time. ``run`` is the Python API."""

from services.backtest.api import run
from services.backtest.result import Result

__all__ = ["Result", "run"]
