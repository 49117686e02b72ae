"""What the order-safety drills share: the venue's truth, targets near the touch, taker flow,
``mmctl`` as an operator runs it, and bus history."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from common.messages import Fill, OrderUpdate, Quote, Resume
from tests.cluster import Cluster
from tests.helpers import wait_until
from tests.venue_proc import KEY_B, SECRET_B, book_mid

SYM = "ETHUSDC"
MMCTL = str(Path(sys.executable).parent / "mmctl")

# Caps the drills hold the gateway to (the cluster overlay sets them).
CAPS = """
[gateway.params.caps]
max_position = { ETHUSDC = "0.5", BTCUSDC = "0.05" }
max_order_notional = "500"
max_global_notional = "20000"
max_orders_per_second = 20
"""
FAST = """
[gateway]
deadman_ms = 6000
deadman_refresh_s = 2.0
reconcile_interval_s = 1.5
risk_silence_s = 3.0
md_silence_s = 2.0
latency_probe_s = 0.5
"""
ACCOUNT_B = """
[[simvenue.accounts]]
name = "paper"

[[simvenue.accounts]]
name = "b"
api_key_env = "MM_B_KEY"
api_secret_env = "MM_B_SECRET"
balances = { USDC = 10000000 }
"""
ENV_B = {"MM_B_KEY": KEY_B, "MM_B_SECRET": SECRET_B}


def quotes(c: Cluster, offsets: list[float], qty: str = "0.010", symbol: str = SYM) -> list[Quote]:
    """Quotes at mid × (1 ± offset), layer = position in the list: positive offsets are asks."""
    mid = book_mid(c.venue_url, symbol)
    tick = Decimal("0.01") if symbol == "ETHUSDC" else Decimal("0.1")
    out = []
    for i, off in enumerate(offsets):
        px = (mid * Decimal(repr(1 + off))).quantize(tick, rounding=ROUND_DOWN)
        out.append(Quote(side="SELL" if off > 0 else "BUY", price=px, qty=Decimal(qty), layer=i))
    return out


def rest_quotes(
    c: Cluster, risk: Any, offsets: list[float], qty: str = "0.010", symbol: str = SYM
) -> list[Quote]:
    """Quotes near the touch resting at the venue: a post-only quote the market moved onto is
    refused (-5022), so the quotes are made again from the new mid until they rest."""
    for _ in range(5):
        q = quotes(c, offsets, qty, symbol)
        risk.set_target(symbol, q)
        try:
            wait_until(lambda q=q: follows(c, q, symbol), 6)
            return q
        except AssertionError:
            continue
    raise AssertionError(f"quotes at {offsets} never rested")


def open_orders(c: Cluster, symbol: str = SYM) -> list[dict[str, Any]]:
    return c.open_orders(symbol)


def follows(c: Cluster, qs: list[Quote], symbol: str = SYM) -> bool:
    """The venue rests exactly these prices and sides."""
    want = sorted((q.side, str(q.price)) for q in qs)
    return sorted((o["side"], o["price"]) for o in open_orders(c, symbol)) == want


def trades(c: Cluster, symbol: str = SYM) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = c.signed("GET", "/fapi/v1/userTrades", symbol=symbol)
    return rows


def venue_position(c: Cluster, symbol: str = SYM) -> Decimal:
    rows = [p for p in c.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == symbol]
    return Decimal(rows[0]["positionAmt"]) if rows else Decimal(0)


def hit(c: Cluster, side: str, price: str, qty: str = "400.000", symbol: str = SYM) -> dict[str, Any]:
    """Account b sends an IOC at ``price``: ``side`` SELL hits our bids, BUY lifts our asks."""
    r: dict[str, Any] = c.signed(
        "POST", "/fapi/v1/order", key=KEY_B, secret=SECRET_B, symbol=symbol, side=side, type="LIMIT",
        timeInForce="IOC", quantity=qty, price=price,
    )  # fmt: skip
    assert r.get("orderId"), r
    return r


def fill_our_best(c: Cluster, side: str, symbol: str = SYM) -> None:
    """Fill our best bid (``side`` BUY) or ask (SELL) with a taker from account b."""
    ours = [o for o in open_orders(c, symbol) if o["side"] == side]
    assert ours, f"no {side} of ours resting"
    px = max(o["price"] for o in ours) if side == "BUY" else min(o["price"] for o in ours)
    before = len(trades(c, symbol))
    hit(c, "SELL" if side == "BUY" else "BUY", px, symbol=symbol)
    assert len(trades(c, symbol)) > before, "the taker did not reach our order"


def published_fills(c: Cluster, since: float = 0.0) -> list[Fill]:
    return [m for _, m in c.heard.since(since, "oms.fill.") if isinstance(m, Fill)]


def order_updates(c: Cluster, since: float = 0.0) -> list[OrderUpdate]:
    return [m for _, m in c.heard.since(since, "oms.order.") if isinstance(m, OrderUpdate)]


def mmctl(c: Cluster, *args: str, timeout: float = 90) -> tuple[int, Any]:
    """Run ``mmctl`` against the cluster; (exit code, the parsed ``--json`` output)."""
    out = subprocess.run(
        [MMCTL, *args, "--json"], env=c.env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = out.stdout
    return out.returncode, data


def ask(c: Cluster, service: str, cmd: Any, timeout: float = 20) -> Any:
    """The result of ``cmd`` once ``service`` answers it ok (a service starting says "not ready")."""
    got: list[Any] = []

    def answered() -> bool:
        reply = c.request(service, cmd)
        if reply.ok:
            got.append(reply.result)
        return reply.ok

    wait_until(answered, timeout, what=f"{service} answering {type(cmd).__name__}")
    return got[-1]


def resume(c: Cluster) -> None:
    """Lift a kill (and pauses), once the gateway is up to take it."""
    ask(c, "gateway", Resume())


def venue_open_count(c: Cluster) -> int:
    """Every open order at the venue, read through its admin view (which no fault refuses)."""
    return int(venue_state(c)["open_orders"])


def venue_state(c: Cluster) -> dict[str, Any]:
    import httpx

    return httpx.get(c.venue_url + "/_admin/state", timeout=5).json()  # type: ignore[no-any-return]


def elapsed(t0: float) -> float:
    return time.monotonic() - t0
