"""The one base every service stands on: start, heartbeat, commands, graceful stop.

A service subclasses :class:`Service`, fills in ``on_start`` / ``on_stop`` / ``on_command``, and its
``__main__`` calls :func:`main`. SIGTERM, SIGINT and the ``Shutdown`` command share one stop
path. A second copy refuses to start (:mod:`common.lock`). A background task that dies
unexpectedly stops the service with a non-zero exit so supervisord restarts it clean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from common import __version__, metrics, topics, transport
from common.bus import CommandClient, CommandServer, Handler, Publisher, Subscriber
from common.config import PRIMARY_ACCOUNT, SPOT_GATEWAY, ConfigError, Settings, gateway_name, load_settings
from common.lock import AlreadyRunning, SingleInstanceLock
from common.logging import log, setup_logging
from common.messages import (
    AnyCommand,
    CommandAudit,
    GetStatus,
    Heartbeat,
    Kill,
    Message,
    ReloadConfig,
    Reply,
    Request,
    ServiceStatus,
    Shutdown,
)
from common.messages.control import ServiceStateName

EXIT_CONFIG = 2
EXIT_LOCKED = 3
EXIT_CRASH = 1
STOP_DUMP_S = 5.0
"""A stop still running after this long writes every thread's stack to the log (stderr)."""


class CommandError(RuntimeError):
    """A command this service refuses or cannot carry out; the text goes back in the reply."""


