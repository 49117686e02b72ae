"""Config sections of the services (one model per service), imported by :mod:`common.config`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from common.params.gateway import GatewayParams
from common.params.risk import RiskParams
from common.params.strategy import StrategyParams, SymbolStrategy
from common.section import Section, merge_symbol_defaults


class ServiceSection(Section):
    """What every service has: its metrics port, optional CPU pinning, log level."""

    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the metrics server")
    cpus: list[int] = Field(default_factory=list, description="CPU ids to pin to; empty = no pinning")
    log_level: Literal["", "TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="", description="this service's level; empty = the top-level log_level"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v


class VenueEndpoints(Section):
    """Where the venue is, for the services that talk to it (marketdata, gateway)."""

    rest_url: str = "http://127.0.0.1:8765"
    ws_public_url: str = "ws://127.0.0.1:8765/public"
    ws_market_url: str = "ws://127.0.0.1:8765/market"
    ws_private_url: str = "ws://127.0.0.1:8765/private"
    ws_api_url: str = "ws://127.0.0.1:8765/ws-fapi/v1"
    market: str = Field(default="usdm", pattern="^(usdm|spot)$")
    http_timeout_s: float = Field(default=5.0, gt=0)
    # Spot (seed 003): its REST base, its market streams' base (``/ws/<s>``, ``/stream``), its WS API.
    # Empty: the simulated venue's, beside the futures URLs above (rest_url's host, /spot paths).
    spot_rest_url: str = ""
    spot_ws_url: str = ""
    spot_ws_api_url: str = ""

    @property
    def spot_rest(self) -> str:
        return self.spot_rest_url or self.rest_url

    @property
    def spot_ws(self) -> str:
        return self.spot_ws_url or self._ws_origin() + "/spot"

    @property
    def spot_ws_api(self) -> str:
        return self.spot_ws_api_url or self._ws_origin() + "/spot/ws-api/v3"

    def _ws_origin(self) -> str:
        scheme, _, rest = self.rest_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest.split('/', 1)[0]}"


class VenueSymbolConfig(Section):
    """One symbol of the simulated venue: Binance's filters plus the synthetic market's shape."""

    symbol: str = Field(pattern=r"^[A-Z0-9]{2,20}$")
    base_asset: str
    quote_asset: str
    price_tick: Decimal = Field(gt=0)
    qty_step: Decimal = Field(gt=0)
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_qty: Decimal = Field(gt=0)
    max_qty: Decimal = Field(gt=0)
    market_max_qty: Decimal = Field(gt=0)
    min_notional: Decimal = Field(ge=0)
    percent_up: Decimal = Decimal("1.05")
    percent_down: Decimal = Decimal("0.95")
    max_num_orders: int = Field(default=200, ge=1)
    max_leverage: int = Field(default=125, ge=1, le=125, description="the first leverage bracket's cap")
    start_price: Decimal = Field(gt=0)
    # Defaults calibrated from the recorded ETHUSDT feed (python -m services.venue.calibrate).
    sigma: float = Field(default=1.14e-4, ge=0, description="mid volatility per sqrt(second), relative")
    jumps_per_hour: float = Field(default=0.5, ge=0)
    jump_sigma: float = Field(default=0.002, ge=0, description="relative size of a jump (std)")
    book_levels: int = Field(default=150, ge=5, le=1000, description="levels per side of the synthetic book")
    level_qty: Decimal = Field(gt=0, description="typical resting size per level of the synthetic book")
    spread_ticks: int = Field(default=1, ge=1)
    intensity_a: float = Field(default=0.63, ge=0, description="market orders per second reaching the touch")
    intensity_k: float = Field(default=0.058, gt=0, description="decay of arrival depth, per tick")
    # The order-flow market (simvenue.model = "flow"). Defaults fitted to the recorded ETHUSDT file:
    # python -m services.venue.calibrate data/binance/usdm_ethusdt_20240808.gz --flow
    taker_rate: float = Field(default=5.095, ge=0, description="flow: taker orders per second and side")
    taker_branching: float = Field(default=0.694, ge=0, lt=0.95, description="flow: Hawkes branching ratio")
    taker_decay_s: float = Field(default=0.05, gt=0, description="flow: Hawkes kernel time constant")
    taker_qty_median: Decimal = Field(default=Decimal("0.207"), gt=0, description="flow: median taker order")
    taker_qty_sigma: float = Field(default=2.35, ge=0, le=5, description="flow: log-scale of taker sizes")
    flow_level_qty: Decimal = Field(
        default=Decimal("46.93"), gt=0, description="flow: median drawn level size"
    )
    level_qty_sigma: float = Field(default=1.0, ge=0, le=5, description="flow: log-scale of level sizes")
    refill_s: float = Field(default=5.71, gt=0, description="flow: time constant of a level's refill")
    impact_ticks: float = Field(
        default=0.691, ge=0, description="flow: impact of a median taker order, ticks"
    )
    flow_sigma: float = Field(
        default=1.036e-4, ge=0, description="flow: diffusion beside the flow, per sqrt(s)"
    )
    funding_rate: Decimal = Decimal("0.0001")
    replay_file: str = ""


DEFAULT_REPLAY_BASE = "ETH"
"""The base asset of the built-in recording (``data/binance/usdm_ethusdt_20240808.gz``)."""


class VenueAccountConfig(Section):
    """An account of the simulated venue; its key pair is read from the named environment variables."""

    name: str
    api_key_env: str = "MM_API_KEY"
    api_secret_env: str = "MM_API_SECRET"
    read_key_env: str = Field(
        default="", description="env var of a read-only API key (USER_DATA reads only); empty = none"
    )
    read_secret_env: str = Field(default="", description="env var of the read-only key's secret")
    balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDC": Decimal(10000), "USDT": Decimal(10000)}
    )
    leverage: int = Field(default=20, ge=1, le=125)
    spot_balances: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "USDT": Decimal(50000),
            "USDC": Decimal(10000),
            "ETH": Decimal(20),
            "BTC": Decimal("0.2"),
        },
        description="the account's spot wallet, apart from its futures margin",
    )


class FeeConfig(Section):
    """Commission rates of one margin asset's symbols."""

    maker: Decimal = Decimal(0)
    taker: Decimal = Decimal("0.0004")


