"""A real PostgreSQL server for tests, from the distribution's binaries, in a temporary directory.

``PgServer`` runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` user through ``runuser`` when the
tests run as root, since PostgreSQL refuses to run as root) with the data directory and the socket
in a fresh directory, listening on a free loopback port, trust authentication, and stops it and
deletes everything at the end. One server is shared by every test of a session
(:func:`shared_server`); each test gets its own schema (:meth:`PgServer.fresh_dsn`).

If no PostgreSQL binaries are found the tests FAIL with a message saying what to install: a
PostgreSQL test that silently skips would hide that the second backend is untested.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install the distribution's package "
    "(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: "
    "brew install postgresql) or set MM_PG_BINDIR to the directory that holds initdb"
)


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here."""


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$MM_PG_BINDIR``, ``pg_config --bindir``, PATH, usual places."""
    candidates: list[str] = []
    if os.environ.get("MM_PG_BINDIR"):
        candidates.append(os.environ["MM_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    versions = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    candidates += sorted(versions, key=lambda p: [int(x) for x in p.split("/") if x.isdigit()] or [0])[::-1]
    candidates += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


class PgServer:
    """One throw-away PostgreSQL cluster. ``durable=False`` turns fsync off (tests); benchmarks keep it on."""

    def __init__(self, durable: bool = False) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise PgUnavailable(MISSING)
        self.bindir = bindir
        self.durable = durable
        self.port = free_port()
        self.user = "mm"
        self.base = Path(tempfile.mkdtemp(prefix="mm-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._as_postgres = os.geteuid() == 0
        self.started = False

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PgUnavailable(
                f"{' '.join(args[:2])} failed ({res.returncode}): {res.stderr[-2000:]}\n{log}"
            )

    def start(self) -> PgServer:
        """initdb + pg_ctl start, waiting until the server accepts connections."""
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            self.user,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=50"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self.started:
            with contextlib.suppress(PgUnavailable, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def fresh_dsn(self) -> str:
        """A new empty schema for one test; the returned DSN has it as its ``search_path``."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {name}")
        return f"{self.dsn} options='-c search_path={name}'"

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Shared:
    """The process-wide server and how many fixtures use it."""

    server: PgServer | None = None
    users = 0
    lock = threading.Lock()


@contextlib.contextmanager
def shared_server() -> Iterator[PgServer]:
    """One server for every user in this process; stopped when the last user leaves.

    Use it from a session-scoped fixture::

        @pytest.fixture(scope="session")
        def pg() -> Iterator[PgServer]:
            with shared_server() as srv:
                yield srv
    """
    with _Shared.lock:
        if _Shared.server is None:
            _Shared.server = PgServer().start()
        _Shared.users += 1
        srv = _Shared.server
    try:
        yield srv
    finally:
        with _Shared.lock:
            _Shared.users -= 1
            if _Shared.users == 0 and _Shared.server is not None:
                _Shared.server.stop()
                _Shared.server = None
