"""The two STOMP sockets in the AsyncAPI document: ``/ws/chat`` and ``/ws/notifications``.

Each socket is a server (STOMP 1.2 frames in WebSocket text messages, no subprotocol
negotiated, see ``api/stomp_session.py``) and each STOMP destination a channel: the ones a
client SUBSCRIBEs to are channels the application *sends* on (MESSAGE frames), the ones a
client SENDs to are channels it *receives* on. Destinations the SPA subscribes to but on
which nothing is sent yet are listed too, so a client knows they are accepted and quiet.

The shapes are those of the code that produces them: the SEND body of a chat message is
the command model (``commands.chat.PostMessage``) plus the voice data URL, and the
MESSAGE bodies are those built by ``projections.chat.message_view``, the typing signal in
``api/chat.py`` and ``projections.notifications.render`` (spa-contract section 5).
"""

from __future__ import annotations

from typing import Any

from api.views.notification_destinations import BROADCASTS, IGNORED_SENDS, USER_QUEUES
from commands.chat import PostMessage

STOMP_DESCRIPTION = (
    "STOMP 1.2 over a WebSocket (text frames, no subprotocol). CONNECT first, with "
    "`Authorization: Bearer <access token>` or the socket URL's `token` query parameter; "
    "a bad token gets ERROR `message:Unauthorized` and close code 1008. SUBSCRIBE or SEND "
    "to a destination the user may not use is ignored, never an ERROR."
)
_NULLABLE_STRING = {"type": ["string", "null"]}
_MESSAGE_HEADERS = {
    "type": "object",
    "description": "Headers of the STOMP MESSAGE frame.",
    "required": ["subscription", "message-id", "destination", "content-type"],
    "properties": {
        "subscription": {"type": "string", "description": "The client's SUBSCRIBE id."},
        "message-id": {"type": "string"},
        "destination": {"type": "string"},
        "content-type": {"type": "string", "const": "application/json"},
        "content-length": {"type": "string", "description": "UTF-8 byte length of the body."},
    },
}
_SEND_HEADERS = {
    "type": "object",
    "description": "Headers of the client's SEND frame.",
    "required": ["destination"],
    "properties": {
        "destination": {"type": "string"},
        "receipt": {"type": "string", "description": "Ask for a RECEIPT once handled."},
    },
}


