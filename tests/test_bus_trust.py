"""Who may speak on the bus: topic owners, CURVE over tcp, commands addressed and answered under
signature, replay memory that outlives a restart, and ``mmctl keys``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio

from common import topics, transport
from common.bus import (
    UNTRUSTED,
    CommandClient,
    CommandServer,
    Publisher,
    RequestRefused,
    RequestTimeout,
    Subscriber,
    sign,
    sign_reply,
)
from common.codec import CommandCodec
from common.commands import REPLIES_REFUSED
from common.config import ConfigError, Settings, load_settings
from common.curve import CurveKeys
from common.messages import GetStatus, Heartbeat, Reply, Request, RiskState
from common.runtime import Service
from common.transport import CURVE_DENIED, BusSecurity
from services.mmctl import cli
from services.mmctl.context import Ctl
from tests.helpers import PROJECT, async_wait_until, free_port, run

# Every identity that holds a CURVE key pair, as PROTOCOL.md lists them.
IDENTITIES = ("venue", "marketdata", "strategy", "risk", "gateway", "recorder", "console", "mmctl")
BUS_SECRET = "bus-secret-for-the-trust-tests-0123456789"
SECRET = BUS_SECRET.encode()


def _ep(tmp_path: Path, name: str) -> str:
    return f"ipc://{tmp_path / name}"


def _state() -> RiskState:
    return RiskState(mode="normal", ready=True)


async def _publish_until(pubs: list[Publisher], done: Callable[[], Any], what: str) -> None:
    """Publish ``risk.state`` from every publisher until ``done()`` (slow joiners, handshakes)."""

    def step() -> Any:
        for p in pubs:
            p.publish(topics.RISK_STATE, _state())
        return done()

    await async_wait_until(step, timeout=15, interval=0.05, what=what)


# ---- topic ownership ---------------------------------------------------------------------------


def test_every_topic_has_the_owner_the_protocol_names() -> None:
    assert topics.owner("md.book.ETHUSDC") == "marketdata"
    assert topics.owner("strategy.target.ETHUSDC") == "strategy"
    assert topics.owner("risk.target.ETHUSDC") == "risk"
    assert topics.owner("risk.state") == "risk"
    assert topics.owner("oms.fill.ETHUSDC") == "gateway"
    assert topics.owner("oms.account") == "gateway"
    assert topics.owner("sys.heartbeat.recorder") == "recorder"
    assert topics.owner("sys.command.console") == "console"
    assert topics.owner("state.strategy") == "strategy"
    assert topics.owner("sys.heartbeat") == ""
    assert topics.owner("nobody.knows") == ""
    assert topics.by_publisher(["risk.target.", "risk.state", "md.status."], ["risk", "strategy"]) == {
        "risk": ["risk.target.", "risk.state"],
        "marketdata": ["md.status."],
    }
    assert topics.by_publisher(["risk.state", "sys.heartbeat."], ["risk", "strategy"]) == {
        "risk": ["risk.state", "sys.heartbeat."],  # heartbeats come from every publisher
        "strategy": ["sys.heartbeat."],
    }


def test_risk_state_from_a_non_owner_is_dropped_and_counted_while_the_owners_is_delivered(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        ctx = zmq.Context()
        real = Publisher(ctx, _ep(tmp_path, "risk"), "risk")
        forger = Publisher(ctx, _ep(tmp_path, "strategy"), "strategy")
        sources: list[str] = []
        sub = Subscriber(
            ctx,
            [_ep(tmp_path, "risk"), _ep(tmp_path, "strategy")],
            [topics.RISK_STATE],
            lambda t, m, e: sources.append(e.source),
            "owner-test",
        )
        sub.start()
        before = UNTRUSTED.labels("owner-test", "risk")._value.get()
        await _publish_until([real, forger], lambda: sources and sub.untrusted, "both publishers heard")
        assert set(sources) == {"risk"}
        assert UNTRUSTED.labels("owner-test", "risk")._value.get() == before + sub.untrusted
        sub.close()
        real.close()
        forger.close()
        ctx.term()

    run(go())


def test_a_socket_for_one_owner_drops_topics_its_publisher_does_not_own(tmp_path: Path) -> None:
    """A compromised risk host that writes source "marketdata" is not heard on md.* through the
    socket that dials risk: that socket takes risk's topics only."""

    async def go() -> None:
        ctx = zmq.Context()
        pub = Publisher(ctx, _ep(tmp_path, "risk"), "marketdata")  # bound where risk binds
        got: list[str] = []
        sub = Subscriber(
            ctx, [_ep(tmp_path, "risk")], [""], lambda t, m, e: got.append(t), "one-owner", publisher="risk"
        )
        sub.start()

        def step() -> int:
            pub.publish(
                topics.sys_heartbeat("marketdata"), Heartbeat(service="x", pid=1, version="t", started_ns=0)
            )
            return sub.untrusted

        await async_wait_until(step, interval=0.05, what="a message dropped")
        assert got == []
        sub.close()
        pub.close()
        ctx.term()

    run(go())


