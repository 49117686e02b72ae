"""Direct notifications, for operators without Alertmanager: the kill switch, a stop loss and a halt
reach Telegram, Slack and email straight from the product (``[alerts] direct``).

:class:`Notifier` is the pure core: :meth:`Notifier.on_event` takes a ``risk.event`` and returns
the text to send, or None (not one of those events, or the same rule and symbol already told within
``direct_quiet_s``). :class:`Sender` delivers a text to every channel configured in ``[alerts]``
whose secret is in the environment, on its own thread, so the recorder's loop never waits on a
network; a failed delivery is logged and counted (``mm_notifications_total{channel,outcome}``),
never raised. The same channels and secrets as ``mmctl alertmanager-config``.
"""

from __future__ import annotations

import queue
import smtplib
import threading
from collections.abc import Mapping
from email.message import EmailMessage

import httpx
from prometheus_client import Counter

from common.config_sections import AlertsConfig
from common.logging import log
from common.messages import RiskEvent

SENT = Counter(
    "mm_notifications_total", "Direct notifications by channel and outcome", ["channel", "outcome"]
)
TOLD = {"kill": "P0", "stop_loss": "P0", "daily_loss": "P0"}
"""Rules told whenever they hold; any other rule only when it halts a symbol (P1)."""


class Notifier:
    """Which risk events are told, once per rule and symbol within ``quiet_s`` (pure)."""

    def __init__(self, quiet_s: float) -> None:
        self.quiet_ns = int(quiet_s * 1e9)
        self._last: dict[tuple[str, str], int] = {}

    def on_event(self, ev: RiskEvent, now_ns: int) -> str | None:
        """The text for ``ev``, or None."""
        if ev.action != "hold":
            return None
        severity = TOLD.get(ev.rule) or ("P1" if ev.to_mode == "halted" else "")
        if not severity:
            return None
        key = (ev.rule, ev.symbol)
        last = self._last.get(key)
        if last is not None and now_ns - last < self.quiet_ns:
            return None
        self._last[key] = now_ns
        where = ev.symbol or "account"
        why = ev.reason or ev.to_mode
        return f"[{severity}] {ev.rule} on {where}: {why} (mode {ev.from_mode} -> {ev.to_mode})"


class Sender:
    """Delivers texts to the configured channels on a daemon thread (see the module docstring)."""

    def __init__(self, a: AlertsConfig, env: Mapping[str, str]) -> None:
        self.a = a
        self.telegram = env.get(a.telegram_token_env, "") if a.telegram_chat_id else ""
        self.slack = env.get(a.slack_webhook_env, "")
        self.email = bool(a.email_to and a.email_from and a.email_smarthost)
        self.smtp_password = env.get(a.email_password_env, "")
        self._q: queue.Queue[str | None] = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)

    @property
    def channels(self) -> list[str]:
        """The channels a text goes to."""
        every = (("telegram", self.telegram), ("slack", self.slack), ("email", self.email))
        return [c for c, on in every if on]

    def start(self) -> None:
        self._thread.start()

    def send(self, text: str) -> None:
        """Queue ``text`` (dropped, and counted, when a thousand are already waiting)."""
        try:
            self._q.put_nowait(text)
        except queue.Full:
            SENT.labels("all", "dropped").inc()

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while (text := self._q.get()) is not None:
                for channel in self.channels:
                    try:
                        self._deliver(client, channel, text)
                        SENT.labels(channel, "sent").inc()
                    except (httpx.HTTPError, smtplib.SMTPException, OSError, ValueError) as exc:
                        SENT.labels(channel, "failed").inc()
                        log.warning("notification_failed", channel=channel, error=type(exc).__name__)

    def _deliver(self, client: httpx.Client, channel: str, text: str) -> None:
        a = self.a
        if channel == "telegram":
            url = f"{a.telegram_api_url}/bot{self.telegram}/sendMessage"
            client.post(url, json={"chat_id": a.telegram_chat_id, "text": text}).raise_for_status()
        elif channel == "slack":
            client.post(self.slack, json={"channel": a.slack_channel, "text": text}).raise_for_status()
        else:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = a.email_from, a.email_to, text.split(":", 1)[0]
            msg.set_content(text)
            host, _, port = a.email_smarthost.rpartition(":")
            with smtplib.SMTP(host, int(port or 25), timeout=10) as smtp:
                if a.email_require_tls:
                    smtp.starttls()
                if a.email_username:
                    smtp.login(a.email_username, self.smtp_password)
                smtp.send_message(msg)
