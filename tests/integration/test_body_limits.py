"""Request bodies past their route's limit (api/body_limits.py), through the application.

What only a real server shows (a declared length answered before the body is sent, the
connection closed, memory) is in tests/e2e/test_hostile_sizes.py; here: the answer, that
nothing is stored, that uploads get their own caps from the settings, and the document.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.runtime import Runtime
from infra.settings import MULTIPART_ALLOWANCE
from tests.support import appended_by_requests, signed_in_learner

pytestmark = pytest.mark.parametrize("client", ["embedded"], indirect=True)
MIB = 1024 * 1024


def _refused(response: Any, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert response.json()["error"]["details"] == {"maxBytes": limit}
    assert response.headers["connection"] == "close"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body with no declared length: httpx sends it chunked."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_declared_length_past_the_limit_is_refused_before_the_route_runs(
    client: TestClient,
) -> None:
    """Anonymous or signed in, with a body parameter or without one (``leave`` reads no
    body: a check made only when the route reads its body would let it run first)."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Heavy")
    room = client.post("/api/v1/chat/rooms", json={"roomName": "R"}, headers=user["headers"])
    room_id = room.json()["data"]["roomId"]
    head = rt.store.max_position()
    big = b'{"email":"x@example.com","pad":"' + b"a" * (2 * MIB) + b'"}'
    json_type = {"Content-Type": "application/json"}

    _refused(client.post("/api/v1/auth/dev-login", content=big, headers=json_type), MIB)
    _refused(
        client.post(f"/api/v1/chat/rooms/{room_id}/leave", content=big,
                    headers={**json_type, **user["headers"]}),
        MIB,
    )  # fmt: skip
    _refused(client.post("/api/v1/users/self-bio", content=big,
                         headers={**json_type, **user["headers"]}), MIB)  # fmt: skip

    assert appended_by_requests(rt.store, head) == []
    rooms = client.get("/api/v1/chat/rooms", headers=user["headers"]).json()["data"]
    assert [r["roomId"] for r in rooms] == [room_id]  # still a member


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Stream")
    head = rt.store.max_position()
    headers = {"Content-Type": "application/json", **user["headers"]}

    _refused(client.post("/api/v1/users/self-bio", content=_chunks(3 * MIB), headers=headers), MIB)
    _refused(client.post("/api/v1/auth/dev-login", content=_chunks(3 * MIB),
                         headers={"Content-Type": "application/json"}), MIB)  # fmt: skip

    assert appended_by_requests(rt.store, head) == []
    within = client.post("/api/v1/users/self-bio", json={"selfBio": "fits"}, headers=headers)
    assert within.status_code == 200, within.text


def _noise_png(width: int, height: int) -> bytes:
    """An image that does not compress: its PNG is about ``3 * width * height`` bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(3 * width * height)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.settings(max_body_bytes=64 * 1024, image_max_bytes=256 * 1024)
def test_uploads_have_the_caps_of_their_files_and_json_the_small_default(
    client: TestClient,
) -> None:
    user = signed_in_learner(client, "Pictures")
    cap = 256 * 1024 + MULTIPART_ALLOWANCE
    picture = _noise_png(240, 200)  # about 144 kB: past the JSON limit, within the image cap
    assert 64 * 1024 < len(picture) < 256 * 1024

    taken = client.post("/api/v1/users/me/profile-image", headers=user["headers"],
                        files={"file": ("me.png", picture, "image/png")})  # fmt: skip
    assert taken.status_code == 200, taken.text

    too_big = _noise_png(300, 400)  # about 360 kB: past the image cap and the framing
    refused = client.post("/api/v1/users/me/profile-image", headers=user["headers"],
                          files={"file": ("me.png", too_big, "image/png")})  # fmt: skip
    _refused(refused, cap)
    json_body = {"selfBio": "x" * 70_000}
    _refused(client.post("/api/v1/users/self-bio", json=json_body, headers=user["headers"]),
             64 * 1024)  # fmt: skip


def test_the_document_states_each_operations_limit_and_its_413(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in document["paths"].items()
                  for method, op in ops.items()]  # fmt: skip
    assert operations
    for path, method, operation in operations:
        assert operation["x-max-body-bytes"] > 0, (method, path)
        if "requestBody" in operation:
            assert "413" in operation["responses"], (method, path)
    paths = document["paths"]
    assert paths["/api/v1/auth/dev-login"]["post"]["x-max-body-bytes"] == MIB
    upload = paths["/api/v1/level-test/voice/{test_id}/upload"]["post"]
    assert upload["x-max-body-bytes"] == 30 * MIB + MULTIPART_ALLOWANCE
    images = paths["/api/v1/chat/rooms/{room_id}/images"]["post"]
    assert images["x-max-body-bytes"] == 5 * 10 * MIB + MULTIPART_ALLOWANCE
