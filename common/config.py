"""Typed configuration: TOML files under ``configs/`` plus ``MM_`` environment overrides.

Layers, lowest first: ``configs/base.toml``, ``configs/<profile>.toml``, the file named by
``MM_CONFIG_FILE`` (a local overlay, never committed), then environment variables such as
``MM_GATEWAY__METRICS_PORT=9204``. Every model is frozen and rejects unknown keys. A bad value
raises :class:`ConfigError` naming the key and the value. Secrets (``MM_API_KEY``,
``MM_API_SECRET``, ``MM_READ_API_KEY``, ``MM_READ_API_SECRET``, ``MM_BUS_SECRET``, the bus's CURVE
keys ``MM_BUS_CURVE_<IDENTITY>_PUBLIC`` / ``_SECRET``) come from the environment only; a config
file that holds one is refused.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from common import calendar, curve
from common.config_sections import (
    AccountConfig,
    AlertsConfig,
    CalendarRule,
    ConsoleConfig,
    GatewayConfig,
    MarketDataConfig,
    RecorderConfig,
    RiskConfig,
    ScheduleConfig,
    Section,
    SimVenueConfig,
    StrategyConfig,
    VenueAccountConfig,
    VenueEndpoints,
    catalogue_symbol,
    spot_catalogue_symbol,
)
from common.topics import role

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _config_dir() -> Path:
    """configs/ of a checkout, else the copy installed with the package (``mm_configs``)."""
    here = PROJECT_ROOT / "configs"
    if here.is_dir():
        return here
    spec = importlib.util.find_spec("mm_configs")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else here


CONFIG_DIR = _config_dir()
DEFAULT_SYMBOLS = ("ETHUSDC", "BTCUSDC")


def clock_utc() -> dt.datetime:
    """Now, UTC: the calendar rules' clock (tests replace it)."""
    return dt.datetime.now(dt.UTC)


SERVICES = ("venue", "marketdata", "strategy", "risk", "gateway", "recorder", "console")
"""The services (roles). A configured extra account adds a gateway instance ``gateway-<account>``:
:attr:`Settings.services` lists every instance of a deployment."""
CURVE_IDENTITIES = (*SERVICES, "mmctl")
"""Everything that holds a CURVE key pair on the bus: every service, and the operator CLI (each
extra gateway instance too: :attr:`Settings.curve_identities`)."""
PRIMARY_ACCOUNT = "main"
"""The account of ``MM_API_KEY``, traded by the gateway instance named ``gateway``."""
SPOT_GATEWAY = "gateway-spot"
"""The gateway instance trading the primary account's spot symbols (``spot_symbols``)."""
ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def gateway_name(account: str) -> str:
    """The gateway instance trading ``account``: ``gateway`` for the primary one, else
    ``gateway-<account>``."""
    return "gateway" if account == PRIMARY_ACCOUNT else f"gateway-{account}"


SECRET_KEYS = (
    "api_key",
    "api_secret",
    "read_api_key",
    "read_api_secret",
    "bus_secret",
    "bus_curve",
    "console_token",
    "console_users",
    "apiKey",
    "apiSecret",
    "readApiKey",
    "readApiSecret",
    "busSecret",
    "busCurve",
)


class ConfigError(ValueError):
    """A config that cannot be used, with one line per offending key."""


class BusConfig(Section):
    """Where the bus lives. ``ipc`` endpoints sit in ``run_dir``; ``tcp`` ones on ``host:base_port+n``."""

    transport: Literal["ipc", "tcp"] = "ipc"
    host: str = "127.0.0.1"
    base_port: int = Field(default=7100, ge=1024, le=65000)
    endpoints: dict[str, str] = Field(default_factory=dict)
    request_timeout_s: float = Field(default=3.0, gt=0)
    settle_ms: int = Field(default=300, ge=0, le=5000, description="wait after binding before publishing")
    send_hwm: int = Field(default=200_000, gt=0)
    recv_hwm: int = Field(default=200_000, gt=0)


