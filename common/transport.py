"""How bus sockets bind and connect: ipc directories, and CURVE with ZAP over tcp.

A process that runs the bus over tcp *secures* its ZeroMQ context once with its CURVE keys
(:func:`secure`). Every bus socket made from that context afterwards, whatever module makes it
(the runtime, ``mmctl tap``, a test), binds and connects through :func:`bind` and
:func:`connect`, which add CURVE on tcp endpoints:

* a server socket (PUB, ROUTER) is a CURVE server with the process's secret key, and a ZAP
  handler (pyzmq's thread authenticator, started with the first server socket) admits only
  clients whose public key is one of the known identities';
* a client socket (SUB, REQ) presents the process's key pair and, per connect, the public key of
  the service that binds that endpoint, so the handshake proves it talks to that service.
  ZeroMQ copies socket options at connect time: setting ``CURVE_SERVERKEY`` before each
  ``connect()`` lets one SUB socket dial several publishers, each checked against its own key.

The security lives with the context because ZAP does: libzmq asks the handler bound in the
socket's own context. ipc endpoints are unchanged (no CURVE, no handler, no cost).

Stopping never waits without end: the authenticator thread gets a bounded join
(:meth:`BusSecurity.close`), and :func:`terminate` closes a context's sockets, its shadows'
included, before a bounded wait for ``zmq_ctx_term``.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import zmq
from prometheus_client import Counter
from zmq.auth.thread import ThreadAuthenticator

from common.config import Settings
from common.curve import CurveKeys
from common.logging import log

CURVE_DENIED = Counter(
    "mm_bus_curve_denied_total",
    "Connections refused by ZAP: the client's CURVE public key is not a known bus identity",
    ["service"],
)

AUTH_STOP_TIMEOUT_S = 5.0
"""How long :meth:`BusSecurity.close` waits for the authenticator thread to end."""

TERM_TIMEOUT_S = 10.0
"""How long :func:`terminate` waits for ``zmq_ctx_term``."""

# Sockets of authenticators whose thread did not stop: never closed from another thread (not
# thread-safe), and kept referenced so that no finaliser closes them either.
_STUCK: list[Any] = []

# By the address of the libzmq context (shadows share it), with the context object itself: once
# that is closed the address may be reused by a new context, which must not inherit the entry.
_SECURED: dict[int, tuple[BusSecurity, zmq.Context[Any]]] = {}


class BusSecurity:
    """CURVE for the bus sockets of one ZeroMQ context: its keys and who binds which endpoint."""

    def __init__(self, keys: CurveKeys, binders: dict[str, str]) -> None:
        self.keys = keys
        self._binders = binders  # endpoint -> identity that binds it
        self._auth: ThreadAuthenticator | None = None
        self._denied_logged: set[bytes] = set()

    @classmethod
    def for_settings(cls, settings: Settings, keys: CurveKeys) -> BusSecurity:
        """Security whose endpoint owners are the configured services' PUB and command endpoints."""
        binders = {settings.pub_endpoint(s): s for s in settings.services}
        binders.update({settings.cmd_endpoint(s): s for s in settings.services})
        return cls(keys, binders)

    def serve(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` a CURVE server with this identity's keys, behind the ZAP allow-list."""
        self._start_authenticator(sock.context)
        sock.curve_secretkey = self.keys.secret
        sock.curve_publickey = self.keys.public
        sock.curve_server = True

    def dial(self, sock: zmq.Socket[Any], endpoint: str) -> None:
        """Set ``sock``'s CURVE client keys for the service bound at ``endpoint`` (before connect)."""
        identity = self._binders.get(endpoint)
        if identity is None:
            raise ValueError(f"no CURVE server key for {endpoint}: not a configured bus endpoint")
        sock.curve_secretkey = self.keys.secret
        sock.curve_publickey = self.keys.public
        sock.curve_serverkey = self.keys.peers[identity]

    def _start_authenticator(self, ctx: zmq.Context[Any]) -> None:
        # Started with the first server socket, not before: a client-only process (mmctl) runs
        # no authenticator thread, and its context can be destroyed without stopping one.
        if self._auth is not None:
            return
        auth = ThreadAuthenticator(zmq.Context.shadow(ctx.underlying))
        try:
            auth.start()
            auth.configure_curve_callback(domain="*", credentials_provider=self)
        except Exception:
            _stop_authenticator(auth, AUTH_STOP_TIMEOUT_S)  # its sockets would hold the context open
            raise
        self._auth = auth

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP's question for each CURVE client: is ``key`` (Z85) a known identity's public key?"""
        if key in self.keys.allowed:
            return True
        CURVE_DENIED.labels(self.keys.identity).inc()
        if key not in self._denied_logged:  # a public key is not a secret: name it for the operator
            self._denied_logged.add(key)
            log.warning("bus_curve_client_refused", public_key=key.decode(errors="replace"))
        return False

    def close(self, timeout_s: float = AUTH_STOP_TIMEOUT_S) -> bool:
        """Stop the authenticator and forget the context (before the context is destroyed).

        False when the authenticator thread did not end within ``timeout_s`` (logged): its
        sockets are then left open, and terminating the context cannot finish.
        """
        stopped = True
        if self._auth is not None:
            stopped = _stop_authenticator(self._auth, timeout_s)
            self._auth = None
        for addr, (sec, _ctx) in list(_SECURED.items()):
            if sec is self:
                del _SECURED[addr]
        return stopped


def _stop_authenticator(auth: ThreadAuthenticator, timeout_s: float) -> bool:
    """Stop ``auth``'s thread, waiting at most ``timeout_s``, then close its pipe and ZAP socket.

    Not ``ThreadAuthenticator.stop()``: that sends on a blocking PAIR socket (which blocks for
    ever once the thread has died and closed the other end) and joins the thread without a timeout.
    """
    thread, pipe = auth.thread, auth.pipe
    if thread is not None and thread.is_alive():
        with contextlib.suppress(zmq.ZMQError):  # Again: the thread no longer reads its pipe
            pipe.send(b"TERMINATE", zmq.NOBLOCK)
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("bus_authenticator_stuck", timeout_s=timeout_s)
            _STUCK.append((thread, pipe, auth.zap_socket))
            auth.thread, auth.pipe, auth.zap_socket = None, None, None  # type: ignore[assignment]
            return False
    auth.thread, auth.pipe = None, None  # type: ignore[assignment]
    if pipe is not None:
        pipe.close(linger=0)
    auth.stop()  # with no pipe left, only closes the ZAP socket
    return True


def terminate(ctx: zmq.Context[Any], *shadows: zmq.Context[Any], timeout_s: float = TERM_TIMEOUT_S) -> bool:
    """Close every socket of ``ctx`` and of its ``shadows`` (linger 0), then terminate ``ctx``.

    ``zmq_ctx_term`` waits, without end, until every socket of the libzmq context is closed,
    those made from a shadow too, which ``ctx.destroy()`` does not know of. The wait runs in a
    daemon thread joined for at most ``timeout_s``: False (logged) when it did not end, as when
    a socket is still open somewhere (a shadow not passed here) or the authenticator is stuck.
    Stop the context's :class:`BusSecurity` first.
    """
    if ctx.closed:
        return True
    for c in (*shadows, ctx):
        for sock in list(c._sockets):
            if not sock.closed:
                sock.close(linger=0)
    ended = threading.Event()

    def term() -> None:
        try:
            ctx.term()
        except zmq.ZMQError as exc:
            log.error("bus_context_term_failed", error=str(exc))
        finally:
            ended.set()

    threading.Thread(target=term, name="zmq-context-term", daemon=True).start()
    if ended.wait(timeout_s):
        return True
    log.error("bus_context_term_stuck", timeout_s=timeout_s)
    return False


def secure(ctx: zmq.Context[Any], security: BusSecurity) -> BusSecurity:
    """Give ``ctx`` (and every shadow of it) this CURVE identity for its tcp bus sockets."""
    addr = ctx.underlying
    if _lookup(addr) is not None:
        raise RuntimeError("this ZeroMQ context already has a bus identity")
    _SECURED[addr] = (security, ctx)
    return security


def secure_for(ctx: zmq.Context[Any], settings: Settings, identity: str) -> BusSecurity | None:
    """Secure ``ctx`` as ``identity`` when the bus runs over tcp; None (nothing to do) over ipc.

    Raises :class:`~common.config.ConfigError` naming any missing CURVE key variable.
    """
    keys = settings.curve_keys(identity)
    if keys is None:
        return None
    return secure(ctx, BusSecurity.for_settings(settings, keys))


def security_of(sock: zmq.Socket[Any]) -> BusSecurity | None:
    """The security of the context ``sock`` was made from, if it has one."""
    return _lookup(sock.context.underlying)


def _lookup(addr: int) -> BusSecurity | None:
    entry = _SECURED.get(addr)
    if entry is None:
        return None
    if entry[1].closed:  # a context destroyed without closing its security: forget it
        del _SECURED[addr]
        return None
    return entry[0]


def bind(sock: zmq.Socket[Any], endpoint: str) -> None:
    """Bind a server socket: make an ipc directory, or be a CURVE server on a secured tcp one."""
    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://") :]).parent.mkdir(parents=True, exist_ok=True)
    elif endpoint.startswith("tcp://"):
        sec = security_of(sock)
        if sec is not None:
            sec.serve(sock)
    sock.bind(endpoint)


def connect(sock: zmq.Socket[Any], endpoint: str) -> None:
    """Connect a client socket, as a CURVE client of the endpoint's service on a secured tcp one."""
    if endpoint.startswith("tcp://"):
        sec = security_of(sock)
        if sec is not None:
            sec.dial(sock, endpoint)
    sock.connect(endpoint)
