"""The command channel: REQ clients and a ROUTER server carrying :class:`Request` / :class:`Reply`.

Every request has an id, the service it is for (``target``) and an absolute deadline; a client
whose request timed out closes and rebuilds its socket (the lazy-pirate rule), so a lost reply
can never wedge it.

With a bus secret (required over tcp) both directions are signed with HMAC-SHA256:

* a request is ``[mac, payload]``, ``mac = HMAC(secret, payload)``; the payload names its target,
  so a request signed for one service is refused by every other;
* a reply is ``[mac, payload]``, ``mac = HMAC(secret, "reply" + len(id) + id + payload)`` over the
  request's id, so a reply can be neither forged nor passed off as the answer to another request.

The server refuses a missing or bad HMAC, a request addressed to another service, a deadline
already past or too far ahead, and an id it has already served: its replay memory
(:mod:`common.replay`) is kept in a file, so a restart does not reopen the door.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio
from prometheus_client import Counter

from common import metrics, transport
from common.codec import CommandCodec, DecodeError
from common.logging import log
from common.messages import AnyCommand, Reply, Request
from common.replay import ReplayMemory

CommandHandler = Callable[[Request], Awaitable[Reply]]

REPLIES_REFUSED = Counter(
    "mm_bus_replies_refused_total",
    "Command replies a client refused: unsigned, or failing their signature (outcome unknown)",
    ["service", "target"],
)


class RequestTimeout(TimeoutError):
    """A request got no reply before its deadline; the client socket has been rebuilt."""


class RequestRefused(RuntimeError):
    """The server answered with ``ok = false`` (``reply.error`` says why), or its reply could not
    be trusted (unsigned, badly signed, undecodable): then the command's outcome is unknown."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.error)
        self.reply = reply


def sign(secret: bytes, payload: bytes) -> bytes:
    """HMAC-SHA256 of a request payload."""
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign_reply(secret: bytes, request_id: str, payload: bytes) -> bytes:
    """HMAC-SHA256 of a reply payload bound to the id of the request it answers.

    The ``reply`` prefix keeps a reply's MAC from ever passing as a request's; the length
    prefix keeps the id and the payload from running into each other.
    """
    rid = request_id.encode()
    return hmac.new(secret, b"reply" + len(rid).to_bytes(4, "big") + rid + payload, hashlib.sha256).digest()


