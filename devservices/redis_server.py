"""Redis for tests and benchmarks: ``TEST_REDIS_URL``, the local server, or a private
``redis-server``."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from devservices.process import (
    Service,
    ServiceError,
    free_port,
    reachable,
    tail,
    wait_until,
    with_path,
)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_answers(url: str, timeout: float) -> bool:
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


class RedisServer(Service):
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
        wait_until(
            lambda: proc.poll() is not None or "Ready to accept connections" in tail(log),
            self.start_timeout,
        )
        if proc.poll() is not None or not _redis_answers(self.url(), 1.0):
            details = tail(log)
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


def redis_server_url() -> str:
    """URL (db 0) of a reachable Redis: TEST_REDIS_URL, local 6379, or a private server."""
    return reachable("redis", DEFAULT_REDIS_URL, _redis_answers, _private_server)


def _private_server() -> str:
    server = RedisServer().start()
    atexit.register(server.stop)
    return server.url()


def redis_db_url(server_url: str, db: int) -> str:
    """The same server as ``server_url`` but logical database ``db``."""
    return with_path(server_url, f"/{db}")