class _Gateway(Service):
    name = "gateway"


def test_service_subscribe_dials_each_publisher_on_its_own_socket_for_what_it_owns(
    settings: Settings,
) -> None:
    async def go() -> None:
        svc = _Gateway(settings)
        try:
            owned = svc.subscribe(
                [topics.family("risk", "target"), topics.RISK_STATE, topics.family("md", "status")],
                lambda t, m, e: None,
            )
            everything = svc.subscribe([topics.ALL], lambda t, m, e: None)
            assert {(s.publisher, tuple(s.endpoints)) for s in owned} == {
                ("risk", (settings.pub_endpoint("risk"),)),
                ("marketdata", (settings.pub_endpoint("marketdata"),)),
            }
            others = [s for s in IDENTITIES if s not in ("gateway", "mmctl")]
            assert {(s.publisher, tuple(s.endpoints)) for s in everything} == {
                (s, (settings.pub_endpoint(s),)) for s in others
            }
            with pytest.raises(ValueError, match="nobody"):
                svc.subscribe([topics.sys_heartbeat("nobody")], lambda t, m, e: None)
        finally:
            for s in svc._subs:
                s.close()
            svc.ctx.destroy(linger=0)

    run(go())


# ---- CURVE over tcp ----------------------------------------------------------------------------


