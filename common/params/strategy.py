"""Parameters of the quoting models (strategy service and backtester), with the seeds' names and defaults.

Every section accepts the seeds' camelCase names (``spacingRatio``) or snake_case, rejects unknown
keys, and refuses a bad value naming the key. Units, where a name does not say them:

* relative quantities (``minSpread``, ``feeBuffer``, ``bandMin``, ``takeProfitPct``, ...) are
  fractions of the mid or reference price (0.0006 = 6 bps);
* sizes (``baseSize``, ``netMax``, ``farSize``) are in base-asset units (ETH, BTC);
* the reservation model works in ticks and lots (a lot is ``baseSize``): ``A`` per second, ``k``
  per tick; ``gamma`` (and ``xi``) per unit of the quote currency by default (``gammaUnit =
  "quote"``: per tick per lot it is gamma × tick × baseSize, so one value means the same risk
  aversion per unit of notional on every symbol), or per tick per lot (``gammaUnit = "tick_lot"``);
  a fixed ``sigma`` is relative per square-root second, like the venue's;
* ``Features.vol[key]`` is the marketdata service's standard deviation of mid log returns per
  square-root second; the key names the estimator's half-life (``"1s"``, ``"10s"``, ``"60s"``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from common.section import Section, ordered

VOL_KEY = r"^\d+(ms|s|m|h)$"


class LadderParams(Section):
    """The layer ladder shared by ASMM and Phase 2: spacing, size decay and depth (seed 001 §3)."""

    base_size: float = Field(default=0.009, gt=0, description="layer-0 size, base units")
    layer_spacing_mode: Literal["geometric", "linear"] = "geometric"
    spacing_ratio: float = Field(default=1.20, gt=0, description="growth of the gap between layers")
    layer_size_decay: float = Field(default=0.90, gt=0, le=1)
    max_layers: int = Field(default=24, ge=1, le=100)

    @field_validator("spacing_ratio")
    @classmethod
    def _ratio_grows(cls, v: float, info: ValidationInfo) -> float:
        if info.data.get("layer_spacing_mode") == "geometric" and v <= 1:
            raise ValueError("must be > 1 when layerSpacingMode is geometric")
        return v


class ReservationParams(Section):
    """Reservation price and optimal spread: Avellaneda–Stoikov (2008) or GLFT / Guéant (2017)."""

    variant: Literal["avellaneda_stoikov", "glft"] = "glft"
    gamma: float = Field(
        default=555.0,
        gt=0,
        description="risk aversion, in gammaUnit (555 per USDC is 0.05 per tick per lot on ETHUSDC's "
        "0.01 tick and 0.009 lot)",
    )
    gamma_unit: Literal["quote", "tick_lot"] = Field(
        default="quote",
        description="quote: per unit of the quote currency, the same on every symbol; tick_lot: per tick "
        "per lot (baseSize), the model's own units",
    )
    xi: float | None = Field(
        default=None, gt=0, description="Guéant's objective parameter, in gammaUnit; None = gamma"
    )
    horizon_s: float = Field(default=10.0, gt=0, description="A&S T-t, a rolling horizon in seconds")
    order_lots: float = Field(default=1.0, gt=0, description="Guéant's order size Delta, in lots")
    estimate_online: bool = Field(default=True, description="use Features A, k and vol when present")
    vol_key: str = Field(default="10s", pattern=VOL_KEY, description="which Features.vol estimate")
    intensity_a: float = Field(default=1.5, gt=0, description="fixed A, fills per second at the mid")
    intensity_k: float = Field(default=0.05, gt=0, description="fixed k, per tick")
    sigma: float = Field(default=1.0e-4, ge=0, description="fixed volatility, relative per sqrt(s)")


class FlowSteeringParams(Section):
    """Order-flow steering (seed 001 §11): VPIN thins and spreads the ladder, book and trade
    imbalance lean the reservation price. Neutral when the features are zero."""

    enabled: bool = True
    vpin_threshold: float = Field(
        default=0.8,
        ge=0,
        lt=1,
        description="VPIN above which the flow counts as toxic (~p90 of the recorded ETH file with "
        "marketdata's 50-ETH buckets); the effect grows linearly to VPIN 1",
    )
    vpin_layer_cut: float = Field(default=0.5, ge=0, lt=1, description="share of maxLayers dropped at VPIN 1")
    vpin_widen: float = Field(default=1.0, ge=0, description="gap between layers × (1 + this) at VPIN 1")
    imbalance_skew: float = Field(
        default=0.2, ge=0, le=1, description="half-spreads the centre leans at a one-sided book"
    )
    trade_skew: float = Field(
        default=0.2, ge=0, le=1, description="half-spreads the centre leans at one-sided trade flow"
    )


class AsmmParams(LadderParams):
    """Adaptive Skewed Market Making, Round7 (seed 001 §3, §5)."""

    spread_floor: Literal["measured", "fixed"] = Field(
        default="measured",
        description="measured: each side at least makerFee + the measured adverse selection + minEdge "
        "from the mid; fixed: the total spread at least max(minSpread, 2·feeBuffer)",
    )
    maker_fee: float = Field(default=0.0, ge=0, lt=1, description="the account's maker fee rate")
    min_edge: float = Field(default=0.00005, ge=0, lt=1, description="kept above fee and adverse selection")
    min_spread: float = Field(default=0.0006, gt=0, lt=1, description="floor of the total spread (fixed)")
    fee_buffer: float = Field(default=0.0002, ge=0, lt=1, description="part of minSpread kept for fees")
    take_profit_pct: float = Field(default=0.0025, ge=0, lt=1, description="0 disables")
    momentum_threshold: float = Field(
        default=0.0006, ge=0, lt=1, description="|mid / EMA − 1| beyond which momentum acts (no σ scaling)"
    )
    momentum_threshold_sigmas: float = Field(
        default=2.0,
        ge=0,
        description="with σ known: the threshold is this many standard deviations of mid / EMA − 1 "
        "(σ·√(τ/2), τ the EMA's time constant); 0 keeps momentumThreshold",
    )
    momentum_alpha: float = Field(default=0.08, gt=0, le=1, description="EMA weight per quote interval")
    inventory_pressure_threshold: float = Field(default=0.4, gt=0, lt=1, description="of netMax")
    inventory_pressure_strength: float = Field(default=0.5, ge=0)
    inventory_pressure_exponent: float = Field(default=2.5, gt=0)
    reservation: ReservationParams = Field(default_factory=ReservationParams)
    flow: FlowSteeringParams = Field(default_factory=FlowSteeringParams)

    _fee_inside_spread = ordered("fee_buffer", below="min_spread")  # minSpread includes the fee buffer


class PinningParams(Section):
    """Pinning (seed 002 §4.4): above ``threshold``·netMax the reducing side is nailed to the touch."""

    enabled: bool = True
    threshold: float = Field(default=0.70, gt=0, lt=1, description="of netMax")
    release: float = Field(default=0.60, gt=0, lt=1, description="of netMax; hysteresis below threshold")
    size_multiplier: float = Field(default=2.3, ge=1)
    near_layers: int = Field(default=8, ge=1, le=100, description="move with the market")
    far_layers: int = Field(default=16, ge=0, le=100, description="fixed while pinned")
    far_min_pct: float = Field(default=0.048, gt=0, lt=1)
    far_max_pct: float = Field(default=0.12, gt=0, lt=1)
    far_size: float = Field(default=0.08, gt=0, description="base units per far layer")
    far_tolerance: float = Field(default=0.02, gt=0, lt=1, description="mid drift that re-anchors far layers")

    _release = ordered("release", below="threshold")

    _far_range = ordered("far_max_pct", above="far_min_pct")


class GrindingParams(Section):
    """Grinding (seed 002 §4.5): near the cap in a calm market, sell a slice as taker, re-enter cheaper."""

    enabled: bool = True
    threshold: float = Field(default=0.87, gt=0, lt=1, description="of netMax")
    release: float = Field(default=0.80, gt=0, lt=1, description="of netMax; hysteresis below threshold")
    vol_key: str = Field(default="60s", pattern=VOL_KEY, description="which Features.vol estimate")
    std_dev_window_s: float = Field(default=1800.0, gt=0, description="the seed's 30-minute price std")
    max_std_dev: float = Field(default=0.0038, gt=0, description="calm: vol·sqrt(stdDevWindowS) below this")
    taker_fraction: float = Field(default=0.075, gt=0, lt=1, description="of the position")
    reentry_bps: float = Field(default=4.2, gt=0, description="maker re-entry this much better")
    reentry_size_multiplier: float = Field(default=2.1, gt=0, description="times the taker slice")
    cooldown_s: float = Field(default=60.0, ge=0)

    _release = ordered("release", below="threshold")


class AdaptiveNetMaxParams(Section):
    """An inventory cap that follows the volatility regime (seed 001 §2 ``adaptiveNetMax``, §10):
    the strategy quotes within netMax·clamp(refSigma/σ, minRatio, 1), so the inventory's risk σ·|q|
    stays within what netMax allows at refSigma. Risk's netMax stays the hard cap."""

    enabled: bool = True
    ref_sigma: float = Field(
        default=1.2e-4,
        gt=0,
        description="volatility per sqrt(s) at which the full netMax applies (recorded ETH file: 1.17e-4)",
    )
    vol_key: str = Field(default="60s", pattern=VOL_KEY, description="which Features.vol estimate")
    min_ratio: float = Field(default=0.3, gt=0, le=1, description="the cap never shrinks below this share")


