"""The backtester's Python API, for scripts and notebooks (``from services.backtest import run``).

    from services.backtest import run
    res = run("data/binance/usdm_ethusdt_20240808.gz", symbol="ETHUSDT", model="asmm",
              overrides={"asmm.reservation.gamma": 555}, entry_ms=2, response_ms=2)
    print(res.summary); res.save(Path("out/bt"))

``data`` is a recorded Binance file, or ``"synthetic"`` for the simulated venue's synthetic market
(``seconds`` long, the symbol's venue configuration). ``overrides`` set the symbol's strategy
parameters (field names or their camelCase aliases, dotted for nested ones: ``asmm.gamma``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.config import Settings, load_settings
from common.params.strategy import SymbolStrategy
from services.backtest.data import MarketData, load_binance, load_lake, synthetic
from services.backtest.engine import Backtest, BacktestConfig, Latency
from services.backtest.result import Result

MS = 1_000_000
SYNTHETIC_START_NS = 1_723_161_600_000_000_000  # 2024-08-09 00:00 UTC


def load(
    data: str | Path, symbol: str, settings: Settings, seconds: float = 600.0, seed: int = 7
) -> MarketData:
    """The market to run on: a recorded file, a capture directory, ``"synthetic"`` (the simulated
    venue's generated market as ``simvenue.model`` sets it) or ``"flow"`` (its order-flow market)."""
    listed = [*settings.simvenue.symbols, *settings.simvenue.spot_symbols]  # futures, then spot
    venue_sym = next((s for s in listed if s.symbol == symbol), None)
    if str(data) in ("synthetic", "flow"):
        if venue_sym is None:
            known = ", ".join(s.symbol for s in listed)
            raise ValueError(f"synthetic market: {symbol} is not a simvenue symbol (one of {known})")
        model = "flow" if "flow" in (str(data), settings.simvenue.model) else "synthetic"
        return synthetic(venue_sym, seconds, SYNTHETIC_START_NS, settings.simvenue.step_ms, seed, model)
    path = Path(data)
    if not path.exists():
        raise ValueError(f"no market data file at {path}")
    if venue_sym is not None:
        tick, step = venue_sym.price_tick, venue_sym.qty_step
    elif symbol.startswith("BTC"):
        tick, step = Decimal("0.1"), Decimal("0.001")
    else:
        tick, step = Decimal("0.01"), Decimal("0.001")
    if path.is_dir() and (path / "dataset=book").is_dir():  # the recorder's Parquet lake
        return load_lake(path, symbol, tick, step)
    return load_binance(path, symbol, tick, step)


def with_strategy(
    settings: Settings, symbol: str, template: str, model: str, overrides: Mapping[str, Any]
) -> Settings:
    """``settings`` whose strategy for ``symbol`` is ``template``'s with ``model`` and ``overrides``."""
    base = settings.strategy.symbols.get(symbol) or settings.strategy.symbols[template]
    tree = base.model_dump(by_alias=True)
    if model:
        tree["model"] = model
    for key, value in overrides.items():
        node = tree
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    p = SymbolStrategy.model_validate(tree)  # a bad name or value: pydantic's ValidationError
    strat = dict(settings.strategy.symbols)
    strat[symbol] = p
    return settings.model_copy(update={"strategy": settings.strategy.model_copy(update={"symbols": strat})})


def run(
    data: str | Path,
    symbol: str = "ETHUSDT",
    model: str = "",
    overrides: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    template: str = "ETHUSDC",
    seconds: float = 600.0,
    seed: int = 7,
    feed_ms: float = 0.0,
    feed_from_data: bool = True,
    entry_ms: float = 1.0,
    response_ms: float = 1.0,
    queue: str = "risk_averse",
    maker_fee: str = "0",
    taker_fee: str = "0.0004",
    progress: bool = False,
    order_path_from: str | Path = "",
    session: str = "",
) -> Result:
    """One backtest of the live decision code (see the module docstring). ``order_path_from``: a
    recorder store (a run directory or its ``recorder.sqlite``) whose order round trips (of
    ``session``, default all) replace ``entry_ms`` and ``response_ms``."""
    s = settings or load_settings()
    s = with_strategy(s, symbol, template, model, overrides or {})
    md = load(data, symbol, s, seconds, seed)
    paths = session_round_trips(order_path_from, session) if order_path_from else ()
    lat = Latency(
        feed_ns=int(feed_ms * MS), entry_ns=int(entry_ms * MS), response_ns=int(response_ms * MS),
        feed_from_data=feed_from_data and str(data) != "synthetic", order_path_ns=paths, seed=seed,
    )  # fmt: skip
    cfg = BacktestConfig(
        settings=s, template=template, latency=lat, queue_model=queue,
        maker_fee=Decimal(maker_fee), taker_fee=Decimal(taker_fee),
    )  # fmt: skip
    bt = Backtest(md, cfg, _progress_bar() if progress else None)
    rec = bt.run()
    summary = rec.summary()
    summary["model"] = s.strategy.symbols[symbol].model
    config = {
        "data": str(data), "symbol": symbol, "model": summary["model"], "overrides": dict(overrides or {}),
        "latency_ms": {"feed": feed_ms, "feed_from_data": lat.feed_from_data, "entry": entry_ms,
                       "response": response_ms, "order_path_from": str(order_path_from),
                       "order_paths": len(paths),
                       "order_path_p50": sorted(paths)[len(paths) // 2] / MS if paths else None},
        "queue": queue, "fees": {"maker": maker_fee, "taker": taker_fee}, "seconds": md.span_s,
        "off_grid_levels": md.off_grid,
    }  # fmt: skip
    return Result(rec, summary, config)


def session_round_trips(store_path: str | Path, session: str = "") -> tuple[int, ...]:
    """Order round trips (ns) a session measured: each order's first ``New`` less its
    ``PendingNew`` in the recorder's store (a run directory or its SQLite file), of ``session``
    or of every session. ValueError when there are none."""
    from services.recorder.queries import Queries
    from services.recorder.report import order_paths
    from services.recorder.store import SqliteStore, StoreError

    path = Path(store_path)
    if path.is_dir():
        path = path / "recorder.sqlite"
    if not path.exists():
        raise ValueError(f"no recorder store at {path}")
    try:
        store = SqliteStore(path).open()
    except StoreError as exc:
        raise ValueError(f"{path}: not a recorder store ({exc})") from None
    try:
        window: list[tuple[str, str, Any]] = []
        if session:
            start, end = Queries(store).session_span(session)
            window = [("ts_event", ">=", start), *([("ts_event", "<=", end)] if end else [])]
        states = ("state", "in", ["PendingNew", "New"])
        events = store.select(
            "order_events", [*window, states], columns=["ts_event", "symbol", "client_order_id", "state"]
        )
    finally:
        store.close()
    out = tuple(ns for ns, _sym, _cid in order_paths(events) if ns > 0)
    if not out:
        raise ValueError(f"{path}: no order round trip (PendingNew then New) recorded")
    return out


def _progress_bar() -> Callable[[float], None]:
    """A one-line progress bar on stderr, drawn only once a run has taken more than 2 s."""
    t0 = time.monotonic()

    def draw(frac: float) -> None:
        took = time.monotonic() - t0
        if took < 2.0:
            return
        eta = took / max(frac, 1e-9) - took
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {frac:6.1%}  {took:5.0f} s, ~{eta:4.0f} s left")
        if frac >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return draw