class Service:
    """Base class of every long-running service."""

    name: str = ""
    """The service (a class attribute); an instance of a service with several (an extra account's
    gateway, ``gateway-b``) sets its own on the instance."""

    def __init__(self, settings: Settings, instance: str = "") -> None:
        if instance:
            self.name = instance
        if self.name not in settings.services:
            raise ValueError(f"service name {self.name!r} is not one of {settings.services}")
        self.settings = settings
        self.section = settings.service_section(self.name)
        self.state: ServiceStateName = "starting"
        self.started_ns = time.time_ns()
        self.exit_code = 0
        self.ctx = zmq.asyncio.Context()
        self.sync_ctx: zmq.Context[Any] = zmq.Context.shadow(self.ctx.underlying)
        self.pub: Publisher | None = None
        self._server: CommandServer | None = None
        self._subs: list[Subscriber] = []
        self._clients: dict[str, CommandClient] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._stop_reason = ""
        secret = settings.bus_secret.get_secret_value().encode() if settings.bus_secret else None
        self._bus_secret = secret
        # Over tcp every bus socket of this context is a CURVE socket with this service's keys.
        self._security = transport.secure_for(self.ctx, settings, self.name)

    # ---- to override ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Open connections, subscribe, start tasks. Runs after the bus is up."""

    async def on_stop(self) -> None:
        """Release what ``on_start`` took. Runs once, on every stop path."""

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        """Carry out a service-specific command; return plain data for the reply."""
        raise CommandError(f"{self.name} does not handle {type(cmd).__name__}")

    async def on_reload(self, new: Settings) -> None:
        """Apply reloaded settings (already validated). Default: keep them."""
        self.settings = new

    def status_detail(self) -> dict[str, str]:
        """A few key figures for ``mmctl status`` and the heartbeat (called only once started)."""
        return {}

    def serves_while_starting(self, cmd: AnyCommand) -> bool:
        """Whether ``on_command`` may take ``cmd`` before ``on_start`` has finished.

        Default: no. State is built in ``on_start``, so until then a command is answered
        "not ready" instead of reaching half-built state. A service whose state for a command
        exists from ``__init__`` (the gateway's kill switch) says yes for it.
        """
        return False

    # ---- helpers for subclasses ------------------------------------------------------------

    def publish(self, topic: str, msg: Message) -> None:
        assert self.pub is not None, "publish before start"
        self.pub.publish(topic, msg)

    def subscribe(
        self,
        topic_list: Iterable[str],
        handler: Handler,
        on_gap: Callable[[str, str, int], None] | None = None,
        services: Iterable[str] | None = None,
        decode: bool = True,
    ) -> list[Subscriber]:
        """Subscribe to topics, each heard from the service that owns it, on its own connection.

        There is one socket per publisher, connected to that publisher's endpoint only and taking
        only the topics it owns: over tcp its CURVE key then vouches for every message, not just
        the ``source`` written in it. An owned pattern (``risk.target.``, ``md.book.ETHUSDC``) goes
        to its owner's socket; one spanning owners (``""``, ``sys.heartbeat.``) to the sockets of
        ``services`` (default: every other service). Each message still reaches ``handler`` once.
        """
        known = self.settings.services
        default = [s for s in (services or known) if s != self.name or services is not None]
        plan = topics.by_publisher(topic_list, default, self.settings.instances)
        unknown = [pub for pub in plan if pub not in known]
        if unknown:  # e.g. sys.heartbeat.<typo>: a bug, not a subscription that may hear something
            raise ValueError(f"no service publishes {plan[unknown[0]]}: {unknown[0]!r} is not a service")
        return [self._subscriber(pub, pats, handler, on_gap, decode) for pub, pats in plan.items()]

    def _subscriber(
        self,
        publisher: str,
        patterns: list[str],
        handler: Handler,
        on_gap: Callable[[str, str, int], None] | None,
        decode: bool,
    ) -> Subscriber:
        sub = Subscriber(
            self.sync_ctx,
            [self.settings.pub_endpoint(publisher)],
            patterns,
            handler,
            self.name,
            on_gap=on_gap,
            hwm=self.settings.bus.recv_hwm,
            decode=decode,
            publisher=publisher,
        )
        self._subs.append(sub)
        sub.start()
        return sub

    def client(self, service: str) -> CommandClient:
        """A lazy-pirate command client to ``service``, reused."""
        c = self._clients.get(service)
        if c is None:
            c = CommandClient(
                self.ctx,
                self.settings.cmd_endpoint(service),
                sender=self.name,
                secret=self._bus_secret,
                timeout_s=self.settings.bus.request_timeout_s,
                target=service,
            )
            self._clients[service] = c
        return c

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, critical: bool = True) -> asyncio.Task[Any]:
        """Run a background task; if a critical one dies, the service stops with exit code 1."""
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, critical))
        return task

    def _task_done(self, task: asyncio.Task[Any], critical: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.opt(exception=exc).error("task_crashed", task=task.get_name())
            if critical and not self._stop.is_set():
                self.exit_code = EXIT_CRASH
                self.request_stop(f"task {task.get_name()} crashed: {exc!r}")

    def set_state(self, state: ServiceStateName, reason: str = "") -> None:
        if state != self.state:
            self.state = state
            log.info("service_state", state=state, reason=reason)
            if self.pub is not None:
                self.publish(
                    topics.sys_status(self.name), ServiceStatus(service=self.name, state=state, reason=reason)
                )

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, f"signal {sig.name}")
        loop.add_signal_handler(
            signal.SIGUSR1, lambda: self.spawn(self._signal_kill(), "signal-kill", critical=False)
        )
        metrics.SERVICE_START_TIME.labels(self.name).set(self.started_ns / 1e9)
        metrics.watch_gc(self.name)
        self.pub = Publisher(
            self.sync_ctx, self.settings.pub_endpoint(self.name), self.name, self.settings.bus.send_hwm
        )
        self._server = CommandServer(
            self.ctx,
            self.settings.cmd_endpoint(self.name),
            self.name,
            self._handle_request,
            self._bus_secret,
            replay_file=self.settings.run_path / f"{self.name}.replay",
        )
        self._server.start()
        # ZeroMQ subscribers reconnect to a restarted publisher within ~100 ms and PUB drops
        # until they have: wait for them before anything that must not be missed is published.
        await asyncio.sleep(self.settings.bus.settle_ms / 1000)
        hb = self.spawn(self._heartbeat(), "heartbeat")
        self.spawn(self._loop_probe(), "loop-lag", critical=False)  # says "starting" until on_start is done
        try:
            started = await self._start()
        except Exception as exc:  # noqa: BLE001 - report the start failure and exit for a clean restart
            log.opt(exception=exc).error("start_failed")
            await self._shutdown()
            return EXIT_CRASH
        if not started:  # a stop (signal or Shutdown) arrived while starting
            log.info("service_stopping", reason=self._stop_reason)
            self.set_state("stopping", self._stop_reason)
            await self._shutdown()
            return self.exit_code
        if self.state == "starting":
            self.set_state("running")
        # Everything built so far lives for the whole run: keep the cyclic collector off it, and
        # collect young objects less often (fewer pauses on the hot path).
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        metrics.SERVICE_UP.labels(self.name).set(1)
        log.info("service_started", pid=os.getpid(), version=__version__)
        await self._stop.wait()
        log.info("service_stopping", reason=self._stop_reason)
        self.set_state("stopping", self._stop_reason)
        # a stop that hangs (supervisord SIGKILLs it after stopwaitsecs) leaves every thread's
        # stack in the log, so the cause can be read afterwards
        faulthandler.dump_traceback_later(STOP_DUMP_S, exit=False)
        hb.cancel()
        await self._shutdown()
        faulthandler.cancel_dump_traceback_later()
        metrics.SERVICE_UP.labels(self.name).set(0)
        return self.exit_code

    async def _start(self) -> bool:
        """Run ``on_start`` unless a stop comes first (a start may wait for other services for a
        long time: SIGTERM must still end it). True when it finished."""
        start = asyncio.create_task(self.on_start(), name=f"{self.name}:on_start")
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not start.done():
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
            return False
        start.result()  # re-raise a start failure
        return True

    async def _shutdown(self) -> None:
        try:
            await self.on_stop()
        except Exception as exc:  # noqa: BLE001 - stop must finish whatever on_stop did
            log.opt(exception=exc).error("stop_failed")
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subs:
            sub.close()
        for c in self._clients.values():
            c.close()
        if self._server is not None:
            await self._server.close()
        if self.pub is not None:
            self.pub.close()
        if self._security is not None:
            self._security.close()  # its authenticator thread holds a socket of this context
        self.ctx.destroy(linger=0)

    async def _loop_probe(self, interval: float = 0.1) -> None:
        """``mm_event_loop_lag_seconds``: how late a 100 ms sleep wakes (time the loop was busy)."""
        lag = metrics.LOOP_LAG.labels(self.name)
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(interval)
            lag.observe(max(0.0, time.monotonic() - t0 - interval))

    async def _heartbeat(self) -> None:
        interval = self.settings.heartbeat_interval_s
        topic = topics.sys_heartbeat(self.name)
        pid = os.getpid()
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            self.publish(
                topic,
                Heartbeat(
                    service=self.name,
                    pid=pid,
                    version=__version__,
                    started_ns=self.started_ns,
                    state=self.state,
                    detail=self.status_detail() if self.state != "starting" else {},
                ),
            )
            next_at += interval
            if next_at < now:
                next_at = now + interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def status(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "state": self.state,
            "pid": os.getpid(),
            "version": __version__,
            "started_ns": self.started_ns,
            "uptime_s": round((time.time_ns() - self.started_ns) / 1e9, 3),
            "detail": self.status_detail() if self.state != "starting" else {},
        }

    async def _handle_request(self, req: Request) -> Reply:
        cmd = req.cmd
        try:
            match cmd:
                case GetStatus():
                    result: Any = self.status()
                case Shutdown(reason=reason):
                    asyncio.get_running_loop().call_soon(
                        self.request_stop, f"Shutdown from {req.sender}: {reason}"
                    )
                    result = {"stopping": True}
                case _ if self.state == "starting" and not self.serves_while_starting(cmd):
                    raise CommandError(
                        f"not ready: {self.name} is starting; {type(cmd).__name__} is refused until it runs"
                    )
                case ReloadConfig():
                    result = await self._reload()
                case _:
                    result = await self.on_command(cmd, req)
            reply = Reply(id=req.id, ok=True, service=self.name, result=result)
        except (CommandError, ConfigError) as exc:
            reply = Reply(id=req.id, ok=False, service=self.name, error=str(exc))
        self._audit(req, reply)
        return reply

    async def _signal_kill(self) -> None:
        """SIGUSR1 is the kill switch by signal: the same path as a Kill command."""
        req = Request(
            id=f"signal-{time.time_ns()}",
            sender="signal SIGUSR1",
            deadline_ns=time.time_ns() + 60 * 10**9,
            cmd=Kill(reason="signal SIGUSR1"),
        )
        reply = await self._handle_request(req)
        log.warning("kill_by_signal", ok=reply.ok, error=reply.error)

    async def _reload(self) -> dict[str, Any]:
        new = load_settings(self.settings.profile)
        await self.on_reload(new)
        log.info("config_reloaded")
        return {"reloaded": True}

    def _audit(self, req: Request, reply: Reply) -> None:
        if self.pub is None:
            return
        args = {k: str(v) for k, v in msgspec.structs.asdict(req.cmd).items()}
        self.publish(
            topics.sys_command(self.name),
            CommandAudit(
                service=self.name,
                request_id=req.id,
                sender=req.sender,
                command=type(req.cmd).__name__,
                ok=reply.ok,
                error=reply.error,
                args=args,
            ),
        )


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s`` seconds; True when it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as the awaited
    thing completes (CPython gh-86296), and a ``while True`` loop around it then never stops: a
    stop hung for 20 s until SIGKILL. ``asyncio.timeout`` lets the cancellation through.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


