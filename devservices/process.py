"""What every throwaway service needs: a free port, a unique name, a deadline, a log tail,
and a per-process cache so each kind of server is started at most once."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit


class Service(ABC):
    """A backing service started for a test or a benchmark and stopped after it; as a
    context manager it is closed (stopped, its files removed) on the way out."""

    @abstractmethod
    def start(self) -> Self:
        """Start and wait until it answers; returns itself."""

    @abstractmethod
    def stop(self) -> None:
        """Stop it; idempotent."""

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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


def tail(path: Path, limit: int = 2000) -> str:
    """Last bytes of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no log>"


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def with_path(url: str, path: str) -> str:
    """Replace the path of a URL (database name for Postgres, db number for Redis)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


_lock = threading.Lock()
_urls: dict[str, str] = {}


def reachable(
    kind: str, default: str, answers: Callable[[str, float], bool], throwaway: Callable[[], str]
) -> str:
    """The URL of a ``kind`` server: ``TEST_<KIND>_URL`` when set (it must answer), else
    ``default`` when it answers, else a ``throwaway()`` one (started at most once per
    process, stopped at interpreter exit by whoever started it)."""
    with _lock:
        if kind not in _urls:
            _urls[kind] = _find(kind, default, answers, throwaway)
        return _urls[kind]


def _find(
    kind: str, default: str, answers: Callable[[str, float], bool], throwaway: Callable[[], str]
) -> str:
    variable = f"TEST_{kind.upper()}_URL"
    configured = os.environ.get(variable)
    if configured:
        if not answers(configured, 5):
            raise ServiceError(f"{variable}={configured} does not answer")
        return configured
    return default if answers(default, 2) else throwaway()
