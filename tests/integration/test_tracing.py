"""One trace across every role: the spans a user's action produces, exported by the SDK's
in-memory exporter, form a single tree from the HTTP request through the relay, the
projectors, the policies and the workers to the result event (docs/tracing.md).

The test plays a traced client (the SPA): it opens the root span and sends its
``traceparent`` with every request, as a browser with OpenTelemetry would."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import tests.integration.test_level_test as level_test
from app.runtime import Runtime
from domain.level_tests import LevelAssessed
from infra import tracing
from tests.support import settled

recording = level_test.recording
"""The spoken answer (espeak-ng) the level test module records."""


def _orphans(finished: Sequence[ReadableSpan], trace_id: int) -> list[str]:
    """The ended spans of the trace whose parent has not ended (or never will)."""
    mine = {s.context.span_id: s for s in finished if s.context.trace_id == trace_id}
    return [s.name for s in mine.values() if s.parent and s.parent.span_id not in mine]


def _wait_for(spans: InMemorySpanExporter, trace_id: int, *names: str) -> Sequence[ReadableSpan]:
    """The finished spans once one of each name has ended and every ended span of the trace
    has its parent among them (roles run on their own threads and end their spans after
    they commit, and a parent ends just after its last child: a reaction's span after the
    command it sent). A parent that never ends shows in :func:`_tree` after the deadline."""
    deadline = time.monotonic() + 120
    while True:
        finished = spans.get_finished_spans()
        missing = [n for n in names if not any(s.name == n for s in finished)]
        if (not missing and not _orphans(finished, trace_id)) or time.monotonic() >= deadline:
            assert not missing, f"no span {missing} ended"
            return finished
        time.sleep(0.1)


def _tree(finished: Sequence[ReadableSpan], trace_id: int) -> dict[int, ReadableSpan]:
    """The spans of one trace by id, checked to be one tree: a single root and every
    other span's parent among them."""
    mine = {s.context.span_id: s for s in finished if s.context.trace_id == trace_id}
    roots = [s.name for s in mine.values() if s.parent is None]
    assert len(roots) == 1, roots
    assert _orphans(finished, trace_id) == []
    return mine