class FundingBiasParams(Section):
    """Shift the reservation by the funding expected before the next funding time (perpetuals)."""

    enabled: bool = True
    horizon_s: float = Field(default=3600.0, gt=0, description="bias ramps in over this time before funding")
    strength: float = Field(default=1.0, ge=0)


class PassiveBandParams(Section):
    """Passive liquidity band (seed 003): one order a side in [bandMin, bandMax] of the reference."""

    band_min: float = Field(default=0.002, gt=0, lt=1)
    band_max: float = Field(default=0.004, gt=0, lt=1)
    placement_factor: float = Field(default=0.8, gt=0, le=1, description="place at ref*(1 -/+ bandMax*f)")
    drift_threshold: float = Field(default=0.0008, gt=0, description="re-place beyond this drift")
    min_order_value: float = Field(default=10000.0, gt=0, description="quote units per order")
    reference: Literal["mid", "twap", "vwap", "hybrid"] = "mid"
    orders_per_side: int = Field(default=1, ge=1, le=10)

    _band_order = ordered("band_max", above="band_min", strict=True)

    @field_validator("placement_factor")
    @classmethod
    def _placement_in_band(cls, v: float, info: ValidationInfo) -> float:
        if v * info.data.get("band_max", 1.0) < info.data.get("band_min", 0.0):
            raise ValueError("bandMax*placementFactor must not be below bandMin")
        return v

    @field_validator("drift_threshold")
    @classmethod
    def _drift_stays_in_band(cls, v: float, info: ValidationInfo) -> float:
        lo, hi = info.data.get("band_min", 0.0), info.data.get("band_max", 1.0)
        place = hi * info.data.get("placement_factor", 1.0)
        if v > min(hi - place, place - lo) + 1e-12:
            raise ValueError("a kept order could leave the band: must not exceed the room around placement")
        return v