class CommandServer:
    """A ROUTER socket answering :class:`Request` s; each request runs as its own task.

    ``replay_file`` keeps the replay memory across restarts (used only with a ``secret``: without
    one, anybody can make a fresh request, so remembering ids would protect nothing).
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        service: str,
        handler: CommandHandler,
        secret: bytes | None = None,
        max_clock_skew_s: float = 300.0,
        replay_file: Path | None = None,
    ) -> None:
        self.service = service
        self._handler = handler
        self._secret = secret
        self._skew_ns = int(max_clock_skew_s * 1e9)
        self._codec = CommandCodec()
        self._replay = ReplayMemory(replay_file) if secret is not None else None
        self._sock = ctx.socket(zmq.ROUTER)
        try:
            self._sock.setsockopt(zmq.LINGER, 0)
            transport.bind(self._sock, endpoint)
        except Exception:
            # Nobody else holds these: an open socket would keep zmq_ctx_term waiting for ever.
            self._sock.close(linger=0)
            if self._replay is not None:
                self._replay.close()
            raise
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"{self.service}-commands")

    async def _serve(self) -> None:
        while True:
            try:
                frames = await self._sock.recv_multipart()
            except zmq.ZMQError as exc:
                if exc.errno == zmq.ENOTSOCK:
                    return
                log.warning("command_recv_failed", error=str(exc))
                continue
            t = asyncio.create_task(self._one(frames))
            self._inflight.add(t)
            t.add_done_callback(self._inflight.discard)

    async def _one(self, frames: list[bytes]) -> None:
        # REQ peers: [identity, b"", (mac,) payload]
        if len(frames) < 3 or frames[1] != b"":
            metrics.BUS_DECODE_ERRORS.labels(self.service, "request-frames").inc()
            return
        ident, body = frames[0], frames[2:]
        reply = await self._answer(body)
        try:
            await self._sock.send_multipart([ident, b"", *self._seal(reply)])
        except zmq.ZMQError as exc:
            log.warning("command_reply_failed", error=str(exc))

    def _seal(self, reply: Reply) -> list[bytes]:
        """The reply's frames: with a secret, its MAC over the request id first."""
        payload = self._codec.encode(reply)
        if self._secret is None:
            return [payload]
        return [sign_reply(self._secret, reply.id, payload), payload]

    async def _answer(self, body: list[bytes]) -> Reply:
        payload = self._authenticated(body)
        if payload is None:
            metrics.COMMANDS.labels(self.service, "?", "unauthenticated").inc()
            log.warning("command_unauthenticated")
            return Reply(id="", ok=False, error="unauthenticated: missing or bad HMAC", service=self.service)
        try:
            req = self._codec.decode_request(payload)
        except DecodeError as exc:
            metrics.BUS_DECODE_ERRORS.labels(self.service, "request").inc()
            return Reply(id="", ok=False, error=f"bad request: {exc.detail[:200]}", service=self.service)
        name = type(req.cmd).__name__
        refusal = self._refuse(req)
        if refusal:
            metrics.COMMANDS.labels(self.service, name, "refused").inc()
            return Reply(id=req.id, ok=False, error=refusal, service=self.service)
        reply = await self._run(req, name)
        metrics.COMMANDS.labels(self.service, name, "ok" if reply.ok else "error").inc()
        return reply

    def _authenticated(self, body: list[bytes]) -> bytes | None:
        """The request payload, or None when a secret is set and its HMAC is missing or wrong."""
        if self._secret is None:
            return body[-1]
        if len(body) != 2 or not hmac.compare_digest(body[0], sign(self._secret, body[1])):
            return None
        return body[1]

    async def _run(self, req: Request, name: str) -> Reply:
        try:
            reply = await self._handler(req)
        except Exception as exc:  # noqa: BLE001 - answer every request, whatever the handler did
            log.opt(exception=exc).error("command_failed", command=name)
            return Reply(id=req.id, ok=False, error=f"{type(exc).__name__}: {exc}", service=self.service)
        # The reply is signed over the request's id: it must carry that id, whatever the handler set.
        return reply if reply.id == req.id else msgspec.structs.replace(reply, id=req.id)

    def _refuse(self, req: Request) -> str:
        """Why ``req`` must not run ("" when it may); remembers an accepted signed request's id."""
        now = time.time_ns()
        if self._misaddressed(req):
            return f"request addressed to {req.target or 'no service'}, not to {self.service}"
        if req.deadline_ns < now:
            return "deadline exceeded before the request was handled"
        if self._replay is not None:
            if req.deadline_ns - now > self._skew_ns:
                return "deadline too far in the future (clock skew or replay)"
            if req.id in self._replay:
                return "replayed request id"
            self._replay.remember(req.id, req.deadline_ns, now)
        return ""

    def _misaddressed(self, req: Request) -> bool:
        # Signed requests must name this service (else one signed for another could be replayed
        # here); unsigned ones may leave the target empty, as older clients do.
        if req.target == self.service:
            return False
        return bool(req.target) or self._secret is not None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in list(self._inflight):
            t.cancel()
        self._sock.close(linger=0)
        if self._replay is not None:
            self._replay.close()


