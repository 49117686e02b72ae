"""Prometheus metrics shared by every service (names prefixed ``mm_``, units in full words).

Each service serves its registry on its own configured port, bound to loopback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BUS_DECODE_ERRORS = Counter(
    "mm_bus_decode_errors_total",
    "Bus messages that failed to decode and were dropped",
    ["service", "kind"],
)
BUS_GAPS = Counter(
    "mm_bus_gaps_total",
    "Messages missed on the bus, detected by per-topic sequence numbers",
    ["service", "topic_family"],
)
# mm_bus_messages_published_total / mm_bus_messages_received_total are collected from the
# publishers' and subscribers' own counts at scrape time (common.bus), off the hot path.
BUS_HANDLER_ERRORS = Counter(
    "mm_bus_handler_errors_total",
    "Bus messages whose handler raised; the message is dropped, the subscriber keeps running",
    ["service", "kind"],
)
COMMANDS = Counter(
    "mm_commands_total",
    "Commands received over the command channel",
    ["service", "command", "outcome"],
)
REQUEST_TIMEOUTS = Counter(
    "mm_bus_request_timeouts_total",
    "Requests that timed out; the client socket was rebuilt",
    ["service", "target"],
)
SERVICE_UP = Gauge("mm_service_up", "1 while the service runs", ["service"])
SERVICE_START_TIME = Gauge("mm_service_start_time_seconds", "Unix time the service started", ["service"])
LOOP_LAG = Histogram(
    "mm_event_loop_lag_seconds",
    "How late the event loop ran a periodic tick",
    ["service"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
GC_PAUSE = Histogram(
    "mm_gc_pause_seconds",
    "Pauses of Python's cyclic garbage collector, by generation",
    ["service", "generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)


def watch_gc(service: str) -> None:
    """Time every collection of the cyclic collector into :data:`GC_PAUSE`."""
    import gc
    import time

    started = [0.0]
    hists = [GC_PAUSE.labels(service, str(g)) for g in range(3)]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            hists[min(info.get("generation", 0), 2)].observe(time.perf_counter() - started[0])

    gc.callbacks.append(callback)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose the default registry on ``host:port`` (no-op when port is 0)."""
    if port:
        start_http_server(port, addr=host)


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted ``xs``, nearest rank at or below."""
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency_summary(ns: Iterable[int]) -> dict[str, float]:
    """Count, p50, p99, max and mean in microseconds of latencies in nanoseconds (a snapshot's
    ``latency`` answer, a benchmark's line); ``{"count": 0}`` when there are none."""
    xs = sorted(ns)
    if not xs:
        return {"count": 0}
    return {
        "count": len(xs),
        "p50_us": percentile(xs, 0.50) / 1e3,
        "p99_us": percentile(xs, 0.99) / 1e3,
        "max_us": xs[-1] / 1e3,
        "mean_us": sum(xs) / len(xs) / 1e3,
    }
