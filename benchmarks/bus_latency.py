"""Bus latency and throughput: the project's asyncio bus beside raw blocking pyzmq + msgspec.

Scenarios, each over ipc:// between separate processes:
  * one hop: source -> sink
  * a chain of four processes (source -> relay -> relay -> sink, like marketdata -> strategy ->
    risk -> gateway), each relay decoding, re-encoding and publishing
Latency is measured from the source's stamp to the sink's receipt, at a paced rate (no queueing);
throughput is the sink's receive rate with the source sending as fast as it can.

    .venv/bin/python benchmarks/bus_latency.py [--messages 20000] [--rate 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import zmq

from common.bus import Publisher, Subscriber
from common.messages import BookLevels
from common.metrics import percentile

TOPIC = "md.book.ETHUSDC"
STOP = -1


def _book(i: int, ts: int) -> BookLevels:
    return BookLevels(
        symbol="ETHUSDC",
        last_update_id=i,
        ts_exchange=ts,
        ts_event=ts,
        price_tick=Decimal("0.01"),
        qty_step=Decimal("0.001"),
        bids=[(268162 - k, 1000 + k) for k in range(10)],
        asks=[(268163 + k, 2000 + k) for k in range(10)],
    )


def _pace(i: int, t0: float, rate: float) -> None:
    if rate <= 0:
        return
    target = t0 + i / rate
    while True:
        d = target - time.perf_counter()
        if d <= 0:
            return
        if d > 0.0003:
            time.sleep(d - 0.0002)


# ---- raw blocking pyzmq ----------------------------------------------------------------------


def raw_source(ep: str, n: int, rate: float, ready: Any) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 1_000_000)
    s.bind(ep)
    ready.wait()
    time.sleep(0.5)
    enc = msgspec.msgpack.Encoder()
    t0 = time.perf_counter()
    tb = TOPIC.encode()
    fixed = _book(0, time.time_ns())  # unpaced runs measure the bus, not message construction
    for i in range(n):
        _pace(i, t0, rate)
        s.send_multipart((tb, enc.encode(_book(i, time.time_ns()) if rate > 0 else fixed)))
    s.send_multipart((tb, enc.encode(_book(STOP, 0))))
    time.sleep(1.0)
    s.close(linger=1000)


def raw_relay(ep_in: str, ep_out: str, ready: Any) -> None:
    ctx = zmq.Context()
    i = ctx.socket(zmq.SUB)
    i.setsockopt(zmq.RCVHWM, 1_000_000)
    i.setsockopt(zmq.SUBSCRIBE, b"")
    i.connect(ep_in)
    o = ctx.socket(zmq.PUB)
    o.setsockopt(zmq.SNDHWM, 1_000_000)
    o.bind(ep_out)
    dec = msgspec.msgpack.Decoder(BookLevels)
    enc = msgspec.msgpack.Encoder()
    ready.set()
    while True:
        t, p = i.recv_multipart()
        m = dec.decode(p)
        o.send_multipart((t, enc.encode(msgspec.structs.replace(m, ts_init=time.time_ns()))))
        if m.last_update_id == STOP:
            time.sleep(1.0)
            return


def raw_sink(ep: str, out: Any, ready: Any) -> None:
    ctx = zmq.Context()
    i = ctx.socket(zmq.SUB)
    i.setsockopt(zmq.RCVHWM, 1_000_000)
    i.setsockopt(zmq.SUBSCRIBE, b"")
    i.connect(ep)
    dec = msgspec.msgpack.Decoder(BookLevels)
    ready.set()
    lat: list[int] = []
    first = last = 0.0
    while True:
        _t, p = i.recv_multipart()
        now = time.time_ns()
        m = dec.decode(p)
        if m.last_update_id == STOP:
            break
        if not first:
            first = time.perf_counter()
        last = time.perf_counter()
        lat.append(now - m.ts_event)
    out.put((lat, first, last))


# ---- the project's bus -----------------------------------------------------------------------


def bus_source(ep: str, n: int, rate: float, ready: Any) -> None:
    ctx = zmq.Context()
    pub = Publisher(ctx, ep, "marketdata", hwm=1_000_000)  # md.* is marketdata's (topic ownership)
    ready.wait()
    time.sleep(0.5)
    t0 = time.perf_counter()
    fixed = _book(0, time.time_ns())
    for i in range(n):
        _pace(i, t0, rate)
        pub.publish(TOPIC, _book(i, time.time_ns()) if rate > 0 else fixed)
    pub.publish(TOPIC, _book(STOP, 0))
    time.sleep(1.0)
    pub.close()


def _uvloop() -> None:
    if os.environ.get("MM_BENCH_LOOP") == "asyncio":
        return
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def bus_relay(ep_in: str, ep_out: str, ready: Any) -> None:
    _uvloop()

    async def go() -> None:
        ctx = zmq.Context()
        pub = Publisher(ctx, ep_out, "marketdata", hwm=1_000_000)
        done = asyncio.Event()

        def on(topic: str, m: Any, env: Any) -> None:
            pub.publish(topic, msgspec.structs.replace(m, ts_init=time.time_ns()))
            if m.last_update_id == STOP:
                done.set()

        sub = Subscriber(ctx, [ep_in], [""], on, "relay", hwm=1_000_000)
        sub.start()
        ready.set()
        await done.wait()
        await asyncio.sleep(1.0)

    asyncio.run(go())


def bus_sink(ep: str, out: Any, ready: Any) -> None:
    _uvloop()

    async def go() -> None:
        ctx = zmq.Context()
        lat: list[int] = []
        done = asyncio.Event()
        span = [0.0, 0.0]

        def on(topic: str, m: Any, env: Any) -> None:
            now = time.time_ns()
            if m.last_update_id == STOP:
                done.set()
                return
            if not span[0]:
                span[0] = time.perf_counter()
            span[1] = time.perf_counter()
            lat.append(now - m.ts_event)

        sub = Subscriber(ctx, [ep], [""], on, "sink", hwm=1_000_000)
        sub.start()
        ready.set()
        await done.wait()
        out.put((lat, span[0], span[1]))

    asyncio.run(go())


# ---- harness ---------------------------------------------------------------------------------


def scenario(kind: str, hops: int, n: int, rate: float) -> tuple[list[int], float]:
    src, relay, sink = (
        (raw_source, raw_relay, raw_sink) if kind == "raw" else (bus_source, bus_relay, bus_sink)
    )
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    with tempfile.TemporaryDirectory() as d:
        eps = [f"ipc://{d}/h{k}" for k in range(hops)]
        readies = [ctx.Event() for _ in range(hops)]
        procs = [ctx.Process(target=sink, args=(eps[-1], out, readies[-1]))]
        for k in range(hops - 1):
            procs.append(ctx.Process(target=relay, args=(eps[k], eps[k + 1], readies[k])))
        for p in procs:
            p.start()
        sp = ctx.Process(target=src, args=(eps[0], n, rate, readies[0] if hops == 1 else _AllReady(readies)))
        sp.start()
        lat, first, last = out.get(timeout=600)
        for p in [sp, *procs]:
            p.join(30)
    tput = len(lat) / (last - first) if last > first else 0.0
    return lat, tput


class _AllReady:
    """Picklable: waits for every relay and the sink."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def wait(self) -> None:
        for e in self.events:
            e.wait(30)