class CommandClient:
    """A lazy-pirate REQ client to one service: one request at a time; a timeout rebuilds the socket.

    ``target`` is the service behind ``endpoint``; it goes into every request (and under the
    signature), so the request is good for that service only.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        sender: str,
        secret: bytes | None = None,
        timeout_s: float = 3.0,
        target: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.sender = sender
        self.target = target
        self.timeout_s = timeout_s
        self._ctx = ctx
        self._secret = secret
        self._codec = CommandCodec()
        self._lock = asyncio.Lock()
        self._sock: zmq.asyncio.Socket | None = None
        self.rebuilds = 0
        self.replies_refused = 0

    def _socket(self) -> zmq.asyncio.Socket:
        if self._sock is None:
            s = self._ctx.socket(zmq.REQ)
            try:
                s.setsockopt(zmq.LINGER, 0)
                transport.connect(s, self.endpoint)
            except Exception:
                s.close(linger=0)  # as in CommandServer: an orphan socket blocks zmq_ctx_term
                raise
            self._sock = s
        return self._sock

    def _rebuild(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self.rebuilds += 1

    async def request(self, cmd: AnyCommand, timeout_s: float | None = None) -> Reply:
        """Send ``cmd`` and wait for its reply.

        Raises :class:`RequestTimeout` after the deadline, :class:`RequestRefused` for a reply
        that cannot be trusted; a reply with ``ok = false`` is returned as it is.
        """
        timeout = self.timeout_s if timeout_s is None else timeout_s
        req = Request(
            id=uuid.uuid4().hex,
            sender=self.sender,
            deadline_ns=time.time_ns() + int(timeout * 1e9),
            cmd=cmd,
            target=self.target,
        )
        payload = self._codec.encode(req)
        frames = [sign(self._secret, payload), payload] if self._secret is not None else [payload]
        async with self._lock:
            answer = await self._exchange(frames, timeout)
        return self._open(req, answer)

    async def _exchange(self, frames: list[bytes], timeout: float) -> list[bytes]:
        sock = self._socket()
        try:
            # the send is inside the deadline too: a REQ socket with no peer to send to (the
            # server down, or its CURVE handshake refused our key) blocks the send forever
            async with asyncio.timeout(timeout):
                await sock.send_multipart(frames)
                return await sock.recv_multipart()
        except (TimeoutError, zmq.ZMQError) as exc:
            self._rebuild()
            metrics.REQUEST_TIMEOUTS.labels(self.sender, self.endpoint).inc()
            raise RequestTimeout(f"no reply from {self.endpoint} within {timeout:.3g} s") from exc

    def _open(self, req: Request, frames: list[bytes]) -> Reply:
        """The reply to ``req`` from its frames, checked: signature, decoding, request id."""
        problem = self._seal_problem(req.id, frames)
        if problem:
            raise self._refuse_reply(req, problem, frames[-1])
        try:
            reply = self._codec.decode_reply(frames[-1])
        except DecodeError as exc:
            raise RequestRefused(Reply(id=req.id, ok=False, error=f"bad reply: {exc.detail}")) from exc
        if reply.id and reply.id != req.id:
            self._rebuild()
            raise RequestRefused(Reply(id=req.id, ok=False, error="reply to another request"))
        return reply

    def _seal_problem(self, request_id: str, frames: list[bytes]) -> str:
        """What is wrong with the reply's signature ("" when fine, or when there is no secret)."""
        if self._secret is None:
            return ""
        if len(frames) != 2:
            return "unsigned reply (does the server have MM_BUS_SECRET?)"
        if not hmac.compare_digest(frames[0], sign_reply(self._secret, request_id, frames[1])):
            return "reply fails its signature (tampered with, or signed with another MM_BUS_SECRET)"
        return ""

    def _refuse_reply(self, req: Request, problem: str, payload: bytes) -> RequestRefused:
        self.replies_refused += 1
        REPLIES_REFUSED.labels(self.sender, self.endpoint).inc()
        log.warning("command_reply_refused", endpoint=self.endpoint, problem=problem)
        error = f"{problem} from {self.endpoint}: the outcome of {type(req.cmd).__name__} is unknown"
        return RequestRefused(Reply(id=req.id, ok=False, error=error + self._unverified_text(payload)))

    def _unverified_text(self, payload: bytes) -> str:
        """The untrusted reply's own error, marked as such (it often says why: "unauthenticated")."""
        try:
            said = self._codec.decode_reply(payload).error
        except DecodeError:
            return ""
        return f" (unverified reply text: {said[:200]!r})" if said else ""

    async def call(self, cmd: AnyCommand, timeout_s: float | None = None) -> Any:
        """Like :meth:`request` but returns ``result`` and raises :class:`RequestRefused` if not ok."""
        reply = await self.request(cmd, timeout_s)
        if not reply.ok:
            raise RequestRefused(reply)
        return reply.result

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
