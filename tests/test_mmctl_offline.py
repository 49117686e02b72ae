"""mmctl without a running stack: usage errors are one line (exit 2), and ``status`` says by its exit
code whether every service the profile runs is up."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import redact_dsn
from services.mmctl.commands.status import _exit_code


def test_a_bad_duration_is_a_usage_error_naming_what_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    from services.mmctl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["events", "--since", "1w"])
    assert exc.value.code == 2
    assert "argument --since: '1w' is not a duration" in capsys.readouterr().err
    from services.mmctl.context import parse_duration

    assert (parse_duration("90s"), parse_duration("10m"), parse_duration("2d"), parse_duration("5")) == (
        90.0, 600.0, 172_800.0, 5.0,
    )  # fmt: skip


def test_status_exits_3_when_a_service_the_profile_runs_is_down() -> None:
    up = [{"service": s, "up": True} for s in ("venue", "gateway")]
    assert _exit_code(up, "paper") == 0
    venue_down = [{"service": "venue", "up": False}, {"service": "gateway", "up": True}]
    assert _exit_code(venue_down, "paper") == 3
    assert _exit_code(venue_down, "live") == 0  # no simulated venue in live
    assert _exit_code([{"service": "gateway", "up": False}], "live") == 3


def test_a_dsn_password_is_never_shown() -> None:
    assert redact_dsn("postgresql://mm:hunter2@db/mm") == "postgresql://mm:<redacted>@db/mm"
    assert redact_dsn("host=db user=mm password=hunter2") == "host=db user=mm password=<redacted>"


def test_a_log_level_loguru_does_not_know_is_refused_at_load(
    run_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.config import ConfigError, load_settings

    monkeypatch.setenv("MM_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match=r"log_level = 'LOUD': Input should be 'TRACE'"):
        load_settings()
    monkeypatch.setenv("MM_LOG_LEVEL", "debug")  # any case
    monkeypatch.setenv("MM_GATEWAY__LOG_LEVEL", "warning")
    s = load_settings()
    assert (s.log_level, s.gateway.log_level) == ("DEBUG", "WARNING")


def test_status_says_when_the_saved_kill_is_engaged_and_how_to_lift_it(tmp_path: Path) -> None:
    from services.gateway.kill import KillFile, KillState
    from services.mmctl.commands.status import KILL_FILE, kill_notice

    path = tmp_path / KILL_FILE
    assert kill_notice(path) == ""  # never killed
    KillFile(path).save(
        KillState(engaged=True, reason="drawdown drill", by="mmctl", since_ns=1_790_000_000 * 10**9)
    )
    assert kill_notice(path) == (
        "KILL SWITCH ENGAGED since 2026-09-21 14:13:20 UTC (drawdown drill): nothing is quoted, "
        "and it survives restarts. `mmctl resume` lifts it."
    )
    assert b'"engaged":true' in path.read_bytes()  # what `make run` greps for
    KillFile(path).save(KillState(engaged=False))
    assert kill_notice(path) == ""
    path.write_text("{not json")
    assert "is unreadable" in kill_notice(path) and "treats it as engaged" in kill_notice(path)
