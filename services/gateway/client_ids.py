"""Client order ids: deterministic, unique per session, readable, and safe on every Binance venue.

Scheme (every field lower-case base36 except the prefix and the symbol code)::

    {prefix}-{session}-{symbol code}-{b|s}{layer}-{seq}      e.g.  mm-1kz3f0a-ETHUSDC-b0-2s

* ``prefix``: 1 to 4 letters (config); it is how the gateway recognises its own orders on start-up.
* ``session``: base36 of the start time in centiseconds since 2024-01-01 (7 characters until 2048),
  so a restarted gateway is a new session and never reuses an id of the previous one.
* ``symbol code``: the symbol itself when it is ASCII alphanumeric and short enough; otherwise its
  first alphanumeric characters, ``_`` and a 4-character hash of the whole name (long names and
  Chinese-character symbols both fit).
* ``b``/``s`` and the layer (base36, at most ``zz`` = 1295; ``_`` = none, e.g. a flatten order;
  not a base36 digit, so no layer number can be read as "none").
* ``seq``: base36 counter of the session, from 1.

Every id matches ``^[A-Za-z0-9_-]{1,36}$``, the intersection of the spot and futures rules
(reference A.2, B.2). The symbol code's length is fixed per (prefix, session), computed for the
longest layer and a 6-character sequence (2.2 billion orders), so no id ever exceeds 36 characters.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from common.messages import Side

MAX_LEN = 36
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
SESSION_EPOCH_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
NO_LAYER = -1
MAX_LAYER = 36 * 36 - 1
_SEQ_RESERVE = 6
_LAYER_RESERVE = 2
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PREFIX_RE = re.compile(r"^[A-Za-z]{1,4}$")
_SESSION_RE = re.compile(r"^[0-9a-z]{1,8}$")
_B36_RE = re.compile(r"^[0-9a-z]+$")


class ParsedId(NamedTuple):
    """The fields of one of our client ids."""

    session: str
    symbol_code: str
    side: Side
    layer: int
    seq: int


def base36(n: int) -> str:
    """A non-negative integer in lower-case base36."""
    if n < 0:
        raise ValueError("base36 of a negative number")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def new_session(now_ns: int) -> str:
    """A session name from the start time: centiseconds since 2024-01-01, base36."""
    return base36(max(0, now_ns - SESSION_EPOCH_NS) // 10_000_000)


def symbol_code(symbol: str, max_len: int) -> str:
    """The symbol as it appears in ids: itself if ASCII alphanumeric and short, else compressed."""
    if symbol.isascii() and symbol.isalnum() and len(symbol) <= max_len:
        return symbol
    digest = int.from_bytes(hashlib.blake2s(symbol.encode()).digest()[:4], "big")
    tag = base36(digest % 36**4).rjust(4, "0")
    head = "".join(c for c in symbol if c.isascii() and c.isalnum())[: max(0, max_len - 5)]
    return f"{head}_{tag}"


class ClientIds:
    """The id factory of one session; ``next`` is the only stateful call (the sequence)."""

    def __init__(self, prefix: str, session: str, start_seq: int = 1) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"client id prefix {prefix!r} must be 1 to 4 letters")
        if not _SESSION_RE.match(session):
            raise ValueError(f"session {session!r} must be 1 to 8 lower-case base36 characters")
        self.prefix = prefix
        self.session = session
        self.seq = start_seq
        fixed = len(prefix) + len(session) + 4 + 1 + _LAYER_RESERVE + _SEQ_RESERVE
        self.symbol_len = MAX_LEN - fixed
        self._codes: dict[str, str] = {}

    def code(self, symbol: str) -> str:
        """The symbol code this session uses for ``symbol``."""
        c = self._codes.get(symbol)
        if c is None:
            c = self._codes[symbol] = symbol_code(symbol, self.symbol_len)
        return c

    def next(self, symbol: str, side: Side, layer: int) -> str:
        """A new id; a layer outside 0..1295 is written ``_`` (no layer) rather than refused."""
        lay = base36(layer) if 0 <= layer <= MAX_LAYER else "_"
        cid = f"{self.prefix}-{self.session}-{self.code(symbol)}-{side[0].lower()}{lay}-{base36(self.seq)}"
        self.seq += 1
        return cid

    def parse(self, cid: str) -> ParsedId | None:
        """The fields of an id with this factory's prefix (any session), or None."""
        return parse(cid, self.prefix)

    def is_ours(self, cid: str) -> bool:
        """Whether ``cid`` carries our prefix (this or an earlier session)."""
        return parse(cid, self.prefix) is not None

    def is_this_session(self, cid: str) -> bool:
        """Whether ``cid`` was made by this very session."""
        p = parse(cid, self.prefix)
        return p is not None and p.session == self.session


def parse(cid: str, prefix: str = "mm") -> ParsedId | None:
    """The fields of one of our ids (``prefix``), or None for anything else (manual, liquidation)."""
    if not ID_RE.match(cid):
        return None
    parts = cid.split("-")
    if len(parts) != 5 or parts[0] != prefix:
        return None
    _, session, code, side_layer, seq = parts
    if not _SESSION_RE.match(session) or not code or not _B36_RE.match(seq) or len(side_layer) < 2:
        return None
    side_ch, lay = side_layer[0], side_layer[1:]
    if side_ch not in "bs" or not (lay == "_" or _B36_RE.match(lay)):
        return None
    layer = NO_LAYER if lay == "_" else int(lay, 36)
    return ParsedId(session, code, "BUY" if side_ch == "b" else "SELL", layer, int(seq, 36))
