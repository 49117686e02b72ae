"""Risk state and risk events (``risk.state``, ``risk.event``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from common.messages.base import Message

RiskMode = Literal["normal", "reduce_only", "halted", "killed"]

MODE_ORDER: dict[str, int] = {"normal": 0, "reduce_only": 1, "halted": 2, "killed": 3}


class SymbolRisk(msgspec.Struct, frozen=True, kw_only=True):
    """Mode of one symbol with the reason and when it may lift (0 = operator resume needed)."""

    mode: RiskMode
    reason: str = ""
    until_ns: int = 0


class RiskState(Message, frozen=True, kw_only=True):
    """The risk service's whole verdict, republished on every change and periodically.

    ``ready`` is false until risk has rebuilt positions and PnL after a start; the gateway treats
    a silent or not-ready risk service as a reason to fail closed.
    """

    mode: RiskMode
    reason: str = ""
    ready: bool = True
    symbols: dict[str, SymbolRisk] = msgspec.field(default_factory=dict)
    figures: dict[str, float] = msgspec.field(default_factory=dict)


class RiskEvent(Message, frozen=True, kw_only=True):
    """Every risk decision that changed something, with the figures that caused it."""

    rule: str
    action: str
    symbol: str = ""
    from_mode: str = ""
    to_mode: str = ""
    reason: str = ""
    figures: dict[str, float] = msgspec.field(default_factory=dict)
