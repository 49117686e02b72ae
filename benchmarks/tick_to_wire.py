"""Tick to wire: from a market frame's arrival at marketdata to the order's bytes leaving the gateway.

The running services (venue on the synthetic market at ``--step-ms`` a step; marketdata, strategy,
risk, gateway as separate processes on the real bus) are timed through the trace the messages
carry (:mod:`common.trace`): the depth update that caused a ``Features`` message, the strategy
target it caused, risk's approval of it, and the gateway's first order request for it. Stages:

  md        frame arrival at marketdata -> md.features published
  strategy  md.features published       -> strategy.target published (bus hop + decision)
  risk      strategy.target published   -> risk.target published (bus hop + checks)
  bus       risk.target published       -> received by the gateway
  gateway   received by the gateway     -> order bytes handed to the socket
  total     frame arrival               -> order bytes on the wire

In the same run, the floor: four processes of raw blocking pyzmq + msgspec in a chain (source ->
relay -> relay -> sink, as marketdata -> strategy -> risk -> gateway), each decoding what it gets
and encoding what it sends, carrying the same messages the stack carried (a Features, the
strategy's target, risk's target, sampled from the run) at the same rate. The ratio is the
stack's total over the floor's.

Latency-sensitive settings: features with every book (``features_interval_ms = 0``), a decision
on every features message (``quote_interval_ms = 0``).

    .venv/bin/python benchmarks/tick_to_wire.py [--seconds 30] [--step-ms 20]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import zmq

from common.messages import Features, GetSnapshot, TargetQuotes
from common.metrics import percentile
from tests.cluster import Cluster
from tests.helpers import wait_until

STAGES = ("md", "strategy", "risk", "bus", "gateway", "total")
STOP = struct.pack(">q", -1)


def overlay(
    symbols: list[str], step_ms: int, strategy: dict[str, str] | None = None, eager: bool = True
) -> str:
    """Latency-sensitive settings (``eager``: features with every book, a decision on every
    features message); ``strategy`` adds lines to a symbol's strategy table."""
    out = f"[marketdata]\nfeatures_interval_ms = {0 if eager else 100}\n[simvenue]\nstep_ms = {step_ms}\n"
    for s in symbols:
        out += f"[strategy.symbols.{s}]\n" + ("quote_interval_ms = 0\n" if eager else "")
        out += (strategy or {}).get(s, "")
    return out


def start(
    tmp: Path,
    symbols: list[str],
    step_ms: int,
    extra: str = "",
    strategy: dict[str, str] | None = None,
    recorder: bool = False,
    eager: bool = True,
    listen: tuple[str, ...] = ("md.features.", "strategy.target.", "risk.target."),
) -> Cluster:
    """The trading services (and the recorder, first) on the synthetic market, the bus heard on
    ``listen``; returns once every symbol has approved quotes."""
    env = {"MM_SYMBOLS": msgspec.json.encode(symbols).decode()}
    if not recorder:
        env |= {"MM_GATEWAY__RECORDER_WAIT_S": "0", "MM_RISK__RECORDER_WAIT_S": "0"}
    c = Cluster(tmp, overlay(symbols, step_ms, strategy, eager) + extra, env)
    try:
        c.listen(*listen)
        c.start("venue", *(["recorder"] if recorder else []), "marketdata", "gateway", "risk", "strategy")

        def approved() -> bool:
            seen = {m.symbol for m in c.heard.of("risk.target.", TargetQuotes) if m.quotes}
            return seen >= set(symbols)

        wait_until(approved, 90, interval=0.5, what="approved quotes on every symbol")
    except BaseException:
        c.stop()
        raise
    return c


def first_by_trace(msgs: list[Any]) -> dict[tuple[str, int], Any]:
    """The earliest message per (symbol, trace_id) (several may carry one trace)."""
    out: dict[tuple[str, int], Any] = {}
    for m in msgs:
        key = (m.symbol, m.trace_id)
        if m.trace_id and (key not in out or m.ts_init < out[key].ts_init):
            out[key] = m
    return out


