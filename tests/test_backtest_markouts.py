"""Markouts in the backtest summary: the market's mid ``h`` after each fill, against the fill's
price, signed for us, weighted by size. Every expected figure is worked out by hand."""

from __future__ import annotations

from decimal import Decimal

from common.messages import Fill
from services.backtest.record import Recorder

S = 1_000_000_000


def _fill(trade_id: int, side: str, price: str, qty: str, at: int, layer: int = 0) -> Fill:
    return Fill(symbol="ETHUSDC", trade_id=trade_id, client_order_id=f"c{trade_id}", venue_order_id=trade_id,
                side=side, price=Decimal(price), qty=Decimal(qty), fee=Decimal(0), fee_asset="USDC",
                realized_pnl=Decimal(0), is_maker=True, layer=layer, ts_event=at)  # type: ignore[arg-type]  # fmt: skip


def test_markouts_are_signed_for_us_weighted_by_size_and_skip_fills_too_near_the_end() -> None:
    rec = Recorder("ETHUSDC", 0, Decimal(1000))
    for k in range(11):  # the mid: 100.00 until 1 s, then 101.00, then 99.00 from 6 s on
        rec.mid(k * S, 100.0 if k < 1 else (101.0 if k < 6 else 99.0))
    rec.fill(_fill(1, "BUY", "100", "1", 0), 0, 100.0)  # 1 s later +1 %: +100 bps for us
    rec.fill(_fill(2, "SELL", "100", "3", 0, layer=1), 0, 100.0)  # 1 s later +1 %: -100 bps for us
    rec.fill(_fill(3, "BUY", "100", "1", 8 * S + S // 2), 8 * S + S // 2, 99.0)  # 5 s later: past the end
    # 1 s (the third fill reads the first mid at or after 9.5 s, 99.00 at 10 s, -100 bps):
    # (+100 x 1 - 100 x 3 - 100 x 1) / 5 = -60 bps
    assert rec.markout_bps(1) == -60.0
    # 5 s (mid at 5 s is 101): the third fill has no mid 5 s later: (100 - 300) / 4 = -50 bps
    assert rec.markout_bps(5) == -50.0
    # 30 s: no fill has a mid that late
    assert rec.markout_bps(30) == 0.0
    # layer 0 alone at 5 s: the first fill only
    assert rec.markout_bps(5, layer=0) == 100.0