def _default_symbols() -> list[VenueSymbolConfig]:
    common: dict[str, Any] = {
        "min_price": Decimal("0.01"),
        "max_qty": Decimal(10000),
        "market_max_qty": Decimal(2000),
    }
    return [
        VenueSymbolConfig(
            symbol=f"ETH{q}",
            base_asset="ETH",
            quote_asset=q,
            price_tick=Decimal("0.01"),
            qty_step=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            min_notional=Decimal(10 if q == "USDC" else 20),
            start_price=Decimal("2680"),
            level_qty=Decimal("2.0"),
            **common,
        )
        for q in ("USDC", "USDT")
    ] + [
        VenueSymbolConfig(
            symbol=f"BTC{q}",
            base_asset="BTC",
            quote_asset=q,
            price_tick=Decimal("0.1"),
            qty_step=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            min_notional=Decimal(50 if q == "USDC" else 100),
            start_price=Decimal("61000"),
            level_qty=Decimal("0.3"),
            min_price=Decimal("0.1"),
            max_qty=Decimal(1000),
            market_max_qty=Decimal(120),
            intensity_k=0.025,
            # The flow market scaled from ETH's fit by notional (no BTC recording is shipped):
            # sizes × 2680/61000, the impact kept in relative terms (ticks × 0.01/2680 · 61000/0.1).
            taker_qty_median=Decimal("0.009"),
            flow_level_qty=Decimal("2.06"),
            impact_ticks=1.57,
        )
        for q in ("USDC", "USDT")
    ]


