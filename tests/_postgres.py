"""A throw-away PostgreSQL + PostGIS server for the tests (Debian's PostgreSQL 15 binaries).

:func:`start_server` runs ``initdb`` in a temporary folder (as the ``postgres`` user when the
tests run as root, since PostgreSQL refuses to run as root), starts the server with
``pg_ctl`` on 127.0.0.1 on a free port (its Unix socket in the same folder), and creates a
template database with the ``postgis`` extension; :meth:`PostgresServer.new_database` then
copies that template in a few milliseconds. :meth:`PostgresServer.stop` stops the server and
deletes the folder. Used by the ``postgis_url`` fixture in ``conftest.py``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
"""Where Debian installs the PostgreSQL 15 server binaries (``initdb``, ``pg_ctl``)."""
INSTALL_HINT = (
    "run `make system-deps` as root, or `apt-get install postgresql postgresql-15-postgis-3`"
)
"""How to get the binaries (shown in skip reasons)."""
TEMPLATE = "basewatch_template"
"""The database with the postgis extension that every test database copies."""
START_TIMEOUT_S = 60
"""How long ``pg_ctl start`` waits for the server to accept connections."""


class PostgresUnavailable(Exception):
    """PostgreSQL or PostGIS is not installed here (the tests that need it skip)."""


def find_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl`` (``$BASEWATCH_PG_BIN`` first)."""
    candidates = [os.environ.get("BASEWATCH_PG_BIN", ""), *PG_BIN_DIRS]
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise PostgresUnavailable(
        f"PostgreSQL 15 server binaries not found in {PG_BIN_DIRS}; " + INSTALL_HINT
    )


def _check_postgis(bin_dir: Path) -> None:
    """Raise PostgresUnavailable unless the PostGIS extension is installed for this server."""
    share = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not (Path(share) / "extension" / "postgis.control").is_file():
        raise PostgresUnavailable(f"PostGIS is not installed for {bin_dir}; " + INSTALL_HINT)


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` (as ``user`` via runuser when given); raise with the output on failure."""
    command = ["runuser", "-u", user, "--", *args] if user else args
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done


@dataclass
class PostgresServer:
    """A running throw-away server (see :func:`start_server`)."""

    bin_dir: Path
    """Folder of the server binaries."""
    folder: Path
    """Temporary folder: ``data/`` (cluster), ``server.log`` and the Unix socket."""
    port: int
    """TCP port on 127.0.0.1."""
    user: str | None
    """OS user the server runs as (None: the current user)."""
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, database: str, *statements: str) -> None:
        """Run SQL statements in autocommit mode (CREATE DATABASE needs it)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """Create an empty database with PostGIS (a copy of the template); return its URL."""
        name = f"test_{next(self._names)}"
        self.execute("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        try:
            _run_as(
                self.user,
                [
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.folder / "data"),
                    "-m",
                    "fast",
                    "-w",
                ],
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _start(bin_dir: Path, folder: Path, user: str | None) -> PostgresServer:
    """Start a server on the cluster in ``folder/data`` on a free port (3 tries)."""
    for attempt in range(3):
        port = _free_port()
        options = (
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off"
        )
        args = [str(bin_dir / "pg_ctl"), "start", "-D", str(folder / "data"), "-w"]
        args += ["-t", str(START_TIMEOUT_S), "-l", str(folder / "server.log"), "-o", options]
        try:
            _run_as(user, args)
        except RuntimeError:
            if attempt == 2:
                log = (folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL did not start on port {port}:\n{log}") from None
            continue
        return PostgresServer(bin_dir=bin_dir, folder=folder, port=port, user=user)
    raise AssertionError("unreachable")


def start_server() -> PostgresServer:
    """Start a PostgreSQL 15 + PostGIS server in a new temporary folder.

    Raises:
        PostgresUnavailable: the binaries or PostGIS are not installed, or the tests run as
            root and there is no ``postgres`` user to run the server as.
        RuntimeError: the binaries are there but the server did not start (with its log).
    """
    bin_dir = find_bin_dir()
    _check_postgis(bin_dir)
    user = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and no `postgres` user; " + INSTALL_HINT
            ) from None
        user = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="basewatch-pg-"))
    try:
        if user is not None:
            os.chown(folder, account.pw_uid, account.pw_gid)
        initdb = [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres"]
        _run_as(user, [*initdb, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        server = _start(bin_dir, folder, user)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        server.execute("postgres", f"CREATE DATABASE {TEMPLATE}")
        server.execute(TEMPLATE, "CREATE EXTENSION postgis")
    except BaseException:
        server.stop()
        raise
    return server