def _parent(span: ReadableSpan, tree: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    return tree[span.parent.span_id]


def _lineage(span: ReadableSpan, tree: dict[int, ReadableSpan]) -> list[str]:
    """The names from ``span`` up to the root."""
    names = [span.name]
    while span.parent is not None:
        span = tree[span.parent.span_id]
        names.append(span.name)
    return names


def _trace_id(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


@pytest.mark.parametrize("client", ["kafka"], indirect=True)
def test_a_sign_up_is_one_trace_from_http_through_relay_projector_and_policy(
    spans: InMemorySpanExporter, client: TestClient
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with tracing.span("SPA sign-up", kind=SpanKind.CLIENT) as root:
        assert root is not None
        traced = tracing.carrier()
        login = client.post("/api/v1/auth/dev-login", headers=traced,
                            json={"email": "mina@example.com", "name": "Mina"})  # fmt: skip
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['data']['accessToken']}", **traced}
        chosen = client.post("/api/v1/onboarding/interest/topic", headers=auth,
                             json={"topicIds": [1, 2, 3]})  # fmt: skip
        assert chosen.status_code == 200, chosen.text
    trace_id = root.get_span_context().trace_id
    settled(rt)
    finished = _wait_for(
        spans, trace_id, "POST /api/v1/auth/dev-login", "POST /api/v1/onboarding/interest/topic",
        "publish profiles.InterestsChosen", "react policy.matching.embedder",
    )  # fmt: skip

    # Every span of the sign-up is in the one trace, and the trace is one tree.
    assert {s.context.trace_id for s in finished} == {trace_id}
    tree = _tree(finished, trace_id)
    by_kind = {kind: [s for s in tree.values() if s.kind == kind] for kind in SpanKind}
    requests = {s.name for s in by_kind[SpanKind.SERVER]}
    assert requests == {"POST /api/v1/auth/dev-login", "POST /api/v1/onboarding/interest/topic"}
    assert all(_parent(s, tree).name == "SPA sign-up" for s in by_kind[SpanKind.SERVER])

    # The request is the parent of its commands; the events carry the command's context.
    [chose] = [s for s in tree.values() if s.name == "command profiles.ChooseInterests"]
    assert _parent(chose, tree).name == "POST /api/v1/onboarding/interest/topic"
    stored = [r for r in rt.store.read_all() if r.topic == "profiles.InterestsChosen"]
    assert len(stored) == 1
    carrier = stored[0].document()["meta"]["trace_context"]
    assert carrier["traceparent"].startswith(f"00-{trace_id:032x}-{chose.context.span_id:016x}-")

    # The relay publishes each traced event under a producer span (a child of the command
    # that appended it) whose context the record's traceparent header carries: the
    # projectors' batches read from Kafka are children of those publishes; the audit
    # chain, which follows the log itself (global order), of the commands.
    published = by_kind[SpanKind.PRODUCER]
    assert published and all(_parent(s, tree).name.startswith("command ") for s in published)
    assert len(published) == sum(1 for r in rt.store.read_all() if r.trace_context())
    batches = {(s.name, _parent(s, tree).name.split(" ")[0]) for s in tree.values()
               if s.name.startswith("project ")}  # fmt: skip
    assert batches == {("project read-models", "publish"), ("project audit_chain", "command")}

    # The policy reacts in the same trace (the jobs a reaction sends carry it on to the
    # workers: the level test below).
    [reaction] = [s for s in tree.values() if s.name == "react policy.matching.embedder"]
    assert "POST /api/v1/onboarding/interest/topic" in _lineage(reaction, tree)
    assert reaction.attributes is not None
    assert reaction.attributes["languagemate.event_type"] == "profiles.InterestsChosen"

    # No span holds what was typed in: no e-mail, no name, no token.
    for span in tree.values():
        text = repr(dict(span.attributes or {}))
        assert "mina" not in text.lower() and "Bearer" not in text


@pytest.mark.workers
@pytest.mark.settings(llm_model="off", level_test_wait_seconds=90)
@pytest.mark.parametrize("client", ["embedded"], indirect=True)
@pytest.mark.skipif(not level_test.speech.available(), reason="the speech extra is not installed")
def test_a_level_test_is_one_trace_from_upload_through_the_workers_to_the_result(
    spans: InMemorySpanExporter, client: TestClient, recording: bytes
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = level_test.signed_in_learner(client, "Sora", native=1, target=2)
    with tracing.span("SPA level test", kind=SpanKind.CLIENT) as root:
        assert root is not None
        user["headers"].update(tracing.carrier())
        test_id = level_test._start(client, user)
        uploaded = level_test._upload(client, user, test_id, recording)
        assert uploaded.status_code == 200, uploaded.text
        analyzed = client.post(f"/api/v1/level-test/voice/{test_id}/analyze",
                               headers=user["headers"])  # fmt: skip
        assert analyzed.status_code == 200, analyzed.text
    trace_id = root.get_span_context().trace_id
    finished = _wait_for(
        spans, trace_id, "job leveltest.transcribe", "job leveltest.assess",
        "command leveltest.RecordAssessment",
    )  # fmt: skip
    tree = _tree(finished, trace_id)
    names = {s.name for s in tree.values()}
    assert {"POST /api/v1/level-test/voice/{test_id}/upload", "react policy.leveltest.pipeline",
            "job leveltest.transcribe", "job leveltest.assess"} <= names  # fmt: skip

    # The upload's answer goes to a worker in the trace: request -> command -> reaction ->
    # job -> the transcript's command.
    [transcribe] = [s for s in tree.values() if s.name == "job leveltest.transcribe"]
    assert transcribe.kind == SpanKind.CONSUMER
    lineage = _lineage(transcribe, tree)
    assert lineage[1] == "react policy.leveltest.pipeline"
    assert "POST /api/v1/level-test/voice/{test_id}/upload" in lineage

    # The result event carries the trace, under the assessment job's command.
    [assessed] = [r.decode() for r in rt.store.read_all() if r.topic == LevelAssessed.topic]
    assert assessed.meta.trace_context is not None
    assert _trace_id(assessed.meta.trace_context["traceparent"]) == trace_id
    [recorded] = [s for s in tree.values() if s.name == "command leveltest.RecordAssessment"]
    assert _parent(recorded, tree).name == "job leveltest.assess"
    assert _lineage(recorded, tree)[-1] == "SPA level test"


class _Collector(BaseHTTPRequestHandler):
    """A local stand-in for the OTLP/HTTP receiver (Jaeger's port 4318): keeps each POST."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was received."""


def test_the_otel_variables_send_each_roles_spans_to_the_otlp_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = tracing.setup("relay")
    assert provider is not None
    try:
        with tracing.span("publish identity.AccountRegistered", kind=SpanKind.PRODUCER):
            pass
        assert provider.force_flush()
    finally:
        tracing.install(None)
        provider.shutdown()
        server.shutdown()
        server.server_close()
    [(path, body)] = _Collector.received
    assert path == "/v1/traces"
    [exported] = ExportTraceServiceRequest.FromString(body).resource_spans
    resource = {a.key: a.value.string_value for a in exported.resource.attributes}
    assert resource["service.name"] == "languagemate-relay"
    assert resource["languagemate.role"] == "relay"
    names = [span.name for scope in exported.scope_spans for span in scope.spans]
    assert names == ["publish identity.AccountRegistered"]
