"""The Kafka topic in the AsyncAPI document, generated from the event catalogue.

Every record the relay (``infra/relay.py``) publishes is described as it is on the wire
(docs/kafka.md): the key is the aggregate id, the value the stored event document
``{"schema_version", "meta", "data"}`` byte for byte, and the headers name the type,
versions, position and message chain. Each event type is one message whose ``data`` is the
type's JSON Schema from ``languagemate events catalog``; the watermark ticks the relay
writes between events are one more message, so a consumer generated from the document
knows to skip them.

Two things differ from the catalogue, because the catalogue describes events as code sees
them and this describes the bytes on the topic:

* personal fields (``x-personal``) hold ciphertext (``pii:v1:...``) or an empty string, so
  their plaintext limits (length, pattern) are replaced by that description;
* pydantic's ``$defs`` are lifted into ``components/schemas``, where references inside an
  AsyncAPI document have to point.
"""

from __future__ import annotations

import copy
from typing import Any

from domain.catalog import catalog
from domain.events import EventMeta
from eventflow.kafka import PREV_HEADER, TICK_HEADER
from infra.settings import Settings

KAFKA_BINDING_VERSION = "0.5.0"
TICK_MESSAGE = "WatermarkTick"
PERSONAL_DESCRIPTION = (
    "Personal data, as stored: AES-GCM ciphertext `pii:v1:...` under its subject's key "
    "(an empty string when empty). Deleting the account destroys the key, after which it "
    "can never be read again."
)

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
_UUID_OR_EMPTY = {"type": "string", "pattern": "^([0-9a-f-]{36})?$"}
EVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Kafka record headers (UTF-8 text); docs/kafka.md.",
    "required": [
        "event-type",
        "schema-version",
        "position",
        "aggregate-version",
        "correlation-id",
        "causation-id",
        PREV_HEADER,
    ],
    "properties": {
        "event-type": {"type": "string", "description": "The stable topic of the event type."},
        "schema-version": {**_DIGITS, "description": "The payload's schema version."},
        "position": {
            **_DIGITS,
            "description": "Global position in the event store (increasing, may have gaps); "
            "keep the highest applied per partition to drop redeliveries.",
        },
        "aggregate-version": {**_DIGITS, "description": "Version within the aggregate."},
        "correlation-id": {**_UUID_OR_EMPTY, "description": "The request's id; empty if none."},
        "causation-id": {
            **_UUID_OR_EMPTY,
            "description": "The event a policy reacted to; empty if none.",
        },
        PREV_HEADER: {
            **_DIGITS,
            "description": "Position of the record published to this partition before this "
            "one (0 for the first): a consumer whose last applied position is lower missed "
            "records and re-reads the partition.",
        },
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C trace context of the relay's publish span, on events appended "
            "while tracing was on (docs/tracing.md): a traced consumer continues the trace.",
        },
        "tracestate": {"type": "string", "description": "W3C trace state, when there is one."},
    },
}


def _meta_schema() -> dict[str, Any]:
    """``meta`` as stored: :class:`EventMeta` without ``position`` (known only by the store,
    sent as a header)."""
    schema = EventMeta.model_json_schema(mode="serialization")
    schema["properties"].pop("position")
    schema["required"] = [name for name in schema.get("required", []) if name != "position"]
    schema["additionalProperties"] = False
    return schema


def _rewrite_refs(node: Any, names: dict[str, str]) -> Any:
    """``node`` with every ``#/$defs/X`` reference pointing at ``components/schemas``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**node, "$ref": f"#/components/schemas/{names[ref[len('#/$defs/') :]]}"}
        return {key: _rewrite_refs(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(value, names) for value in node]
    return node


def _as_stored(schema: dict[str, Any]) -> dict[str, Any]:
    """The payload schema with personal fields described as the ciphertext they are."""
    stored = copy.deepcopy(schema)
    for name, field in stored["properties"].items():
        if field.get("x-personal"):
            stored["properties"][name] = {
                "type": "string",
                "title": field.get("title", name),
                "description": PERSONAL_DESCRIPTION,
                "x-personal": True,
            }
    return stored


def _lift_defs(topic: str, schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move ``schema``'s ``$defs`` into ``schemas``: under their own name, or prefixed with
    the topic where another event already uses that name for something else."""
    defs = schema.pop("$defs", {})
    names = {}
    for name, definition in defs.items():
        key = name if schemas.get(name, definition) == definition else f"{topic}.{name}"
        schemas[key] = definition
        names[name] = key
    return _rewrite_refs(schema, names) if names else schema


