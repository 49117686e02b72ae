"""The bus's message catalogue: one tagged union, decoded with ``match`` on the class.

Example::

    match msg:
        case BookLevels(symbol=s): ...
        case Fill(): ...
"""

from common.messages.base import Envelope, Message, now_ns
from common.messages.control import (
    AnyCommand,
    CancelAll,
    Command,
    CommandAudit,
    Flatten,
    GetSnapshot,
    GetStatus,
    Heartbeat,
    Kill,
    Pause,
    Query,
    ReducePosition,
    ReloadConfig,
    Reply,
    Request,
    Resume,
    ServiceStatus,
    SessionTimer,
    Shutdown,
    StateSnapshot,
)
from common.messages.market import BookLevels, Features, FeedState, FeedStatus, Instrument, MarkPrice, Trade
from common.messages.risk import MODE_ORDER, RiskEvent, RiskMode, RiskState, SymbolRisk
from common.messages.trading import (
    Account,
    Balance,
    DecisionRecord,
    Fill,
    FundingPaid,
    OmsEvent,
    OrderState,
    OrderUpdate,
    Position,
    Quote,
    Side,
    TargetQuotes,
    VenueLatency,
)

AnyMessage = (
    Heartbeat
    | ServiceStatus
    | CommandAudit
    | StateSnapshot
    | Instrument
    | BookLevels
    | Trade
    | MarkPrice
    | Features
    | FeedStatus
    | TargetQuotes
    | OrderUpdate
    | Fill
    | FundingPaid
    | Position
    | Account
    | OmsEvent
    | VenueLatency
    | RiskState
    | RiskEvent
)

__all__ = [
    "MODE_ORDER",
    "Account",
    "AnyCommand",
    "AnyMessage",
    "Balance",
    "BookLevels",
    "CancelAll",
    "Command",
    "CommandAudit",
    "DecisionRecord",
    "Envelope",
    "Features",
    "FeedState",
    "FeedStatus",
    "Fill",
    "Flatten",
    "FundingPaid",
    "GetSnapshot",
    "GetStatus",
    "Heartbeat",
    "Instrument",
    "Kill",
    "MarkPrice",
    "Message",
    "OmsEvent",
    "OrderState",
    "OrderUpdate",
    "Pause",
    "Position",
    "Query",
    "Quote",
    "ReducePosition",
    "ReloadConfig",
    "Reply",
    "Request",
    "Resume",
    "RiskEvent",
    "RiskMode",
    "RiskState",
    "ServiceStatus",
    "SessionTimer",
    "Shutdown",
    "Side",
    "StateSnapshot",
    "SymbolRisk",
    "Trade",
    "VenueLatency",
    "now_ns",
]
