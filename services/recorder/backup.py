"""Backup and restore of what the recorder keeps: the store (SQLite or PostgreSQL) and the Parquet lake.

``backup(settings, dest)`` runs while the recorder writes and is consistent:

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies one consistent snapshot of
  the database, WAL included, page by page, while the writer goes on;
* PostgreSQL: ``pg_dump --format=custom`` (one transaction snapshot), the password from
  ``PGPASSWORD`` or ``.pgpass`` as for the recorder itself;
* the lake: every finished part (parts are written under a temporary name and renamed whole, so a
  part file is never half-written; the temporary ones are skipped), same layout.

Beside them ``manifest.json`` says what was saved: when, the backend, the rows of every table, the
lake's parts. ``restore(settings, src)`` refuses while a recorder holds the run directory's lock, and
refuses a store or lake that already holds data unless ``force``; it then puts the database and
the parts back where the configuration says they live and checks the row counts against the
manifest.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from common.config import Settings, redact_dsn
from common.lock import AlreadyRunning, SingleInstanceLock
from services.recorder.schema import TABLES
from services.recorder.store import open_store

MANIFEST = "manifest.json"
SQLITE_FILE = "recorder.sqlite"
PG_FILE = "recorder.pgdump"
LAKE_DIR = "lake"


class BackupError(RuntimeError):
    """A backup or restore that could not be done, with the reason."""


def _paths(settings: Settings) -> tuple[Path, Path]:
    rec = settings.recorder
    run = settings.run_path
    return run / rec.db_path, run / rec.lake_dir


def _counts(settings: Settings) -> dict[str, int]:
    db, _ = _paths(settings)
    store = open_store(settings.recorder.backend, db, settings.recorder.postgres_dsn)
    try:
        return {t.name: store.count(t.name) for t in TABLES}
    finally:
        store.close()


def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Save the store and the lake into ``dest`` (created; must be empty); the manifest."""
    try:
        return _backup(settings, dest)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"backup into {dest} failed: {exc}") from None


def _backup(settings: Settings, dest: Path) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new directory")
    db, lake = _paths(settings)
    backend = settings.recorder.backend
    started = time.time_ns()
    if backend == "sqlite":
        if not db.exists():
            raise BackupError(f"no store at {db}: nothing to back up")
        src = sqlite3.connect(db)
        dst = sqlite3.connect(dest / SQLITE_FILE)
        try:
            src.backup(dst)  # one consistent snapshot while the recorder writes
        finally:
            dst.close()
            src.close()
        counts = _sqlite_counts(dest / SQLITE_FILE)
    else:
        _run(["pg_dump", "--format=custom", "--file", str(dest / PG_FILE), settings.recorder.postgres_dsn])
        counts = _counts(settings)  # after the dump: at least what it holds
    parts = _copy_parts(lake, dest / LAKE_DIR)
    manifest = {
        "created_ns": started,
        "backend": backend,
        "tables": counts,
        "lake_parts": len(parts),
        "lake_bytes": sum((dest / LAKE_DIR / p).stat().st_size for p in parts),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def restore(settings: Settings, src: Path, force: bool = False) -> dict[str, Any]:
    """Put a backup back into the configured store and lake; the manifest it was made with."""
    try:
        return _restore(settings, src, force)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"restore from {src} failed: {exc}") from None


def _manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.exists():
        raise BackupError(f"{src} holds no {MANIFEST}: not a backup made by `mmctl backup`")
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("tables"), dict) or manifest.get("backend") not in (
            "sqlite",
            "postgres",
        ):
            raise ValueError("no backend or tables")
    except (ValueError, AttributeError) as exc:
        raise BackupError(f"{path} is not a backup manifest: {exc}") from None
    return manifest


def _restore(settings: Settings, src: Path, force: bool) -> dict[str, Any]:
    manifest = _manifest(src)
    backend = settings.recorder.backend
    if manifest["backend"] != backend:
        raise BackupError(f"the backup is of a {manifest['backend']} store, the recorder is set to {backend}")
    lock = SingleInstanceLock(settings.run_path / "recorder.lock", "recorder")
    try:
        lock.acquire()  # held while restoring: no recorder starts meanwhile
    except AlreadyRunning as exc:
        raise BackupError(f"stop the recorder first: {exc}") from None
    try:
        db, lake = _paths(settings)
        if not force:
            held = (  # "meta" (the schema version) is written by opening the store at all
                {t: n for t, n in _counts(settings).items() if n and t != "meta"}
                if backend != "sqlite" or db.exists()
                else {}
            )
            if held or (lake.exists() and any(lake.rglob("*.parquet"))):
                raise BackupError(
                    "the store or the lake already holds data (tables: "
                    f"{', '.join(sorted(held)) or 'none'}); restore into an empty run directory "
                    "or pass --force"
                )
        if backend == "sqlite":
            db.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(src / SQLITE_FILE, db)
        else:
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname",
                  settings.recorder.postgres_dsn, str(src / PG_FILE)])  # fmt: skip
        _copy_parts(src / LAKE_DIR, lake)
        got = _counts(settings)
        short = {t: (n, got.get(t, 0)) for t, n in manifest["tables"].items() if got.get(t, 0) < n}
        if short:
            raise BackupError(f"restored store is short of the backup: {short} (backup, restored)")
    finally:
        lock.release()
    return manifest


def _sqlite_counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        out = {}
        for t in TABLES:
            try:
                out[t.name] = int(con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0])
            except sqlite3.OperationalError:  # a table the backup's schema version did not have
                out[t.name] = 0
        return out
    finally:
        con.close()


def _copy_parts(src: Path, dest: Path) -> list[Path]:
    """Every finished Parquet part under ``src`` into ``dest``, same relative paths."""
    if not src.exists():
        return []
    done = []
    for part in sorted(src.rglob("*.parquet")):  # a part being written is still named *.tmp
        rel = part.relative_to(src)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(part, target)
        done.append(rel)
    return done


def _run(cmd: list[str]) -> None:
    shown = [redact_dsn(c) for c in cmd]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise BackupError(f"{cmd[0]} is not installed (PostgreSQL's client tools)") from None
    if p.returncode != 0:
        raise BackupError(f"{' '.join(shown)} failed: {p.stderr.strip()[-500:]}")