def join(c: Cluster, since_ns: int) -> dict[str, list[int]]:
    """Per-stage latencies (ns) of every traced order request sent since ``since_ns``."""
    rows = c.request("gateway", GetSnapshot(what="trace")).result
    feats = first_by_trace(c.heard.of("md.features.", Features))
    strat = first_by_trace(
        [m for m in c.heard.of("strategy.target.", TargetQuotes) if m.origin == "strategy"]
    )
    risk = first_by_trace([m for m in c.heard.of("risk.target.", TargetQuotes) if m.origin == "risk"])
    first_sent: dict[tuple[str, int], tuple[int, int, int]] = {}
    for symbol, _kind, trace_id, trace_ns, target_ns, sent_ns in rows:
        key = (symbol, trace_id)
        if trace_id and sent_ns >= since_ns and (key not in first_sent or sent_ns < first_sent[key][2]):
            first_sent[key] = (trace_ns, target_ns, sent_ns)
    out: dict[str, list[int]] = {s: [] for s in STAGES}
    for key, (trace_ns, target_ns, sent_ns) in first_sent.items():
        f, s, r = feats.get(key), strat.get(key), risk.get(key)
        out["total"].append(sent_ns - trace_ns)
        if f is None or s is None or r is None:
            continue
        out["md"].append(f.ts_init - trace_ns)
        out["strategy"].append(s.ts_init - f.ts_init)
        out["risk"].append(r.ts_init - s.ts_init)
        out["bus"].append(target_ns - r.ts_init)
        out["gateway"].append(sent_ns - target_ns)
    return out


def samples(c: Cluster) -> tuple[bytes, bytes, bytes]:
    """One Features, one strategy target and one risk target the stack carried, encoded."""
    enc = msgspec.msgpack.encode
    f = c.heard.of("md.features.", Features)[-1]
    s = [m for m in c.heard.of("strategy.target.", TargetQuotes) if m.origin == "strategy" and m.quotes][-1]
    r = [m for m in c.heard.of("risk.target.", TargetQuotes) if m.origin == "risk" and m.quotes][-1]
    return enc(f), enc(s), enc(r)


# ---- the floor: raw pyzmq + msgspec, four processes -------------------------------------------


def _sub(ctx: zmq.Context[Any], ep: str) -> zmq.Socket[Any]:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 1_000_000)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(ep)
    return s


def _pub(ctx: zmq.Context[Any], ep: str) -> zmq.Socket[Any]:
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 1_000_000)
    s.bind(ep)
    return s


def raw_source(ep: str, payload: bytes, n: int, rate: float, ready: Any) -> None:
    ctx = zmq.Context()
    s = _pub(ctx, ep)
    ready.wait()
    time.sleep(0.5)
    msg = msgspec.msgpack.decode(payload, type=Features)
    enc = msgspec.msgpack.Encoder()
    t0 = time.perf_counter()
    for i in range(n):
        target = t0 + i / rate
        while (d := target - time.perf_counter()) > 0:
            time.sleep(d - 0.0002 if d > 0.0003 else 0)
        s.send_multipart((b"md.features.X", struct.pack(">q", time.time_ns()) + enc.encode(msg)))
    s.send_multipart((b"md.features.X", STOP))
    time.sleep(1.0)
    s.close(linger=1000)


def raw_relay(ep_in: str, ep_out: str, in_kind: str, out_payload: bytes, ready: Any) -> None:
    ctx = zmq.Context()
    i, o = _sub(ctx, ep_in), _pub(ctx, ep_out)
    dec = msgspec.msgpack.Decoder(Features if in_kind == "features" else TargetQuotes)
    out = msgspec.msgpack.decode(out_payload, type=TargetQuotes)
    enc = msgspec.msgpack.Encoder()
    ready.set()
    while True:
        topic, p = i.recv_multipart()
        stamp = p[:8]
        if stamp == STOP:
            o.send_multipart((topic, STOP))
            time.sleep(1.0)
            return
        dec.decode(p[8:])
        o.send_multipart((topic, stamp + enc.encode(out)))


