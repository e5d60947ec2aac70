"""An S3 endpoint (moto, in process). ``ThreadedMotoServer.start()`` blocks forever if the
bind fails, so it gets a deadline."""

from __future__ import annotations

import threading
from typing import Self

from devservices.process import Service, ServiceError


class MotoS3(Service):
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
