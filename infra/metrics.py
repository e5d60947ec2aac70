"""Prometheus metrics, defined once and shared by every role (served at ``/metrics``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REQUEST_LATENCY = Histogram(
    "languagemate_http_request_seconds",
    "HTTP request latency by route template and status class",
    ["method", "route", "status"],
)
REQUESTS_SHED = Counter(
    "languagemate_http_requests_shed_total",
    "Requests answered 503 OVERLOADED before a route ran (api/admission.py), by why:"
    " queue_full, queue_wait, db_pool, read_model_lag, loop_lag",
    ["reason"],
)
EVENTS_APPENDED = Counter(
    "languagemate_events_appended_total", "Events appended to the event store", ["topic"]
)
RELAY_POSITION = Gauge("languagemate_relay_position", "Last event position published to Kafka")
RELAY_LAG = Gauge("languagemate_relay_lag_events", "Events stored but not yet published")
RELAY_PUBLISHED = Counter("languagemate_relay_published_total", "Events published to Kafka")
RELAY_REPUBLISHED = Counter(
    "languagemate_relay_republished_total",
    "Times the relay found the broker had lost records and republished the history",
)
KAFKA_GAPS = Counter(
    "languagemate_kafka_gaps_total",
    "Records found missing before a Kafka record (the partition is then read again)",
    ["partition"],
)
PROJECTION_EVENTS = Counter(
    "languagemate_projection_events_total", "Events applied by a projection", ["projection"]
)
PROJECTION_POSITION = Gauge(
    "languagemate_projection_position",
    "Last position applied by a projection, per source partition (-1 = notification log)",
    ["projection", "partition"],
)
PROJECTION_ERRORS = Counter(
    "languagemate_projection_errors_total",
    "Failed attempts to apply an event (poison events are retried, never dropped)",
    ["projection"],
)
READ_YOUR_WRITES_WAIT = Histogram(
    "languagemate_read_your_writes_wait_seconds",
    "How long a write's answer waited for the read model the SPA reads next to apply it,"
    " by projection and outcome (applied, late): what a write pays for read-your-writes",
    ["projection", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
MODELS_WARMED = Gauge(
    "languagemate_level_test_models_warm_seconds",
    "How long this worker process took to load the level test's models at start"
    " (workers/warm_up.py); 0 until they are loaded",
)
WORKER_DURATION = Histogram(
    "languagemate_worker_job_seconds", "Duration of worker jobs", ["actor", "outcome"]
)


@dataclass(frozen=True)
class SharedState:
    """What every process writes to shared storage, read by the API when scraped: the
    relay's and the projections' gauges above live in their own processes, which serve no
    HTTP, so Prometheus learns their progress here (as the admin dashboard does)."""

    head: int
    """The event log's last position."""
    relay: int | None
    """The position the relay saved (``None``: no relay in this mode)."""
    projections: list[tuple[str, int, float]]
    """Per projection: events behind the head, and the age in seconds of the oldest event
    it has yet to apply (0 when caught up): how stale what it serves may be."""
    queues: list[dict[str, Any]]
    """Per job queue: waiting, delayed and dead jobs (``infra.jobs.JobQueue.depths``)."""


LOG_HEAD = "languagemate_log_head_position"
RELAY_SAVED = "languagemate_relay_saved_position"
PROJECTION_LAG = "languagemate_projection_lag_events"
PROJECTION_STALENESS = "languagemate_projection_staleness_seconds"
JOB_QUEUE_DEPTH = "languagemate_job_queue_depth"


def shared_state_text(state: SharedState) -> bytes:
    """``state`` in the Prometheus text format, from a registry of its own per scrape (the
    values are read afresh each time; nothing is kept between scrapes)."""
    registry = CollectorRegistry()
    Gauge(LOG_HEAD, "Last position in the event log", registry=registry).set(state.head)
    if state.relay is not None:
        relay = Gauge(RELAY_SAVED, "Position the relay saved (published and acknowledged)",
                      registry=registry)  # fmt: skip
        relay.set(state.relay)
    lag = Gauge(PROJECTION_LAG, "Events a projection has yet to apply", ["projection"],
                registry=registry)  # fmt: skip
    stale = Gauge(PROJECTION_STALENESS, "Age of the oldest event a projection has yet to apply "
                  "(0: caught up)", ["projection"], registry=registry)  # fmt: skip
    for name, behind, seconds in state.projections:
        lag.labels(name).set(behind)
        stale.labels(name).set(seconds)
    depth = Gauge(JOB_QUEUE_DEPTH, "Jobs per queue: waiting, delayed (retry backoff) or dead",
                  ["queue", "state"], registry=registry)  # fmt: skip
    for queue in state.queues:
        for kind in ("waiting", "delayed", "dead"):
            depth.labels(queue["queue"], kind).set(queue[kind])
    return generate_latest(registry)
