"""Raw capture of the feed in the format of the recorded files in ``data/binance``, one gzip file per symbol.

Each line is ``<local receive time, ns> <raw JSON as received>``: combined-stream frames and REST
depth snapshots, so the venue's replay model and the backtester read captures as they read the
recorded data. Writing happens on a thread; files rotate at ``rotate_mb`` of compressed size and are
flushed every second, so what was captured is readable (and survives a crash) a second later.
"""

from __future__ import annotations

import gzip
import queue
import threading
import time
from pathlib import Path
from typing import Any

from common.logging import log

FLUSH_S = 1.0
"""Every file is flushed (a gzip sync point: readable up to here) at least this often."""


class Capture:
    """A background writer; ``write`` never blocks the event loop (lines are dropped if it falls behind)."""

    def __init__(self, directory: Path, rotate_mb: int, max_queue: int = 200_000) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rotate_bytes = rotate_mb * 1024 * 1024
        self._q: queue.Queue[tuple[str, int, bytes] | None] = queue.Queue(max_queue)
        self._files: dict[str, tuple[Path, Any]] = {}
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def write(self, symbol: str, recv_ns: int, raw: bytes) -> None:
        try:
            self._q.put_nowait((symbol.lower(), recv_ns, raw))
        except queue.Full:
            self.dropped += 1

    def _file(self, symbol: str) -> Any:
        cur = self._files.get(symbol)
        if cur is not None and cur[0].stat().st_size < self.rotate_bytes:
            return cur[1]
        if cur is not None:
            cur[1].close()
        path = self.dir / f"usdm_{symbol}_{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.gz"
        fh = gzip.open(path, "ab", compresslevel=3)  # noqa: SIM115 - kept open across writes, closed on rotate
        self._files[symbol] = (path, fh)
        log.info("capture_file", path=str(path))
        return fh

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._q.get(timeout=FLUSH_S)
            except queue.Empty:
                item = ("", 0, b"")  # nothing came: only the flush below
            if item is None:
                break
            if item[0]:
                symbol, ns, raw = item
                fh = self._file(symbol)
                fh.write(b"%d %s\n" % (ns, raw))
                self.written += 1
            if time.monotonic() - last_flush >= FLUSH_S:  # a crash loses at most this much
                for _, fh in self._files.values():
                    fh.flush()
                last_flush = time.monotonic()
        for _, fh in self._files.values():
            fh.close()

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(10)
