"""The gateway's own record of what it published on ``oms.fill``, across its restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

from services.gateway.fillmarks import FillMarks


def test_the_marks_and_the_fills_published_above_them_come_back_after_a_restart(tmp_path: Path) -> None:
    """ETHUSDC's history went through the OMS up to trade 105, and the user stream published 107
    (both legs of a self-trade) and 103 (under the mark: the mark covers it): 107 is kept."""
    path = tmp_path / "gateway.fills.json"
    FillMarks(path).save(
        {"ETHUSDC": 105, "BTCUSDC": 0},
        [("ETHUSDC", 103, "BUY"), ("ETHUSDC", 107, "BUY"), ("ETHUSDC", 107, "SELL"), ("BTCUSDC", 9, "SELL")],
    )
    marks, published = FillMarks(path).load() or ({}, [])
    assert marks == {"ETHUSDC": 105, "BTCUSDC": 0}
    assert sorted(published) == [("BTCUSDC", 9, "SELL"), ("ETHUSDC", 107, "BUY"), ("ETHUSDC", 107, "SELL")]
    assert not (tmp_path / "gateway.fills.json.tmp").exists()


def test_no_file_is_none_and_an_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "gateway.fills.json"
    marks = FillMarks(path)
    assert marks.load() is None
    marks.save({"ETHUSDC": 5}, [("ETHUSDC", 6, "BUY")])
    written = path.stat().st_mtime_ns
    path.write_bytes(path.read_bytes())  # same content, a new modification time to tell a rewrite
    touched = path.stat().st_mtime_ns
    marks.save({"ETHUSDC": 5}, [("ETHUSDC", 6, "BUY"), ("ETHUSDC", 4, "SELL")])  # 4 is under the mark
    assert path.stat().st_mtime_ns == touched >= written
    marks.save({"ETHUSDC": 6}, [("ETHUSDC", 6, "BUY")])
    assert FillMarks(path).load() == ({"ETHUSDC": 6}, [])


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"marks": {"ETHUSDC": "105"}, "published": []}', b'{"marks": {}, "extra": 1}'],
)
def test_a_file_that_cannot_be_read_is_none_and_said(tmp_path: Path, content: bytes) -> None:
    """The gateway then falls back to the recorder's marks (services/gateway/service.py)."""
    path = tmp_path / "gateway.fills.json"
    path.write_bytes(content)
    said: list[str] = []
    sink = logger.add(lambda m: said.append(str(m)), format="{level} {message}")
    try:
        assert FillMarks(path).load() is None
    finally:
        logger.remove(sink)
    assert said and said[0].startswith("ERROR fill_marks_unreadable"), said
