"""CURVE keys of the bus: their environment variables, validation and generation.

Over tcp every bus socket is encrypted and authenticated with CURVE (ZeroMQ's CurveZMQ). Each
identity (every service, plus ``mmctl``) has a key pair, Z85 text as ``zmq.curve_keypair()``
gives it, and the keys come from the environment only:

* ``MM_BUS_CURVE_<IDENTITY>_PUBLIC``: every process needs the public key of every identity
  (servers check clients against them, clients check the server they connect to);
* ``MM_BUS_CURVE_<IDENTITY>_SECRET``: a process needs only its own.

Nothing here logs or formats a key value: errors name the variable, never its content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import zmq
from zmq.utils import z85

VARIABLE = re.compile(r"^MM_BUS_CURVE_([A-Z0-9_]+)_(PUBLIC|SECRET)$")
"""The form of every CURVE key variable; the group is the identity in upper case."""

KEY_LENGTH = 40  # Z85 text of a 32-byte Curve25519 key


class CurveKeyError(ValueError):
    """Keys that cannot be used; the text names the variables, never their values."""


def _token(identity: str) -> str:
    """An identity as it appears in a variable name: ``gateway-b`` is ``GATEWAY_B``."""
    return identity.upper().replace("-", "_")


def public_var(identity: str) -> str:
    """``MM_BUS_CURVE_<IDENTITY>_PUBLIC``, the variable holding ``identity``'s public key."""
    return f"MM_BUS_CURVE_{_token(identity)}_PUBLIC"


def secret_var(identity: str) -> str:
    """``MM_BUS_CURVE_<IDENTITY>_SECRET``, the variable holding ``identity``'s secret key."""
    return f"MM_BUS_CURVE_{_token(identity)}_SECRET"


def curve_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The CURVE key variables present in ``environ`` (empty values left out)."""
    return {k: v for k, v in environ.items() if VARIABLE.match(k) and v}


def is_key(text: str) -> bool:
    """Whether ``text`` is the Z85 form of a 32-byte key."""
    if len(text) != KEY_LENGTH:
        return False
    try:
        return len(z85.decode(text)) == 32
    except (ValueError, KeyError, UnicodeEncodeError):
        return False


def problems(values: Mapping[str, str], identities: Iterable[str]) -> list[str]:
    """What is wrong with the key variables that are set: unknown identities, malformed keys,
    secrets that do not belong to their public key. One line per variable, no values."""
    known = {_token(i) for i in identities}
    out = []
    for var, text in sorted(values.items()):
        m = VARIABLE.match(var)
        if m is None:
            continue
        if m.group(1) not in known:
            out.append(f"{var}: no such bus identity (known: {', '.join(sorted(known))})")
        elif not is_key(text):
            out.append(f"{var}: not a Z85 CURVE key ({KEY_LENGTH} characters, as `mmctl keys` makes)")
    for ident in sorted(known):
        pub, sec = values.get(f"MM_BUS_CURVE_{ident}_PUBLIC"), values.get(f"MM_BUS_CURVE_{ident}_SECRET")
        if pub and sec and is_key(pub) and is_key(sec) and zmq.curve_public(sec.encode()) != pub.encode():
            out.append(f"MM_BUS_CURVE_{ident}_SECRET does not belong to MM_BUS_CURVE_{ident}_PUBLIC")
    return out


@dataclass(frozen=True)
class CurveKeys:
    """One process's CURVE identity: its key pair and every known identity's public key (Z85)."""

    identity: str
    public: bytes
    secret: bytes = field(repr=False)
    peers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def allowed(self) -> frozenset[bytes]:
        """The public keys a server lets in: those of every known identity."""
        return frozenset(self.peers.values())


def keys_for(identity: str, values: Mapping[str, str], identities: Iterable[str]) -> CurveKeys:
    """``identity``'s keys from the variables in ``values``.

    Raises :class:`CurveKeyError` naming every missing variable: its own secret and the public
    key of every identity (a server admits exactly those, a client checks the one it dials).
    """
    names = list(identities)
    if identity not in names:
        raise CurveKeyError(f"{identity!r} is not a bus identity (known: {', '.join(names)})")
    needed = [secret_var(identity)] + [public_var(i) for i in names]
    missing = [v for v in needed if not values.get(v)]
    if missing:
        raise CurveKeyError(
            f"the bus over tcp needs CURVE keys in the environment; missing: {', '.join(missing)} "
            f"(`mmctl keys` makes them)"
        )
    bad = problems({v: values[v] for v in needed}, names)
    if bad:
        raise CurveKeyError("bad CURVE keys: " + "; ".join(bad))
    peers = {i: values[public_var(i)].encode() for i in names}
    return CurveKeys(
        identity=identity,
        public=peers[identity],
        secret=values[secret_var(identity)].encode(),
        peers=peers,
    )


def generate(identities: Iterable[str]) -> list[tuple[str, str]]:
    """A fresh key pair per identity, as ``(variable, Z85 value)`` pairs: public, then secret."""
    out = []
    for ident in identities:
        public, secret = zmq.curve_keypair()
        out += [(public_var(ident), public.decode()), (secret_var(ident), secret.decode())]
    return out
