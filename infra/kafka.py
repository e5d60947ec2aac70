"""Kafka wiring shared by the relay, the Kafka event source and the tools.

The wire format of ``languagemate.events`` (documented for analysts in docs/kafka.md):
key = aggregate id (UTF-8), value = the stored event JSON
``{"schema_version", "meta", "data"}``, headers ``event-type``, ``schema-version``,
``position``, ``aggregate-version``, ``correlation-id``, ``causation-id``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
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
        topic = NewTopic(settings.kafka_topic, settings.kafka_partitions, replication_factor=1)
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([topic])
    finally:
        admin.close()


def producer(settings: Settings) -> KafkaProducer:
    """An idempotent, batching producer: acks from all replicas, lz4 on the wire."""
    return KafkaProducer(
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


def header(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
