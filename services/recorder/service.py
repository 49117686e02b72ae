"""The recorder service: subscribes to every topic and appends each message to the event store.

It answers ``Query(kind="events")`` over REQ/REP so ``mmctl events`` can read the record back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec

from common import topics
from common.codec import MessageCodec
from common.config import SERVICES
from common.logging import log
from common.messages import AnyCommand, Envelope, Query, Request
from common.runtime import CommandError, Service
from services.recorder.events import EventRow, EventStore


class _Meta(msgspec.Struct):
    type: str = "?"
    ts_event: int = 0


class RecorderService(Service):
    """Appends the whole bus to SQLite in batches; answers queries."""

    name = "recorder"

    async def on_start(self) -> None:
        cfg = self.settings.recorder
        self.store = EventStore(self.settings.run_path / cfg.db_path)
        self._meta = msgspec.msgpack.Decoder(_Meta)
        self._codec = MessageCodec()
        self._buf: list[EventRow] = []
        self._flush_now = asyncio.Event()
        self.stored = 0
        self.subscribe([topics.ALL], self._on_message, decode=False, services=SERVICES)
        self.spawn(self._flusher(), "flusher")

    def _on_message(self, topic: str, body: Any, env: Envelope) -> None:
        raw = bytes(body)
        try:
            meta = self._meta.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            meta = _Meta()
        self._buf.append(
            (time.time_ns(), topic, env.source, env.epoch, env.seq, meta.ts_event, meta.type, raw)
        )
        if len(self._buf) >= self.settings.recorder.batch_max:
            self._flush_now.set()

    async def _flusher(self) -> None:
        interval = self.settings.recorder.flush_interval_ms / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), interval)
            self._flush_now.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._buf:
            return
        batch, self._buf = self._buf, []
        await asyncio.to_thread(self.store.append, batch)
        self.stored += len(batch)

    async def on_stop(self) -> None:
        if hasattr(self, "store"):
            await self._flush()
            self.store.close()
            log.info("recorder_closed", stored=self.stored)

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        match cmd:
            case Query(kind="events", filters=f, limit=limit):
                rows = await asyncio.to_thread(
                    self.store.query,
                    f.get("topic", ""),
                    int(f.get("since_ns", 0)),
                    int(f.get("until_ns", 0)),
                    f.get("type", ""),
                    limit,
                )
                return [self._render(r) for r in rows]
        raise CommandError(
            f"recorder does not handle {type(cmd).__name__} {getattr(cmd, 'kind', '')}".strip()
        )

    def _render(self, row: dict[str, Any]) -> dict[str, Any]:
        payload = row.pop("payload")
        try:
            row["msg"] = msgspec.to_builtins(self._codec.decode_body(payload))
        except ValueError as exc:
            row["msg"] = {"undecodable": str(exc)}
        return row

    def status_detail(self) -> dict[str, str]:
        return {"stored": str(getattr(self, "stored", 0)), "buffered": str(len(getattr(self, "_buf", [])))}