def _message(entry: dict[str, Any]) -> dict[str, Any]:
    topic, version = entry["topic"], entry["schemaVersion"]
    description = entry["description"] or f"The {topic} event."
    return {
        "name": topic,
        "title": topic,
        "summary": description.split("\n\n")[0].replace("\n", " "),
        "contentType": "application/json",
        "correlationId": {"$ref": "#/components/correlationIds/eventCorrelation"},
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/EventRecordHeaders"},
                {"properties": {"event-type": {"const": topic}}},
            ]
        },
        "payload": {
            "type": "object",
            "required": ["schema_version", "meta", "data"],
            "additionalProperties": False,
            "properties": {
                "schema_version": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": version,
                    "description": f"{version} now; a record written under an older "
                    "version keeps it (readers upcast).",
                },
                "meta": {"$ref": "#/components/schemas/EventMeta"},
                "data": {"$ref": f"#/components/schemas/{topic}"},
            },
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The aggregate id: one aggregate's events share a "
                    "partition, in version order.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _tick() -> dict[str, Any]:
    return {
        "name": TICK_MESSAGE,
        "title": "Watermark tick",
        "summary": "Every event up to the position in the header has been published to "
        "this partition; not an event: skip it.",
        "headers": {
            "type": "object",
            "required": [TICK_HEADER, PREV_HEADER],
            "additionalProperties": False,
            "properties": {
                TICK_HEADER: {**_DIGITS, "description": "A log position."},
                PREV_HEADER: EVENT_HEADERS["properties"][PREV_HEADER],
            },
        },
        "payload": {"type": "string", "maxLength": 0, "description": "Empty."},
        "bindings": {
            "kafka": {
                "key": {"type": "null", "description": "Ticks carry no key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def kafka_part(settings: Settings) -> dict[str, Any]:
    """``servers``, ``channels``, ``operations`` and ``components`` entries of the topic."""
    schemas: dict[str, Any] = {"EventMeta": _meta_schema(), "EventRecordHeaders": EVENT_HEADERS}
    messages: dict[str, Any] = {}
    for entry in catalog():
        topic = entry["topic"]
        schemas[topic] = _lift_defs(topic, _as_stored(entry["schema"]), schemas)
        messages[topic] = _message(entry)
    messages[TICK_MESSAGE] = _tick()
    bootstrap = settings.kafka_bootstrap.split(",")[0].strip()
    return {
        "servers": {
            "kafka": {
                "host": bootstrap or "localhost:9092",
                "protocol": "kafka",
                "description": "The event bus (LANGUAGEMATE_KAFKA_BOOTSTRAP; the embedded "
                "mode runs without one). The relay publishes every stored event in global "
                "order, at least once.",
            }
        },
        "channels": {
            "events": {
                "address": settings.kafka_topic,
                "title": "The event history",
                "description": "Every stored event, in global order per aggregate, kept "
                "forever (retention.ms=-1). Order across partitions by the position header.",
                "servers": [{"$ref": "#/servers/kafka"}],
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "kafka": {
                        "topic": settings.kafka_topic,
                        "partitions": settings.kafka_partitions,
                        "topicConfiguration": {"retention.ms": -1},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
        },
        "operations": {
            "publishEvents": {
                "action": "send",
                "title": "The relay publishes the event log",
                "summary": "Partition = murmur2(key) like the Java client; read with any "
                "Kafka client (docs/kafka.md).",
                "channel": {"$ref": "#/channels/events"},
            }
        },
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "eventCorrelation": {
                    "description": "The request that caused the event (shared by all the "
                    "events of one request and of the policies reacting to them).",
                    "location": "$message.header#/correlation-id",
                }
            },
        },
    }
