"""Structured logging with loguru: one event per line, optional JSON sink, secrets redacted.

Use ``log.bind(event="order_sent", symbol=...)`` style fields or ``log.info("order_sent", symbol=...)``;
every registered secret value is replaced by ``***`` in the message and in every field before the
line is written, whatever the sink.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from loguru import logger

log = logger

_secrets: list[str] = []
_REDACTED = "***"


def register_secrets(values: Iterable[str]) -> None:
    """Add values that must never appear in a log line (API keys, secrets, bus secret)."""
    for v in values:
        if v and len(v) >= 4 and v not in _secrets:
            _secrets.append(v)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced."""
    for s in _secrets:
        if s in text:
            text = text.replace(s, _REDACTED)
    return text


def _redact_value(val: Any) -> Any:
    if isinstance(val, str):
        return redact(val)
    if isinstance(val, dict):
        return {k: _redact_value(v) for k, v in val.items()}
    if isinstance(val, list | tuple):
        return type(val)(_redact_value(v) for v in val)
    return val


def _patch(record: Any) -> None:
    if not _secrets:
        return
    record["message"] = redact(record["message"])
    record["extra"] = _redact_value(record["extra"])
    exc = record["exception"]
    if exc is not None and exc.value is not None:
        text = str(exc.value)
        if redact(text) != text:
            # The exception text itself carries a secret: drop the traceback, keep a redacted line.
            record["message"] += f" [{exc.type.__name__}: {redact(text)}]"
            record["exception"] = None


def _text_format(record: Any) -> str:
    """``time level service event key=value ...``: one event per line, fields after the name."""
    kv = " ".join(f"{k}={v}" for k, v in record["extra"].items() if k not in ("service", "_kv"))
    record["extra"]["_kv"] = kv
    return (
        "<green>{time:YYYY-MM-DDTHH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{extra[service]}</cyan> {message} {extra[_kv]}\n{exception}"
    )


def setup_logging(service: str, level: str = "INFO", json: bool = False, secrets: Iterable[str] = ()) -> None:
    """Configure the process's single logger: stderr sink (supervisord captures it per service)."""
    register_secrets(secrets)
    logger.remove()
    logger.configure(extra={"service": service}, patcher=_patch)
    if json:
        logger.add(sys.stderr, level=level.upper(), serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level.upper(), format=_text_format, backtrace=False, diagnose=False)