# Symbols the venue can list beyond its configured ones: (price tick, quantity step, minimum
# notional, a start price), typical of Binance's USDⓈ-M filters in 2024. Quoted in USDC or USDT.
CATALOGUE: dict[str, tuple[str, str, int, str]] = {
    "SOL": ("0.01", "1", 5, "150"), "BNB": ("0.01", "0.01", 5, "560"),
    "XRP": ("0.0001", "0.1", 5, "0.55"), "DOGE": ("0.00001", "1", 5, "0.11"),
    "ADA": ("0.0001", "1", 5, "0.35"), "LTC": ("0.01", "0.001", 20, "65"),
    "LINK": ("0.001", "0.01", 20, "11"), "AVAX": ("0.001", "1", 5, "22"),
    "DOT": ("0.001", "0.1", 5, "4.5"), "BCH": ("0.01", "0.001", 20, "330"),
    "ETC": ("0.001", "0.01", 20, "19"), "TRX": ("0.00001", "1", 5, "0.15"),
    "SUI": ("0.0001", "0.1", 5, "0.9"), "FIL": ("0.001", "0.1", 5, "3.6"),
    "NEAR": ("0.001", "1", 5, "4.2"),
}  # fmt: skip


ETH_PRICE = Decimal(2680)
"""The price ETHUSDC's default sizes are meant at (the recorded file's level)."""


def same_notional(eth_qty: str | Decimal, price: Decimal, step: Decimal) -> Decimal:
    """An ETH size at the same notional on a symbol priced ``price``, on its ``step`` (at least one)."""
    return max(step, (Decimal(eth_qty) * ETH_PRICE / price / step).quantize(Decimal(1)) * step)


SPOT_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "ETH": ("0.01", "0.0001", "2680"), "BTC": ("0.01", "0.00001", "61000"),
}  # fmt: skip
"""Spot markets the venue can list beyond its configured ones: (tickSize, stepSize, a start price),
Binance's spot filters of 2024 (ETHUSDT, BTCUSDT; NOTIONAL minimum 5)."""


def spot_catalogue_symbol(symbol: str) -> VenueSymbolConfig | None:
    """A venue spot symbol for ``symbol`` (``ETHUSDT``, ``BTCUSDC``, ...), or None when unknown."""
    quote = next((q for q in ("USDC", "USDT") if symbol.endswith(q)), None)
    base = symbol[: -len(quote)] if quote else ""
    if quote is None or base not in SPOT_CATALOGUE:
        return None
    tick_s, step_s, price_s = SPOT_CATALOGUE[base]
    tick, step, price = Decimal(tick_s), Decimal(step_s), Decimal(price_s)
    return VenueSymbolConfig(
        symbol=symbol, base_asset=base, quote_asset=quote, price_tick=tick, qty_step=step, min_qty=step,
        max_qty=Decimal(9000), market_max_qty=Decimal(1000), min_notional=Decimal(5), min_price=tick,
        start_price=price, level_qty=same_notional("2.0", price, step),
        taker_qty_median=same_notional("0.207", price, step),
        flow_level_qty=same_notional("46.93", price, step),
    )  # fmt: skip


def catalogue_symbol(symbol: str) -> VenueSymbolConfig | None:
    """A venue symbol for ``symbol`` (``SOLUSDC``, ``DOGEUSDT``, ...) from :data:`CATALOGUE`, its
    market shaped like ETH's fitted one in relative terms (sizes by notional, volatility and impact
    relative to the price); None for a symbol the catalogue does not know."""
    quote = next((q for q in ("USDC", "USDT") if symbol.endswith(q)), None)
    base = symbol[: -len(quote)] if quote else ""
    if quote is None or base not in CATALOGUE:
        return None
    tick_s, step_s, notional, price_s = CATALOGUE[base]
    tick, step, price = Decimal(tick_s), Decimal(step_s), Decimal(price_s)

    def qty(eth_qty: str) -> Decimal:
        return same_notional(eth_qty, price, step)

    rel_tick = float(tick / price) / float(Decimal("0.01") / ETH_PRICE)  # this tick in ETH ticks
    return VenueSymbolConfig(
        symbol=symbol, base_asset=base, quote_asset=quote, price_tick=tick, qty_step=step, min_qty=step,
        min_price=tick, max_qty=qty("10000"), market_max_qty=qty("2000"), min_notional=Decimal(notional),
        start_price=price, level_qty=qty("2.0"), intensity_k=0.058 * rel_tick,
        taker_qty_median=qty("0.207"), flow_level_qty=qty("46.93"), impact_ticks=0.691 / rel_tick,
    )  # fmt: skip


