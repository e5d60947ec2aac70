"""The SPA's response envelope (spa-contract section 3), built without a server."""

from __future__ import annotations

import json
from datetime import datetime

from api.envelope import error, error_body, ok


def is_aware_iso(value: str) -> bool:
    return datetime.fromisoformat(value).tzinfo is not None


def test_success_body_wraps_the_payload_with_a_timestamp() -> None:
    body = ok({"name": "Minji"})

    assert body["success"] is True
    assert body["data"] == {"name": "Minji"}
    assert set(body) == {"success", "data", "meta"}
    assert is_aware_iso(body["meta"]["timestamp"])


def test_success_body_adds_extra_meta_next_to_the_timestamp() -> None:
    body = ok([1, 2], meta={"page": 1, "limit": 20, "total": 2, "totalPages": 1})

    assert body["data"] == [1, 2]
    assert body["meta"]["total"] == 2
    assert "timestamp" in body["meta"]


def test_mirrored_body_repeats_payload_keys_at_the_top_level() -> None:
    body = ok({"name": "Minji", "isNewUser": True}, mirror=True)

    assert body["name"] == "Minji"
    assert body["isNewUser"] is True
    assert body["data"] == {"name": "Minji", "isNewUser": True}
    assert body["success"] is True


def test_mirroring_never_overrides_the_envelope_keys() -> None:
    body = ok({"success": False, "data": "inner", "meta": "inner", "name": "x"}, mirror=True)

    assert body["success"] is True
    assert body["data"] == {"success": False, "data": "inner", "meta": "inner", "name": "x"}
    assert "timestamp" in body["meta"]
    assert body["name"] == "x"


def test_mirroring_a_list_payload_leaves_the_envelope_alone() -> None:
    body = ok([{"name": "Minji"}], mirror=True)

    assert set(body) == {"success", "data", "meta"}


def test_unmirrored_body_has_no_top_level_payload_keys() -> None:
    assert "name" not in ok({"name": "Minji"})


def test_error_body_has_the_recommended_shape() -> None:
    body = error_body(409, "이미 요청했습니다", "DUPLICATE_REQUEST", {"requestId": "r-1"})

    assert set(body) == {"success", "message", "code", "error", "meta"}
    assert body["success"] is False
    assert body["message"] == "이미 요청했습니다"
    assert body["code"] == "DUPLICATE_REQUEST"
    assert body["error"] == {
        "message": "이미 요청했습니다",
        "code": "DUPLICATE_REQUEST",
        "details": {"requestId": "r-1"},
    }
    assert is_aware_iso(body["meta"]["timestamp"])


def test_error_body_without_details_has_an_empty_details_object() -> None:
    assert error_body(404, "not found", "NOT_FOUND")["error"]["details"] == {}


def test_error_response_carries_status_headers_and_korean_text_unescaped() -> None:
    response = error(
        401, "로그인이 필요합니다", "AUTH_ERROR", headers={"WWW-Authenticate": "Bearer"}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "로그인이 필요합니다".encode() in response.body
    body = json.loads(response.body)
    assert body["error"]["code"] == "AUTH_ERROR"
    assert body["message"] == "로그인이 필요합니다"
