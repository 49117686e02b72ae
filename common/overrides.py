"""The operator's parameter edits: one key at a time into the run directory's ``overrides.toml``.

An edit is validated as the services will read it (the whole configuration loaded with the new
file on top) before the file is replaced, atomically; the caller then sends ``ReloadConfig`` so
every service takes it through its own validated reload path (``mmctl reload``'s), and each
service's acknowledgement and audit record says what changed and who asked. Only a symbol's
strategy parameters (``strategy.symbols.<SYMBOL>.…``) are editable this way: limits stay in the
files, reviewed.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from common.config import OVERRIDES_FILE, ConfigError, Settings, build_settings, config_files

EDITABLE = re.compile(r"^strategy\.symbols\.([A-Z0-9]+)\.([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)$")
Scalar = str | int | float | bool


def parse_value(text: str) -> Scalar:
    """A TOML literal (``0.012``, ``true``, ``"glft"``), or a bare word taken as a string."""
    raw = text.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", raw):
            raise ConfigError(f"{raw[:40]!r} is not a number, true/false or a word") from None
        return raw
    if not isinstance(value, str | int | float | bool) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ConfigError(f"{raw[:40]!r}: one number, true/false or a word")
    return value


def dump_toml(data: dict[str, Any]) -> str:
    """Nested tables of scalars as TOML (what this module writes; enough for its own files)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], path: list[str]) -> None:
        leaves = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if leaves and path:
            lines.append(f"[{'.'.join(path)}]")
        for k, v in leaves.items():
            lines.append(f"{k} = {_literal(v)}")
        if leaves:
            lines.append("")
        for k, v in table.items():
            if isinstance(v, dict):
                emit(v, [*path, k])

    emit(data, [])
    return "\n".join(lines)


def _literal(v: Scalar) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def current(settings: Settings, key: str) -> Any:
    """The value ``key`` has in ``settings`` (None when the path does not exist)."""
    node: Any = settings
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        if node is None:
            return None
    return node


def edit(settings: Settings, key: str, text: str) -> tuple[Settings, Any, Scalar]:
    """Set ``key`` to the value ``text`` in the overrides file; the settings it gives, the old
    value and the new one. :class:`ConfigError` (nothing written) for a key that may not be
    edited, a bad value, or a configuration that would not load."""
    m = EDITABLE.match(key)
    if m is None:
        raise ConfigError(f"{key[:80]!r}: only strategy.symbols.<SYMBOL>.<parameter> can be edited here")
    if m.group(1) not in settings.strategy.symbols:
        raise ConfigError(f"{m.group(1)} is not a configured strategy symbol")
    value = parse_value(text)
    before = current(settings, key)
    path = settings.run_path / OVERRIDES_FILE
    data = read(path)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{OVERRIDES_FILE}: {part} is a value, not a table")
        node = nxt
    node[parts[-1]] = value
    tmp = path.with_name(OVERRIDES_FILE + ".new")
    tmp.write_text(
        f"# Parameter edits from the console; delete this file to go back to the files.\n{dump_toml(data)}"
    )
    try:
        new = build_settings((*config_files(settings.profile), tmp), {"profile": settings.profile})
        now = current(new, key)
        if now is None:
            raise ConfigError(f"{key}: no such parameter")
        if not _same(now, value):
            raise ConfigError(f"{key}: an MM_ environment variable sets it ({now}); the edit would not apply")
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one
    finally:
        tmp.unlink(missing_ok=True)
    return new, before, value


def _same(a: Any, b: Scalar) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return str(a) == str(b)