class SimVenueConfig(ServiceSection):
    """The simulated Binance venue: its symbols, accounts, market model, limits and timers."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    model: Literal["synthetic", "flow", "replay", "live"] = Field(
        default="synthetic",
        description="synthetic: the Avellaneda-Stoikov textbook market; flow: the order-flow market "
        "calibrated to the recorded files; replay: a recording; live: a real venue's public streams "
        "(paper trading on live data, the paper-live profile)",
    )
    live_ws_url: str = Field(default="wss://fstream.binance.com", description="model live: public streams")
    live_rest_url: str = Field(default="https://fapi.binance.com", description="model live: depth snapshots")
    seed: int = 7
    step_ms: int = Field(default=100, ge=5, le=5000, description="synthetic market time step")
    replay_speed: float = Field(default=1.0, gt=0, description="1 = real time; 0 < x: accelerated")
    symbols: list[VenueSymbolConfig] = Field(default_factory=_default_symbols, min_length=1)
    accounts: list[VenueAccountConfig] = Field(default_factory=lambda: [VenueAccountConfig(name="paper")])
    fees: dict[str, FeeConfig] = Field(
        default_factory=lambda: {
            "USDC": FeeConfig(),
            "USDT": FeeConfig(maker=Decimal("0.0002"), taker=Decimal("0.0005")),
        }
    )
    queue_model: Literal["risk_averse", "power_prob"] = "power_prob"
    queue_power: float = Field(default=2.0, gt=0)
    funding_interval_s: float = Field(default=28800.0, gt=0)
    maintenance_margin_rate: Decimal = Decimal("0.004")
    stp_default: Literal["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"] = "EXPIRE_MAKER"
    weight_per_minute: int = Field(default=2400, ge=1)
    orders_per_10s: int = Field(default=300, ge=1)
    orders_per_minute: int = Field(default=1200, ge=1)
    spot_weight_per_minute: int = Field(default=6000, ge=1, description="spot's REQUEST_WEIGHT per IP")
    spot_orders_per_10s: int = Field(default=100, ge=1, description="spot's ORDERS per account, 10 s")
    spot_orders_per_day: int = Field(default=200000, ge=1, description="spot's ORDERS per account, 1 day")
    ban_after_violations: int = Field(default=10, ge=1, description="429s answered before a 418 ban")
    ban_base_s: float = Field(default=120.0, gt=0)
    ban_max_s: float = Field(default=259200.0, gt=0)
    listen_key_ttl_s: float = Field(default=3600.0, gt=0)
    ws_ping_interval_s: float = Field(default=180.0, gt=0)
    ws_max_lifetime_s: float = Field(default=86400.0, gt=0)
    ws_max_incoming_per_s: int = Field(default=10, ge=1)
    recv_window_max_ms: int = 60000
    admin: bool = Field(default=True, description="fault-injection endpoints under /_admin (loopback only)")
    spot_symbols: list[VenueSymbolConfig] = Field(
        default_factory=list, description="spot markets (/api/v3), apart from the futures symbols"
    )
    spot_maker_fee: Decimal = Field(default=Decimal("0.001"), ge=0, description="spot commission, maker")
    spot_taker_fee: Decimal = Field(default=Decimal("0.001"), ge=0, description="spot commission, taker")
    persist: bool = Field(
        default=True, description="keep accounts, orders and trade history across restarts (state_file)"
    )
    state_file: str = Field(default="venue_state.json", description="under the run directory")
    persist_interval_s: float = Field(default=2.0, gt=0, description="save this often when something changed")

    @model_validator(mode="after")
    def _replay_files(self) -> SimVenueConfig:
        """A replayed symbol needs a recording of its own market: the built-in one is ETH's, and
        its prices replayed into another symbol (BTCUSDC at tick 0.1) make a book that is crossed
        or off every filter for ever."""
        if self.model != "replay":
            return self
        for s in self.symbols:
            if not s.replay_file and s.base_asset != DEFAULT_REPLAY_BASE:
                raise ValueError(
                    f"simvenue.model = 'replay': {s.symbol} needs its own replay_file (the built-in "
                    f"recording is {DEFAULT_REPLAY_BASE}USDT; its prices would be replayed into {s.symbol})"
                )
        return self


class MarketDataConfig(ServiceSection):
    """The market data service: streams, book sync, freshness, publishing, capture, features."""

    depth_speed: Literal["100ms", "0ms", "250ms", "500ms"] = "100ms"
    trade_stream: Literal["trade", "aggTrade"] = "aggTrade"
    book_levels: int = Field(default=20, ge=1, le=1000, description="levels per side in md.book")
    publish_interval_ms: int = Field(default=0, ge=0, le=10_000, description="0 = every change")
    features_interval_ms: int = Field(default=100, ge=0, le=60_000, description="0 = with every book")
    snapshot_limit: Literal[5, 10, 20, 50, 100, 500, 1000] = 1000
    stale_after_ms: int = Field(default=3000, ge=100, description="no depth update for this long = stale")
    max_exchange_lag_ms: int = Field(default=2000, ge=10, description="event time older than this = stale")
    connections: int = Field(
        default=2,
        ge=1,
        le=3,
        description="connections per stream group (seed 003 §4): the first arrival of each event wins, "
        "duplicates are dropped by update id, and one that dies is replaced without touching the book",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    rotate_after_s: float = Field(
        default=23.5 * 3600, gt=0, description="planned reconnect before the 24 h cut"
    )
    time_sync_interval_s: float = Field(default=60.0, gt=0)
    max_buffer: int = Field(default=5000, ge=10)
    vpin_bucket_qty: dict[str, float] = Field(default_factory=lambda: {"ETHUSDC": 50.0, "BTCUSDC": 2.0})
    capture: bool = False
    capture_dir: str = "capture"
    capture_rotate_mb: int = Field(default=256, ge=1)
    spot_metrics_port: int = Field(default=0, ge=0, le=65535, description="marketdata-spot's; 0 disables")
    spot_snapshot_limit: int = Field(default=5000, ge=1, le=5000, description="spot's book procedure: 5000")


class StrategyConfig(ServiceSection):
    """The strategy service: each symbol's model and parameters (``[strategy.symbols.ETHUSDC]``)."""

    symbols: dict[str, SymbolStrategy] = Field(default_factory=lambda: StrategyParams().symbols)

    @field_validator("symbols", mode="before")
    @classmethod
    def _overlay_defaults(cls, v: Any) -> Any:
        return merge_symbol_defaults(v, StrategyParams().symbols)

    snapshot_interval_s: float = Field(default=5.0, gt=0, description="state snapshot for crash recovery")
    republish_s: float = Field(default=5.0, gt=0, description="re-send the current target this often")
    watch_config: bool = Field(default=True, description="reload when a config file changes")


