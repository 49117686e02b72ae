"""Parameters of the risk service's rules, with the seeds' names and defaults (seed 001 §4, Round7).

Every section accepts the seeds' camelCase names (``netMax``, ``drawdownBands``) or snake_case
(``total_notional_max`` as seed 002 writes it), rejects unknown keys, and refuses a bad value
naming the key. Units, where a name does not say them:

* sizes (``netMax``, ``singleMax``) are base-asset units (ETH, BTC), exact ``Decimal``;
* money (``dailyMax``, ``pnlMin``, ``pnlMax``, ``stopLoss``, ``drawdownBands``,
  ``reduceOnlyThreshold``, ``totalNotionalMax``) is in the quote/margin asset (USDC, USDT; the two
  are counted 1:1), exact ``Decimal``;
* ``*Pct`` and ``*Ratio`` are fractions (0.10 = 10 %), ``*Seconds`` and ``*Ms`` are time.

How each figure is read (the seeds give names and values, not always the measure):

* ``pnlMin`` / ``pnlMax`` / ``stopLoss`` apply to one symbol's PnL of the UTC day (realized −
  fees + funding + the change of unrealized since 00:00, at the mark). Outside [pnlMin, pnlMax]
  the symbol goes reduce-only (a soft stop below, profit lock above); at ``stopLoss`` it halts and
  flattens until an operator resumes. ``dailyMax`` is the account's daily loss budget (the sum over
  symbols): at −dailyMax everything halts until the next UTC day. So a losing day escalates
  −15 reduce-only, −50 halt, −60 flatten, as Round7's values order them.
* ``drawdownBands`` and ``reduceOnlyThreshold`` are unrealized losses of one symbol's position.
* ``reduceOnlyMarketTriggerPct`` is the adverse move of the mark since the entry price, as a
  fraction of the entry: beyond it, a symbol in reduce-only convergence reduces as taker.
* ``maxDrawdownPct`` (seed 000 §3.1: 1–3 % of equity a day) is measured from the day's peak equity.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from common.section import Section, merge_symbol_defaults

ReduceMode = Literal["maker", "taker", "maker_first_then_taker"]


class SymbolRiskParams(Section):
    """The limits of one symbol: exposure, loss ladder, drawdown bands, market and behaviour checks."""

    net_max: Decimal = Field(default=Decimal("0.21"), gt=0, description="worst-case |position|, base units")
    single_max: Decimal = Field(default=Decimal("0.06"), gt=0, description="largest single order")
    pnl_min: Decimal = Field(default=Decimal("-15.0"), lt=0, description="day PnL below: reduce-only")
    pnl_max: Decimal = Field(default=Decimal("100.0"), gt=0, description="day PnL above: reduce-only")
    stop_loss: Decimal = Field(default=Decimal("-60.0"), lt=0, description="day PnL: halt and flatten")
    drawdown_bands: list[Decimal] = Field(
        default_factory=lambda: [Decimal(5), Decimal(8), Decimal(12)],
        description="unrealized losses (positive) that each reduce the position once",
    )
    reduce_fractions: list[Decimal] = Field(
        default_factory=lambda: [Decimal("0.15"), Decimal("0.25"), Decimal("0.40")]
    )
    reduce_mode: ReduceMode = "maker_first_then_taker"
    reduce_cooldown_seconds: float = Field(default=120.0, ge=0, description="between two reductions")
    loss_release_ratio: Decimal = Field(
        default=Decimal("0.5"),
        ge=0,
        lt=1,
        description="a loss rule lifts when its figure recedes below ratio × level",
    )
    reduce_only_threshold: Decimal = Field(default=Decimal("25.0"), gt=0, description="unrealized loss")
    reduce_only_max_slippage_pct: float = Field(default=0.0003, gt=0, lt=1)
    reduce_only_market_trigger_pct: float = Field(default=0.15, gt=0, lt=1, description="adverse move")
    shock_pct: float = Field(default=0.10, gt=0, lt=1, description="mid or mark move within the window")
    shock_window_seconds: float = Field(default=60.0, gt=0)
    halt_seconds: float = Field(default=300.0, ge=0, description="cool-down of a shock halt")
    book_mark_max_deviation_pct: float = Field(default=0.005, gt=0, lt=1, description="|mid − mark| / mark")
    market_data_max_age_seconds: float = Field(default=5.0, gt=0, description="features and mark")
    latency_ms: float = Field(default=150.0, gt=0, description="above: drop the innermost layers")
    latency_widen_layers: int = Field(default=1, ge=0, le=100, description="per side, innermost first")
    latency_pause_ms: float = Field(default=500.0, gt=0, description="above: quote nothing")
    error_rate_throttle: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="share of our orders the venue rejected (decayed over about a minute) above which "
        "the symbol quotes fewer layers, more slowly (seed 001 §11)",
    )
    error_rate_min_orders: float = Field(
        default=10.0, ge=1, description="orders counted before the rate counts"
    )
    error_throttle_layers: int = Field(default=3, ge=1, le=100, description="layers kept per side, innermost")
    error_throttle_budget: float = Field(
        default=0.5, gt=0, le=1, description="share of the churn budget while throttled"
    )
    max_quick_cancel_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of our resting orders canceled within 5 s of acceptance over 10 minutes "
        "(Binance's Invalid Cancellation Ratio, restricted at 0.99) above which cancels slow down",
    )
    quick_cancel_min_orders: int = Field(
        default=100, ge=1, description="orders counted before the ratio counts"
    )
    quick_cancel_budget: float = Field(
        default=0.2, gt=0, le=1, description="share of the cancel budget while over the ratio"
    )
    liq_distance_min_pct: float = Field(default=0.05, gt=0, lt=1, description="mark to est. liquidation")
    max_actions_per_second: int = Field(
        default=20, ge=1, description="places + modifies + cancels, strictly under (seed 000 §7)"
    )
    max_actions_per_minute: int = Field(
        default=300,
        ge=1,
        description="places + modifies + cancels, strictly under; what it allows fits in the gateway's "
        "orders per minute for the symbol, so what risk approves the gateway can send",
    )
    max_cancels_per_minute: int = Field(
        default=50,
        ge=1,
        description="strictly under (seed 002 §1.1); under it, the gateway's cancels per minute fit",
    )
    change_cost: Literal["amend", "cancel_replace"] = Field(
        default="amend", description="how the gateway moves a changed quote (its reconcile.amend setting)"
    )
    target_max_age_seconds: float = Field(
        default=10.0, gt=0, description="a target the churn budget held back is retried until this old"
    )
    outside_order_grace_seconds: float = Field(
        default=1.0,
        ge=0,
        description="a pending cancel or unacknowledged order older than this counts against netMax "
        "beside the target (orders without a layer always do)",
    )

    @field_validator("drawdown_bands")
    @classmethod
    def _bands_increase(cls, v: list[Decimal]) -> list[Decimal]:
        if any(b <= 0 for b in v) or any(b >= c for b, c in pairwise(v)):
            raise ValueError("must be positive losses in increasing order")
        return v

    @field_validator("reduce_fractions")
    @classmethod
    def _fractions(cls, v: list[Decimal]) -> list[Decimal]:
        if any(not 0 < f <= 1 for f in v):
            raise ValueError("fractions must be in (0, 1]")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SymbolRiskParams:
        """Checks across keys, run on defaults too (a field validator would skip a default)."""
        if self.single_max > self.net_max:
            raise ValueError(f"singleMax {self.single_max} must not exceed netMax {self.net_max}")
        if len(self.reduce_fractions) != len(self.drawdown_bands):
            raise ValueError("reduceFractions needs one fraction per drawdownBands entry")
        if self.latency_pause_ms < self.latency_ms:
            raise ValueError(f"latencyPauseMs {self.latency_pause_ms} must not be below latencyMs")
        return self


def _default_symbols() -> dict[str, SymbolRiskParams]:
    return {
        "ETHUSDC": SymbolRiskParams(),
        "BTCUSDC": SymbolRiskParams(net_max=Decimal("0.05"), single_max=Decimal("0.02")),
    }


class AccountRiskParams(Section):
    """The limits of one account among several (``risk.params.accounts.<name>``), enforced beside
    the global ones above: its symbols' worst-case notional, its day loss, its margin ratio."""

    total_notional_max: Decimal = Field(
        default=Decimal(1_000_000), gt=0, description="worst-case notional over the account's symbols"
    )
    daily_max: Decimal = Field(
        default=Decimal("50.0"), gt=0, description="max loss of the UTC day over the account's symbols"
    )
    margin_ratio_max: float = Field(
        default=0.5, gt=0, lt=1, description="the account's maint margin / equity"
    )


