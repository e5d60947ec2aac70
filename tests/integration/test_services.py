"""Prove the service fixtures start real, isolated services (quick smoke tests)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import psycopg
import pytest
import redis
from botocore.config import Config
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from devservices import Tansu, create_database, drop_database


@pytest.mark.kafka
def test_kafka_round_trip_with_headers_and_group(
    kafka_bootstrap: str,
    kafka_topic_factory: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    """Produce with headers, consume through a consumer group (the path projections use)."""
    topic = kafka_topic_factory("svc", partitions=1)
    headers = [("event-type", b"TrackUploaded"), ("schema-version", b"2"), ("empty", b"")]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        producer.send(topic, key=b"k1", value=b"hello", headers=headers).get(timeout=10)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("g"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,  # Tansu holds JoinGroup for session_timeout/2
        heartbeat_interval_ms=500,
    )
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + 20
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert records, "no record consumed within 20 s"
        rec = records[0]
        assert (rec.key, rec.value) == (b"k1", b"hello")
        assert list(rec.headers) == headers
        consumer.commit()
    finally:
        consumer.close()


@pytest.mark.kafka
def test_tansu_restart_keeps_port_and_loses_topics(tmp_path: Path) -> None:
    """Fault tests rely on restart() returning an empty broker on the same address."""
    with Tansu(log_path=tmp_path / "tansu.log") as broker:
        bootstrap = broker.bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_topics([NewTopic("before", 1, 1)])
            assert "before" in admin.list_topics()
        finally:
            admin.close()
        broker.restart()
        assert broker.bootstrap == bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            assert "before" not in admin.list_topics()
        finally:
            admin.close()
    assert broker.proc is None


def test_s3_put_get(s3_endpoint: str, unique_name: Callable[[str], str]) -> None:
    """boto3 talks to the moto endpoint with path-style addressing."""
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    bucket = unique_name("bkt")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"payload", ContentType="text/plain")
    obj = s3.get_object(Bucket=bucket, Key="a/b.txt")
    assert obj["Body"].read() == b"payload"
    assert obj["ContentType"] == "text/plain"


@pytest.mark.postgres
def test_postgres_fresh_database_is_empty_and_writable(postgres_url: str) -> None:
    """Each test gets its own empty database."""
    assert postgres_url.startswith("postgresql://")
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'x')")
        assert conn.execute("SELECT v FROM t").fetchall() == [("x",)]


@pytest.mark.postgres
def test_drop_database_forces_out_open_connections(postgres_admin_url: str) -> None:
    """A test that leaks a connection must not block the database drop."""
    name = f"lm_t_{uuid.uuid4().hex[:8]}"
    leaked = psycopg.connect(create_database(postgres_admin_url, name))
    try:
        drop_database(postgres_admin_url, name)
        with psycopg.connect(postgres_admin_url) as admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            assert found.fetchone() is None
    finally:
        leaked.close()


@pytest.mark.parametrize("round_", range(16))  # one more than the rotation of dbs 1..15
def test_redis_db_is_flushed(redis_url: str, round_: int) -> None:
    """Whatever an earlier test left in the rotated db is gone."""
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
        assert client.connection_pool.connection_kwargs["db"] != 0
        client.set("leftover", round_)
    finally:
        client.close()