class Settings(BaseSettings):
    """The whole system's configuration; each service reads its own section."""

    model_config = SettingsConfigDict(
        env_prefix="MM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    profile: Literal["paper", "paper-live", "demo", "live"] = "paper"
    run_dir: Path = Path("run")
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS), min_length=1)
    spot_symbols: list[str] = Field(
        default_factory=list, description="spot markets quoted (seed 003), names apart from symbols"
    )
    spot_inventory: dict[str, Decimal] = Field(
        default_factory=dict,
        description="per spot symbol, the base-asset holding that counts as flat (position 0)",
    )
    log_json: bool = False
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    heartbeat_interval_s: float = Field(default=1.0, gt=0, le=60)
    bus: BusConfig = Field(default_factory=BusConfig)
    venue: VenueEndpoints = Field(default_factory=VenueEndpoints)
    simvenue: SimVenueConfig = Field(default_factory=SimVenueConfig)
    marketdata: MarketDataConfig = Field(default_factory=MarketDataConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    accounts: dict[str, AccountConfig] = Field(
        default_factory=dict, description="accounts beyond the primary one (MM_API_KEY), by name"
    )

    # Secrets: environment only (MM_API_KEY, MM_API_SECRET, MM_BUS_SECRET).
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    # A read-only key for the recorder's trade history (MM_READ_API_KEY, MM_READ_API_SECRET).
    read_api_key: SecretStr | None = None
    read_api_secret: SecretStr | None = None
    bus_secret: SecretStr | None = None
    console_token: SecretStr | None = None
    # Console logins (MM_CONSOLE_USERS): services.console.auth reads them.
    console_users: SecretStr | None = None
    bus_curve: dict[str, SecretStr] = Field(default_factory=dict)
    """The ``MM_BUS_CURVE_*`` variables by name (read by :class:`_CurveEnv`), used over tcp."""

    files: ClassVar[tuple[Path, ...]] = ()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for sym in self.symbols:
            if not sym.isalnum() or not sym.isupper():
                raise ValueError(f"symbols: {sym!r} is not an upper-case symbol like ETHUSDC")
        for sym in self.spot_symbols:
            if not sym.isalnum() or not sym.isupper():
                raise ValueError(f"spot_symbols: {sym!r} is not an upper-case symbol like ETHUSDT")
            if sym in self.symbols:
                raise ValueError(
                    f"spot_symbols: {sym} is also a futures symbol; a pair is quoted on one market at a time"
                )
        for sym, held in self.spot_inventory.items():  # an entry for a symbol not quoted stays unused
            if not held.is_finite() or held < 0:
                raise ValueError(f"spot_inventory.{sym}: {held} is not a holding (a number >= 0)")
        spot_listed = {v.symbol for v in self.simvenue.spot_symbols}
        for sym in self.spot_symbols:  # the venue lists the spot markets its catalogue knows
            spot = spot_catalogue_symbol(sym) if sym not in spot_listed else None
            if spot is not None:
                self.simvenue.spot_symbols.append(spot)
        listed = {v.symbol for v in self.simvenue.symbols}
        for sym in self.symbols:  # the simulated venue lists every traded symbol its catalogue knows
            extra = catalogue_symbol(sym) if sym not in listed else None
            if extra is not None:
                self.simvenue.symbols.append(extra)
        venue_accounts = {a.name for a in self.simvenue.accounts}
        for name in self.accounts:  # and keeps an account for every extra trading account
            if name not in venue_accounts:
                key_var, secret_var = self.account_key_vars(name)
                self.simvenue.accounts.append(
                    VenueAccountConfig(name=name, api_key_env=key_var, api_secret_env=secret_var)
                )
        for problem in self._account_problems():
            raise ValueError(problem)
        if not self.paper:
            missing = [
                n for n, v in (("MM_API_KEY", self.api_key), ("MM_API_SECRET", self.api_secret)) if v is None
            ]
            for name in self.accounts:
                missing += [v for v in self.account_key_vars(name) if not os.environ.get(v)]
            if missing:
                raise ValueError(f"profile {self.profile} needs {', '.join(missing)} in the environment")
        if self.bus_over_tcp and self.bus_secret is None:
            raise ValueError("bus.transport = 'tcp' needs MM_BUS_SECRET: commands over tcp are authenticated")
        bad = curve.problems(self._curve_values(), self.curve_identities)
        if bad:
            raise ValueError("bad CURVE keys in the environment: " + "; ".join(bad))
        for problem in self._budget_chain():
            raise ValueError(problem)
        return self

    def _account_problems(self) -> list[str]:
        out: list[str] = []
        owner: dict[str, str] = {}
        ports: dict[int, str] = {}
        for name, acct in self.accounts.items():
            if name in (PRIMARY_ACCOUNT, "spot") or not ACCOUNT_NAME.match(name):
                out.append(
                    f"accounts.{name}: an account name is 1-16 lower-case letters and digits, starting "
                    f"with a letter, and not {PRIMARY_ACCOUNT!r} (the primary account of MM_API_KEY) "
                    "or 'spot' (its spot gateway, gateway-spot)"
                )
            for sym in acct.symbols:
                if sym not in self.symbols:
                    out.append(f"accounts.{name}.symbols: {sym} is not one of symbols {self.symbols}")
                elif sym in owner:
                    out.append(f"accounts.{name}.symbols: {sym} is already traded by account {owner[sym]}")
                owner[sym] = name
            if acct.metrics_port and acct.metrics_port in ports:
                out.append(
                    f"accounts.{name}.metrics_port {acct.metrics_port} is also {ports[acct.metrics_port]}'s"
                )
            ports[acct.metrics_port] = name
        if self.accounts and not self.account_symbols(PRIMARY_ACCOUNT):
            out.append(
                "accounts: every symbol is given to another account; the primary account (MM_API_KEY, "
                "gateway) needs at least one"
            )
        known = {PRIMARY_ACCOUNT, *self.accounts}
        for name in self.risk.params.accounts:
            if name not in known:
                out.append(
                    f"risk.params.accounts.{name}: no such account (known: {', '.join(sorted(known))})"
                )
        return out

    # ---- accounts ----------------------------------------------------------------------------

    @property
    def account_names(self) -> list[str]:
        """Every account: the primary one first, then the configured ones."""
        return [PRIMARY_ACCOUNT, *self.accounts]

    def account_symbols(self, account: str) -> list[str]:
        """The symbols ``account`` trades, in ``symbols`` order."""
        if account == PRIMARY_ACCOUNT:
            others = {s for a in self.accounts.values() for s in a.symbols}
            return [s for s in self.symbols if s not in others]
        return [s for s in self.symbols if s in self.accounts[account].symbols]

    def account_of(self, symbol: str) -> str:
        """The account trading ``symbol`` (the primary one for a symbol no account names)."""
        for name, acct in self.accounts.items():
            if symbol in acct.symbols:
                return name
        return PRIMARY_ACCOUNT

    def gateway_of(self, symbol: str) -> str:
        """The gateway instance trading ``symbol``."""
        if symbol in self.spot_symbols:
            return SPOT_GATEWAY
        return gateway_name(self.account_of(symbol))

    @property
    def all_gateways(self) -> list[str]:
        """Every gateway instance that holds orders: one per account and, with spot symbols, the
        primary account's spot gateway (what a kill, a cancel-all or a snapshot must reach)."""
        return [*self.gateways, *([SPOT_GATEWAY] if self.spot_symbols else [])]

    @property
    def quoted_symbols(self) -> list[str]:
        """Every symbol the product quotes: the futures symbols, then the spot ones."""
        return [*self.symbols, *self.spot_symbols]

    @property
    def instances(self) -> dict[str, list[str]]:
        """The instances of each service that has several: every gateway holding orders, and the
        futures and spot market data (a subscription to ``oms.`` or ``md.`` hears them all)."""
        spot = ["marketdata-spot"] if self.spot_symbols else []
        return {"gateway": self.all_gateways, "marketdata": ["marketdata", *spot]}

    def gateway_symbols(self, service: str) -> list[str]:
        """The symbols one gateway instance trades."""
        if service == SPOT_GATEWAY:
            return list(self.spot_symbols)
        return self.account_symbols(self.account_of_gateway(service))

    @property
    def gateways(self) -> list[str]:
        """Every gateway instance: ``gateway`` first."""
        return [gateway_name(a) for a in self.account_names]

    def account_of_gateway(self, service: str) -> str:
        """The account a gateway instance trades."""
        return PRIMARY_ACCOUNT if service in ("gateway", SPOT_GATEWAY) else service.removeprefix("gateway-")

    @property
    def services(self) -> tuple[str, ...]:
        """Every service instance of this deployment: :data:`SERVICES`, each extra gateway and,
        with spot symbols, the spot market data instance."""
        return (*SERVICES, *self.all_gateways[1:], *self._spot_instances)

    @property
    def _spot_instances(self) -> tuple[str, ...]:
        return ("marketdata-spot", "guardian") if self.spot_symbols else ()

    @property
    def curve_identities(self) -> tuple[str, ...]:
        return (*CURVE_IDENTITIES, *self.all_gateways[1:], *self._spot_instances)

    def expand(self, services: tuple[str, ...] | list[str]) -> list[str]:
        """``services`` with ``gateway`` standing for every gateway instance."""
        out: list[str] = []
        for s in services:
            out += self.all_gateways if s == "gateway" else [s]
        return out

    def account_key_vars(self, account: str) -> tuple[str, str]:
        """The names of the environment variables holding ``account``'s key and secret."""
        if account == PRIMARY_ACCOUNT:
            return "MM_API_KEY", "MM_API_SECRET"
        a = self.accounts[account]
        up = account.upper()
        return a.api_key_env or f"MM_{up}_API_KEY", a.api_secret_env or f"MM_{up}_API_SECRET"

    def account_credentials(self, account: str) -> tuple[str, str]:
        """``account``'s (key, secret) from the environment; empty strings when unset."""
        if account == PRIMARY_ACCOUNT:
            return (
                self.api_key.get_secret_value() if self.api_key else "",
                self.api_secret.get_secret_value() if self.api_secret else "",
            )
        k, s = self.account_key_vars(account)
        return os.environ.get(k, ""), os.environ.get(s, "")

    def _budget_chain(self) -> list[str]:
        """One rate budget from the venue down: risk's per-symbol churn budget fits in the gateway's
        per-symbol budget, which fits in the gateway's account budget, which stays under Binance's
        order counts (1,200 a minute, 300 per 10 s per account), so each layer's limit binds before
        the next one's and what risk approves is sent."""
        out: list[str] = []
        b = self.gateway.params.budget
        acc = b.account
        if acc.venue_orders_per_minute > 1200 or acc.venue_orders_per_10s > 300:
            out.append(
                "gateway.params.budget.account: venue_orders_per_minute ≤ 1200 and venue_orders_per_10s "
                "≤ 300 (Binance's order counts per account)"
            )
        for sym in self.symbols:
            g = b.for_symbol(sym)
            if g.orders_per_minute > acc.orders_per_minute or g.orders_per_10s > acc.orders_per_10s:
                out.append(f"gateway.params.budget for {sym}: orders above the account's budget")
            r = self.risk.params.symbols.get(sym)
            if r is None:
                continue
            st = self.strategy.symbols.get(sym)
            if st is not None and st.max_actions_per_minute > r.max_actions_per_minute - 1:
                out.append(
                    f"strategy.symbols.{sym}.max_actions_per_minute {st.max_actions_per_minute} is above "
                    f"what risk lets through ({r.max_actions_per_minute - 1} a minute): risk would clip "
                    "every busy minute"
                )
            if st is not None and st.max_moves_per_second > r.max_actions_per_second - 1:
                out.append(
                    f"strategy.symbols.{sym}.max_moves_per_second {st.max_moves_per_second} is above what "
                    f"risk lets through ({r.max_actions_per_second - 1} a second)"
                )
            # risk's limits are strict ("under N": N - 1 pass), the gateway's inclusive
            if r.max_actions_per_minute - 1 > g.orders_per_minute:
                out.append(
                    f"risk.params.symbols.{sym}.max_actions_per_minute {r.max_actions_per_minute} lets "
                    f"more through than the gateway's orders_per_minute {g.orders_per_minute}: the gateway "
                    "would hold back what risk approved"
                )
            if r.max_cancels_per_minute - 1 > g.cancels_per_minute:
                out.append(
                    f"risk.params.symbols.{sym}.max_cancels_per_minute {r.max_cancels_per_minute} lets "
                    f"more through than the gateway's cancels_per_minute {g.cancels_per_minute}"
                )
        return out

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _UpperKeysEnv(settings_cls, env_settings)
        return (init_settings, env, _CurveEnv(settings_cls), _TomlFiles(settings_cls, cls.files))

    # ---- derived ---------------------------------------------------------------------------

    @property
    def paper(self) -> bool:
        """A paper profile: the built-in simulated venue, its own keys (paper, paper-live)."""
        return self.profile in ("paper", "paper-live")

    @property
    def run_path(self) -> Path:
        """The run directory, absolute (relative paths are under the project root)."""
        return self.run_dir if self.run_dir.is_absolute() else PROJECT_ROOT / self.run_dir

    def pub_endpoint(self, service: str) -> str:
        """The endpoint where ``service`` binds its PUB socket."""
        return self._endpoint(service, "pub", 0)

    def cmd_endpoint(self, service: str) -> str:
        """The endpoint where ``service`` binds its command (ROUTER) socket."""
        return self._endpoint(service, "cmd", 1)

    def _endpoint(self, service: str, kind: str, offset: int) -> str:
        known = self.services
        if service not in known:
            raise ConfigError(f"unknown service {service!r}; known: {', '.join(known)}")
        override = self.bus.endpoints.get(f"{service}.{kind}")
        if override:
            return override
        if self.bus.transport == "ipc":
            return f"ipc://{self.run_path / f'{service}.{kind}'}"
        return f"tcp://{self.bus.host}:{self.bus.base_port + 2 * known.index(service) + offset}"

    @property
    def bus_over_tcp(self) -> bool:
        """Whether any bus endpoint is tcp (then CURVE and the command HMAC are required)."""
        return self.bus.transport == "tcp" or any(e.startswith("tcp://") for e in self.bus.endpoints.values())

    def curve_keys(self, identity: str) -> curve.CurveKeys | None:
        """``identity``'s CURVE keys when the bus runs over tcp, None over ipc.

        Raises :class:`ConfigError` naming every missing or bad variable (never a value), so a
        process refuses to start before it opens a socket.
        """
        if not self.bus_over_tcp:
            return None
        try:
            return curve.keys_for(identity, self._curve_values(), self.curve_identities)
        except curve.CurveKeyError as exc:
            raise ConfigError(f"{identity}: {exc}") from None

    def _curve_values(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.bus_curve.items()}

    def service_section(self, service: str) -> Any:
        """The config section of one service (``venue`` reads ``simvenue``); an extra gateway
        instance reads ``gateway`` with the account's metrics port."""
        if service == "marketdata-spot":
            return self.marketdata.model_copy(update={"metrics_port": self.marketdata.spot_metrics_port})
        if service == SPOT_GATEWAY:
            return self.gateway.model_copy(update={"metrics_port": self.gateway.spot_metrics_port})
        if service == "guardian":  # spot's dead-man's switch: the gateway's window, its own port
            return self.gateway.model_copy(update={"metrics_port": self.gateway.guardian_metrics_port})
        if service != role(service):
            acct = self.accounts[self.account_of_gateway(service)]
            return self.gateway.model_copy(update={"metrics_port": acct.metrics_port})
        return getattr(self, "simvenue" if service == "venue" else service)

    def secret_values(self) -> list[str]:
        """Every secret value, for log redaction."""
        vals = [
            s.get_secret_value()
            for s in (
                self.api_key,
                self.api_secret,
                self.read_api_key,
                self.read_api_secret,
                self.bus_secret,
                self.console_token,
                self.console_users,
            )
            if s
        ]
        vals += [v for k, v in self._curve_values().items() if k.endswith("_SECRET")]
        for name in self.accounts:
            vals += list(self.account_credentials(name))
        return [v for v in vals if v]


UPPER_KEYED = frozenset({"symbols", "max_position", "leverage", "vpin_bucket_qty", "balances", "fees"})
"""Tables keyed by a symbol or an asset: their keys are upper case whatever the environment's case."""


def _upper_keys(value: Any, parent: str = "") -> Any:
    """``value`` with the keys of every :data:`UPPER_KEYED` table upper-cased (recursively)."""
    if not isinstance(value, dict):
        return value
    if parent in UPPER_KEYED:
        return {str(k).upper(): _upper_keys(v, "") for k, v in value.items()}
    return {k: _upper_keys(v, k) for k, v in value.items()}


class _UpperKeysEnv(PydanticBaseSettingsSource):
    """The environment source with symbol and asset keys in upper case.

    Environment names are case-insensitive, so ``MM_STRATEGY__SYMBOLS__ETHUSDC__NET_MAX`` arrives as
    ``symbols.ethusdc.net_max``: a table apart from the files' ``ETHUSDC`` (silently unused) or a
    symbol refused as not upper case. Upper-cased here, it merges into the files' ``ETHUSDC`` entry
    and overrides only that key.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = _upper_keys(self._inner())
        return out


class _CurveEnv(PydanticBaseSettingsSource):
    """The ``MM_BUS_CURVE_<IDENTITY>_PUBLIC|SECRET`` variables, gathered into ``bus_curve``.

    One variable per key keeps each secret in its own place (a host sets only the secrets of
    the services it runs); pydantic's own environment source cannot map such names to a field.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = curve.curve_variables(os.environ)
        return {"bus_curve": found} if found else {}


class _TomlFiles(PydanticBaseSettingsSource):
    """Merged TOML files, lowest priority; refuses secrets in files."""

    def __init__(self, settings_cls: type[BaseSettings], files: tuple[Path, ...]) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        for path in files:
            layer = _read_toml(path)
            found = [k for k in SECRET_KEYS if k in layer]
            if found:
                raise ConfigError(
                    f"{path}: {found[0]} must not be in a config file; secrets come from the environment "
                    f"(MM_API_KEY, MM_API_SECRET, MM_BUS_SECRET)"
                )
            _deep_merge(self._data, _snake_keys(layer))
        self._calendar()

    def _calendar(self) -> None:
        """The layer of the calendar rules active now, above the files (:mod:`common.calendar`)."""
        raw = self._data.get("schedule", {}).get("rules")
        if not raw:
            return
        try:
            rules = [CalendarRule.model_validate(r) for r in raw]
        except ValidationError:
            return  # Settings validates the same rules and names what is wrong
        symbols = list(self._data.get("symbols") or DEFAULT_SYMBOLS)
        extra = calendar.layer(rules, symbols, clock_utc())
        if extra:
            _deep_merge(self._data, _snake_keys(extra))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _snake_keys(d: dict[str, Any]) -> dict[str, Any]:
    """``netMax`` -> ``net_max`` so layers that spell a key differently merge into one key.

    Only camelCase keys change; upper-case data keys such as symbols (``ETHUSDC``) stay as they are.
    """
    out: dict[str, Any] = {}
    for key, v in d.items():
        k = key
        if k[:1].islower() and any(c.isupper() for c in k):
            k = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", k).lower()
        out[k] = _snake_keys(v) if isinstance(v, dict) else v
    return out


def _deep_merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, val in layer.items():
        if isinstance(val, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], val)
        else:
            into[key] = val