def _all_required(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An object whose every property is always present (the server builds it)."""
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
    }


SCHEMAS: dict[str, Any] = {
    "ChatSender": _all_required(
        "How a sender is shown.",
        {
            "userId": {"type": "string"},
            "name": {"type": "string"},
            "profileImage": {**_NULLABLE_STRING, "description": "URL of the profile image."},
        },
    ),
    "ChatMessage": _all_required(
        "A message as `GET /api/v1/chat/rooms/{roomId}/messages` lists it; delivered to "
        "every subscriber, the sender included.",
        {
            "messageId": {"type": "string"},
            "roomId": {"type": "integer"},
            "sender": {"$ref": "#/components/schemas/ChatSender"},
            "message": {"type": "string"},
            "imageUrls": {"type": "array", "items": {"type": "string"}},
            "audioUrl": _NULLABLE_STRING,
            "audioDuration": {"type": ["number", "null"], "description": "Seconds."},
            "messageType": {"type": "string", "enum": ["TEXT", "IMAGE", "AUDIO", "MIXED"]},
            "sentAt": {"type": "string", "format": "date-time"},
        },
    ),
    "TypingSignal": _all_required(
        "Someone in the room started or stopped typing (not stored).",
        {
            "userId": {"type": "string"},
            "userName": {"type": "string"},
            "userProfileImage": _NULLABLE_STRING,
            "isTyping": {"type": "boolean"},
            "timestamp": {"description": "As the typing client sent it."},
        },
    ),
    "TypingUpdate": {
        "type": "object",
        "required": ["roomId"],
        "properties": {
            "roomId": {"type": "integer"},
            "isTyping": {"type": "boolean"},
            "timestamp": {"description": "Passed on to the others as it is."},
        },
    },
    "Notification": _all_required(
        "A new notification, in the recipient's language, as `GET /api/v1/notifications` lists it.",
        {
            "id": {"type": "string", "format": "uuid"},
            "type": {"type": "string"},
            "category": {"type": "string"},
            "title": {"type": "string"},
            "message": {"type": "string"},
            "content": {"type": "string", "description": "The same text as `message`."},
            "isRead": {"type": "boolean"},
            "createdAt": {"type": "string", "format": "date-time"},
            "clickUrl": _NULLABLE_STRING,
            "data": {"type": "object"},
            "priority": {"type": "string"},
        },
    ),
}


def _post_message_schema() -> dict[str, Any]:
    """The SEND body: the command model's fields by their wire names, plus the voice data
    URL (decoded and stored before the command) and the type the SPA sends (the server
    derives its own)."""
    schema = PostMessage.model_json_schema(by_alias=True)
    schema["properties"]["audioData"] = {
        **_NULLABLE_STRING,
        "description": "A voice message as a base64 `data:audio/(webm|ogg|mp4|mpeg|wav)` "
        "URL, at most 5 MB decoded.",
    }
    schema["properties"]["messageType"] = {
        "type": "string",
        "description": "Sent by the SPA; ignored (the server derives the type).",
    }
    schema["description"] = "Post a message; resending the same clientMessageId stores it once."
    return schema


def _message(name: str, headers: dict[str, Any]) -> dict[str, Any]:
    """A message whose payload is the schema of the same name."""
    return {
        "name": name,
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }


MESSAGES = {
    "ChatMessage": _message("ChatMessage", _MESSAGE_HEADERS),
    "TypingSignal": _message("TypingSignal", _MESSAGE_HEADERS),
    "Notification": _message("Notification", _MESSAGE_HEADERS),
    "PostChatMessage": _message("PostChatMessage", _SEND_HEADERS),
    "TypingUpdate": _message("TypingUpdate", _SEND_HEADERS),
}
ROOM_ID = {"roomId": {"description": "The chat room's number (members only)."}}
QUIET = "Subscriptions are accepted; nothing is sent here yet."


def _channel(
    server: str, address: str, messages: list[str], description: str, **extra: Any
) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "servers": [{"$ref": f"#/servers/{server}"}],
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        **extra,
    }


def _channels() -> dict[str, Any]:
    channels = {
        "chatRoom": _channel("chat", "/sub/chat/room/{roomId}", ["ChatMessage"],
                             "Messages of one room, in the order they were accepted.",
                             parameters=ROOM_ID),
        "chatRoomTyping": _channel("chat", "/sub/chat/room/{roomId}/typing", ["TypingSignal"],
                                   "Typing signals of one room.", parameters=ROOM_ID),
        "chatRoomsQueue": _channel("chat", "/user/queue/rooms", [], QUIET),
        "chatPublicRooms": _channel("chat", "/sub/chat/public-rooms", [], QUIET),
        "chatSendMessage": _channel("chat", "/pub/chat/message", ["PostChatMessage"],
                                    "Post a message to a room one is a member of."),
        "chatSendTyping": _channel("chat", "/pub/chat/typing", ["TypingUpdate"],
                                   "Tell the room one is typing."),
        "notificationsQueue": _channel("notifications", "/user/queue/notifications",
                                       ["Notification"], "The user's new notifications, "
                                       "sent when created (unless the user switched the "
                                       "category off)."),
    }  # fmt: skip
    quiet = sorted({*USER_QUEUES, *BROADCASTS} - {"/user/queue/notifications"})
    for address in quiet:
        channels[_name(address)] = _channel("notifications", address, [], QUIET)
    for address in sorted(IGNORED_SENDS):
        channels[_name(address)] = _channel(
            "notifications", address, [], "SEND is accepted and ignored (answered with a "
            "RECEIPT when one is asked for).",
        )  # fmt: skip
    return channels


def _name(address: str) -> str:
    """``/user/queue/session-notifications`` -> ``userQueueSessionNotifications``."""
    words = address.replace("-", "/").strip("/").split("/")
    return words[0] + "".join(word.capitalize() for word in words[1:])


def _operation(action: str, channel: str, title: str) -> dict[str, Any]:
    return {"action": action, "title": title, "channel": {"$ref": f"#/channels/{channel}"}}


OPERATIONS = {
    "deliverChatMessage": _operation("send", "chatRoom", "Deliver a room's messages"),
    "deliverTyping": _operation("send", "chatRoomTyping", "Deliver typing signals"),
    "postChatMessage": _operation("receive", "chatSendMessage", "Accept a message"),
    "signalTyping": _operation("receive", "chatSendTyping", "Accept a typing signal"),
    "deliverNotification": _operation("send", "notificationsQueue", "Push a notification"),
}


def socket_part(host: str, secure: bool) -> dict[str, Any]:
    """``servers``, ``channels``, ``operations`` and ``components`` entries of the sockets,
    served at ``host`` (``ws`` or, behind TLS, ``wss``)."""
    protocol = "wss" if secure else "ws"
    security = [
        {"$ref": "#/components/securitySchemes/bearer"},
        {"$ref": "#/components/securitySchemes/tokenQuery"},
    ]
    servers = {
        name: {
            "host": host,
            "pathname": f"/ws/{name}",
            "protocol": protocol,
            "title": f"{name.capitalize()} socket",
            "description": STOMP_DESCRIPTION,
            "security": security,
        }
        for name in ("chat", "notifications")
    }
    return {
        "servers": servers,
        "channels": _channels(),
        "operations": OPERATIONS,
        "components": {
            "schemas": {**SCHEMAS, "PostChatMessage": _post_message_schema()},
            "messages": MESSAGES,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access token, in the CONNECT frame's Authorization header.",
                },
                "tokenQuery": {
                    "type": "httpApiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The access token as the socket URL's `token` parameter.",
                },
            },
        },
    }
