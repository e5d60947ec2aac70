"""Kafka wiring shared by the relay, the Kafka event source and the tools.

The wire format of ``languagemate.events`` (documented for analysts in docs/kafka.md):
key = aggregate id (UTF-8), value = the stored event JSON
``{"schema_version", "meta", "data"}``, headers ``event-type``, ``schema-version``,
``position``, ``aggregate-version``, ``correlation-id``, ``causation-id``, ``prev-position``,
and ``traceparent`` (W3C trace context, with ``tracestate`` if any) for traced events.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.partitioner.default import murmur2

from infra.settings import Settings


def ensure_topic(settings: Settings) -> None:
    """Create the events topic explicitly (brokers may auto-create it with the wrong shape)."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="languagemate-admin"
    )
    try:
        if settings.kafka_topic in admin.list_topics():
            return
        # The topic is the readable history (docs/kafka.md): never expire records.
        topic = NewTopic(
            settings.kafka_topic,
            settings.kafka_partitions,
            replication_factor=1,
            topic_configs={"retention.ms": "-1"},
        )
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([topic])
    finally:
        admin.close()


NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


class TopicIdentity:
    """The events topic's id (KIP-516), cached for ``max_age`` seconds.

    A topic deleted and created again, or created afresh by a broker that lost its data,
    gets a new id, so a changed id tells the relay and the consumers that offsets they hold
    belong to a log that no longer exists. One instance per process is enough; the admin
    client is opened on first use."""

    def __init__(self, settings: Settings, max_age: float = 5.0) -> None:
        self.settings = settings
        self.max_age = max_age
        self._admin: KafkaAdminClient | None = None
        self._cached: tuple[float, str | None] | None = None
        self._lock = threading.Lock()

    def current(self) -> str | None:
        """The id, or None when the topic does not exist or the broker has no topic ids."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.max_age:
                return self._cached[1]
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.settings.kafka_bootstrap,
                    client_id="languagemate-topic-id",
                )
            try:
                described = self._admin.describe_topics([self.settings.kafka_topic])
            except UnknownTopicOrPartitionError:
                described = []
            ids = [str(d.get("topic_id") or "") for d in described if not d["error_code"]]
            topic_id = ids[0] if ids and ids[0] not in ("", NO_TOPIC_ID) else None
            self._cached = (time.monotonic(), topic_id)
            return topic_id

    def close(self) -> None:
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None
            self._cached = None


UNMETERED: dict[str, Any] = {"metrics_enabled": False}
"""kafka-python keeps its own sensors (rates, sizes, latencies per request) that nothing here
reads: the relay and the consumers report through Prometheus and OpenTelemetry. Recording
them was a tenth of the relay's Python time under chat load (py-spy, ``--gil``)."""


def producer(settings: Settings) -> KafkaProducer:
    """An idempotent, batching producer: acks from all replicas, lz4 on the wire."""
    return KafkaProducer(
        **UNMETERED,
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="languagemate-relay",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        compression_type="lz4",
        max_request_size=8 * 1024 * 1024,
        retries=2**31 - 1,
    )


def consumer(settings: Settings, group_id: str, **overrides: Any) -> KafkaConsumer:
    options: dict[str, Any] = {
        **UNMETERED,
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "client_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "max_poll_records": settings.projection_batch_size,
        "fetch_max_bytes": 16 * 1024 * 1024,
        # How long the broker may hold an empty fetch. Short means fresh read models, but
        # every consumer then sends a fetch that often, and each one costs Python CPU in
        # kafka-python's IO thread (measured: most of the projector's and policies' CPU).
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
    }
    options.update(overrides)
    return KafkaConsumer(**options)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the default partitioner picks for ``key`` (murmur2, like the JVM client)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


TICK_HEADER = "lm-tick"
"""A record with this header (and no key or value) is a watermark, not an event: the relay
has published every event up to the position it holds, so a consumer of that partition has
seen all of them once it reads the tick (see ``Relay.tick``)."""


PREV_HEADER = "prev-position"
"""Every record (event or tick) names the position of the event the relay published to the
same partition before it (0 for none). A consumer whose tracking is below that value has
missed records: its offset points into a log the broker rebuilt (see ``eventflow.relay``)."""


TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C trace context headers a traced event's record carries (docs/tracing.md)."""


def trace_headers(headers: list[tuple[str, bytes]]) -> dict[str, str] | None:
    """A record's trace context as a carrier, or ``None`` when it has none."""
    found = {key: value.decode("latin-1") for key, value in headers if key in TRACE_HEADERS}
    return found if "traceparent" in found else None


def header(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
