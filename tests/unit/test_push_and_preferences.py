"""Web Push rules without I/O: which endpoints the server will POST to, how devices are
kept per user, and when quiet hours hold a push back."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time
from pathlib import Path
from uuid import uuid4

import pytest

from devservices.settings import make_settings
from domain.aggregate import Cause
from domain.push_devices import (
    MAX_DEVICES,
    PushDeviceRegistered,
    PushDeviceRemoved,
    PushDevices,
    push_devices_id,
)
from domain.settings import NotificationSettings
from infra.webpush import InvalidSubscription, WebPush

USER = "00000000-0000-0000-0000-0000000000bb"
CAUSE = Cause(occurred_at=datetime(2026, 11, 26, tzinfo=UTC), correlation_id=uuid4())
P256DH = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(b"\x02" * 16).rstrip(b"=").decode()


def _web_push(tmp_path: Path, **overrides: object) -> WebPush:
    return WebPush(make_settings(tmp_path, **overrides))


def test_only_https_endpoints_on_known_push_services_are_accepted(tmp_path: Path) -> None:
    push = _web_push(tmp_path)
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://db5p.notify.windows.com/w/?token=1",
        "https://web.push.apple.com/QGx",
    ):
        assert push.check(endpoint, P256DH, AUTH).endpoint == endpoint
    for endpoint in (
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://fcm.googleapis.com.evil.example/x",  # look-alike host
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://127.0.0.1:6379/",  # an internal service
        "file:///etc/passwd",
        "not a url",
    ):
        with pytest.raises(InvalidSubscription):
            push.check(endpoint, P256DH, AUTH)
    loopback = _web_push(tmp_path, webpush_endpoint_hosts="127.0.0.1", webpush_allow_http=True)
    assert loopback.check("http://127.0.0.1:9/push", P256DH, AUTH)


@pytest.mark.parametrize(
    ("p256dh", "auth"),
    [
        ("!!!", AUTH),
        (base64.urlsafe_b64encode(b"\x04" * 33).decode(), AUTH),  # compressed-size point
        (base64.urlsafe_b64encode(b"\x05" + b"\x01" * 64).decode(), AUTH),  # not uncompressed
        (P256DH, base64.urlsafe_b64encode(b"\x02" * 8).decode()),  # short auth secret
    ],
)
def test_malformed_subscription_keys_are_refused(tmp_path: Path, p256dh: str, auth: str) -> None:
    with pytest.raises(InvalidSubscription):
        _web_push(tmp_path).check("https://fcm.googleapis.com/fcm/send/abc", p256dh, auth)


def test_web_push_is_off_without_a_vapid_key(tmp_path: Path) -> None:
    push = _web_push(tmp_path)
    assert not push.enabled and push.public_key is None


def _register(devices: PushDevices, n: int) -> str:
    return devices.register(CAUSE, user_id=USER, endpoint=f"https://fcm.googleapis.com/{n}",
                            p256dh=P256DH, auth=AUTH, device_type="web")  # fmt: skip


def test_devices_register_once_and_the_oldest_makes_room() -> None:
    devices = PushDevices(push_devices_id(USER))
    first = _register(devices, 0)
    assert _register(devices, 0) == first  # the SPA registers on every start
    assert [type(e) for e in devices.collect()] == [PushDeviceRegistered]
    for n in range(1, MAX_DEVICES + 1):
        _register(devices, n)
    events = devices.collect()
    assert len(devices.devices) == MAX_DEVICES and first not in devices.devices
    removed = [e for e in events if isinstance(e, PushDeviceRemoved)]
    assert [(e.device, e.reason) for e in removed] == [(first, "replaced")]
    devices.remove(CAUSE, user_id=USER, device=first, reason="expired")  # already gone
    assert devices.collect() == []
    with pytest.raises(ValueError, match="another user"):
        PushDevices(push_devices_id("someone-else")).register(
            CAUSE, user_id=USER, endpoint="https://x", p256dh=P256DH, auth=AUTH, device_type="web"
        )


@pytest.mark.parametrize(
    ("start", "end", "now", "quiet"),
    [
        ("22:00", "08:00", "23:30", True),
        ("22:00", "08:00", "07:59", True),
        ("22:00", "08:00", "08:00", False),
        ("22:00", "08:00", "12:00", False),
        ("13:00", "14:00", "13:30", True),
        ("13:00", "14:00", "14:30", False),
    ],
)
def test_quiet_hours_include_windows_across_midnight(
    start: str, end: str, now: str, quiet: bool
) -> None:
    settings = NotificationSettings(quietHoursEnabled=True, quietHoursStart=start,
                                    quietHoursEnd=end)  # fmt: skip
    assert settings.quiet_at(time.fromisoformat(now)) is quiet
    assert not NotificationSettings(quietHoursEnabled=False).quiet_at(time.fromisoformat(now))


def test_quiet_hours_must_be_clock_times() -> None:
    with pytest.raises(ValueError, match="quietHoursStart"):
        NotificationSettings(quietHoursStart="25:00")
