"""Prometheus metrics, defined once and shared by every role (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_LATENCY = Histogram(
    "languagemate_http_request_seconds",
    "HTTP request latency by route template and status class",
    ["method", "route", "status"],
)
REQUESTS_SHED = Counter(
    "languagemate_http_requests_shed_total",
    "Requests answered 503 OVERLOADED before a route ran (api/admission.py), by why:"
    " queue_full, queue_wait, db_pool",
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
WORKER_DURATION = Histogram(
    "languagemate_worker_job_seconds", "Duration of worker jobs", ["actor", "outcome"]
)
