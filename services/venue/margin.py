"""Cross-margin arithmetic of the simulated venue, simplified but with Binance's shape.

Initial margin is notional / leverage on the mark price, for positions and for the part of open
orders that would add exposure (the worse side of bids and asks against the position).
Maintenance margin is a flat rate of position notional. These figures feed the -2019 margin
check and the ``account``, ``balance`` and ``positionRisk`` answers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.venue.accounts import ZERO, Account
from services.venue.payloads import num

if TYPE_CHECKING:
    from services.venue.exchange import Exchange, SymbolState


class MarginView:
    """Margin figures of one account, computed on demand from the exchange's state."""

    def __init__(self, ex: Exchange, acct: Account, mmr: Decimal) -> None:
        self.ex = ex
        self.acct = acct
        self.mmr = mmr

    def _open_qty(self, st: SymbolState) -> tuple[Decimal, Decimal]:
        buy, sell = self.ex.open_exposure(self.acct, st.sym.name)
        return st.sym.qty_dec(buy), st.sym.qty_dec(sell)

    def _symbol_im(
        self, st: SymbolState, extra_side: int = 0, extra_qty: Decimal = ZERO
    ) -> tuple[Decimal, Decimal]:
        """(position IM, open-order IM) of one symbol, optionally with one more order."""
        pos = self.acct.positions.get(st.sym.name)
        q = pos.qty if pos else ZERO
        buy, sell = self._open_qty(st)
        if extra_side > 0:
            buy += extra_qty
        elif extra_side < 0:
            sell += extra_qty
        lev = Decimal(self.acct.lev(st.sym.name))
        exposure = max(abs(q + buy), abs(q - sell))
        return abs(q) * st.mark / lev, (exposure - abs(q)) * st.mark / lev

    def asset_figures(self, asset: str, extra: tuple[str, int, Decimal] | None = None) -> dict[str, Decimal]:
        wallet = self.acct.wallet(asset)
        upnl = pim = oim = mm = ZERO
        for name, st in self.ex.symbols.items():
            if st.sym.margin_asset != asset:
                continue
            pos = self.acct.positions.get(name)
            if pos is not None and pos.qty:
                upnl += pos.unrealized(st.mark)
                mm += abs(pos.qty) * st.mark * self.mmr
            side, qty = (extra[1], extra[2]) if extra and extra[0] == name else (0, ZERO)
            p, o = self._symbol_im(st, side, qty)
            pim += p
            oim += o
        margin_balance = wallet + upnl
        return {
            "wallet": wallet,
            "unrealized": upnl,
            "margin_balance": margin_balance,
            "position_im": pim,
            "order_im": oim,
            "maint": mm,
            "available": margin_balance - pim - oim,
        }

    def can_add(self, st: SymbolState, side: int, qty_steps: int, price: Decimal) -> bool:
        """Would the account still have non-negative available balance with this order resting?"""
        f = self.asset_figures(st.sym.margin_asset, (st.sym.name, side, st.sym.qty_dec(qty_steps)))
        return f["available"] >= 0

    # ---- JSON views ----------------------------------------------------------------------

    def balances_json(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        for asset in sorted(self.acct.balances):
            f = self.asset_figures(asset)
            out.append(
                {
                    "accountAlias": self.acct.name,
                    "asset": asset,
                    "balance": num(f["wallet"]),
                    "crossWalletBalance": num(f["wallet"]),
                    "crossUnPnl": num(f["unrealized"]),
                    "availableBalance": num(f["available"]),
                    "maxWithdrawAmount": num(max(ZERO, f["available"])),
                    "marginAvailable": True,
                    "updateTime": now_ms,
                }
            )
        return out

    def positions_json(self, now_ms: int, only_active: bool = True) -> list[dict[str, Any]]:
        out = []
        for name, st in self.ex.symbols.items():
            pos = self.acct.positions.get(name)
            has_orders = bool(self.ex.open_orders(self.acct, name))
            if only_active and (pos is None or pos.qty == 0) and not has_orders:
                continue
            q = pos.qty if pos else ZERO
            entry = pos.entry if pos else ZERO
            pim, oim = self._symbol_im(st)
            notional = q * st.mark
            out.append(
                {
                    "symbol": name,
                    "positionSide": "BOTH",
                    "positionAmt": num(q),
                    "entryPrice": num(entry),
                    "breakEvenPrice": num(entry),
                    "markPrice": num(st.mark),
                    "unRealizedProfit": num(pos.unrealized(st.mark) if pos else ZERO),
                    "liquidationPrice": num(self._liq_price(st, q, entry)),
                    "isolatedMargin": "0",
                    "notional": num(notional),
                    "marginAsset": st.sym.margin_asset,
                    "isolatedWallet": "0",
                    "initialMargin": num(pim + oim),
                    "maintMargin": num(abs(notional) * self.mmr),
                    "positionInitialMargin": num(pim),
                    "openOrderInitialMargin": num(oim),
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "leverage": str(self.acct.lev(name)),
                    "updateTime": pos.update_ms if pos else now_ms,
                }
            )
        return out

    def _liq_price(self, st: SymbolState, q: Decimal, entry: Decimal) -> Decimal:
        """Cross-margin liquidation estimate: where the margin balance meets maintenance margin."""
        if q == 0:
            return ZERO
        f = self.asset_figures(st.sym.margin_asset)
        others = f["margin_balance"] - (st.mark - entry) * q
        # wallet_etc + (p - entry) q = |q| p mmr  ->  p = (entry q - others) / (q - |q| mmr)
        denom = q - abs(q) * self.mmr
        p = (entry * q - others) / denom if denom else ZERO
        return max(ZERO, p)

    def account_json(self, now_ms: int) -> dict[str, Any]:
        assets = []
        tot: dict[str, Decimal] = {}
        for asset in sorted(self.acct.balances):
            f = self.asset_figures(asset)
            for k, v in f.items():
                tot[k] = tot.get(k, ZERO) + v
            assets.append(
                {
                    "asset": asset,
                    "walletBalance": num(f["wallet"]),
                    "unrealizedProfit": num(f["unrealized"]),
                    "marginBalance": num(f["margin_balance"]),
                    "maintMargin": num(f["maint"]),
                    "initialMargin": num(f["position_im"] + f["order_im"]),
                    "positionInitialMargin": num(f["position_im"]),
                    "openOrderInitialMargin": num(f["order_im"]),
                    "crossWalletBalance": num(f["wallet"]),
                    "crossUnPnl": num(f["unrealized"]),
                    "availableBalance": num(f["available"]),
                    "maxWithdrawAmount": num(max(ZERO, f["available"])),
                    "updateTime": now_ms,
                }
            )
        positions = [
            {
                k: p[k]
                for k in (
                    "symbol",
                    "positionSide",
                    "positionAmt",
                    "unRealizedProfit",
                    "isolatedMargin",
                    "notional",
                    "isolatedWallet",
                    "initialMargin",
                    "maintMargin",
                    "updateTime",
                )
            }
            for p in self.positions_json(now_ms)
        ]
        return {
            "totalInitialMargin": num(tot.get("position_im", ZERO) + tot.get("order_im", ZERO)),
            "totalMaintMargin": num(tot.get("maint", ZERO)),
            "totalWalletBalance": num(tot.get("wallet", ZERO)),
            "totalUnrealizedProfit": num(tot.get("unrealized", ZERO)),
            "totalMarginBalance": num(tot.get("margin_balance", ZERO)),
            "totalPositionInitialMargin": num(tot.get("position_im", ZERO)),
            "totalOpenOrderInitialMargin": num(tot.get("order_im", ZERO)),
            "totalCrossWalletBalance": num(tot.get("wallet", ZERO)),
            "totalCrossUnPnl": num(tot.get("unrealized", ZERO)),
            "availableBalance": num(tot.get("available", ZERO)),
            "maxWithdrawAmount": num(max(ZERO, tot.get("available", ZERO))),
            "assets": assets,
            "positions": positions,
        }
