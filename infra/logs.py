"""Structured JSON logs on stderr, one object per line, for every role.

Each line carries the correlation id of the request, policy reaction or job it was written
for (the same id the events of that work carry in ``meta.correlation_id``), so one user
action can be followed across processes. Messages never include personal data: log ids,
not e-mails, names or texts.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from uuid import UUID

CORRELATION_ID: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@contextmanager
def correlated(correlation_id: UUID | str | None) -> Iterator[None]:
    """Log lines written inside carry ``correlation_id``."""
    token = CORRELATION_ID.set(str(correlation_id) if correlation_id else None)
    try:
        yield
    finally:
        CORRELATION_ID.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        correlation_id = CORRELATION_ID.get()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING)