class RiskConfig(ServiceSection):
    """The risk service: the seeds' limits (``[risk.params]``) and its timers."""

    params: RiskParams = Field(default_factory=RiskParams)
    tick_interval_ms: int = Field(default=100, ge=10, le=5000, description="rules run at least this often")
    state_interval_s: float = Field(default=1.0, gt=0, le=10, description="risk.state heartbeat")
    snapshot_interval_s: float = Field(default=5.0, gt=0, description="state snapshot for crash recovery")
    recorder_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="at start, how long to wait for the day's fills from the recorder (0: do not ask; "
        "the day's PnL figures then start at zero)",
    )


class GatewayConfig(ServiceSection):
    """The gateway / OMS: the order path, fail-closed timers, the dead-man's switch, reconciliation."""

    params: GatewayParams = Field(default_factory=GatewayParams)
    order_path: Literal["ws_api", "rest"] = "ws_api"
    recv_window_ms: int = Field(default=5000, ge=100, le=60000)
    risk_silence_s: float = Field(default=3.0, gt=0, description="no risk.state for this long: cancel all")
    deadman_ms: int = Field(default=15000, ge=1000, description="venue countdownCancelAll window")
    deadman_refresh_s: float = Field(default=5.0, gt=0, description="how often the countdown is renewed")
    reconcile_interval_s: float = Field(default=5.0, gt=0, description="compare with the venue this often")
    foreign_orders: Literal["cancel", "keep"] = Field(default="cancel", description="open orders not ours")
    cancel_on_stop: bool = True
    listen_key_keepalive_s: float = Field(default=1800.0, ge=5)
    flatten_max_slippage_pct: float = Field(default=0.003, gt=0, lt=0.1)
    flatten_maker_wait_s: float = Field(default=2.0, ge=0)
    leverage: dict[str, int] = Field(default_factory=dict, description="set at start, per symbol (1-125)")
    spot_metrics_port: int = Field(default=0, ge=0, le=65535, description="gateway-spot's; 0 disables")
    guardian_metrics_port: int = Field(default=0, ge=0, le=65535, description="the guardian's; 0 disables")
    md_silence_s: float = Field(
        default=3.0, gt=0, description="no md.status for a symbol this long: cancel its orders"
    )
    recorder_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="at start, how long to wait for the recorder's fill watermarks (0: do not ask)",
    )
    latency_probe_s: float = Field(
        default=2.0, gt=0, description="a timed round trip to the venue this often"
    )
    self_trade_prevention: Literal["", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "NONE"] = Field(
        default="EXPIRE_MAKER",
        description="selfTradePreventionMode sent on GTC/IOC orders ('' = venue default): EXPIRE_MAKER "
        "lets a reduction that meets one of our own quotes expire that quote and trade on",
    )

    @field_validator("leverage")
    @classmethod
    def _leverage_range(cls, v: dict[str, int]) -> dict[str, int]:
        for sym, lev in v.items():
            if not 1 <= lev <= 125:
                raise ValueError(f"{sym}: leverage {lev} is outside Binance's 1-125")
        return v

    @model_validator(mode="after")
    def _horizon_beyond_recv_window(self) -> GatewayConfig:
        horizon_ms = self.params.oms.unknown_horizon_s * 1000
        if horizon_ms <= self.recv_window_ms:
            raise ValueError(
                f"params.oms.unknown_horizon_s ({self.params.oms.unknown_horizon_s:g} s) must be longer than "
                f"recv_window_ms ({self.recv_window_ms} ms): an order of unknown outcome may land until then"
            )
        return self


