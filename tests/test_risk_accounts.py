"""Several accounts under one risk engine: each account's notional cap, day loss and margin ratio,
beside the global limits (seed 003 §7, seed 004). Expected figures are worked by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from common.messages import Account, CancelAll, Resume, TargetQuotes
from common.params.risk import RiskParams
from services.risk.context import DAY_NS
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import (
    PRICES,
    T0_NS,
    S,
    account,
    feed,
    feed_market,
    fill,
    instrument,
    ladder,
    loose,
    target,
)

D = Decimal
SYMS = ("ETHUSDC", "BTCUSDC")


def _acct(name: str, wallet: str = "10000", maint: str = "0") -> Account:
    return msgspec.structs.replace(account(wallet, maint), account=name)


def two_accounts(
    params: RiskParams, b_wallet: str = "10000", b_maint: str = "0", ready: bool = True
) -> RiskEngine:
    """ETHUSDC traded by the primary account (``main``), BTCUSDC by account ``b``; ready at T0."""
    e = RiskEngine(params, {s: instrument(s) for s in SYMS})
    e.set_accounts({"ETHUSDC": "main", "BTCUSDC": "b"})
    for s in SYMS:
        e.on_feed_status(feed(s))
        feed_market(e, s, PRICES[s], T0_NS)
    e.on_account(_acct("main"))
    e.on_account(_acct("b", b_wallet, b_maint))
    if ready:
        e.mark_ready(T0_NS)
    return e


def _side(t: TargetQuotes, side: str) -> list[Decimal]:
    return [q.qty for q in t.quotes if q.side == side]


def _modes(e: RiskEngine, now: int) -> dict[str, str]:
    return {s: r.mode for s, r in e.state(now).symbols.items()}


def _rules(events: list[Any]) -> list[tuple[str, str, str]]:
    return [(ev.rule, ev.action, ev.symbol) for ev in events]


def test_equity_is_known_once_every_account_has_reported_and_is_their_sum() -> None:
    e = RiskEngine(loose(), {s: instrument(s) for s in SYMS})
    e.set_accounts({"ETHUSDC": "main", "BTCUSDC": "b"})
    e.on_account(_acct("main", "10000"))
    assert "account.equity" not in e.state(T0_NS).figures  # b has not reported: equity unknown
    e.on_account(_acct("b", "2500"))
    figs = e.state(T0_NS).figures
    assert figs["account.equity"] == 12500.0
    assert (figs["account.main.equity"], figs["account.b.equity"]) == (10000.0, 2500.0)


def test_an_accounts_notional_cap_clips_its_symbols_and_leaves_the_other_accounts_alone() -> None:
    # b's cap 3050 USDC at BTC 61000: room 0.05 BTC a side; main (ETH) has no account cap
    e = two_accounts(loose(accounts={"b": {"totalNotionalMax": 3050}}))
    out = e.check(target("BTCUSDC", ladder("BTCUSDC", "61000.0", 4, "0.02")), T0_NS + S // 10)
    btc = out.targets[0]
    assert _side(btc, "BUY") == [D("0.02"), D("0.02"), D("0.01")]
    assert _side(btc, "SELL") == [D("0.02"), D("0.02"), D("0.01")]
    assert any(c.startswith("account_notional: BUY room 0.05") for c in btc.clipped)
    eth = e.check(target("ETHUSDC", ladder("ETHUSDC", "2680.00", 4, "0.5"), target_id=2), T0_NS + S // 5)
    assert _side(eth.targets[0], "BUY") == [D("0.5")] * 4  # 5.4k USDC a side: only b is capped
    # a long of 0.02 BTC leaves 0.03 of bids: (0.02 + 0.03) x 61000 = 3050
    e.on_fill(fill("BTCUSDC", "BUY", "61000.0", "0.02", 7))
    out = e.check(target("BTCUSDC", ladder("BTCUSDC", "61000.0", 4, "0.02"), target_id=3), T0_NS + S)
    assert _side(out.targets[0], "BUY") == [D("0.02"), D("0.01")]


def test_an_accounts_day_loss_halts_only_its_symbols_until_resumed() -> None:
    e = two_accounts(loose(accounts={"b": {"dailyMax": 100}}))
    e.on_fill(fill("BTCUSDC", "BUY", "61000.0", "0.1", 1))
    feed_market(e, "BTCUSDC", "59900.0", T0_NS + S)  # unrealized (59900 - 61000) x 0.1 = -110 <= -100
    out = e.tick(T0_NS + S)
    assert ("account_daily_loss", "hold", "BTCUSDC") in _rules(out.events)
    assert CancelAll(symbol="BTCUSDC", reason=out.actions[0].reason) in out.actions
    assert all(getattr(a, "symbol", "") == "BTCUSDC" for a in out.actions)
    assert _modes(e, T0_NS + S) == {"ETHUSDC": "normal", "BTCUSDC": "halted"}
    assert e.state(T0_NS + S).figures["account.b.pnl_day"] == -110.0
    # the operator's resume re-bases the day loss: it does not fire again at the same loss
    e.on_command(Resume(symbol="BTCUSDC", reason="checked"), T0_NS + 2 * S)
    assert _modes(e, T0_NS + 3 * S) == {"ETHUSDC": "normal", "BTCUSDC": "normal"}
    assert not [r for r in _rules(e.tick(T0_NS + 3 * S).events) if r[0] == "account_daily_loss"]
    feed_market(e, "BTCUSDC", "58900.0", T0_NS + 4 * S)  # another -100 since the resume
    assert ("account_daily_loss", "hold", "BTCUSDC") in _rules(e.tick(T0_NS + 4 * S).events)


def test_an_accounts_day_loss_hold_lifts_at_the_next_utc_day() -> None:
    e = two_accounts(loose(accounts={"b": {"dailyMax": 100}}))
    e.on_fill(fill("BTCUSDC", "BUY", "61000.0", "0.1", 1))
    feed_market(e, "BTCUSDC", "59900.0", T0_NS + S)
    e.tick(T0_NS + S)
    nxt = T0_NS + DAY_NS + S
    for s in SYMS:
        e.on_feed_status(feed(s, ts=nxt))
        feed_market(e, s, "59900.0" if s == "BTCUSDC" else PRICES[s], nxt)
    assert ("account_daily_loss", "release", "BTCUSDC") in _rules(e.tick(nxt).events)
    assert _modes(e, nxt)["BTCUSDC"] == "normal"


def test_an_accounts_margin_ratio_makes_only_its_symbols_reduce_only() -> None:
    # b: maint 600 / equity 1000 = 60 % >= 50 %; all accounts: 600 / 11000 = 5.5 %, under the global 99 %
    e = two_accounts(loose(accounts={"b": {"marginRatioMax": 0.5}}), "1000", "600", ready=False)
    out = e.mark_ready(T0_NS + 1)
    assert ("account_margin_ratio", "hold", "BTCUSDC") in _rules(out.events)
    assert _modes(e, T0_NS + 1) == {"ETHUSDC": "normal", "BTCUSDC": "reduce_only"}
    assert "margin_ratio" not in [r[0] for r in _rules(out.events)]
    e.on_account(_acct("b", "1000", "400"))  # 40 %: the condition clears
    assert ("account_margin_ratio", "release", "BTCUSDC") in _rules(e.tick(T0_NS + 2).events)
    assert _modes(e, T0_NS + 2) == {"ETHUSDC": "normal", "BTCUSDC": "normal"}


def test_fills_are_booked_to_their_own_accounts_wallet_until_its_next_balance() -> None:
    e = two_accounts(loose())
    e.on_fill(fill("BTCUSDC", "BUY", "61000.0", "0.01", 1, fee="0.5"))
    e.on_fill(fill("BTCUSDC", "SELL", "61100.0", "0.01", 2, fee="0.5"))  # +1.0 realized, -1.0 fees
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "1", 3, fee="2"))
    figs = e.state(T0_NS + S).figures
    assert figs["account.b.equity"] == 10000.0  # 10000 + 1.0 - 1.0
    assert figs["account.main.equity"] == 9998.0  # the ETH fee; no unrealized at the fill's price
    e.on_account(_acct("b", "10000"))  # b's gateway reports a wallet that includes them
    assert e.state(T0_NS + S).figures["account.b.equity"] == 10000.0
    assert e.state(T0_NS + S).figures["account.main.equity"] == 9998.0