class RiskParams(Section):
    """The account-wide limits and every quoted symbol's limits; an unlisted symbol quotes nothing."""

    daily_max: Decimal = Field(default=Decimal("50.0"), gt=0, description="max loss of the UTC day")
    max_drawdown_pct: float = Field(default=0.02, gt=0, lt=1, description="of the day's peak equity")
    drawdown_flatten: bool = Field(default=True, description="seed 000 §7: flatten as well as halt")
    total_notional_max: Decimal = Field(
        default=Decimal(4_000_000), gt=0, description="worst-case notional over all symbols (seed 002)"
    )
    leverage_max: Decimal = Field(default=Decimal(10), gt=0, description="worst-case notional / equity")
    margin_ratio_max: float = Field(default=0.5, gt=0, lt=1, description="maint margin / margin balance")
    symbols: dict[str, SymbolRiskParams] = Field(default_factory=_default_symbols)
    accounts: dict[str, AccountRiskParams] = Field(
        default_factory=dict, description="per-account limits, by account name (main = MM_API_KEY's)"
    )

    @field_validator("symbols", mode="before")
    @classmethod
    def _overlay_defaults(cls, v: Any) -> Any:
        return merge_symbol_defaults(v, _default_symbols())

    @field_validator("symbols")
    @classmethod
    def _symbol_names(cls, v: dict[str, SymbolRiskParams]) -> dict[str, SymbolRiskParams]:
        for sym in v:
            if not sym.isalnum() or not sym.isupper():
                raise ValueError(f"{sym!r} is not an upper-case symbol like ETHUSDC")
        return v