class AccountConfig(Section):
    """One more trading account (seed 003 §7, seed 004): its own gateway instance
    (``gateway-<name>``), key pair, symbols and metrics port. The primary account (``main``) is the
    one of ``MM_API_KEY``: it trades every symbol no other account names. The account's limits are
    ``risk.params.accounts.<name>``; risk enforces them beside the global ones."""

    symbols: list[str] = Field(min_length=1, description="symbols this account trades (none in two accounts)")
    api_key_env: str = Field(default="", description="env var of its API key; empty = MM_<NAME>_API_KEY")
    api_secret_env: str = Field(default="", description="env var of its secret; empty = MM_<NAME>_API_SECRET")
    metrics_port: int = Field(default=0, ge=0, le=65535, description="its gateway's; 0 disables")

    @field_validator("symbols")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.upper() for s in v]


class RecorderConfig(ServiceSection):
    """The recorder (persistence): typed store, raw event record, Parquet lake, catch-up, reports.

    ``backend = "sqlite"`` keeps everything in ``db_path`` under the run directory; ``"postgres"``
    writes the same schema to ``postgres_dsn``, whose password comes from the environment
    (``PGPASSWORD`` or a ``.pgpass`` file), never from the DSN.
    """

    backend: Literal["sqlite", "postgres"] = "sqlite"
    db_path: str = "recorder.sqlite"
    postgres_dsn: str = Field(
        default="", description="libpq DSN without a password, e.g. 'host=db dbname=mm'"
    )
    batch_max: int = Field(default=2000, ge=1)
    flush_interval_ms: int = Field(default=200, ge=1, le=60_000)
    buffer_max: int = Field(
        default=500_000, ge=1000, description="past this many unwritten messages, md.* ones are dropped"
    )
    events_retention_h: float = Field(
        default=48.0, ge=0, description="raw events older than this are deleted; 0 keeps all"
    )
    events_everything: bool = Field(
        default=False,
        description="also keep every book, features, trade, mark and target message in the events "
        "table (by default market data goes to the lake only and targets to the targets table, "
        "stored when they change: together they were ~97 % of the store's growth)",
    )
    target_sample_s: float = Field(default=5.0, ge=0, description="an unchanged target is stored this often")
    position_sample_s: float = Field(default=1.0, ge=0)
    account_sample_s: float = Field(default=5.0, ge=0)
    market_sample_s: float = Field(default=1.0, ge=0, description="mid/spread samples kept for reports")
    snapshot_history: int = Field(default=5, ge=1, description="state snapshots kept per service")
    lake: bool = True
    lake_dir: str = "lake"
    lake_datasets: tuple[Literal["book", "trade", "mark", "features", "raw"], ...] = (
        "book",
        "trade",
        "mark",
        "features",
    )
    lake_rotate_rows: int = Field(default=100_000, ge=1)
    lake_rotate_s: float = Field(default=300.0, gt=0)
    lake_max_mb: int = Field(default=2048, ge=1, description="oldest parts are deleted past this total")
    catchup: bool = Field(
        default=True, description="on start and periodically: gateway snapshot + userTrades"
    )
    catchup_interval_s: float = Field(default=60.0, gt=0)
    catchup_lookback_h: float = Field(
        default=24.0, gt=0, le=168, description="how far back a symbol with no stored fill is read"
    )
    session_resume_s: float = Field(
        default=120.0, ge=0, description="a session closed this recently is continued on start"
    )
    report_every_h: float = Field(default=0.0, ge=0, description="write a session report this often; 0 = off")
    report_dir: str = "reports"
    inspection_at_utc: str = Field(
        default="00:05",
        pattern=r"^(|([01]\d|2[0-3]):[0-5]\d)$",
        description="write the daily inspection of the last 24 h at this UTC time (HH:MM); empty = off",
    )

    @field_validator("postgres_dsn")
    @classmethod
    def _no_password(cls, v: str) -> str:
        userinfo = v.split("://", 1)[1].split("@", 1)[0] if "://" in v and "@" in v else ""
        if "password" in v.lower() or ":" in userinfo:
            raise ValueError("must not carry a password: set PGPASSWORD or use a .pgpass file")
        return v