def config_files(profile: str | None = None, config_dir: Path | None = None) -> tuple[Path, ...]:
    """The files that make up a profile, lowest priority first."""
    cdir = config_dir or Path(os.environ.get("MM_CONFIG_DIR", CONFIG_DIR))
    prof = profile or os.environ.get("MM_PROFILE", "paper")
    files = [cdir / "base.toml", cdir / f"{prof}.toml"]
    for f in files:
        if not f.exists():
            raise ConfigError(f"config file {f} does not exist (profile {prof!r})")
    extra = os.environ.get("MM_CONFIG_FILE")
    if extra:
        p = Path(extra)
        if not p.exists():
            raise ConfigError(f"MM_CONFIG_FILE={extra} does not exist")
        files.append(p)
    return tuple(files)


OVERRIDES_FILE = "overrides.toml"
"""The operator's parameter edits (the console's), in the run directory: the top file layer, above
the profile and ``MM_CONFIG_FILE``, below the environment. Delete it to go back to the files."""


def load_settings(profile: str | None = None, config_dir: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate the configuration; raises :class:`ConfigError` naming every bad key.

    The run directory's :data:`OVERRIDES_FILE`, when there is one, is the top file layer."""
    files = config_files(profile, config_dir)
    if profile:
        overrides.setdefault("profile", profile)
    settings = build_settings(files, overrides)
    edits = settings.run_path / OVERRIDES_FILE
    if edits.exists():
        settings = build_settings((*files, edits), overrides)
    return settings


def build_settings(files: tuple[Path, ...], overrides: dict[str, Any]) -> Settings:
    cls = type("LoadedSettings", (Settings,), {"files": files})
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, files)) from None
    except SettingsError as exc:  # an MM_* variable that is not the JSON its field needs
        raise ConfigError(_env_parse_error(exc)) from None


