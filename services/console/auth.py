"""Who may use the console: users with a role, passwords, TOTP for operators, sessions.

Users come from the environment only (``MM_CONSOLE_USERS``), one entry per user, separated by
``,``; each entry is ``name:role:scrypt.<salt hex>.<hash hex>[:<TOTP secret, base32>]``.
``mmctl console-user NAME --role operator`` makes an entry (it asks for the password and draws
the TOTP secret). Two roles:

* ``viewer`` sees everything and changes nothing;
* ``operator`` also sends commands (kill, pause, resume, cancel-all, flatten) and edits
  parameters; an operator must have a TOTP secret (RFC 6238: 30 s steps, 6 digits, HMAC-SHA1,
  what authenticator apps use) and gives the current code at login.

A login makes a session: a random 32-byte token in an ``HttpOnly; SameSite=Strict`` cookie, kept
in memory (a console restart logs everyone out), valid for ``SESSION_S``. Five failed logins
for a name within a minute lock that name for the rest of the minute. A TOTP code is accepted
once (a replayed code is refused) within one step either side of now.

Pure: no I/O; the clock is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, field
from typing import Literal

from common.config import ConfigError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
SESSION_S = 12 * 3600.0
LOCK_AFTER = 5
LOCK_WINDOW_S = 60.0
TOTP_STEP_S = 30
TOTP_DIGITS = 6
# scrypt cost: n=2**14, r=8, p=1 (RFC 7914's interactive-login figure), 16 MiB and ~50 ms a check
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 2**20}


def hotp(secret: bytes, counter: int, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 §5.3: HMAC the 8-byte counter, dynamic truncation, the low ``digits`` digits."""
    mac = hmac.new(secret, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp(secret: bytes, unix_s: float, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """RFC 6238: HOTP of the number of ``TOTP_STEP_S`` steps since the epoch."""
    return hotp(secret, int(unix_s // TOTP_STEP_S), digits, digest)


def b32decode(text: str) -> bytes:
    """A base32 TOTP secret as authenticator apps write it: any case, spaces, no padding."""
    clean = text.replace(" ", "").upper()
    return base64.b32decode(clean + "=" * (-len(clean) % 8))


def new_totp_secret() -> str:
    """A fresh 160-bit TOTP secret in base32 (RFC 4226 recommends 160 bits)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def otpauth_uri(name: str, secret_b32: str, issuer: str = "mm-console") -> str:
    """The ``otpauth://`` URI an authenticator app scans (Google Authenticator's key URI format)."""
    return f"otpauth://totp/{issuer}:{name}?secret={secret_b32}&issuer={issuer}&digits={TOTP_DIGITS}&period={TOTP_STEP_S}"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt.<salt hex>.<hash hex>``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt.{salt.hex()}.{digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, salt, want = stored.split(".")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(got.hex(), want)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    totp_secret: bytes | None = field(default=None, repr=False)


def user_entry(name: str, role: Role, password: str, totp_b32: str | None) -> str:
    """One ``MM_CONSOLE_USERS`` entry (what ``mmctl console-user`` prints)."""
    parts = [name, role, hash_password(password)] + ([totp_b32] if totp_b32 else [])
    return ":".join(parts)


def parse_users(text: str) -> dict[str, User]:
    """``MM_CONSOLE_USERS`` read into users; :class:`ConfigError` names the entry (never a secret)."""
    users: dict[str, User] = {}
    for i, entry in enumerate(e.strip() for e in text.split(",")):
        if not entry:
            continue
        where = f"MM_CONSOLE_USERS entry {i + 1}"
        parts = entry.split(":")
        if len(parts) not in (3, 4):
            raise ConfigError(f"{where}: want name:role:scrypt-hash[:totp-secret] ({len(parts)} fields)")
        name, role, pw = parts[0], parts[1], parts[2]
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"{where}: the name must be letters, digits, '-', '_' or '.'")
        where = f"MM_CONSOLE_USERS user {name!r}"
        if name in users:
            raise ConfigError(f"{where} appears twice")
        if role not in ROLES:
            raise ConfigError(f"{where}: role must be viewer or operator, not {role!r}")
        h = pw.split(".")
        if len(h) != 3 or h[0] != "scrypt" or not _is_hex(h[1]) or len(h[2]) != 64 or not _is_hex(h[2]):
            raise ConfigError(f"{where}: the password must be a scrypt hash from `mmctl console-user`")
        secret: bytes | None = None
        if len(parts) == 4 and parts[3]:
            try:
                secret = b32decode(parts[3])
            except ValueError:
                raise ConfigError(f"{where}: the TOTP secret is not base32") from None
            if len(secret) < 10:
                raise ConfigError(f"{where}: the TOTP secret is shorter than 80 bits")
        if role == "operator" and secret is None:
            raise ConfigError(f"{where}: an operator needs a TOTP secret (second factor)")
        users[name] = User(name, role, pw, secret)
    return users


def _is_hex(s: str) -> bool:
    try:
        bytes.fromhex(s)
    except ValueError:
        return False
    return bool(s)


@dataclass
class Session:
    user: str
    role: Role
    expires: float


class Login:
    """Users, sessions and failed-login locks; the clock comes in with each call."""

    def __init__(self, users: dict[str, User]) -> None:
        self.users = users
        self.sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._used_codes: dict[str, int] = {}  # user -> last accepted TOTP step

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def login(self, name: str, password: str, code: str, now: float) -> tuple[str | None, str]:
        """A session token, or None and why (the same words for an unknown name and a bad
        password, so a login does not tell which names exist)."""
        recent = [t for t in self._failures.get(name, []) if now - t < LOCK_WINDOW_S]
        self._failures[name] = recent
        if len(recent) >= LOCK_AFTER:
            return None, "locked"
        user = self.users.get(name)
        if user is None or not check_password(password, user.password_hash):
            recent.append(now)
            return None, "bad_password"
        if user.totp_secret is not None:
            step = self._totp_step(user, code, now)
            if step is None:
                recent.append(now)
                return None, "bad_totp"
            self._used_codes[name] = step
        self._failures.pop(name, None)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(user.name, user.role, now + SESSION_S)
        self._expire(now)
        return token, "ok"

    def _totp_step(self, user: User, code: str, now: float) -> int | None:
        assert user.totp_secret is not None
        step = int(now // TOTP_STEP_S)
        for s in (step, step - 1, step + 1):
            if s <= self._used_codes.get(user.name, -1):
                continue  # a code once used (or an older one) is not accepted again
            if hmac.compare_digest(hotp(user.totp_secret, s), code.strip()):
                return s
        return None

    def session(self, token: str | None, now: float) -> Session | None:
        if not token:
            return None
        s = self.sessions.get(token)
        if s is None or s.expires <= now:
            self.sessions.pop(token or "", None)
            return None
        return s

    def logout(self, token: str | None) -> None:
        self.sessions.pop(token or "", None)

    def _expire(self, now: float) -> None:
        for t in [t for t, s in self.sessions.items() if s.expires <= now]:
            del self.sessions[t]