class ConsoleConfig(ServiceSection):
    """The web console: where it listens and which ``Host`` names it answers to.

    A request is served only when its ``Host`` header names the console (``host:port``; on a
    loopback bind also ``localhost``, ``127.0.0.1`` and ``[::1]`` with the port) or is one of
    ``allowed_hosts``. Bound to anything but loopback, the console needs ``MM_CONSOLE_TOKEN``.
    """

    host: str = Field(default="127.0.0.1", description="address to bind; not loopback = token required")
    port: int = Field(default=8080, ge=1, le=65535)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="extra Host header values served, exactly as sent ('name' or 'name:port'), e.g. "
        "behind a reverse proxy; the page's Origin may be http:// or https:// with one of them",
    )

    @field_validator("host")
    @classmethod
    def _bind_address(cls, v: str) -> str:
        if not v or any(c in v for c in " /[]@") or "://" in v:
            raise ValueError(
                "must be an address or name to bind, like 127.0.0.1 or ::1 (no scheme, port or brackets)"
            )
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _host_values(cls, v: list[str]) -> list[str]:
        for h in v:
            if not h or h != h.strip() or any(c in h for c in " /@*,") or "://" in h:
                raise ValueError(
                    f"{h!r} is not a Host header value: write 'name' or 'name:port' "
                    "(no scheme, path, wildcard or spaces)"
                )
        return [h.lower() for h in v]