def raw_sink(ep: str, q: Any, ready: Any) -> None:
    ctx = zmq.Context()
    i = _sub(ctx, ep)
    dec = msgspec.msgpack.Decoder(TargetQuotes)
    ready.set()
    lat: list[int] = []
    while True:
        _t, p = i.recv_multipart()
        now = time.time_ns()
        if p[:8] == STOP:
            break
        dec.decode(p[8:])
        lat.append(now - struct.unpack(">q", p[:8])[0])
    q.put(lat)


def floor(payloads: tuple[bytes, bytes, bytes], n: int, rate: float) -> list[int]:
    f, s, r = payloads
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with tempfile.TemporaryDirectory() as d:
        eps = [f"ipc://{d}/h{k}" for k in range(3)]
        ready = [ctx.Event() for _ in range(3)]
        procs = [
            ctx.Process(target=raw_sink, args=(eps[2], q, ready[2])),
            ctx.Process(target=raw_relay, args=(eps[1], eps[2], "target", r, ready[1])),
            ctx.Process(target=raw_relay, args=(eps[0], eps[1], "features", s, ready[0])),
        ]
        for p in procs:
            p.start()
        for e in ready:
            e.wait(30)
        src = ctx.Process(target=raw_source, args=(eps[0], f, n, rate, _Set()))
        src.start()
        lat: list[int] = q.get(timeout=600)
        for p in [src, *procs]:
            p.join(30)
    return lat


class _Set:
    """An event that is already set (picklable)."""

    def wait(self, timeout: float | None = None) -> bool:
        return True


def line(name: str, xs: list[int]) -> str:
    if not xs:
        return f"{name:<34} {'-':>9} {'-':>9} {'-':>9} {0:>7}"
    s = sorted(xs)
    return (f"{name:<34} {percentile(s, 0.5) / 1e3:>9.1f} {percentile(s, 0.99) / 1e3:>9.1f} "
            f"{percentile(s, 0.999) / 1e3:>9.1f} {len(s):>7}")  # fmt: skip


def header() -> str:
    return f"{'stage':<34} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'n':>7}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring window after quotes are up")
    ap.add_argument(
        "--step-ms", type=int, default=20, help="the synthetic market's step (a depth frame each)"
    )
    ap.add_argument("--symbols", default="ETHUSDC,BTCUSDC")
    ap.add_argument("--floor-messages", type=int, default=5000)
    args = ap.parse_args()
    symbols = args.symbols.split(",")
    with tempfile.TemporaryDirectory() as d:
        c = start(Path(d), symbols, args.step_ms)
        try:
            t0 = time.time_ns()
            time.sleep(args.seconds)  # the measuring window: the stack runs on its own meanwhile
            stages = join(c, t0)
            payloads = samples(c)
            n_feats = sum(1 for m in c.heard.of("md.features.", Features) if m.ts_init >= t0)
        finally:
            c.stop()
    rate = max(n_feats / args.seconds, 50.0)
    raw = floor(payloads, args.floor_messages, rate)
    sizes = "/".join(str(len(p)) for p in payloads)
    print(f"tick to wire: {', '.join(symbols)}, synthetic market at {args.step_ms} ms a step, "
          f"{args.seconds:.0f} s; {len(stages['total'])} orders traced to their market event")  # fmt: skip
    print(header())
    labels = {
        "md": "marketdata (frame -> features)", "strategy": "-> strategy target", "risk": "-> risk target",
        "bus": "-> gateway receives", "gateway": "gateway (target -> wire)", "total": "TOTAL frame -> wire",
    }  # fmt: skip
    for s in STAGES:
        print(line(labels[s], stages[s]))
    print(line(f"floor: raw 4-process chain ({sizes} B)", raw))
    if stages["total"] and raw:
        a, b = sorted(stages["total"]), sorted(raw)
        r50, r99 = percentile(a, 0.5) / percentile(b, 0.5), percentile(a, 0.99) / percentile(b, 0.99)
        print(f"ratio to the floor: p50 {r50:.1f}x, p99 {r99:.1f}x (floor paced at {rate:.0f} msg/s)")


if __name__ == "__main__":
    main()