def pin_cpus(service: str, cpus: list[int]) -> list[int]:
    """Pin this process to ``cpus``; with none given, the gateway gets the last core when one is spare.

    "Spare" means three or more cores: the gateway takes the last one and every other service
    stays off it. On one or two cores nothing is pinned (the hot path would starve the venue).
    """
    if not hasattr(os, "sched_setaffinity"):
        return []
    n = os.cpu_count() or 1
    chosen = list(cpus)
    if not chosen and n >= 3:
        chosen = [n - 1] if service == "gateway" else list(range(n - 1))
    if chosen:
        os.sched_setaffinity(0, set(chosen))
    return chosen


def _install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main(service_cls: type[Service], argv: list[str] | None = None) -> None:
    """Entry point of a service process: config, logging, lock, pinning, loop, run, exit code."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{service_cls.name}")
    parser.add_argument("--profile", help="config profile (default: $MM_PROFILE or paper)")
    if service_cls.name == "gateway":
        parser.add_argument("--account", default="", help="the account to trade (default: the primary one)")
    if service_cls.name in ("marketdata", "gateway"):
        parser.add_argument("--market", choices=("usdm", "spot"), default="usdm", help="spot: spot_symbols")
    args = parser.parse_args(argv)
    name = service_cls.name
    try:
        settings = load_settings(args.profile)
        account = getattr(args, "account", "")
        if account and account != PRIMARY_ACCOUNT:
            if account not in settings.accounts:
                known = ", ".join(settings.account_names)
                raise ConfigError(f"--account {account}: no such account in the config (known: {known})")
            name = gateway_name(account)
        if getattr(args, "market", "usdm") == "spot":
            if not settings.spot_symbols:
                raise ConfigError("--market spot: no spot_symbols in the config")
            if account and account != PRIMARY_ACCOUNT:
                raise ConfigError("--market spot: spot is traded by the primary account's gateway-spot")
            name = SPOT_GATEWAY if service_cls.name == "gateway" else "marketdata-spot"
        settings.curve_keys(name)  # over tcp: refuse now, naming any missing key variable
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    section = settings.service_section(name)
    setup_logging(
        name,
        level=section.log_level or settings.log_level,
        json=settings.log_json,
        secrets=settings.secret_values(),
    )
    lock = SingleInstanceLock(settings.run_path / f"{name}.lock", name)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        log.error("second_instance_refused", detail=str(exc))
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(EXIT_LOCKED)
    pinned = pin_cpus(service_cls.name, section.cpus)
    uv = _install_uvloop()
    metrics.serve_metrics(section.metrics_port)
    log.info("service_boot", pid=os.getpid(), cpus=pinned, uvloop=uv, profile=settings.profile)
    try:
        service = service_cls(settings, name) if name != service_cls.name else service_cls(settings)
        code = asyncio.run(service.run())
    finally:
        lock.release()
    sys.exit(code)