Channel = Literal["telegram", "slack", "email", "wecom"]
Severity = Literal["P0", "P1", "P2"]


def _routes() -> dict[Severity, list[Channel]]:
    return {
        "P0": ["telegram", "slack", "email", "wecom"],
        "P1": ["telegram", "slack", "wecom"],
        "P2": ["email"],
    }


def _repeat() -> dict[Severity, str]:
    return {"P0": "15m", "P1": "1h", "P2": "12h"}


def _group_wait() -> dict[Severity, str]:
    return {"P0": "0s", "P1": "30s", "P2": "5m"}


class AlertsConfig(Section):
    """Where alerts go (seed 004's P0/P1/P2, seeds 002 and 003's channels): the receivers of the
    Alertmanager config ``mmctl alertmanager-config`` writes. Secrets come from the environment
    variables named here, never from files in git; a channel whose secret is unset is left out."""

    direct: bool = Field(
        default=True,
        description="also tell the kill, a stop loss and a halt straight to Telegram, Slack and email "
        "(the recorder sends them; for operators without Alertmanager)",
    )
    direct_quiet_s: float = Field(default=60.0, ge=0, description="the same rule and symbol told once per")
    telegram_token_env: str = "MM_TELEGRAM_BOT_TOKEN"
    telegram_chat_id: int = 0
    telegram_api_url: str = "https://api.telegram.org"
    slack_webhook_env: str = "MM_SLACK_WEBHOOK_URL"
    slack_channel: str = "#mm-alerts"
    email_to: str = ""
    email_from: str = ""
    email_smarthost: str = Field(default="", description="host:port of the SMTP server")
    email_username: str = ""
    email_password_env: str = "MM_SMTP_PASSWORD"
    email_require_tls: bool = True
    wecom_secret_env: str = "MM_WECOM_SECRET"
    wecom_corp_id: str = ""
    wecom_agent_id: str = ""
    wecom_to_user: str = "@all"
    wecom_api_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    routes: dict[Severity, list[Channel]] = Field(
        default_factory=_routes,
        description="the channels of each severity: P0 pages everyone, P1 the operators' chat, P2 a digest",
    )
    repeat: dict[Severity, str] = Field(
        default_factory=_repeat,
        description="how often a firing alert is sent again",
    )
    group_wait: dict[Severity, str] = Field(
        default_factory=_group_wait,
        description="how long a new alert waits for others of its group before it is sent",
    )


class CalendarRule(Section):
    """One calendar rule (:mod:`common.calendar`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=list, description="weekdays (UTC) it applies on; empty = every day"
    )
    start: str = Field(default="00:00", description="UTC time of day it starts, HH:MM")
    end: str = Field(default="24:00", description="UTC end, HH:MM (before start: past midnight)")
    around_funding_min: float = Field(
        default=0.0, ge=0, le=240, description="instead of start/end: minutes either side of funding"
    )
    symbols: list[str] = Field(default_factory=list, description="symbols quoted while active; empty = all")
    set: dict[str, Any] = Field(
        default_factory=dict, description='overrides while active: {"strategy.symbols.X.netMax" = 0.1}'
    )

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, v: str) -> str:
        from common.calendar import minutes

        minutes(v)
        return v


class ScheduleConfig(Section):
    """Calendar rules (seed 002 §7.3): checked by the recorder, applied through the reload path."""

    check_interval_s: float = Field(default=15.0, gt=0, description="how often the active set is checked")
    rules: list[CalendarRule] = Field(default_factory=list)
