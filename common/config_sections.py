"""Config sections of the services (one model per service), imported by :mod:`common.config`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected, seed names accepted.

    Fields are snake_case in code; files may use the seeds' camelCase names (``netMax``) or the
    snake_case ones (``net_max``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)


class ServiceSection(Section):
    """What every service has: its metrics port, optional CPU pinning, log level."""

    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the metrics server")
    cpus: list[int] = Field(default_factory=list, description="CPU ids to pin to; empty = no pinning")
    log_level: str = ""


class VenueEndpoints(Section):
    """Where the venue is, for the services that talk to it (marketdata, gateway)."""

    rest_url: str = "http://127.0.0.1:8765"
    ws_public_url: str = "ws://127.0.0.1:8765/public"
    ws_market_url: str = "ws://127.0.0.1:8765/market"
    ws_private_url: str = "ws://127.0.0.1:8765/private"
    ws_api_url: str = "ws://127.0.0.1:8765/ws-fapi/v1"
    market: str = Field(default="usdm", pattern="^(usdm|spot)$")
    http_timeout_s: float = Field(default=5.0, gt=0)


class SimVenueConfig(ServiceSection):
    """The simulated venue (grown by the venue issue)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)


class MarketDataConfig(ServiceSection):
    """The market data service (grown by the market data issue)."""


class StrategyConfig(ServiceSection):
    """The strategy service (grown by the strategy issue)."""


class RiskConfig(ServiceSection):
    """The risk service (grown by the risk issue)."""


class GatewayConfig(ServiceSection):
    """The gateway / OMS (grown by the gateway issue)."""


class RecorderConfig(ServiceSection):
    """The recorder: SQLite event store with batched commits."""

    db_path: str = "recorder.sqlite"
    batch_max: int = Field(default=2000, ge=1)
    flush_interval_ms: int = Field(default=200, ge=1, le=60_000)


class ConsoleConfig(ServiceSection):
    """The web console."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