def watched_files(settings: Settings) -> list[Path]:
    """The files a reload reads (the overrides file even before it exists)."""
    try:
        files = list(config_files(settings.profile))
    except ConfigError:
        files = []
    return [*files, settings.run_path / OVERRIDES_FILE]


def _env_parse_error(exc: SettingsError) -> str:
    """One line for an environment value pydantic-settings could not parse (a list or table field
    wants JSON, e.g. ``MM_SYMBOLS='["ETHUSDC"]'``)."""
    text = str(exc)
    field = text.split('field "', 1)[1].split('"', 1)[0] if 'field "' in text else ""
    var = f"MM_{field.upper()}" if field else "an MM_* variable"
    return (
        f"invalid configuration: {var} could not be parsed: a list or table setting takes JSON "
        f'(for example MM_SYMBOLS=\'["ETHUSDC", "BTCUSDC"]\')'
    )


def redact_dsn(dsn: str) -> str:
    """``dsn`` with any password (``user:pw@`` or ``password=pw``) replaced by ``<redacted>``."""
    dsn = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:<redacted>@", dsn)
    return re.sub(r"(?i)(password\s*=\s*)(\S+)", r"\1<redacted>", dsn)


def format_validation_error(exc: ValidationError, files: tuple[Path, ...] = ()) -> str:
    """One line per error: ``key.path = value: what is wrong``."""
    where = f" (from {', '.join(str(f) for f in files)} and MM_* environment)" if files else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        val = err.get("input")
        shown = "<secret>" if any(s in key.lower() for s in ("secret", "api_key", "apikey")) else repr(val)
        if "dsn" in key.lower() and isinstance(val, str):  # a DSN may carry a password: never shown
            shown = repr(redact_dsn(val))
        if err["type"] == "value_error" and (key == "<root>" or isinstance(val, dict)):
            lines.append(f"  {err['msg'].removeprefix('Value error, ')}")  # a whole section's rule
        else:
            lines.append(f"  {key} = {shown}: {err['msg']}")
    return "\n".join(lines)
