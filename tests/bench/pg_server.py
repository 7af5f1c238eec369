"""A PostgreSQL server for benchmarks whose cluster (and so its template databases) outlives the run.

It is the tests' throwaway server (tests/postgres.py: Debian's binaries, installed if missing, a
non-root server user, no fsync) with its data directory kept in a cache directory instead of a
temporary one. Run as root, the cluster lives under /var/cache (the server's own user cannot enter
/root); HIPCOACH_BENCH_PG_DIR overrides the place.

Several benchmark runs may share the cluster at once (the machine is shared): a run finding the
server up uses it, and the last run to finish stops it (each holds a shared lock while it uses it;
start and stop decisions are taken under an exclusive one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.postgres import GIVEN_URL, LocalServer, binaries, ensure_system_user, install


def cluster_dir() -> Path:
    given = os.environ.get("HIPCOACH_BENCH_PG_DIR")
    if given:
        return Path(given)
    if os.geteuid() == 0:
        return Path("/var/cache/hipcoach-bench/pg")
    from tests.bench.seed import cache_dir

    return cache_dir() / "pg"


class CachedServer(LocalServer):
    """LocalServer on a kept data directory: initdb only the first time, stop without deleting."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        super().__init__(bin_dir)
        shutil.rmtree(self.root, ignore_errors=True)  # the temporary directory LocalServer made
        self.root = root / bin_dir.parent.name  # one cluster per PostgreSQL major version
        self.data = self.root / "data"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            ensure_system_user(self.user)
            for path in (self.root.parent, self.root):
                shutil.chown(path, self.user)
        self.deciding = (self.root.parent / f"{self.root.name}.start.lock").open("a")
        self.using = (self.root.parent / f"{self.root.name}.users.lock").open("a")
        fcntl.flock(self.deciding, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.using, fcntl.LOCK_SH)
            running = self.running_port()
            if running is not None:
                self.port = running  # another run's server: share it
            else:
                self._start()
        finally:
            fcntl.flock(self.deciding, fcntl.LOCK_UN)

    def running_port(self) -> int | None:
        """The port of a live server on this cluster, if one is up."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def _start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server unless another run still uses it."""
        fcntl.flock(self.deciding, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.using, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only if no other run holds it
        except BlockingIOError:
            pass
        else:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            self.using.close()
            fcntl.flock(self.deciding, fcntl.LOCK_UN)
            self.deciding.close()


@contextlib.contextmanager
def bench_postgres() -> Iterator[str]:
    """The URL of a PostgreSQL server: HIPCOACH_TEST_POSTGRES_URL if set, else our cached local one."""
    given = os.environ.get(GIVEN_URL)
    if given:
        yield given
        return
    server = CachedServer(binaries() or install(), cluster_dir())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
