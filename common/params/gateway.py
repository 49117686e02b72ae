"""Parameters of the gateway's pure core: client ids, reconciliation tolerances, rate budgets, hard caps.

Units, where a name does not say them: sizes are base-asset units (ETH, BTC), notionals are in the
quote/margin asset (USDC, USDT), ``*_pct`` are fractions (0.10 = 10 %). Budgets are *ours*, set below
the venue's limits (reference A.3: 300 orders per 10 s, 1200 per minute, 2400 weight per minute), so
a burst from another client of the same account or IP still fits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from common.section import Section


class ClientIdParams(Section):
    """The client order id scheme (see :mod:`services.gateway.client_ids`)."""

    prefix: str = Field(default="mm", pattern=r"^[A-Za-z]{1,4}$", description="marks our orders")


class ReconcileParams(Section):
    """How the gateway moves resting orders toward the approved target (anti-flicker, batching)."""

    price_tolerance_ticks: int = Field(default=1, ge=0, description="keep an order this close in price")
    size_tolerance_pct: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1, description="of the wanted size")
    amend: bool = Field(default=True, description="PUT modify instead of cancel + new where possible")
    time_in_force: Literal["GTX", "GTC"] = Field(default="GTX", description="GTX = post-only")
    batch_min_items: int = Field(default=2, ge=2, description="fewer items go as single requests")
    batch_place_max: int = Field(default=5, ge=1, le=5, description="venue maximum 5")
    batch_modify_max: int = Field(default=5, ge=1, le=5, description="venue maximum 5")
    batch_cancel_max: int = Field(default=10, ge=1, le=10, description="venue maximum 10")


class SymbolBudget(Section):
    """Our own pacing for one symbol, counted in orders (a batch of 5 is 5)."""

    orders_per_10s: int = Field(default=60, ge=1, description="places + modifies")
    orders_per_minute: int = Field(default=300, ge=1, description="places + modifies")
    cancels_per_minute: int = Field(default=49, ge=1, description="seeds: under 50 a minute")


class AccountBudget(SymbolBudget):
    """Our pacing for the whole account, plus our share of the venue's own counters."""

    orders_per_10s: int = Field(default=150, ge=1)
    orders_per_minute: int = Field(default=600, ge=1)
    cancels_per_minute: int = Field(default=90, ge=1)
    venue_orders_per_10s: int = Field(default=240, ge=1, description="venue ORDERS 10 s units (300 × 0.8)")
    venue_orders_per_minute: int = Field(default=960, ge=1, description="venue ORDERS 1 m units (1200 × 0.8)")
    weight_per_minute: int = Field(default=600, ge=1, description="REQUEST_WEIGHT this gateway may spend")


class BudgetParams(Section):
    """Rate budgets: one account-wide set and one per symbol (``symbols`` overrides ``symbol_default``)."""

    account: AccountBudget = Field(default_factory=AccountBudget)
    symbol_default: SymbolBudget = Field(default_factory=SymbolBudget)
    symbols: dict[str, SymbolBudget] = Field(default_factory=dict)

    def for_symbol(self, symbol: str) -> SymbolBudget:
        """The budget of one symbol."""
        return self.symbols.get(symbol, self.symbol_default)


class CapsParams(Section):
    """Hard caps checked right before the wire, behind risk's own limits (safety rule 4)."""

    max_position: dict[str, Decimal] = Field(
        default_factory=lambda: {"ETHUSDC": Decimal("0.5"), "BTCUSDC": Decimal("0.1")},
        description="per symbol: |position| + same-side resting + the order, base units",
    )
    default_max_position: Decimal = Field(default=Decimal(0), ge=0, description="unlisted symbols; 0 refuses")
    max_order_notional: Decimal = Field(default=Decimal(5000), gt=0)
    order_notional: dict[str, Decimal] = Field(
        default_factory=dict,
        description="per symbol, a max_order_notional of its own (spot's passive band rests 10,000 a side)",
    )
    max_global_notional: Decimal = Field(default=Decimal(50000), gt=0, description="worst case, all symbols")
    max_orders_per_second: int = Field(default=50, ge=1, description="places + modifies, whole account")

    @field_validator("max_position")
    @classmethod
    def _positive(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for sym, cap in v.items():
            if cap < 0:
                raise ValueError(f"{sym}: must be >= 0")
        return v

    def order_cap(self, symbol: str) -> Decimal:
        """The largest order of ``symbol``, quote units."""
        return self.order_notional.get(symbol, self.max_order_notional)

    def position_cap(self, symbol: str) -> Decimal:
        """The per-symbol cap in base units."""
        return self.max_position.get(symbol, self.default_max_position)


class OmsParams(Section):
    """The order book of the OMS: fills, positions, memory bounds."""

    fills_from_trade_lite: bool = Field(
        default=False,
        description="publish a Fill from TRADE_LITE (no fee, no realized PnL) before ORDER_TRADE_UPDATE",
    )
    position_drift_tolerance: Decimal = Field(default=Decimal(0), ge=0, description="base units")
    seen_trades_max: int = Field(default=200_000, ge=1000, description="trade ids remembered for dedup")
    retired_ids_max: int = Field(default=100_000, ge=100, description="finished client ids remembered")
    keep_finished_s: float = Field(default=60.0, ge=0, description="finished orders kept before pruning")
    unknown_horizon_s: float = Field(
        default=7.0,
        gt=0,
        description="a place of unknown outcome that the venue does not know stays live this long after it "
        "was sent (more than recvWindow: the matching engine refuses it after that)",
    )
    cancel_confirm_s: float = Field(
        default=2.0, gt=0, description="a cancel not confirmed by the venue this long is sent again"
    )


class GatewayParams(Section):
    """Everything the gateway's pure core needs."""

    client_ids: ClientIdParams = Field(default_factory=ClientIdParams)
    reconcile: ReconcileParams = Field(default_factory=ReconcileParams)
    budget: BudgetParams = Field(default_factory=BudgetParams)
    caps: CapsParams = Field(default_factory=CapsParams)
    oms: OmsParams = Field(default_factory=OmsParams)
