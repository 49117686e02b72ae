"""The row of each table and of each lake dataset, built from one message (pure functions).

A row is a tuple in its table's column order (:mod:`services.recorder.schema`); :func:`row` builds
it from keywords and refuses a missing or unknown column, so a schema change that a builder missed
fails at once. Exact numbers become canonical decimal text (:func:`~services.recorder.schema.dec_text`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.messages import (
    Account,
    BookLevels,
    CommandAudit,
    Features,
    Fill,
    MarkPrice,
    OrderUpdate,
    Position,
    Quote,
    RiskEvent,
    ServiceStatus,
    StateSnapshot,
    TargetQuotes,
    Trade,
)
from services.recorder.schema import BAND_COUNTERS, TABLE, dec_text

_json = msgspec.json.Encoder()


def row(table: str, **values: Any) -> tuple[Any, ...]:
    """A row of ``table`` in its column order; a missing or unknown column is a bug and raises."""
    names = TABLE[table].names
    if len(values) != len(names):
        extra = set(values) - set(names)
        missing = set(names) - set(values)
        raise KeyError(f"{table}: missing {sorted(missing)}, unknown {sorted(extra)}")
    return tuple(values[n] for n in names)


def jtext(obj: Any) -> str:
    """Compact JSON text (Decimals as strings), stored in ``json`` columns."""
    return _json.encode(obj).decode()


# ---- typed rows (bus, gateway snapshot) ---------------------------------------------------------


def fill_row(f: Fill, ts_recv: int, source: str) -> tuple[Any, ...]:
    """A ``fills`` row from a :class:`Fill` (bus or gateway snapshot)."""
    return row(
        "fills",
        ts_event=f.ts_event,
        ts_recv=ts_recv,
        symbol=f.symbol,
        trade_id=f.trade_id,
        client_order_id=f.client_order_id,
        venue_order_id=f.venue_order_id,
        side=f.side,
        price=dec_text(f.price),
        qty=dec_text(f.qty),
        fee=dec_text(f.fee),
        fee_asset=f.fee_asset,
        realized_pnl=dec_text(f.realized_pnl),
        is_maker=f.is_maker,
        layer=f.layer,
        source=source,
    )


def _order_fields(o: OrderUpdate) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "client_order_id": o.client_order_id,
        "venue_order_id": o.venue_order_id,
        "side": o.side,
        "price": dec_text(o.price),
        "qty": dec_text(o.qty),
        "filled_qty": dec_text(o.filled_qty),
        "avg_price": dec_text(o.avg_price),
        "state": o.state,
        "layer": o.layer,
        "time_in_force": o.time_in_force,
        "reduce_only": o.reduce_only,
        "reason": o.reason,
        "error_code": o.error_code,
    }


def order_rows(o: OrderUpdate, ts_recv: int, source: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The ``order_events`` row and the ``orders`` upsert row of one :class:`OrderUpdate`."""
    f = _order_fields(o)
    event = row("order_events", ts_event=o.ts_event, ts_recv=ts_recv, source=source, **f)
    current = row("orders", created_ns=o.ts_event, ts_event=o.ts_event, **f)
    return event, current


def position_row(p: Position, ts_recv: int, source: str) -> tuple[Any, ...]:
    """A ``positions`` row."""
    return row(
        "positions",
        ts_event=p.ts_event,
        ts_recv=ts_recv,
        symbol=p.symbol,
        qty=dec_text(p.qty),
        entry_price=dec_text(p.entry_price),
        unrealized_pnl=dec_text(p.unrealized_pnl),
        mark_price=dec_text(p.mark_price),
        realized_pnl=dec_text(p.realized_pnl),
        fees=dec_text(p.fees),
        funding=dec_text(p.funding),
        source=source,
    )


def account_rows(a: Account, ts_recv: int) -> list[tuple[Any, ...]]:
    """One ``account_snapshots`` row per balance, with its account and market (futures margin or
    the spot wallet)."""
    return [
        row(
            "account_snapshots",
            ts_event=a.ts_event,
            ts_recv=ts_recv,
            asset=b.asset,
            wallet=dec_text(b.wallet),
            available=dec_text(b.available),
            unrealized_pnl=dec_text(b.unrealized_pnl),
            margin_balance=dec_text(b.margin_balance),
            maint_margin=dec_text(b.maint_margin),
            initial_margin=dec_text(b.initial_margin),
            reason=a.reason,
            account=a.account,
            market=a.market,
        )
        for b in a.balances
    ]


def status_row(s: ServiceStatus, ts_recv: int) -> tuple[Any, ...]:
    """A ``service_status`` row."""
    return row(
        "service_status",
        ts_event=s.ts_event,
        ts_recv=ts_recv,
        service=s.service,
        state=s.state,
        reason=s.reason,
    )


