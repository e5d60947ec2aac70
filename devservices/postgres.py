"""PostgreSQL for tests and benchmarks: ``TEST_POSTGRES_URL``, the local server, or a
throwaway cluster (``initdb`` refuses to run as root and the socket directory must be
owned by ``postgres``)."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from devservices.process import Service, ServiceError, free_port, reachable, tail, with_path

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_answers(url: str, timeout: float) -> bool:
    """True if we can log in (an unreachable server, failed auth or a URL that is not
    ``postgresql://`` all mean "no")."""
    if not url.startswith(("postgresql://", "postgres://")):
        return False
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _postgres_bindir() -> Path:
    """Directory holding initdb/pg_ctl: PATH first, then the newest Debian install."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise ServiceError(
            "PostgreSQL server binaries not found (no initdb on PATH or in "
            "/usr/lib/postgresql/*/bin): apt-get install -y postgresql, or set TEST_POSTGRES_URL"
        )
    return Path(candidates[-1]).parent


class PostgresCluster(Service):
    """A throwaway cluster (initdb + pg_ctl) tuned for tests: no fsync, trust auth, loopback."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.datadir: Path | None = None

    @property
    def admin_url(self) -> str:
        """Superuser URL to the ``postgres`` maintenance database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        """Run a server tool as ``postgres`` when we are root (initdb refuses root)."""
        cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            raise ServiceError(
                f"{' '.join(cmd)} failed with rc {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def start(self) -> Self:
        """initdb --no-sync, then pg_ctl start -w (about 0.6 s in total)."""
        bindir = _postgres_bindir()
        datadir = Path(tempfile.mkdtemp(prefix="lm-pg-"))
        self.datadir = datadir
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceError(
                    "running as root but there is no 'postgres' user to run initdb as"
                ) from exc
            os.chown(datadir, pw.pw_uid, pw.pw_gid)
        datadir.chmod(0o700)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir / "data"),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
            options = (
                f"-p {self.port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            self._run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(datadir / "data"),
                    "-l",
                    str(datadir / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    options,
                    "start",
                ]
            )
        except ServiceError as exc:
            log = tail(datadir / "server.log")
            self.stop()
            raise ServiceError(f"{exc}\nserver log:\n{log}") from exc
        return self

    def stop(self) -> None:
        """Immediate shutdown (nothing here needs to be durable) and remove the data dir."""
        datadir, self.datadir = self.datadir, None
        if datadir is None:
            return
        if (datadir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
                self._run(
                    [
                        str(_postgres_bindir() / "pg_ctl"),
                        "-D",
                        str(datadir / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ]
                )
        shutil.rmtree(datadir, ignore_errors=True)


def postgres_admin_url() -> str:
    """Superuser URL of a reachable server: TEST_POSTGRES_URL, local 5432, or a throwaway
    cluster."""
    return reachable("postgres", DEFAULT_POSTGRES_URL, _postgres_answers, _throwaway_cluster)


def _throwaway_cluster() -> str:
    cluster = PostgresCluster().start()
    atexit.register(cluster.stop)
    return cluster.admin_url


def create_database(admin_url: str, name: str) -> str:
    """Create an empty database from template0 and return its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return with_path(admin_url, f"/{name}")


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database even if connections are still open (leaky tests must not wedge CI)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