def pct(xs: list[int], q: float) -> float:
    return percentile(sorted(xs), q) / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000, help="messages per latency run")
    ap.add_argument("--rate", type=float, default=2_000, help="paced send rate for latency runs (msg/s)")
    ap.add_argument("--burst", type=int, default=200_000, help="messages per throughput run")
    ap.add_argument(
        "--kinds", default="raw,bus", help="raw (the pyzmq floor), bus (the project's), or both (default)"
    )
    args = ap.parse_args()
    kinds = [k for k in ("raw", "bus") if k in args.kinds.split(",")]
    print(
        f"bus latency (BookLevels, 10 levels a side), {args.messages} msgs at {args.rate:.0f}/s; "
        f"throughput with {args.burst} msgs unpaced"
    )
    print(f"{'scenario':<28} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max msg/s':>11} {'recv/sent':>10}")
    for hops, label in ((1, "one hop"), (4, "chain of 4 processes")):
        for kind in kinds:
            lat, _ = scenario(kind, hops, args.messages, args.rate)
            lat_b, tput = scenario(kind, hops, args.burst, 0)
            name = f"{label} ({'raw pyzmq' if kind == 'raw' else 'project bus'})"
            print(
                f"{name:<28} {pct(lat, 0.5):>8.1f} {pct(lat, 0.99):>8.1f} {pct(lat, 0.999):>9.1f} "
                f"{tput:>11,.0f} {len(lat_b) / args.burst:>10.3f}"
            )


if __name__ == "__main__":
    main()
