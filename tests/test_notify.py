"""Direct notifications (``[alerts] direct``): which risk events are told, and, end to end, a kill
sent to a running risk service reaching the Telegram, Slack and email stand-ins through the
recorder, with the secrets from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.messages import Kill, RiskEvent
from services.recorder.notify import Notifier
from tests.cluster import Cluster
from tests.helpers import wait_until
from tests.standins import HOOK_PATH, TOKEN, Inbox, standins
from tests.test_recorder_nolose_e2e import recorder_up

S = 1_000_000_000


def _ev(
    rule: str, action: str = "hold", symbol: str = "", to_mode: str = "halted", reason: str = ""
) -> RiskEvent:
    return RiskEvent(rule=rule, action=action, symbol=symbol, from_mode="normal", to_mode=to_mode,
                     reason=reason, ts_event=0, ts_init=0)  # fmt: skip


def test_the_kill_a_stop_loss_and_a_halt_are_told_once_per_quiet_period() -> None:
    n = Notifier(quiet_s=60)
    assert n.on_event(_ev("kill", to_mode="killed", reason="operator"), 0) == (
        "[P0] kill on account: operator (mode normal -> killed)"
    )
    assert n.on_event(_ev("kill", to_mode="killed"), 59 * S) is None  # within 60 s
    assert n.on_event(_ev("kill", to_mode="killed"), 61 * S) is not None
    assert n.on_event(_ev("stop_loss", symbol="ETHUSDC", reason="pnl -61 < -60"), 0) == (
        "[P0] stop_loss on ETHUSDC: pnl -61 < -60 (mode normal -> halted)"
    )
    assert n.on_event(_ev("shock", symbol="BTCUSDC", reason="mid moved 10.2 %"), 0) == (
        "[P1] shock on BTCUSDC: mid moved 10.2 % (mode normal -> halted)"
    )
    assert n.on_event(_ev("shock", action="release", symbol="ETHUSDC", to_mode="normal"), 0) is None
    assert n.on_event(_ev("churn", action="clip", symbol="ETHUSDC", to_mode=""), 0) is None
    assert n.on_event(_ev("drawdown_band", symbol="ETHUSDC", to_mode="reduce_only"), 0) is None


@pytest.fixture
def told(tmp_path: Path) -> Iterator[tuple[Cluster, Inbox]]:
    with standins() as (inbox, base, smtp_port):
        overlay = (
            "[alerts]\n"
            f'telegram_chat_id = 42\ntelegram_api_url = "{base}/telegram"\n'
            f'email_to = "ops@example.org"\nemail_from = "mm@example.org"\n'
            f'email_smarthost = "127.0.0.1:{smtp_port}"\nemail_require_tls = false\n'
        )
        env = {"MM_TELEGRAM_BOT_TOKEN": TOKEN, "MM_SLACK_WEBHOOK_URL": base + HOOK_PATH}
        with Cluster(tmp_path, overlay, env) as c:
            yield c, inbox


def test_a_kill_reaches_telegram_slack_and_email_through_the_recorder(told: tuple[Cluster, Inbox]) -> None:
    c, inbox = told
    c.start("venue", "marketdata", "gateway", "risk", "recorder")
    wait_until(lambda: recorder_up(c), 30, what="recorder up")
    # risk takes commands once it has rebuilt from the gateway and market data
    wait_until(lambda: c.request("risk", Kill(reason="drill: notify")).ok, 30, what="risk took the kill")
    for ch in ("telegram", "slack", "email"):
        wait_until(lambda ch=ch: inbox.has(ch, "[P0] kill on account: "), 20, what=f"the kill on {ch}")
    assert inbox.has("telegram", "drill: notify")
    log = (c.run_dir / "logs" / "recorder.log").read_text()
    assert TOKEN not in log and "direct_notifications" in log
