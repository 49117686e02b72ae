"""The backtester: the code that trades, on a recorded or synthetic market, on simulated time.

One process, one event loop on simulated time (:mod:`services.backtest.vloop`), and exactly the
live decision code:

* the market's events move the simulated venue's matching engine (:class:`~services.venue.exchange.
  Exchange`, with its queue-position model) at the exchange's time;
* the same events reach our side ``feed`` latency later: a book and :class:`~services.marketdata.
  features.MarketFeatures` that publish ``Features`` every ``marketdata.features_interval_ms``;
* :class:`~services.strategy.core.StrategyCore` decides, :class:`~services.risk.engine.RiskEngine`
  approves, :class:`~services.gateway.core.GatewayCore` reconciles through the venue's own REST
  handlers; an order reaches the book ``entry`` latency after it is sent and its answer comes
  back ``response`` latency later; the venue's user-data events reach the OMS ``response`` later.

Nothing sees the future: the strategy reads only what the feed has delivered by its clock, and
the venue acts on an order only once it has arrived (``tests/test_backtest_lookahead.py``).

What the venue would have done beside matching, counted without changing the run: each request
is charged to Binance's rate limits at its arrival (the venue's own :class:`~services.venue.
ratelimit.RateLimiter`), and a request over them counted (``over_rate_limit``: the 429s the real
venue would have answered); the account's margin is checked at every equity sample, and a fall of
the margin balance to the maintenance margin, where Binance liquidates, counted
(``liquidations``; the simulated venue itself liquidates nothing).

A market too long to hold in memory runs in chunks (``more``, e.g.
:func:`services.backtest.data.synthetic_chunks`): the next chunk is taken when the venue has
applied the last event of the current one, so the run is the same as on the whole market.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from loguru import logger

from common.binance.exchange_info import instruments
from common.binance.user import AccountUpdate, user_event_decoder
from common.config import Settings
from common.config_sections import FeeConfig, SimVenueConfig, VenueAccountConfig, VenueSymbolConfig
from common.messages import (
    CancelAll,
    FeedStatus,
    Flatten,
    Instrument,
    MarkPrice,
    ReducePosition,
    TargetQuotes,
)
from common.params.strategy import StrategyParams, params_version
from services.backtest.data import DEPTH, MARK, TRADE, MarketData
from services.backtest.record import Recorder
from services.backtest.vloop import VirtualClockLoop
from services.gateway.core import GatewayCore
from services.gateway.kill import KillState
from services.gateway.oms import Effects
from services.marketdata.book import OrderBook as FeedBook
from services.marketdata.features import MarketFeatures
from services.risk.engine import Outcome, RiskEngine
from services.strategy.core import Output, StrategyCore
from services.venue.errors import VenueError
from services.venue.inprocess import InProcessVenue, wire
from services.venue.orderbook import BUY
from services.venue.ratelimit import RateLimiter
from services.venue.rest import ROUTES
from services.venue.state import VenueState

MS = 1_000_000
ACCOUNT = "paper"
WARMUP_NS = 1_000_000_000
CLIENT_IP = "127.0.0.1"  # the one machine every request comes from, as Binance counts weight per IP
NEVER_BAN = 1 << 30  # counting requests over the limits, not banning: the run goes on unchanged


@dataclass(frozen=True, slots=True)
class Latency:
    """Latencies in ns. ``feed_from_data``: each event's feed latency is its recorded local minus
    exchange time, less the smallest such difference in the file (the two clocks' offset), plus
    ``feed_ns``; otherwise every event arrives ``feed_ns`` after it happened.

    ``order_path_ns``: round trips measured in a session (the recorder's PendingNew → New, see
    :func:`services.backtest.api.session_round_trips`); each request then draws one of them
    (seeded by ``seed``), half of it to reach the venue and half to come back, instead of
    ``entry_ns`` and ``response_ns``; user events come back after half the median."""

    feed_ns: int = 0
    entry_ns: int = 0
    response_ns: int = 0
    feed_from_data: bool = False
    order_path_ns: tuple[int, ...] = ()
    seed: int = 7


@dataclass(slots=True)
class BacktestConfig:
    """What a run needs besides the market: the product's settings and the simulation's own."""

    settings: Settings
    template: str = "ETHUSDC"
    latency: Latency = field(default_factory=Latency)
    queue_model: str = "risk_averse"
    queue_power: float = 2.0
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal("0.0004")
    balance: Decimal = Decimal(100_000)
    equity_every_ms: int = 1_000
    use_risk: bool = True
    """False: targets go straight to the gateway (the fixed rule of the hftbacktest comparison)."""


class _SimState(VenueState):
    """The venue's state on the backtest's clock."""

    def __init__(self, cfg: SimVenueConfig, clock: Callable[[], int]) -> None:
        self._clock_ns = clock
        super().__init__(cfg, {ACCOUNT: ("bt-key", "bt-secret")})

    def now_ms(self) -> int:
        return self._clock_ns() // MS


class LatentVenue(InProcessVenue):
    """The venue port with latency: each call lands ``entry`` after it is made, and its answer
    (or error) returns ``response`` after that; user-data events arrive ``response`` late."""

    def __init__(
        self,
        state: VenueState,
        on_user: Callable[[bytes], None],
        lat: Latency,
        on_over_limit: Callable[[int], None] | None = None,
    ) -> None:
        self.lat = lat
        self._deliver_user = on_user
        self._rng = random.Random(lat.seed)
        paths = sorted(lat.order_path_ns)
        self._user_ns = paths[len(paths) // 2] // 2 if paths else lat.response_ns
        super().__init__(state, ACCOUNT, self._late_user)
        self.calls: list[tuple[str, int, int, int]] = []
        """Per request: path, when it left, when it reached the venue, when its answer came back."""
        self.actions: dict[str, int] = {"place": 0, "modify": 0, "cancel": 0}
        """Order actions sent, batches counted per order (the venue counts a modify as an order)."""
        c = state.cfg
        self.limits = RateLimiter(
            c.weight_per_minute, c.orders_per_10s, c.orders_per_minute, NEVER_BAN, c.ban_base_s, c.ban_max_s
        )
        self.over_limit: dict[int, int] = {}
        """Requests that arrived over Binance's limits, by the code the venue would have answered
        (-1003 request weight, -1015 order count): the run carries them out regardless."""
        self._on_over_limit = on_over_limit

    def _late_user(self, payload: bytes) -> None:
        loop = asyncio.get_event_loop()
        loop.call_later(self._user_ns / 1e9, self._deliver_user, payload)

    def _legs(self) -> tuple[int, int]:
        """(entry, response) of one request: the configured pair, or a drawn round trip halved."""
        if not self.lat.order_path_ns:
            return self.lat.entry_ns, self.lat.response_ns
        rtt = self._rng.choice(self.lat.order_path_ns)
        return rtt // 2, rtt - rtt // 2

    async def _latent(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        sent = _now()
        entry, response = self._legs()
        await asyncio.sleep(entry / 1e9)
        landed = _now()
        self._charge(method, path, params)
        try:
            return self.call(method, path, params)
        finally:
            await asyncio.sleep(response / 1e9)
            self.calls.append((f"{method} {path}", sent, landed, _now()))

    def _charge(self, method: str, path: str, params: dict[str, Any] | None) -> None:
        """Charge one arriving request to the rate limits, as the venue's REST front does; count it
        when it is over them. After the first, the venue would keep answering 429 until the
        window ends, where the live gateway would have held back: a count above 0 says a limit
        was reached, not how many requests a live run would lose."""
        ep = ROUTES[(method, path)]
        p = {k: wire(v) for k, v in (params or {}).items() if v is not None}
        now = self.state.now_ms()
        try:
            self.limits.admit(CLIENT_IP, ep.weight(p) if callable(ep.weight) else ep.weight, now)
            if ep.orders:
                self.limits.count_orders(ACCOUNT, ep.orders, now, CLIENT_IP)
        except VenueError as e:
            self.over_limit[e.code] = self.over_limit.get(e.code, 0) + 1
            if self._on_over_limit is not None:
                self._on_over_limit(e.code)

    async def place(self, params: dict[str, Any]) -> Any:
        self.actions["place"] += 1
        return await self._latent("POST", "/fapi/v1/order", params)

    async def modify(self, params: dict[str, Any]) -> Any:
        self.actions["modify"] += 1
        return await self._latent("PUT", "/fapi/v1/order", params)

    async def cancel(self, symbol: str, client_id: str) -> Any:
        self.actions["cancel"] += 1
        params = {"symbol": symbol, "origClientOrderId": client_id}
        return await self._latent("DELETE", "/fapi/v1/order", params)

    async def status(self, symbol: str, client_id: str) -> Any:
        return await self._latent("GET", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_id})

    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]:
        self.actions["place"] += len(orders)
        items = json.dumps([{k: wire(v) for k, v in o.items()} for o in orders], separators=(",", ":"))
        res: list[Any] = await self._latent("POST", "/fapi/v1/batchOrders", {"batchOrders": items})
        return res

    async def cancel_batch(self, symbol: str, client_ids: list[str]) -> list[Any]:
        self.actions["cancel"] += len(client_ids)
        ids = json.dumps(client_ids, separators=(",", ":"))
        params = {"symbol": symbol, "origClientOrderIdList": ids}
        res: list[Any] = await self._latent("DELETE", "/fapi/v1/batchOrders", params)
        return res

    async def countdown(self, symbol: str, ms: int) -> Any:
        params = {"symbol": symbol, "countdownTime": ms}
        return await self._latent("POST", "/fapi/v1/countdownCancelAll", params)

    async def positions(self) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = await self._latent("GET", "/fapi/v3/positionRisk")
        return res

    async def account_info(self) -> dict[str, Any]:
        res: dict[str, Any] = await self._latent("GET", "/fapi/v3/account")
        return res

    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        params = {"symbol": symbol, "limit": limit, "fromId": from_id}
        res: list[dict[str, Any]] = await self._latent("GET", "/fapi/v1/userTrades", params)
        return res

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        return await self._latent("POST", "/fapi/v1/leverage", {"symbol": symbol, "leverage": leverage})

    async def cancel_all(self, symbol: str) -> Any:
        return await self._latent("DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol})

    async def open_orders(self, symbol: str, urgent: bool = False) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = await self._latent("GET", "/fapi/v1/openOrders", {"symbol": symbol})
        return res

    async def book_ticker(self, symbol: str) -> dict[str, Any]:
        res: dict[str, Any] = await self._latent("GET", "/fapi/v1/ticker/bookTicker", {"symbol": symbol})
        return res


def _now() -> int:
    loop = asyncio.get_event_loop()
    return loop.now_ns if isinstance(loop, VirtualClockLoop) else time.time_ns()


def for_symbol(settings: Settings, symbol: str, template: str) -> Settings:
    """``settings`` quoting ``symbol`` alone: its strategy, risk and cap entries, copied from
    ``template``'s where it has none of its own (a recording of ETHUSDT run with ETHUSDC's)."""
    strat = {symbol: settings.strategy.symbols.get(symbol) or settings.strategy.symbols[template]}
    risks = settings.risk.params.symbols
    risk_syms = {symbol: risks.get(symbol) or risks[template]}
    caps = settings.gateway.params.caps
    max_pos = dict(caps.max_position)
    max_pos.setdefault(symbol, max_pos[template])
    return settings.model_copy(
        update={
            "symbols": [symbol],
            "strategy": settings.strategy.model_copy(update={"symbols": strat}),
            "risk": settings.risk.model_copy(
                update={"params": settings.risk.params.model_copy(update={"symbols": risk_syms})}
            ),
            "gateway": settings.gateway.model_copy(
                update={
                    "params": settings.gateway.params.model_copy(
                        update={"caps": caps.model_copy(update={"max_position": max_pos})}
                    )
                }
            ),
        }
    )


def _venue_config(md: MarketData, cfg: BacktestConfig, settings: Settings) -> SimVenueConfig:
    quote = "USDC" if md.symbol.endswith("USDC") else "USDT"
    base = md.symbol[: -len(quote)]
    template = next((s for s in settings.simvenue.symbols if s.symbol == cfg.template), None)
    bids = [p for side, p, q in md.start if side == BUY and q > 0]
    asks = [p for side, p, q in md.start if side != BUY and q > 0]
    mid = (max(bids) + min(asks)) / 2 * float(md.tick) if bids and asks else 1.0
    sym = VenueSymbolConfig(
        symbol=md.symbol,
        base_asset=base,
        quote_asset=quote,
        price_tick=md.tick,
        qty_step=md.step,
        min_price=md.tick,
        min_qty=md.step,
        max_qty=Decimal(1_000_000),
        market_max_qty=Decimal(1_000_000),
        min_notional=template.min_notional if template else Decimal(0),
        percent_up=Decimal(10),
        percent_down=Decimal("0.1"),
        max_num_orders=template.max_num_orders if template else 200,
        start_price=Decimal(str(round(mid, 8))),
        level_qty=Decimal(1),
    )
    return SimVenueConfig(
        symbols=[sym],
        accounts=[VenueAccountConfig(name=ACCOUNT, balances={quote: cfg.balance})],
        fees={quote: FeeConfig(maker=cfg.maker_fee, taker=cfg.taker_fee)},
        queue_model=cfg.queue_model,  # type: ignore[arg-type]
        queue_power=cfg.queue_power,
        admin=False,
    )


class Backtest:
    """One run of the live decision code over one symbol's market (see the module docstring)."""

    def __init__(
        self,
        md: MarketData,
        cfg: BacktestConfig,
        progress: Callable[[float], None] | None = None,
        strategy: Any = None,
        more: Iterator[MarketData] | None = None,
    ) -> None:
        if len(md) == 0:
            raise ValueError(f"{md.source}: no market events to run on")
        if more is not None and cfg.latency.feed_from_data:
            raise ValueError("a market in chunks needs one feed latency for every event (feed_from_data off)")
        self.md = md
        self.cfg = cfg
        self.symbol = sym = md.symbol
        self.settings = s = for_symbol(cfg.settings, sym, cfg.template)
        self.progress = progress
        # the start-up (the gateway's first sync, risk ready, the first quotes) happens before the
        # first event, on the starting book: the clock starts WARMUP_NS earlier
        self.t0 = md.t_exch_ns[0] - WARMUP_NS
        self.loop = VirtualClockLoop(self.t0)
        self.state = _SimState(_venue_config(md, cfg, s), lambda: self.loop.now_ns)
        self.exchange = self.state.exchange
        self.exchange.depth_events = False  # our side reads the data's own feed
        self.exchange.market_levels(sym, md.start)
        self.exchange.drain()
        self.venue = LatentVenue(self.state, self._on_user, cfg.latency, self._over_limit)
        info = self.venue.call("GET", "/fapi/v1/exchangeInfo")
        self.instrument: Instrument = instruments(info, [sym], "usdm")[sym]
        self.record = Recorder(sym, self.t0, cfg.balance)
        self.kill = KillState()
        self.gateway = GatewayCore(
            self.venue, s.gateway.params, [sym], {sym: self.instrument}, self._emit, lambda: self.kill,
            lambda _sym: "", {}, path="rest", stp=s.gateway.self_trade_prevention, session="bt",
            clock=lambda: self.loop.now_ns,
        )  # fmt: skip
        version = params_version(StrategyParams(symbols=dict(s.strategy.symbols)))
        self.strategy = strategy or StrategyCore(s.strategy.symbols, [sym], version, s.strategy.republish_s)
        self.strategy.on_instrument(self.instrument)
        self.risk = RiskEngine(s.risk.params, {sym: self.instrument})
        # our side's view of the market, fed late
        self.book = FeedBook(md.tick, md.step)
        self.features = MarketFeatures(sym, md.tick, md.step)
        self.target: TargetQuotes | None = None
        self._passing: asyncio.Task[None] | None = None
        self._dirty = False
        self.errors: list[str] = []
        self.mark_from_mid = MARK not in md.kind
        self.more = more
        self.rows = md.rows
        """Market rows run so far (each chunk's counted as it is taken)."""
        self.account = self.exchange.accounts[ACCOUNT]
        self.margin_asset = self.exchange.symbols[sym].sym.margin_asset
        self._liquidatable = False

    # ---- running -------------------------------------------------------------------------------

    def run(self) -> Recorder:
        """Run to the end of the market's events; the recorded results."""
        logger.disable("services")
        wall = time.perf_counter()
        try:
            self.loop.run_until_complete(self._main())
        finally:
            logger.enable("services")
            self.loop.close()
        self.record.wall_s = time.perf_counter() - wall
        self.record.events = self.rows
        self.record.errors = list(self.errors)
        return self.record

    async def _main(self) -> None:
        sym, md, lat = self.symbol, self.md, self.cfg.latency
        await self.gateway.sync.full([sym], startup=True)
        for side, p, q in md.start:
            self.book.set_level(side == BUY, p, q)
        bids, asks = self.book.top(self.features.config.depth_levels)
        self.features.on_book(bids, asks, self.loop.now_ns)
        now = self.loop.now_ns
        live = FeedStatus(symbol=sym, state="live", ts_event=now, ts_init=now)
        self.strategy.on_feed_status(live)
        self.strategy.positions_known()
        self.risk.on_feed_status(live)
        self._risk_out(self.risk.mark_ready(now))
        feed_at = self._feed_times(lat)
        feed_order = sorted(range(len(md)), key=feed_at.__getitem__)
        n = len(md)
        iv = jf = 0
        t_exch, kinds, payloads = md.t_exch_ns, md.kind, md.payload
        features_ns = max(1, self.settings.marketdata.features_interval_ms) * MS
        timer_ns, risk_ns = 50 * MS, self.settings.risk.tick_interval_ms * MS
        next_features = self.t0 + features_ns
        next_timer, next_risk = self.t0 + timer_ns, self.t0 + risk_ns
        next_sample = self.t0
        sample_ns = self.cfg.equity_every_ms * MS
        loop = self.loop
        report_every = max(1, n // 200)
        while iv < n or jf < n:
            if iv == n and self._next_chunk(jf):
                md, iv, jf, n = self.md, n - jf, 0, len(self.md)
                t_exch, kinds, payloads = md.t_exch_ns, md.kind, md.payload
                feed_at = self._feed_times(lat)
                feed_order = list(range(n))  # one latency for every event: the data's own order
                report_every = max(1, n // 200)
            tv = t_exch[iv] if iv < n else 1 << 62
            tf = feed_at[feed_order[jf]] if jf < n else 1 << 62
            t = min(tv, tf, next_features, next_timer, next_risk, next_sample)
            due = loop.next_due_ns()
            if due is not None and due <= t:
                await loop.advance_to(t)
            elif t > loop.now_ns:
                loop._now_ns = t
            if t == tv:
                self._venue_event(kinds[iv], payloads[iv])
                iv += 1
                if self.progress is not None and iv % report_every == 0:
                    self.progress(iv / n)
            elif t == tf:
                k = feed_order[jf]
                self._feed_event(kinds[k], payloads[k], t)
                jf += 1
            elif t == next_features:
                self._features(t)
                next_features += features_ns
            elif t == next_timer:
                self._strategy_out(self.strategy.on_timer(t))
                next_timer += timer_ns
            elif t == next_risk:
                self._risk_out(self.risk.tick(t))
                # the venue's timers on the same cadence (not per market event: they walk every
                # open order): funding at the funding time, GTD expiry, dead-man's switches
                self.exchange.tick()
                self.venue.deliver()
                next_risk += risk_ns
            else:
                self._sample(t)
                next_sample += sample_ns
        last = max((*lat.order_path_ns, lat.entry_ns + lat.response_ns), default=0)
        await loop.advance_to(loop.now_ns + last + lat.response_ns + MS)  # the last answers
        self._sample(loop.now_ns)
        self.record.venue_actions = dict(self.venue.actions)
        self.record.over_rate_limit = sum(self.venue.over_limit.values())
        self.record.open_orders_at_end = len(self.exchange.open_orders(self.exchange.accounts[ACCOUNT], sym))
        if isinstance(self.strategy, StrategyCore) and self.strategy.params[sym].model == "passive_band":
            kpi = self.strategy.views[sym].kpi
            self.record.band_kpis = {
                **kpi.ratios(), "observed_s": kpi.observed_ns / 1e9, "orders": kpi.orders,
                "fills": kpi.fills, "excursions": kpi.responses, "response_max_ms": kpi.response_max_ns / 1e6,
            }  # fmt: skip

    def _next_chunk(self, jf: int) -> bool:
        """Take the next chunk of the market, if there is one: the current chunk's events not yet
        delivered to our side (from ``jf``) are kept ahead of it. False at the end."""
        if self.more is None:
            return False
        nxt = next(self.more, None)
        if nxt is None:
            self.more = None
            return False
        old = self.md
        if len(nxt) and old.t_exch_ns and nxt.t_exch_ns[0] < old.t_exch_ns[-1]:
            raise ValueError(f"{nxt.source}: a chunk starts before the one before it ended")
        md = MarketData(old.symbol, old.tick, old.step, old.start, source=old.source, off_grid=old.off_grid)
        for name in ("t_exch_ns", "t_local_ns", "kind", "payload", "ids"):
            setattr(md, name, getattr(old, name)[jf:] + getattr(nxt, name))
        self.md = md
        self.rows += nxt.rows
        return True

    def _feed_times(self, lat: Latency) -> list[int]:
        md = self.md
        if lat.feed_from_data:
            delays = md.feed_delays_ns()
            offset = min(delays)
            return [t + d - offset + lat.feed_ns for t, d in zip(md.t_exch_ns, delays, strict=True)]
        return [t + lat.feed_ns for t in md.t_exch_ns]

    # ---- the venue's side ------------------------------------------------------------------------

    def _venue_event(self, kind: int, payload: Any) -> None:
        ex, sym = self.exchange, self.symbol
        if kind == DEPTH:
            ex.market_levels(sym, list(payload))
        elif kind == TRADE:
            aggressor, p, q = payload
            ex.market_trade(sym, aggressor, p, q)
        else:
            mark, index, rate, next_ms = payload
            ex.set_mark(sym, Decimal(repr(mark)), Decimal(repr(index)))
            ex.symbols[sym].funding_rate = Decimal(repr(rate))  # the recording's own funding
            if next_ms and next_ms > ex.next_funding_ms - ex.funding_interval_ms:
                ex.next_funding_ms = int(next_ms)
        self.venue.deliver()  # our fills, as user-data events (they reach the OMS response late)

    def _on_user(self, payload: bytes) -> None:
        try:
            ev = user_event_decoder.decode(payload)
        except ValueError as exc:  # a venue bug, never a market condition: kept for the report
            self.errors.append(f"user event: {exc}")
            return
        if isinstance(ev, AccountUpdate) and ev.a.m == "FUNDING_FEE":
            for b in ev.a.B:
                self.record.funding_paid(b.bc, self.loop.now_ns)
        self._emit(self.gateway.oms.on_user_event(ev, self.loop.now_ns))

    def _emit(self, eff: Effects) -> None:
        """The gateway's effects, as the bus would carry them to strategy, risk and the recorder."""
        now = self.loop.now_ns
        for f in eff.fills:
            self.strategy.on_fill(f)
            self.risk.on_fill(f)
            self.record.fill(f, now, self._venue_mid())
        for u in eff.updates:
            self.strategy.on_order(u, now)
            self.risk.on_order(u)
            self.record.order(u, now)
        for p in eff.positions:
            self.strategy.on_position(p)
            self.risk.on_position(p)

    def _venue_mid(self) -> float:
        book = self.exchange.symbols[self.symbol].book
        bid, ask = book.top(BUY), book.top(-BUY)
        if bid is None or ask is None:
            return 0.0
        return (bid[0] + ask[0]) / 2 * float(self.md.tick)

    # ---- our side --------------------------------------------------------------------------------

    def _feed_event(self, kind: int, payload: Any, t: int) -> None:
        f = self.features
        if kind == DEPTH:
            book = self.book
            for side, p, q in payload:
                book.set_level(side == BUY, p, q)
            bids, asks = book.top(f.config.depth_levels)
            f.on_book(bids, asks, t)
        elif kind == TRADE:
            aggressor, p, q = payload
            f.on_trade(p * float(self.md.tick), q * float(self.md.step), aggressor != BUY, t)
        else:
            mark, index, rate, next_ms = payload
            f.on_mark(mark, index, rate, next_ms, t)
            self.risk.on_mark(
                MarkPrice(
                    symbol=self.symbol, mark_price=Decimal(repr(mark)), index_price=Decimal(repr(index)),
                    funding_rate=Decimal(repr(rate)), next_funding_time_ms=next_ms, ts_event=t, ts_init=t,
                )
            )  # fmt: skip

    def _features(self, t: int) -> None:
        self.record.mid(t, self._venue_mid())  # the market's mid path, for the fills' markouts
        top = self.features.top
        if top.mid <= 0:
            return
        msg = self.features.to_message(t)
        if self.mark_from_mid:  # no mark prices in the data: the mid stands for mark and index
            mid = Decimal(repr(round(top.mid, 8)))
            self.risk.on_mark(
                MarkPrice(symbol=self.symbol, mark_price=mid, index_price=mid, funding_rate=Decimal(0),
                          next_funding_time_ms=0, ts_event=t, ts_init=t)
            )  # fmt: skip
            self.exchange.set_mark(self.symbol, mid, mid)
        self.risk.on_features(msg)
        self._strategy_out(self.strategy.on_features(msg, t))

    def _strategy_out(self, outputs: list[Output]) -> None:
        now = self.loop.now_ns
        for out in outputs:
            self.record.decision(out, now)
            for cmd in out.actions:
                self._risk_command(cmd, now)
            if out.target is None:
                continue
            if self.cfg.use_risk:
                self._risk_out(self.risk.check(out.target, now))
            else:
                self.target = out.target
                self._schedule()

    def _risk_command(self, cmd: ReducePosition, now: int) -> None:
        try:
            self._risk_out(self.risk.on_command(cmd, now))
        except Exception as exc:  # noqa: BLE001 - CommandRefused and friends: recorded, as the bus would
            self.record.events_log.append((now, "command_refused", str(exc)))

    def _risk_out(self, out: Outcome) -> None:
        now = self.loop.now_ns
        for t in out.targets:
            if t.symbol == self.symbol:
                self.target = t
                self._schedule()
        for ev in out.events:
            self.record.events_log.append((now, f"risk.{ev.rule}.{ev.action}", ev.reason))
        for action in out.actions:
            self.loop.create_task(self._gateway_action(action))
        if out.state_changed:
            self.strategy.on_risk_state(self.risk.state(now))

    async def _gateway_action(self, action: Any) -> None:
        try:
            match action:
                case CancelAll():
                    self.target = None
                    self._schedule()
                case Flatten(max_slippage_pct=slip, maker_wait_s=wait):
                    pos = self.gateway.position(self.symbol)
                    mode = "maker_first_then_taker"
                    await self.gateway.reducer.reduce(self.symbol, abs(pos), mode, slip, wait)
                case ReducePosition(qty=qty, mode=mode, max_slippage_pct=slip, maker_wait_s=wait):
                    await self.gateway.reducer.reduce(self.symbol, qty, mode, slip, wait)
        except Exception as exc:  # noqa: BLE001 - a venue refusal: recorded, the run goes on
            self.record.events_log.append((self.loop.now_ns, "gateway_action_failed", str(exc)[:200]))

    def _schedule(self) -> None:
        if self._passing is not None and not self._passing.done():
            self._dirty = True
            return
        self._passing = self.loop.create_task(self._pass())

    async def _pass(self) -> None:
        while True:
            self._dirty = False
            try:
                adm = await self.gateway.reconcile(self.symbol, self.target, "")
                if adm.deferred:
                    at = adm.retry_at_ns
                    delay = max(0.01, (at - self.loop.now_ns) / 1e9) if at else 0.25
                    self.loop.call_later(delay, self._schedule)
            except Exception as exc:  # noqa: BLE001 - BinanceError from the venue: the live shell logs it
                self.record.events_log.append((self.loop.now_ns, "pass_failed", str(exc)[:200]))
            if not self._dirty:
                return

    def _over_limit(self, code: int) -> None:
        self.record.events_log.append((self.loop.now_ns, "over_rate_limit", str(code)))

    def _check_margin(self, t: int) -> None:
        """Would Binance liquidate now? The margin balance at or below the maintenance margin."""
        f = self.exchange.margin(self.account).asset_figures(self.margin_asset)
        maint, balance = f["maint"], f["margin_balance"]
        if maint <= 0:
            self._liquidatable = False
            return
        share = float(maint / balance) if balance > 0 else math.inf
        self.record.maint_margin_share = max(self.record.maint_margin_share, min(share, 1e9))
        liquidatable = balance <= maint
        if liquidatable and not self._liquidatable:
            self.record.liquidations += 1
            why = f"margin balance {balance}, maintenance {maint}"
            self.record.events_log.append((t, "liquidation", why))
        self._liquidatable = liquidatable

    def _sample(self, t: int) -> None:
        self._check_margin(t)
        mid = self._venue_mid()
        # the position of the fills recorded so far, the one the cash agrees with (the gateway's may
        # already hold a fill whose event is still on its way: equity would jump for a moment)
        pos = self.record.position
        quotes = self.target.quotes if self.target is not None else []
        bid = max((float(q.price) for q in quotes if q.side == "BUY"), default=0.0)
        ask = min((float(q.price) for q in quotes if q.side == "SELL"), default=0.0)
        self.record.sample(t, mid, pos, bid, ask)
