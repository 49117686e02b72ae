"""What a rule sees when it runs: one symbol (or the account), its parameters, the clock, the collector."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from common.messages import Instrument
from common.params.risk import RiskParams, SymbolRiskParams
from services.risk.modes import Changes
from services.risk.state import AccountState, EngineState, SymbolState

NS = 1_000_000_000
DAY_NS = 86_400 * NS


class SymbolView(NamedTuple):
    """One symbol's rule inputs; ``equity`` is the account's (None before any account update)."""

    name: str
    p: SymbolRiskParams
    s: SymbolState
    acct: AccountState
    inst: Instrument | None
    equity: Decimal | None
    now: int
    ch: Changes


class AccountView(NamedTuple):
    """The account rules' inputs."""

    p: RiskParams
    st: EngineState
    equity: Decimal | None
    now: int
    ch: Changes


def next_day(now_ns: int) -> int:
    """The next 00:00 UTC after ``now_ns``."""
    return (now_ns // DAY_NS + 1) * DAY_NS
