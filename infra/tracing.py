"""OpenTelemetry tracing: one trace from a request through every role it sets in motion.

The W3C trace context (``traceparent``) of the span that appended an event is kept in the
event's metadata (``meta.trace_context``), copied into the Kafka record's headers by the
relay and into a job's message options by the queue, so the projector batch, the policy
reaction, the job and the events they append all continue the request's trace, whichever
process they run in (docs/tracing.md).

Off by default, and then free: no tracer is installed, :func:`span` is a ``nullcontext``
and :func:`carrier` an empty dict, so events carry no trace context and nothing scans for
one. :func:`setup` turns it on from the standard ``OTEL_*`` variables, which the SDK reads
itself (exporter endpoint, headers, sampler, batch sizes, resource attributes): they are
OpenTelemetry's settings, not this application's, so they stay outside ``Settings``.
Span attributes hold ids, names and counts only, never personal data or tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
)
from opentelemetry.trace import Link, SpanKind

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

Carrier = Mapping[str, str]
"""A W3C trace context as text headers: ``{"traceparent": ..., "tracestate": ...}``."""
TRACE_CONTEXT = "trace_context"
"""The key of the carrier in an event's ``meta`` and in a job message's options."""
MAX_LINKS = 32
"""A batch span links to at most this many of its events' traces."""


class _Installed:
    """The tracer spans are recorded with in this process (``None``: tracing is off)."""

    tracer: trace.Tracer | None = None


_installed = _Installed()


def enabled() -> bool:
    """Whether spans are recorded in this process."""
    return _installed.tracer is not None


def install(provider: trace.TracerProvider | None) -> None:
    """Record spans with ``provider`` (``None``: stop). Kept here rather than as the global
    provider, which OpenTelemetry lets a process set once: tests install one per test."""
    _installed.tracer = None if provider is None else provider.get_tracer("languagemate")


def exporting(environ: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables ask for OTLP export. Unlike the SDK's own default
    (``otlp``), nothing is exported until an exporter or an endpoint is named."""
    if environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return False
    exporters = {e.strip() for e in environ.get(OTEL_TRACES_EXPORTER, "").split(",") if e.strip()}
    if exporters:
        return "otlp" in exporters
    return bool(
        environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    )


def setup(role: str) -> SdkTracerProvider | None:
    """Install an OTLP-exporting tracer for this process when the ``OTEL_*`` variables ask
    for one (see :func:`exporting`) and return its provider; ``None``: tracing stays off.
    ``role`` names the service unless ``OTEL_SERVICE_NAME`` does."""
    if not exporting(os.environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"service.namespace": "languagemate", "languagemate.role": role}
    if not os.environ.get(OTEL_SERVICE_NAME):
        attributes["service.name"] = f"languagemate-{role}"
    # The provider exports what is still buffered when the process exits.
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    return provider


def carrier() -> dict[str, str]:
    """The current span's trace context as text headers; empty when nothing is traced."""
    if _installed.tracer is None:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def _parent(headers: Carrier | None) -> context.Context | None:
    """The context a carrier names, to start a span under; ``None`` for no carrier."""
    return propagate.extract(headers) if headers else None


def span(
    name: str,
    *,
    parent_context: Carrier | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Carrier] = (),
) -> AbstractContextManager[trace.Span | None]:
    """A span made current for the block: a child of the current span, or of
    ``parent_context`` (a carrier taken from an event, a record or a message). Yields
    ``None`` when tracing is off."""
    tracer = _installed.tracer
    if tracer is None:
        return nullcontext()
    return _span(tracer, name, parent_context, kind=kind, attributes=attributes or {}, links=links)


@contextmanager
def _span(
    tracer: trace.Tracer,
    name: str,
    parent_context: Carrier | None,
    *,
    kind: SpanKind,
    attributes: Mapping[str, Any],
    links: Sequence[Carrier],
) -> Iterator[trace.Span]:
    linked = [
        Link(trace.get_current_span(propagate.extract(c)).get_span_context())
        for c in links[:MAX_LINKS]
    ]
    with tracer.start_as_current_span(
        name, context=_parent(parent_context), kind=kind, attributes=dict(attributes), links=linked
    ) as current:
        yield current


@contextmanager
def resumed(headers: Carrier | None) -> Iterator[None]:
    """Make ``headers`` the current trace context for the block without starting a span:
    work deferred to the end of a batch (the jobs a reaction asked for) is sent as part of
    the reaction's trace."""
    if _installed.tracer is None or not headers:
        yield
        return
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


def of_event(meta: Mapping[str, Any]) -> Carrier | None:
    """The trace context stored in an event's ``meta`` (events appended before tracing, or
    while it was off, have none)."""
    found = meta.get(TRACE_CONTEXT)
    return found if isinstance(found, dict) and found else None
