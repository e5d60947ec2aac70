"""Web Push delivery (RFC 8030 with VAPID, RFC 8292, and aes128gcm payloads, RFC 8291)
through ``pywebpush``.

The endpoint of a browser's push subscription is a URL the *client* chose, and the server
POSTs to it: without a check that is a server-side request forgery hole. Endpoints must be
HTTPS on one of the known push services (``webpush_endpoint_hosts``, shell-style patterns);
plain HTTP is allowed only when ``webpush_allow_http`` is set (the tests' local stand-in).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from infra.settings import Settings

log = logging.getLogger(__name__)
TIME_TO_LIVE_SECONDS = 24 * 3600
"""How long a push service keeps a message for a device that is offline."""


class InvalidSubscription(ValueError):
    """A push subscription that is malformed or points somewhere it must not."""


class Delivery(Enum):
    SENT = "sent"
    GONE = "gone"
    """The push service no longer knows the subscription (404/410): remove the device."""
    REFUSED = "refused"
    """The service refused this message for good (400, 413, ...): retrying cannot help."""


class TransientPushError(Exception):
    """The push service is unreachable, throttling or failing: retry later."""


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str


def _b64url(value: str, length: int, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(f"{what} is not base64url") from None
    if len(raw) != length:
        raise InvalidSubscription(f"{what} must be {length} bytes")
    return raw


class WebPush:
    def __init__(self, settings: Settings) -> None:
        self._private_key = settings.webpush_vapid_private_key
        self._subject = settings.webpush_vapid_subject
        self._hosts = [h.strip().lower() for h in settings.webpush_endpoint_hosts.split(",") if h]
        self._allow_http = settings.webpush_allow_http
        self._vapid = Vapid.from_string(self._private_key) if self._private_key else None

    @property
    def enabled(self) -> bool:
        return self._vapid is not None

    @property
    def public_key(self) -> str | None:
        """The VAPID application server key, base64url, as ``PushManager.subscribe`` wants."""
        if self._vapid is None:
            return None
        raw = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def check(self, endpoint: str, p256dh: str, auth: str) -> Subscription:
        """A valid subscription on an allowed push service, or :class:`InvalidSubscription`."""
        parts = urlsplit(endpoint)
        schemes = ("https", "http") if self._allow_http else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            raise InvalidSubscription("the endpoint must be an https URL")
        host = parts.hostname.lower()
        if not any(fnmatch.fnmatchcase(host, pattern) for pattern in self._hosts):
            raise InvalidSubscription("the endpoint is not on a known push service")
        if _b64url(p256dh, 65, "keys.p256dh")[0] != 4:
            raise InvalidSubscription("keys.p256dh must be an uncompressed P-256 point")
        _b64url(auth, 16, "keys.auth")
        return Subscription(endpoint, p256dh, auth)

    def send(self, subscription: Subscription, payload: dict[str, Any]) -> Delivery:
        if self._vapid is None:
            raise RuntimeError(
                "Web Push is not configured (LANGUAGEMATE_WEBPUSH_VAPID_PRIVATE_KEY)"
            )
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            webpush(
                info,
                data=orjson.dumps(payload).decode(),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},
                ttl=TIME_TO_LIVE_SECONDS,
                timeout=10,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (404, 410):
                return Delivery.GONE
            if status is None or status == 429 or status >= 500:
                raise TransientPushError(f"push service answered {status}") from None
            log.warning("push service refused a message with %s", status)
            return Delivery.REFUSED
        except OSError as exc:  # requests' connection errors are OSErrors
            raise TransientPushError(type(exc).__name__) from None
        return Delivery.SENT
