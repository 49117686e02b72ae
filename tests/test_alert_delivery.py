"""Alerts reach people: a real Alertmanager (Debian's ``prometheus-alertmanager``) runs the config
``mmctl alertmanager-config`` writes, against local stand-ins for the Telegram Bot API (its
``api_url``), a Slack webhook, WeCom's API and an SMTP server. A P0 alert reaches all four; a P1
alert the chat channels and not email (``[alerts] routes``); the secrets come from the environment
and are what each stand-in receives."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import PROJECT, die_with_parent, free_port, wait_until
from tests.standins import HOOK_PATH, TOKEN, WECOM_SECRET, Inbox, standins


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Inbox]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, (
        "Alertmanager is missing: install Debian's prometheus-alertmanager (apt-get install "
        "prometheus-alertmanager; .ci/run does it)"
    )
    with standins() as (inbox, base, smtp_port):
        yield from _alertmanager(tmp_path, binary, inbox, base, smtp_port)


def _alertmanager(
    tmp_path: Path, binary: str, inbox: Inbox, base: str, smtp_port: int
) -> Iterator[tuple[str, Inbox]]:
    overlay = tmp_path / "alerts.toml"
    overlay.write_text(
        "[alerts]\n"
        f'telegram_chat_id = 42\ntelegram_api_url = "{base}/telegram"\n'
        f'email_to = "ops@example.org"\nemail_from = "mm@example.org"\n'
        f'email_smarthost = "127.0.0.1:{smtp_port}"\nemail_require_tls = false\n'
        f'wecom_corp_id = "corp"\nwecom_agent_id = "1000002"\nwecom_api_url = "{base}/wecom/"\n'
        'group_wait = { P0 = "0s", P1 = "0s", P2 = "0s" }\n'
    )
    env = {
        "MM_CONFIG_FILE": str(overlay),
        "MM_TELEGRAM_BOT_TOKEN": TOKEN,
        "MM_SLACK_WEBHOOK_URL": base + HOOK_PATH,
        "MM_WECOM_SECRET": WECOM_SECRET,
    }
    cfg = tmp_path / "alertmanager.yml"
    p = subprocess.run(
        [sys.executable, "-m", "services.mmctl", "alertmanager-config", "--out", str(cfg)],
        cwd=PROJECT, env={**_base_env(), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert cfg.stat().st_mode & 0o777 == 0o600
    port = free_port()
    log = (tmp_path / "am.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent,  # noqa: PLW1509
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, what="Alertmanager ready")
        yield url, inbox
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MM_")}


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _fire(url: str, name: str, severity: str, summary: str) -> None:
    alert = {
        "labels": {"alertname": name, "severity": severity, "symbol": "ETHUSDC"},
        "annotations": {"summary": summary, "runbook_url": f"docs/runbook.md#{name.lower()}"},
    }
    r = httpx.post(url + "/api/v2/alerts", json=[alert], timeout=5)
    assert r.status_code == 200, r.text


def test_a_p0_alert_reaches_every_channel_and_a_p1_alert_the_chat_only(
    alertmanager: tuple[str, Inbox],
) -> None:
    url, inbox = alertmanager
    _fire(url, "KillEngaged", "P0", "The kill switch is engaged: nothing is quoted")
    line = "[P0] KillEngaged: The kill switch is engaged: nothing is quoted (docs/runbook.md#killengaged)"
    for channel in ("telegram", "slack", "wecom", "email"):
        wait_until(lambda c=channel: inbox.has(c, line), 30, what=f"the P0 alert on {channel}")
    _fire(url, "MarketDataStale", "P1", "ETHUSDC: market data not live for 30 s")
    for channel in ("telegram", "slack", "wecom"):
        wait_until(
            lambda c=channel: inbox.has(c, "[P1] MarketDataStale"), 30, what=f"the P1 alert on {channel}"
        )
    assert not inbox.has("email", "MarketDataStale"), "P1 is not routed to email"


def test_without_any_channel_the_config_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("[alerts]\n")
    p = subprocess.run(
        [sys.executable, "-m", "services.mmctl", "alertmanager-config"],
        cwd=PROJECT, env={**_base_env(), "MM_CONFIG_FILE": str(tmp_path / "none.toml")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2
    assert "no alert channel is configured: telegram (MM_TELEGRAM_BOT_TOKEN" in p.stderr
    assert "Traceback" not in p.stderr