@pytest.fixture
def tcp(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the bus over tcp on free ports, with a key pair for every identity."""
    for ident in IDENTITIES:
        public, secret = zmq.curve_keypair()
        monkeypatch.setenv(f"MM_BUS_CURVE_{ident.upper()}_PUBLIC", public.decode())
        monkeypatch.setenv(f"MM_BUS_CURVE_{ident.upper()}_SECRET", secret.decode())
    monkeypatch.setenv("MM_BUS_SECRET", BUS_SECRET)
    overlay = Path(os.environ["MM_CONFIG_FILE"])
    eps = "".join(
        f'"{s}.{kind}" = "tcp://127.0.0.1:{free_port()}"\n'
        for s in ("risk", "gateway", "recorder")
        for kind in ("pub", "cmd")
    )
    overlay.write_text(overlay.read_text() + f'\n[bus]\ntransport = "tcp"\n[bus.endpoints]\n{eps}')
    return load_settings()


class _Process:
    """What one process has: a context with its bus identity, and the sockets it made."""

    def __init__(self, security: BusSecurity | None) -> None:
        self.ctx = zmq.asyncio.Context()
        self.sync: zmq.Context[Any] = zmq.Context.shadow(self.ctx.underlying)
        self.security = transport.secure(self.ctx, security) if security else None
        self.closers: list[Callable[[], Any]] = []

    @classmethod
    def of(cls, settings: Settings, identity: str) -> _Process:
        keys = settings.curve_keys(identity)
        assert keys is not None
        return cls(BusSecurity.for_settings(settings, keys))

    def keep(self, obj: Any) -> Any:
        self.closers.append(obj.close)
        return obj

    async def close(self) -> None:
        """Close what it made, then stop its authenticator and end its context, each bounded."""
        try:
            for c in reversed(self.closers):
                done = c()
                if isinstance(done, Awaitable):
                    await done
        finally:
            stopped = self.security.close() if self.security is not None else True
            ended = transport.terminate(self.ctx, self.sync)
        assert stopped and ended, f"authenticator stopped: {stopped}, context terminated: {ended}"


async def _close_all(*procs: _Process) -> None:
    """Close every process in this order, even when one of them fails to (raised afterwards)."""
    async with contextlib.AsyncExitStack() as stack:
        for p in reversed(procs):
            stack.push_async_callback(p.close)


async def _publisher_once_free(proc: _Process, endpoint: str, source: str) -> Publisher:
    """A Publisher of ``proc`` bound at ``endpoint`` as soon as it can be.

    A closed socket's tcp listener is closed later, by ZeroMQ's I/O thread: until then, longer
    on a loaded machine, binding the same port fails with EADDRINUSE.
    """

    def attempt() -> Publisher | None:
        try:
            return Publisher(proc.sync, endpoint, source)
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            return None

    pub = await async_wait_until(attempt, timeout=10, interval=0.02, what=f"{endpoint} free to bind again")
    return proc.keep(pub)  # type: ignore[no-any-return]


def _impostor(settings: Settings, identity: str) -> _Process:
    """Claims to be ``identity`` and knows every public key, but holds a key pair nobody knows."""
    real = settings.curve_keys(identity)
    assert real is not None
    public, secret = zmq.curve_keypair()
    fake = CurveKeys(identity=identity, public=public, secret=secret, peers=real.peers)
    return _Process(BusSecurity.for_settings(settings, fake))


def _risk_server(proc: _Process, settings: Settings, handled: list[str]) -> CommandServer:
    async def answer(req: Request) -> Reply:
        handled.append(req.sender)
        return Reply(id=req.id, ok=True, service="risk", result={"pong": req.sender})

    server = proc.keep(
        CommandServer(
            proc.ctx,
            settings.cmd_endpoint("risk"),
            "risk",
            answer,
            secret=SECRET,
            replay_file=settings.run_path / "risk.replay",
        )
    )
    server.start()
    return server  # type: ignore[no-any-return]


def test_over_tcp_with_curve_two_services_exchange_messages_and_commands(tcp: Settings) -> None:
    async def go() -> None:
        risk, gateway = _Process.of(tcp, "risk"), _Process.of(tcp, "gateway")
        try:
            pub = risk.keep(Publisher(risk.sync, tcp.pub_endpoint("risk"), "risk"))
            handled: list[str] = []
            _risk_server(risk, tcp, handled)
            got: list[Any] = []
            sub = gateway.keep(
                Subscriber(
                    gateway.sync,
                    [tcp.pub_endpoint("risk")],
                    [topics.RISK_STATE],
                    lambda t, m, e: got.append(m),
                    "gateway",
                    publisher="risk",
                )
            )
            sub.start()
            await _publish_until([pub], lambda: len(got) >= 3, "risk.state over CURVE")
            client = gateway.keep(
                CommandClient(
                    gateway.ctx,
                    tcp.cmd_endpoint("risk"),
                    "gateway",
                    secret=SECRET,
                    timeout_s=5,
                    target="risk",
                )
            )
            reply = await client.request(GetStatus())
            assert reply.ok and reply.result == {"pong": "gateway"}
            assert all(isinstance(m, RiskState) for m in got)
            assert handled == ["gateway"]
        finally:
            await _close_all(gateway, risk)

    run(go())


def test_over_tcp_a_client_with_an_unknown_key_gets_no_message_and_no_reply(tcp: Settings) -> None:
    async def go() -> None:
        risk, gateway, stranger = (
            _Process.of(tcp, "risk"),
            _Process.of(tcp, "gateway"),
            _impostor(tcp, "gateway"),
        )
        try:
            pub = risk.keep(Publisher(risk.sync, tcp.pub_endpoint("risk"), "risk"))
            handled: list[str] = []
            _risk_server(risk, tcp, handled)
            heard: dict[str, list[Any]] = {"friend": [], "stranger": []}
            for who, proc in (("friend", gateway), ("stranger", stranger)):
                proc.keep(
                    Subscriber(
                        proc.sync,
                        [tcp.pub_endpoint("risk")],
                        [topics.RISK_STATE],
                        lambda t, m, e, who=who: heard[who].append(m),
                        who,
                        publisher="risk",
                    )
                ).start()
            denied = CURVE_DENIED.labels("risk")._value.get()
            await _publish_until(
                [pub],
                lambda: len(heard["friend"]) >= 5 and CURVE_DENIED.labels("risk")._value.get() > denied,
                "the friend hears risk and the stranger is refused",
            )
            assert heard["stranger"] == []
            client = stranger.keep(
                CommandClient(
                    stranger.ctx,
                    tcp.cmd_endpoint("risk"),
                    "stranger",
                    secret=SECRET,
                    timeout_s=0.5,
                    target="risk",
                )
            )
            with pytest.raises(RequestTimeout):
                await client.request(GetStatus())
            assert handled == []
        finally:
            await _close_all(stranger, gateway, risk)

    run(go())


def test_over_tcp_a_publisher_without_the_owners_key_is_not_heard_on_the_owners_endpoint(
    tcp: Settings,
) -> None:
    """Strategy (a known identity) binds risk's endpoint and writes source "risk": the gateway,
    dialling risk with risk's public key, hears nothing until the real risk binds there."""

    async def go() -> None:
        strategy, gateway = _Process.of(tcp, "strategy"), _Process.of(tcp, "gateway")
        risk = _Process.of(tcp, "risk")
        try:
            fake = strategy.keep(Publisher(strategy.sync, tcp.pub_endpoint("risk"), "risk"))
            got: list[Any] = []
            gateway.keep(
                Subscriber(
                    gateway.sync,
                    [tcp.pub_endpoint("risk")],
                    [topics.RISK_STATE],
                    lambda t, m, e: got.append(m),
                    "gateway",
                    publisher="risk",
                )
            ).start()
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # long enough for several handshake attempts
                fake.publish(topics.RISK_STATE, _state())
                await asyncio.sleep(0.05)
            assert got == []
            fake.close()
            real = await _publisher_once_free(risk, tcp.pub_endpoint("risk"), "risk")
            await _publish_until([real], lambda: got, "the real risk heard on the same endpoint")
        finally:
            await _close_all(gateway, strategy, risk)

    run(go())


def test_a_service_over_tcp_beats_and_answers_mmctl_through_curve_and_signatures(tcp: Settings) -> None:
    """The runtime end to end: a recorder process secures its sockets from the environment; mmctl's
    context hears its heartbeat and gets a signed, verified answer addressed to it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.recorder"],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def go() -> dict[str, Any]:
        ctl = Ctl(tcp, 5.0)
        beats: list[Heartbeat] = []
        sub = Subscriber(
            ctl.sync_ctx,
            [tcp.pub_endpoint("recorder")],
            [topics.sys_heartbeat("recorder")],
            lambda t, m, e: beats.append(m),
            "mmctl",
            publisher="recorder",
        )
        sub.start()
        try:
            await async_wait_until(lambda: any(b.state == "running" for b in beats), 30, what="a heartbeat")
            status: dict[str, Any] = await ctl.client("recorder").call(GetStatus())
            return status
        finally:
            sub.close()
            ctl.close()

    try:
        status = run(go())
        assert status["service"] == "recorder" and status["pid"] == proc.pid
        assert (tcp.run_path / "recorder.replay").exists()
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_tcp_without_curve_keys_is_refused_naming_the_missing_variables(
    tcp: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_secret = os.environ["MM_BUS_CURVE_RISK_SECRET"]
    monkeypatch.delenv("MM_BUS_CURVE_RISK_SECRET")
    monkeypatch.delenv("MM_BUS_CURVE_MMCTL_PUBLIC")
    settings = load_settings()
    with pytest.raises(ConfigError) as exc:
        settings.curve_keys("risk")
    text = str(exc.value)
    assert "MM_BUS_CURVE_RISK_SECRET" in text and "MM_BUS_CURVE_MMCTL_PUBLIC" in text
    assert own_secret not in text and os.environ["MM_BUS_CURVE_GATEWAY_SECRET"] not in text
    with pytest.raises(ConfigError, match="MM_BUS_CURVE_MMCTL_PUBLIC"):
        settings.curve_keys("gateway")


def test_a_malformed_curve_key_is_refused_at_load_without_showing_it(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_BUS_CURVE_RISK_SECRET", "not-a-key-$ecret-value")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "MM_BUS_CURVE_RISK_SECRET" in str(exc.value)
    assert "not-a-key-$ecret-value" not in str(exc.value)


def test_curve_secrets_are_redacted_from_logs_and_publics_are_not(tcp: Settings) -> None:
    values = tcp.secret_values()
    assert os.environ["MM_BUS_CURVE_RISK_SECRET"] in values
    assert os.environ["MM_BUS_CURVE_RISK_PUBLIC"] not in values


def test_a_service_over_tcp_without_its_keys_exits_at_start_naming_them(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_BUS__TRANSPORT", "tcp")
    monkeypatch.setenv("MM_BUS_SECRET", BUS_SECRET)
    done = subprocess.run(
        [sys.executable, "-m", "services.recorder"], cwd=PROJECT, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"MM_BUS_CURVE_RECORDER_SECRET" in done.stderr and b"MM_BUS_CURVE_MMCTL_PUBLIC" in done.stderr
    assert SECRET not in done.stderr + done.stdout


# ---- commands ----------------------------------------------------------------------------------


async def _served(
    ctx: zmq.asyncio.Context, ep: str, service: str, handled: list[str], **kw: Any
) -> CommandServer:
    async def answer(req: Request) -> Reply:
        handled.append(req.id)
        return Reply(id=req.id, ok=True, service=service)

    server = CommandServer(ctx, ep, service, answer, secret=SECRET, **kw)
    server.start()
    return server


async def _exchange(ctx: zmq.asyncio.Context, ep: str, frames: list[bytes]) -> Reply:
    sock = ctx.socket(zmq.REQ)
    sock.connect(ep)
    try:
        await sock.send_multipart(frames)
        answer = await asyncio.wait_for(sock.recv_multipart(), 5)
        return CommandCodec().decode_reply(answer[-1])
    finally:
        sock.close(linger=0)


def _signed(request_id: str, target: str, deadline_s: float = 30.0) -> list[bytes]:
    payload = CommandCodec().encode(
        Request(
            id=request_id,
            sender="captured",
            deadline_ns=time.time_ns() + int(deadline_s * 1e9),
            cmd=GetStatus(),
            target=target,
        )
    )
    return [sign(SECRET, payload), payload]


def test_a_request_signed_for_one_service_is_refused_by_another(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        handled: list[str] = []
        a = await _served(ctx, _ep(tmp_path, "a.cmd"), "svc-a", handled)
        b = await _served(ctx, _ep(tmp_path, "b.cmd"), "svc-b", handled)
        frames = _signed("for-a", "svc-a")
        assert (await _exchange(ctx, _ep(tmp_path, "a.cmd"), frames)).ok
        at_b = await _exchange(ctx, _ep(tmp_path, "b.cmd"), frames)
        assert not at_b.ok and "request addressed to svc-a" in at_b.error
        no_target = await _exchange(ctx, _ep(tmp_path, "b.cmd"), _signed("for-nobody", ""))
        assert not no_target.ok and "request addressed to" in no_target.error
        client = CommandClient(ctx, _ep(tmp_path, "b.cmd"), "t", secret=SECRET, timeout_s=5, target="svc-a")
        misrouted = await client.request(GetStatus())
        assert not misrouted.ok and "request addressed to svc-a" in misrouted.error
        assert handled == ["for-a"]
        client.close()
        await a.close()
        await b.close()
        ctx.destroy(linger=0)

    run(go())


class _FakeServer:
    """A ROUTER that answers each request in the way the test says: signed, unsigned, tampered."""

    def __init__(self, ctx: zmq.asyncio.Context, ep: str) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.bind(ep)
        self.mode = "signed"
        self.codec = CommandCodec()
        self.task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            ident, _, *body = await self.sock.recv_multipart()
            req = self.codec.decode_request(body[-1])
            await self.sock.send_multipart([ident, b"", *self._frames(req)])

    def _frames(self, req: Request) -> list[bytes]:
        good = self.codec.encode(Reply(id=req.id, ok=True, service="svc", result="done"))
        if self.mode == "unsigned":
            return [good]
        if self.mode == "tampered":
            forged = self.codec.encode(Reply(id=req.id, ok=True, service="svc", result="forged"))
            return [sign_reply(SECRET, req.id, good), forged]
        if self.mode == "other-request":  # a genuine reply, captured from another exchange
            old = self.codec.encode(Reply(id="earlier", ok=True, service="svc", result="done"))
            return [sign_reply(SECRET, "earlier", old), old]
        return [sign_reply(SECRET, req.id, good), good]

    async def close(self) -> None:
        self.task.cancel()
        self.sock.close(linger=0)


def test_an_unsigned_or_tampered_reply_is_refused_by_the_client_and_counted(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        ep = _ep(tmp_path, "fake.cmd")
        server = _FakeServer(ctx, ep)
        client = CommandClient(ctx, ep, "reply-test", secret=SECRET, timeout_s=5, target="svc")
        assert (await client.request(GetStatus())).result == "done"  # the fake signs correctly
        before = REPLIES_REFUSED.labels("reply-test", ep)._value.get()
        for mode, why in (
            ("unsigned", "unsigned"),
            ("tampered", "signature"),
            ("other-request", "signature"),
        ):
            server.mode = mode
            with pytest.raises(RequestRefused) as exc:
                await client.request(GetStatus())
            assert why in str(exc.value) and "outcome of GetStatus is unknown" in str(exc.value)
        assert client.replies_refused == 3
        assert REPLIES_REFUSED.labels("reply-test", ep)._value.get() == before + 3
        client.close()
        await server.close()
        ctx.destroy(linger=0)

    run(go())


def test_a_request_replayed_to_a_restarted_server_within_its_deadline_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        ep, replay = _ep(tmp_path, "svc.cmd"), tmp_path / "run" / "svc.replay"
        handled: list[str] = []
        frames = _signed("captured-once", "svc")
        first = await _served(ctx, ep, "svc", handled, replay_file=replay)
        assert (await _exchange(ctx, ep, frames)).ok
        await first.close()
        restarted = await _served(ctx, ep, "svc", handled, replay_file=replay)
        again = await _exchange(ctx, ep, frames)
        assert not again.ok and "replayed request id" in again.error
        assert (await _exchange(ctx, ep, _signed("fresh", "svc"))).ok
        assert handled == ["captured-once", "fresh"]
        await restarted.close()
        ctx.destroy(linger=0)

    run(go())


def test_the_replay_file_keeps_only_live_ids_after_a_restart(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        replay = tmp_path / "svc.replay"
        now = time.time_ns()
        replay.write_text(f'["expired",{now - 10**9}]\n["live",{now + 60 * 10**9}]\n["torn-by-a-cr')
        server = await _served(ctx, _ep(tmp_path, "svc.cmd"), "svc", [], replay_file=replay)
        assert replay.read_text() == f'["live",{now + 60 * 10**9}]\n'
        await server.close()
        ctx.destroy(linger=0)

    run(go())


# ---- mmctl keys --------------------------------------------------------------------------------


def _keys(*argv: str) -> int:
    with pytest.raises(SystemExit) as exc:
        cli.main(["keys", *argv])
    return int(exc.value.code or 0)


def _parse(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {k: v.strip("'") for k, v in pairs}


def test_mmctl_keys_out_writes_a_0600_file_and_refuses_to_overwrite_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bus.env"
    assert _keys("--out", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = out.read_text()
    values = _parse(first)
    for ident in IDENTITIES:
        public, secret = (
            values[f"MM_BUS_CURVE_{ident.upper()}_PUBLIC"],
            values[f"MM_BUS_CURVE_{ident.upper()}_SECRET"],
        )
        assert len(public) == 40 and zmq.curve_public(secret.encode()) == public.encode()
    assert len(values["MM_BUS_SECRET"]) >= 32
    assert secret not in capsys.readouterr().out  # only the file holds them

    assert _keys("--out", str(out)) != 0
    assert out.read_text() == first
    out.chmod(0o644)
    assert _keys("--out", str(out), "--force") == 0
    assert out.read_text() != first and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_mmctl_keys_output_is_what_the_bus_over_tcp_loads(
    run_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _keys() == 0
    for k, v in _parse(capsys.readouterr().out).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MM_BUS__TRANSPORT", "tcp")
    keys = load_settings().curve_keys("mmctl")
    assert keys is not None and keys.public.decode() == os.environ["MM_BUS_CURVE_MMCTL_PUBLIC"]
