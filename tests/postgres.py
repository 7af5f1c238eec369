"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary directory, a free local port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from glob import glob
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

GIVEN_URL = "HIPCOACH_TEST_POSTGRES_URL"
BINARIES = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"
INSTALL_TIMEOUT = 600
START_TIMEOUT = 60
# Durability buys nothing for a test server and costs time on every commit and CREATE DATABASE.
SPEED = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
# The chaos suite runs 13 bots at once on one server, each with a pool (bot/storage/db.py): it used 274
# connections at its peak, and ran out of the default 100.
CONNECTIONS = "-c max_connections=600"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found, installed or started."""


def binaries() -> Path | None:
    """The newest installed Debian PostgreSQL bin directory, if any."""
    found = sorted(glob(f"{BINARIES}/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def install() -> Path:
    """Install Debian's PostgreSQL packages (needs root and the package mirror)."""
    if os.geteuid() != 0:
        raise PostgresUnavailable("PostgreSQL is not installed and only root may apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as error:
        raise PostgresUnavailable(f"installing PostgreSQL failed: {error}") from error
    found = binaries()
    if found is None:
        raise PostgresUnavailable(f"apt-get installed postgresql but no {BINARIES}/pg_ctl exists")
    return found


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_system_user(name: str) -> None:
    """Create a system user to run the server as (initdb refuses root), unless it exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, timeout=60)


class LocalServer:
    """One PostgreSQL cluster in a temporary directory, run as a non-root user, trusting local logins."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.user = SERVER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="hipcoach-pg-"))
        self.data = self.root / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        """The asyncpg URL of the server's maintenance database."""
        return f"postgresql+asyncpg://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Create the cluster and start the server; pg_ctl -w waits (bounded) until it accepts connections."""
        if os.geteuid() == 0:
            ensure_system_user(self.user)
            shutil.chown(self.root, self.user)
        self._run(
            "initdb", "-D", str(self.data), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {CONNECTIONS} {SPEED}"
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", str(START_TIMEOUT), "start"
        )

    def stop(self) -> None:
        """Stop the server and remove its files."""
        with contextlib.suppress(PostgresUnavailable):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        """The end of the server's log, for error messages."""
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=START_TIMEOUT + 30)
        except subprocess.CalledProcessError as error:
            raise PostgresUnavailable(
                f"{program} failed: {error.stderr.strip()}\n{self.log_tail()}"
            ) from error
        except (OSError, subprocess.SubprocessError) as error:
            raise PostgresUnavailable(f"{program} failed: {error}") from error


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a server to test against: the one given in the environment, or a local one we run."""
    given = os.environ.get(GIVEN_URL)
    if given:
        yield given
        return
    server = LocalServer(binaries() or install())
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server for one test, dropped afterwards; yields its asyncpg URL."""
    server = make_url(server_url)
    name = f"hipcoach_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


only_postgresql = pytest.mark.parametrize("database_server", ["postgresql"], indirect=True)
"""Run a test on PostgreSQL alone (it overrides the integration fixtures' sqlite/postgresql split)."""
