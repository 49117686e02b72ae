"""Every test gets its own run directory and config overlay, so nothing touches a running stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.config import Settings, load_settings


@pytest.fixture
def run_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated run directory with metrics servers off; returns the run directory."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(
        "\n".join(
            f"[{svc}]\nmetrics_port = 0\n"
            for svc in ("marketdata", "strategy", "risk", "gateway", "recorder", "simvenue", "console")
        )
    )
    monkeypatch.setenv("MM_RUN_DIR", str(run_dir))
    monkeypatch.setenv("MM_CONFIG_FILE", str(overlay))
    monkeypatch.setenv("MM_PROFILE", "paper")
    for key in list(os.environ):
        if key.startswith("MM_") and key not in ("MM_RUN_DIR", "MM_CONFIG_FILE", "MM_PROFILE"):
            monkeypatch.delenv(key)
    # the paper profile quotes spot ETHUSDT too (make run); a test of spot, or of the whole profile
    # (tests/stack.py), asks for it
    monkeypatch.setenv("MM_SPOT_SYMBOLS", "[]")
    yield run_dir


@pytest.fixture
def settings(run_env: Path) -> Settings:
    return load_settings()