class Phase1Params(Section):
    """Phase 1 (seed 000 §2.1): small quotes at the touch, close any fill, target inventory 0."""

    size: float = Field(default=0.009, gt=0)
    offset_ticks: int = Field(default=0, ge=0, description="distance behind the touch")
    close_after_fill: bool = True
    taker_after_ms: int = Field(default=2000, ge=0, description="maker close, then taker after this")
    target_inventory: float = 0.0


class Phase2Params(LadderParams):
    """Phase 2 (seed 000 §2.2): spread and layer count follow volatility, depth and imbalance."""

    min_layers: int = Field(default=4, ge=1, le=100)
    min_spread: float = Field(default=0.0006, gt=0, lt=1)
    base_spread: float = Field(default=0.0008, gt=0, lt=1, description="total spread in a calm full book")
    vol_key: str = Field(default="10s", pattern=VOL_KEY, description="which Features.vol estimate")
    vol_ref: float = Field(
        default=2.0e-4, gt=0, description="vol (per sqrt s) at which layers reach minLayers"
    )
    vol_spread_mult: float = Field(
        default=2.0, ge=0, description="relative half-spread added per unit of vol"
    )
    depth_ref: float = Field(default=50.0, gt=0, description="top-N depth (base units) of a full book")
    depth_widen: float = Field(default=0.5, ge=0, description="spread widening of an empty book")
    imbalance_skew: float = Field(default=0.3, ge=0, description="centre shift per unit imbalance, of half")
    inv_max: float = Field(default=0.1, gt=0, description="base units; beyond it the adding side shrinks")
    inv_skew: float = Field(default=0.5, ge=0, description="centre shift at invMax, of half-spread")
    over_limit_shrink: float = Field(default=0.25, ge=0, le=1, description="adding-side layers kept")
    trend_inventory: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="share of invMax the inventory target leans with a full trend (seed 000 §2.2: "
        "a little more long in a rising market); 0 = always aim flat",
    )
    trend_alpha: float = Field(default=0.05, gt=0, le=1, description="trend EMA weight per quote interval")
    trend_sigmas: float = Field(
        default=2.0, gt=0, description="mid / EMA − 1 in standard deviations that counts as a full trend"
    )

    _layers_order = ordered("min_layers", below="max_layers")

    _base_over_floor = ordered("base_spread", above="min_spread")


