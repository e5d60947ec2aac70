"""Inputs a fuzzer found to cause 500s, each pinned as a refusal the SPA can show.

Numbers past 64 bits reached SQLite (OverflowError) through ids in the URL and through
``OFFSET = page x size``; disabling two-factor authentication that was never enabled
handed an empty secret to pyotp (ValueError); a non-ASCII export signature reached
``hmac.compare_digest`` as str (TypeError). Bad input is a 422, a bad link a 404
(DESIGN.md section 5).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import signed_in_learner

pytestmark = pytest.mark.parametrize("client", ["embedded"], indirect=True)

TOO_BIG = str(2**64)
PAGED = (
    "/api/v1/matching/partners",
    "/api/v1/matching/requests/sent",
    "/api/v1/matching/requests/received",
    "/api/v1/matching/matches",
    "/api/v1/notifications",
    "/api/v1/sessions/my-sessions",
    "/api/v1/level-test/my-tests",
)
NUMBERED = (
    ("GET", "/api/v1/chat/rooms/{n}/messages"),
    ("GET", "/api/v1/chat/read-status/rooms/{n}/unread-count"),
    ("POST", "/api/v1/chat/rooms/{n}/join"),
    ("POST", "/api/v1/chat/rooms/{n}/leave"),
    ("POST", "/api/v1/chat/read-status/rooms/{n}/read-all"),
    ("GET", "/api/v1/level-test/{n}"),
    ("GET", "/api/v1/level-test/voice/{n}/result"),
    ("POST", "/api/v1/level-test/{n}/cancel"),
    ("GET", "/api/v1/level-test/1/answer/{n}/detailed"),
)


def test_pages_past_64_bits_are_refused_as_bad_input(client: TestClient) -> None:
    user = signed_in_learner(client, "Pager")
    for path in PAGED:
        for page in (TOO_BIG, str(2**62)):
            response = client.get(path, params={"page": page}, headers=user["headers"])
            assert response.status_code == 422, (path, page, response.text)
        assert client.get(path, headers=user["headers"]).status_code == 200, path


def test_ids_past_64_bits_are_refused_as_bad_input(client: TestClient) -> None:
    user = signed_in_learner(client, "Counter")
    for method, template in NUMBERED:
        response = client.request(method, template.format(n=TOO_BIG), headers=user["headers"])
        assert response.status_code == 422, (method, template, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_disabling_two_factor_that_was_never_enabled_is_a_wrong_code(client: TestClient) -> None:
    user = signed_in_learner(client, "Plain")
    response = client.post(
        "/api/v1/settings/two-factor/disable", json={"code": "123456"}, headers=user["headers"]
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "WRONG_TWO_FACTOR_CODE"


def test_an_export_link_with_a_non_ascii_signature_is_not_found(client: TestClient) -> None:
    user = signed_in_learner(client, "Exporter")
    url = client.post("/api/v1/settings/export", headers=user["headers"]).json()["downloadUrl"]
    assert client.get(url).status_code == 200
    forged = url.split("signature=")[0] + "signature=%C3%A9t%C3%A9"
    response = client.get(forged)
    assert response.status_code == 404, response.text


def test_advanced_search_refuses_ages_and_language_ids_past_their_range(
    client: TestClient,
) -> None:
    user = signed_in_learner(client, "Searcher")
    path = "/api/v1/matching/partners/advanced"
    for body in ({"ageRange": [20, 2**70]}, {"ageRange": [-5, 30]}, {"targetLanguage": 2**70},
                 {"nativeLanguage": 2**70}):  # fmt: skip
        response = client.post(path, json=body, headers=user["headers"])
        assert response.status_code == 422, (body, response.text)
    assert client.post(path, json={"ageRange": [20, 40]}, headers=user["headers"]).is_success
