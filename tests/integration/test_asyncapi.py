"""The AsyncAPI document at /asyncapi.json: valid against the official AsyncAPI 3.0 JSON
Schema (vendored in tests/data/asyncapi, see NOTICE), generated from the event catalogue,
and true to the wire: real Kafka records and real STOMP frames match its messages."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from jsonschema import Draft7Validator, Draft202012Validator
from kafka import KafkaConsumer, TopicPartition
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.cli import main
from app.runtime import Runtime
from domain.catalog import catalog
from tests.integration.test_cli import _env
from tests.support import StompClient, settled, signed_in_learner, token_of

ASYNCAPI_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "asyncapi" / "3.0.0.json"
DOCUMENT_URI = "urn:languagemate:asyncapi"


def _rt(client: TestClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined,no-any-return]


def _asyncapi_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` inside the document (its references to
    ``#/components/...`` resolved within the document)."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _check(document: dict[str, Any], pointer: str, instance: Any) -> None:
    errors = [e.message[:200] for e in _validator(document, pointer).iter_errors(instance)]
    assert errors == [], (pointer, errors)


@pytest.mark.parametrize("client", ["embedded"], indirect=True)
def test_the_document_is_valid_asyncapi_3_and_lists_every_event_type(
    client: TestClient, tmp_path: Path
) -> None:
    response = client.get("/asyncapi.json")  # anonymous: public like /openapi.json
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert _asyncapi_errors(document) == []
    for ref in set(_refs(document)):
        _resolve(document, ref)  # every reference points at something
    # The validation can fail: a document missing a required field or with an operation
    # action AsyncAPI 3 does not know is refused.
    broken = copy.deepcopy(document)
    del broken["info"]["version"]
    broken["operations"]["publishEvents"]["action"] = "publish"
    assert len(_asyncapi_errors(broken)) == 2

    channel = document["channels"]["events"]
    assert channel["address"] == _rt(client).settings.kafka_topic
    topics = {entry["topic"] for entry in catalog()}
    assert set(channel["messages"]) == topics | {"WatermarkTick"}
    registered = document["components"]["schemas"]["identity.AccountRegistered"]
    assert registered["properties"]["email"]["x-personal"] is True  # ciphertext on the wire
    assert "maxLength" not in registered["properties"]["email"]
    assert {server["pathname"] for server in document["servers"].values() if "pathname" in server
            } == {"/ws/chat", "/ws/notifications"}  # fmt: skip
    assert document["servers"]["chat"]["host"] == "testserver"  # as the client asked

    printed = CliRunner().invoke(main, ["events", "asyncapi"], env=_env(tmp_path / "var"))
    assert printed.exit_code == 0, printed.output
    from_cli = json.loads(printed.output)
    assert _asyncapi_errors(from_cli) == []
    for part in ("channels", "operations", "components"):
        assert from_cli[part] == document[part], part


def _records(rt: Runtime, events: int) -> list[Any]:
    """Every record of the events topic until ``events`` events were read (ticks too)."""
    topic, partitions = rt.settings.kafka_topic, rt.settings.kafka_partitions
    consumer = KafkaConsumer(bootstrap_servers=rt.settings.kafka_bootstrap,
                             enable_auto_commit=False, group_id=None)  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while sum(1 for r in records if r.key is not None) < events:
            assert time.monotonic() < deadline, "the topic never held every event"
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
        return records
    finally:
        consumer.close()


@pytest.mark.parametrize("client", ["kafka"], indirect=True)
def test_records_the_relay_published_match_their_messages(client: TestClient) -> None:
    rt = _rt(client)
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    sent = client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                       headers=mina["headers"])  # fmt: skip
    assert sent.status_code == 200, sent.text
    head = settled(rt)
    document = client.get("/asyncapi.json").json()
    records = _records(rt, head)
    seen_types, ticks = set(), 0
    for record in records:
        headers = {name: value.decode() for name, value in record.headers}
        if record.key is None:
            ticks += 1
            _check(document, "/components/messages/WatermarkTick/headers", headers)
            _check(document, "/components/messages/WatermarkTick/payload", record.value.decode())
            continue
        message = f"/components/messages/{headers['event-type']}"
        _check(document, f"{message}/headers", headers)
        _check(document, f"{message}/payload", json.loads(record.value))
        _check(document, f"{message}/bindings/kafka/key", record.key.decode())
        seen_types.add(headers["event-type"])
    assert {"identity.AccountRegistered", "matching.MatchRequested"} <= seen_types
    assert ticks > 0


def _subscribed(stomp: StompClient, user: dict[str, Any], destination: str) -> None:
    assert stomp.connect(token_of(user)).command == "CONNECTED"
    stomp.send("SUBSCRIBE", {"id": "s", "destination": destination, "receipt": "r"})
    assert stomp.next().headers["receipt-id"] == "r"


@pytest.mark.parametrize("client", ["embedded"], indirect=True)
def test_socket_frames_match_their_messages(client: TestClient) -> None:
    document = client.get("/asyncapi.json").json()
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    room_id = client.post("/api/v1/chat/rooms", json={"roomName": "Talk"},
                          headers=owner["headers"]).json()["data"]["roomId"]  # fmt: skip
    with client.websocket_connect("/ws/chat") as ws_chat, \
            client.websocket_connect("/ws/notifications") as ws_notes:  # fmt: skip
        chat, notes = StompClient(ws_chat), StompClient(ws_notes)
        _subscribed(chat, owner, f"/sub/chat/room/{room_id}")
        _subscribed(notes, guest, "/user/queue/notifications")
        body = {"roomId": room_id, "message": "hello", "imageUrls": [], "audioData": None,
                "messageType": "TEXT", "clientMessageId": "m-1"}  # fmt: skip
        headers = {"destination": "/pub/chat/message", "receipt": "r-1"}
        _check(document, "/components/messages/PostChatMessage/payload", body)
        _check(document, "/components/messages/PostChatMessage/headers", headers)
        chat.send("SEND", headers, body)
        frames = [chat.next(), chat.next()]
        delivered = next(f for f in frames if f.command == "MESSAGE")
        _check(document, "/components/messages/ChatMessage/headers", delivered.headers)
        _check(document, "/components/messages/ChatMessage/payload", json.loads(delivered.body))

        sent = client.post("/api/v1/matching/request", json={"targetUserId": guest["id"]},
                           headers=owner["headers"])  # fmt: skip
        assert sent.status_code == 200, sent.text
        pushed = notes.next()  # the policy pushes the new notification to the socket
        assert pushed.command == "MESSAGE"
        _check(document, "/components/messages/Notification/headers", pushed.headers)
        _check(document, "/components/messages/Notification/payload", json.loads(pushed.body))
