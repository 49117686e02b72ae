"""Replay memory of a command server: the request ids it has served, kept until their deadlines.

A signed request can be captured and sent again; the server refuses an id it has seen. The
memory must outlive the process (supervisord restarts a killed service within a second, well
inside a request's deadline), so every remembered id is appended to a small file under the run
directory, ``<run_dir>/<service>.replay``, one JSON array ``["<request id>", <deadline_ns>]`` per
line. On start the file is read, expired entries dropped and the rest rewritten (compacted);
it is compacted again whenever enough lines have been appended. A write reaches the kernel at
once (it survives the process being killed), without an fsync per request: losing the last
few ids needs the host itself to crash, and requests expire within minutes anyway.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import msgspec

from common.logging import log

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(tuple[str, int]).decode


class ReplayMemory:
    """Ids seen with their deadlines, in memory and, when ``path`` is given, in a file."""

    def __init__(
        self, path: Path | None = None, max_entries: int = 100_000, compact_every: int = 10_000
    ) -> None:
        self.path = path
        self._max = max_entries
        self._compact_every = compact_every
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._appended = 0
        self._file: BinaryIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._load(path, time.time_ns())
            self._compact()

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._seen

    def remember(self, request_id: str, deadline_ns: int, now_ns: int) -> None:
        """Keep ``request_id`` until ``deadline_ns``; drop what has expired; persist the entry."""
        self._seen[request_id] = deadline_ns
        self._expire(now_ns)
        if self._file is None:
            return
        self._file.write(_encode((request_id, deadline_ns)) + b"\n")
        self._appended += 1
        if self._appended >= self._compact_every:
            self._compact()

    def _expire(self, now_ns: int) -> None:
        # Insertion order is close to deadline order (every client uses a few seconds): drop from
        # the front while expired, and the oldest beyond the cap.
        while self._seen and next(iter(self._seen.values())) < now_ns:
            self._seen.popitem(last=False)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def _load(self, path: Path, now_ns: int) -> None:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        bad = 0
        for line in lines:
            try:
                request_id, deadline_ns = _decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                bad += 1  # a line torn by a crash mid-write
                continue
            if deadline_ns >= now_ns:
                self._seen[request_id] = deadline_ns
        if bad:
            log.warning("replay_file_lines_skipped", path=str(path), lines=bad)
        self._expire(now_ns)

    def _compact(self) -> None:
        """Rewrite the file with the live entries only (atomically), then append to it."""
        assert self.path is not None
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(_encode(item) + b"\n" for item in self._seen.items()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for appends
        self._appended = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
