"""Tracing without I/O: off unless the ``OTEL_*`` variables ask, free when off, and the
trace context in event metadata read and written without changing older events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from commands.base import CommandBus, CommandContext
from devservices.settings import make_settings
from domain.events import EventMeta, event_id_for
from domain.system import CommandHandled
from eventflow.codec import RecordedEvent, decode, encode
from eventflow.store import EventStore, open_event_store
from infra import tracing

AGGREGATE = uuid4()


def _event(**meta: object) -> CommandHandled:
    return CommandHandled(
        meta=EventMeta(
            event_id=event_id_for(AGGREGATE, 1),
            aggregate_id=AGGREGATE,
            version=1,
            occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
            correlation_id=uuid4(),
            **meta,
        ),
        command="profiles.SetBio",
        outcome={},
    )


@pytest.mark.parametrize(
    ("environ", "exports"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_spans_are_exported_only_when_the_otel_variables_ask(
    environ: dict[str, str], exports: bool
) -> None:
    assert tracing.exporting(environ) is exports


def test_setup_without_otel_variables_leaves_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup("api") is None
    assert not tracing.enabled()
    with tracing.span("anything") as span:
        assert span is None
        assert tracing.carrier() == {}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_event_store(make_settings(tmp_path / "var"))
    yield opened
    opened.close()


def _handle(store: EventStore, key: str) -> RecordedEvent:
    """Run a command (an idempotency key makes it append its marker event) and return
    the event it stored."""
    before = store.max_position()
    CommandBus(store).run("tests.Traced", CommandContext(idempotency_key=key), lambda uow: {})
    [recorded] = store.read(before, 10)
    return recorded


def test_untraced_events_are_stored_as_before_and_carry_no_trace_context(
    store: EventStore,
) -> None:
    recorded = _handle(store, "off")
    assert "trace_context" not in recorded.document()["meta"]
    assert recorded.trace_context() is None
    assert recorded.decode().meta.trace_context is None


def test_an_event_written_before_tracing_existed_is_still_read() -> None:
    document = json.loads(encode(_event()).state)
    document["meta"].pop("trace_context", None)
    event = decode(CommandHandled.topic, json.dumps(document).encode(), position=7)
    assert event.meta.trace_context is None and event.meta.position == 7


def test_a_command_span_puts_its_trace_context_in_the_events_it_appends(
    spans: InMemorySpanExporter, store: EventStore
) -> None:
    with tracing.span("request") as request:
        assert request is not None
        recorded = _handle(store, "on")
    command = next(s for s in spans.get_finished_spans() if s.name == "command tests.Traced")
    assert command.parent is not None
    assert command.parent.span_id == request.get_span_context().span_id
    context = command.context
    stored = recorded.document()["meta"]["trace_context"]
    traceparent = stored["traceparent"]
    assert stored == {"traceparent": traceparent}
    assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert recorded.decode().meta.trace_context == {"traceparent": traceparent}
    assert recorded.trace_context() == {"traceparent": traceparent}

    with tracing.span("projector batch", parent_context=recorded.trace_context()):
        pass
    batch = spans.get_finished_spans()[-1]
    assert batch.parent is not None and batch.parent.span_id == context.span_id
    assert batch.context.trace_id == context.trace_id


def test_work_deferred_to_the_end_of_a_batch_resumes_the_reaction_trace(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("react policy.x"):
        saved = tracing.carrier()
    assert tracing.carrier() == {}
    with tracing.resumed(saved):
        assert tracing.carrier() == saved
    assert tracing.carrier() == {}