def band_rows(s: StateSnapshot, ts_recv: int) -> list[tuple[Any, ...]]:
    """``band_kpis`` rows from a strategy snapshot: each passive-band symbol's KPI counters.

    Raises ValueError naming what is wrong when the payload is not a strategy snapshot this build
    can read (the snapshot itself is stored all the same)."""
    try:
        states = msgspec.msgpack.decode(s.payload)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ValueError(f"strategy snapshot payload is not msgpack: {exc}") from exc
    if not isinstance(states, dict):
        raise ValueError(f"strategy snapshot payload is a {type(states).__name__}, not a map of symbols")
    out = []
    for sym, st in states.items():
        kpi = st.get("kpi") if isinstance(st, dict) else None
        if not isinstance(kpi, dict) or not isinstance(kpi.get("observed_ns"), int) or not kpi["observed_ns"]:
            continue
        counters = {k: kpi.get(k, 0) if isinstance(kpi.get(k, 0), int) else 0 for k in BAND_COUNTERS}
        max_ns = kpi.get("response_max_ns", 0)
        out.append(row("band_kpis", ts_event=s.ts_event, symbol=str(sym), **counters,
                       response_max_ns=max_ns if isinstance(max_ns, int) else 0))  # fmt: skip
    return out


def snapshot_row(s: StateSnapshot, ts_recv: int) -> tuple[Any, ...]:
    """A ``state_snapshots`` row."""
    return row("state_snapshots", ts_event=s.ts_event, ts_recv=ts_recv, service=s.service, payload=s.payload)


def trade_lake(t: Trade, ts_recv: int) -> tuple[Any, ...]:
    return (t.ts_event, ts_recv, t.trade_id, float(t.price), float(t.qty), t.buyer_is_maker)


def mark_lake(m: MarkPrice, ts_recv: int) -> tuple[Any, ...]:
    return (
        m.ts_event,
        ts_recv,
        float(m.mark_price),
        float(m.index_price),
        float(m.funding_rate),
        m.next_funding_time_ms,
    )


FEATURE_FIELDS: tuple[str, ...] = tuple(
    n
    for n in Features.__struct_fields__
    if n not in ("ts_event", "ts_init", "symbol", "vol", "next_funding_time_ms", "last_update_id")
    and n not in ("trace_id", "trace_ns")  # the tick-to-wire trace: ids and ns, not market figures
)


def features_lake(f: Features, ts_recv: int) -> tuple[Any, ...]:
    return (
        f.ts_event,
        ts_recv,
        *(getattr(f, n) for n in FEATURE_FIELDS),
        list(f.vol.items()),
        f.next_funding_time_ms,
        f.last_update_id,
    )


def target_row(t: TargetQuotes, ts_recv: int, skipped: int) -> tuple[Any, ...]:
    bids = [q.price for q in t.quotes if q.side == "BUY"]
    asks = [q.price for q in t.quotes if q.side == "SELL"]
    d = t.decision
    return row(
        "targets",
        ts_event=t.ts_event,
        ts_recv=ts_recv,
        symbol=t.symbol,
        origin=t.origin,
        target_id=t.target_id,
        source_target_id=t.source_target_id,
        mode=t.mode,
        n_quotes=len(t.quotes),
        best_bid=dec_text(max(bids)) if bids else "",
        best_ask=dec_text(min(asks)) if asks else "",
        quotes=jtext([_quote(q) for q in t.quotes]),
        clipped=jtext(t.clipped),
        model=d.model if d else "",
        params_version=d.params_version if d else "",
        inputs=jtext(d.inputs) if d else "{}",
        flags=jtext(d.flags) if d else "[]",
        skipped=skipped,
    )


def _quote(q: Quote) -> list[Any]:
    """A quote as ``[side, price, qty, layer, flags]`` (``B``/``S``; flags ``P`` post-only, ``R``
    reduce-only): a third of its object form, and targets are most of the store."""
    flags = ("P" if q.post_only else "") + ("R" if q.reduce_only else "")
    return ["B" if q.side == "BUY" else "S", dec_text(q.price), dec_text(q.qty), q.layer, flags]


def risk_row(e: RiskEvent, ts_recv: int) -> tuple[Any, ...]:
    return row(
        "risk_events",
        ts_event=e.ts_event,
        ts_recv=ts_recv,
        rule=e.rule,
        action=e.action,
        symbol=e.symbol,
        from_mode=e.from_mode,
        to_mode=e.to_mode,
        reason=e.reason,
        figures=jtext(e.figures),
    )


def command_row(c: CommandAudit, ts_recv: int) -> tuple[Any, ...]:
    return row(
        "commands",
        ts_event=c.ts_event,
        ts_recv=ts_recv,
        service=c.service,
        request_id=c.request_id,
        sender=c.sender,
        command=c.command,
        ok=c.ok,
        error=c.error,
        args=jtext(c.args),
    )


def market_sample(f: Features) -> tuple[Any, ...]:
    """A ``market_samples`` row (the report's mid and market spread)."""
    return (f.ts_event, f.symbol, f.best_bid, f.best_ask, f.mid, f.spread_bps, f.mark_price)


def book_lake(b: BookLevels, ts_recv: int, tick: float, step: float) -> tuple[Any, ...]:
    """A ``book`` dataset row: the top of the book (``tick``/``step`` as floats, cached by the caller)."""
    bid = b.bids[0] if b.bids else (0, 0)
    ask = b.asks[0] if b.asks else (0, 0)
    return (
        b.ts_event,
        ts_recv,
        b.ts_exchange,
        b.last_update_id,
        bid[0] * tick,
        bid[1] * step,
        ask[0] * tick,
        ask[1] * step,
        len(b.bids),
        len(b.asks),
    )