class SymbolStrategy(Section):
    """One symbol: which model quotes it, that model's section, and the shared overlays and limits."""

    model: Literal["phase1", "phase2", "asmm", "passive_band"] = "asmm"
    quote: bool = Field(
        default=True, description="false: the symbol quotes nothing (a calendar rule's symbol set)"
    )
    net_max: float = Field(default=0.21, gt=0, description="worst-case |position| with every order filled")
    quote_interval_ms: int = Field(default=500, ge=0, description="minimum time between published sets")
    publish_tolerance_ticks: int = Field(default=2, ge=0, description="anti-flicker price tolerance")
    publish_tolerance_ratio: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="a leg stays where it rests while the model's price is within this share of the "
        "leg's distance from the mid (at least publishToleranceTicks): far layers stay, inner ones follow",
    )
    max_actions_per_minute: int = Field(
        default=240,
        ge=1,
        description="order actions (new, moved or removed quotes) the published sets may cost in a minute; "
        "inside risk's churn budget, so risk rarely has to clip",
    )
    max_moves_per_second: int = Field(
        default=12,
        ge=1,
        description="price moves of resting legs the published sets may cost in a second (inner legs "
        "first; new and removed legs are not held); under risk's maxActionsPerSecond",
    )
    markout_horizon_s: float = Field(default=5.0, gt=0, description="a fill's markout is measured this late")
    adverse_alpha: float = Field(default=0.05, gt=0, le=1, description="weight of each fill's markout")
    adverse_prior_bps: float = Field(
        default=2.5,
        ge=0,
        description="adverse selection assumed before the first fill is measured: with the 0.5 bp edge, "
        "the fixed floor's 3 bps until fills say otherwise",
    )
    max_features_age_ms: int = Field(default=2000, gt=0, description="older features quote nothing")
    asmm: AsmmParams = Field(default_factory=AsmmParams)
    phase1: Phase1Params = Field(default_factory=Phase1Params)
    phase2: Phase2Params = Field(default_factory=Phase2Params)
    passive_band: PassiveBandParams = Field(default_factory=PassiveBandParams)
    pinning: PinningParams = Field(default_factory=PinningParams)
    grinding: GrindingParams = Field(default_factory=GrindingParams)
    funding_bias: FundingBiasParams = Field(default_factory=FundingBiasParams)
    adaptive_net_max: AdaptiveNetMaxParams = Field(default_factory=AdaptiveNetMaxParams)


def _default_symbols() -> dict[str, SymbolStrategy]:
    return {
        "ETHUSDC": SymbolStrategy(),
        "BTCUSDC": SymbolStrategy(
            net_max=0.05,
            asmm=AsmmParams(base_size=0.002),
            phase1=Phase1Params(size=0.002),
            phase2=Phase2Params(base_size=0.002, inv_max=0.025, depth_ref=5.0),
            pinning=PinningParams(far_size=0.004),
        ),
    }


class StrategyParams(Section):
    """Every quoted symbol's strategy, keyed by symbol."""

    symbols: dict[str, SymbolStrategy] = Field(default_factory=_default_symbols)

    @field_validator("symbols")
    @classmethod
    def _symbol_names(cls, v: dict[str, SymbolStrategy]) -> dict[str, SymbolStrategy]:
        for sym in v:
            if not sym.isalnum() or not sym.isupper():
                raise ValueError(f"{sym!r} is not an upper-case symbol like ETHUSDC")
        return v


def params_version(params: Section) -> str:
    """A short, stable hash of a parameter set, stored in every decision record.

    Computed from the canonical JSON of the snake_case dump, so the same values give the same
    version whichever spelling the config file used and whatever the process or host.
    """
    blob = json.dumps(params.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
