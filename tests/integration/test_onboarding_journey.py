"""The SPA's first three journeys over HTTP, in the order the SPA performs them, in the
embedded mode and through Kafka + PostgreSQL."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from app.rebuild import rebuild
from app.runtime import Runtime
from commands.base import CommandContext
from commands.profiles import RecordAssessedLevel, record_assessed_level
from domain.profiles import profile_id
from projections.profiles import profiles
from tests.support import ONBOARDING_WRITES, signed_in_learner


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _status(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/api/v1/users/onboarding-status", headers=_auth(token))
    assert response.status_code == 200
    return response.json()["data"]  # type: ignore[no-any-return]


def test_login_onboarding_and_profile_journey(client: TestClient) -> None:
    login = client.post(
        "/api/v1/auth/dev-login", json={"email": "mina@example.com", "name": "김민아"}
    ).json()["data"]
    token = login["accessToken"]
    assert client.get("/api/v1/users/name", headers=_auth(token)).json()["name"] == "김민아"
    status = _status(client, token)
    assert (
        status["isCompleted"],
        status["currentStep"],
        status["nextStep"],
        status["totalSteps"],
    ) == (False, 0, 1, 5)

    early = client.post(
        "/api/v1/users/complete-onboarding", json={"allStepsCompleted": True}, headers=_auth(token)
    )
    assert early.status_code == 422
    assert early.json()["code"] == "ONBOARDING_INCOMPLETE"
    assert "englishName" in early.json()["error"]["details"]["missing"]

    resume = []  # (currentStep, nextStep, steps done) after each save
    for path, body in ONBOARDING_WRITES:
        response = client.post(path, json=body, headers=_auth(token))
        assert response.status_code == 200, (path, response.text)
        status = _status(client, token)
        resume.append((status["currentStep"], status["nextStep"],
                       sum(step["done"] for step in status["steps"])))  # fmt: skip
    # The SPA maps the step only to /onboarding-info/{n}: until completion it must be 1,
    # however far the learner got (contract 9.2), while `steps` keeps the progress.
    assert {(current, following) for current, following, _ in resume} == {(0, 1)}
    assert [done for _, _, done in resume][1] == 1 and resume[-1][2] == 5
    assert status["missing"] == [] and not status["isCompleted"]

    done = client.post(
        "/api/v1/users/complete-onboarding",
        json={"completedAt": "2026-11-26T00:00:00Z", "allStepsCompleted": True},
        headers=_auth(token),
    )
    assert done.status_code == 200, done.text
    status = _status(client, token)
    assert status["isCompleted"] is True and status["completed"] is True

    info = client.get("/api/v1/users/info", headers=_auth(token)).json()["data"]
    assert info["englishName"] == "Mina"
    profile = client.get("/api/v1/users/profile", headers=_auth(token)).json()["data"]
    assert profile["nativeLanguage"]["languageId"] == 1  # completing onboarding kept it
    assert profile["location"]["timeZone"] == "Asia/Seoul"
    assert profile["targetLanguages"][0]["languageId"] == 2
    assert profile["selfBio"] == "I love hiking and K-dramas."
    data = client.get("/api/v1/onboarding/data", headers=_auth(token)).json()["data"]
    assert data["userOnboardingData"]["motivationIds"] == [1, 3]
    assert data["userOnboardingData"]["nativeLanguageId"] == 1
    assert {"id", "name"} <= set(data["availableOptions"]["languages"][0])


def test_another_user_sees_the_public_profile_but_cannot_change_it(client: TestClient) -> None:
    owner = client.post(
        "/api/v1/auth/dev-login", json={"email": "owner@example.com", "name": "Owner"}
    ).json()["data"]
    other = client.post(
        "/api/v1/auth/dev-login", json={"email": "other@example.com", "name": "Other"}
    ).json()["data"]
    client.post(
        ONBOARDING_WRITES[0][0], json=ONBOARDING_WRITES[0][1], headers=_auth(owner["accessToken"])
    )
    seen = client.get(
        f"/api/v1/users/{owner['user']['id']}/profile", headers=_auth(other["accessToken"])
    )
    assert seen.status_code == 200
    assert seen.json()["data"]["englishName"] == "Mina"
    assert "email" not in seen.json()["data"]
    # Writes always target the caller: there is no route that takes another user's id.
    client.post(
        "/api/v1/users/self-bio", json={"selfBio": "hacked"}, headers=_auth(other["accessToken"])
    )
    mine = client.get("/api/v1/users/profile", headers=_auth(owner["accessToken"])).json()["data"]
    assert mine["selfBio"] != "hacked"


def _levels(client: TestClient, user: dict[str, Any]) -> tuple[Any, ...]:
    """What the SPA shows as the learner's level: ``languageLevel`` (home card) and each
    target language's current and self-reported level, in the profile and in the info."""
    seen: list[tuple[Any, ...]] = []
    for path in ("/api/v1/users/profile", "/api/v1/users/info"):
        data = client.get(path, headers=user["headers"]).json()["data"]
        targets = [(t["languageId"], t["currentLevel"], t["currentLevelId"], t["assessedLevel"],
                    t["selfReportedLevel"]) for t in data["targetLanguages"]]  # fmt: skip
        seen.append((data["languageLevel"], *targets))
    assert seen[0] == seen[1]
    return seen[0]


def test_a_level_test_result_becomes_the_level_the_profile_shows(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Hana", native=1, target=2)
    levels = {"languages": [{"languageId": language, "currentLevelId": 100, "targetLevelId": 104}
                            for language in (2, 3)]}  # fmt: skip
    saved = client.post("/api/v1/onboarding/language/language-level", json=levels,
                        headers=user["headers"])  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert _levels(client, user) == ("A1", (2, "A1", 100, None, "A1"), (3, "A1", 100, None, "A1"))

    def assessed(level: str, test_id: int) -> None:
        command = RecordAssessedLevel(user_id=user["id"], language_id=2, level=level,
                                      test_id=test_id)  # fmt: skip
        outcome = record_assessed_level(rt.bus, CommandContext(actor_id=user["id"]), command)
        assert rt.wait_applied(profiles, outcome, profile_id(user["id"]))

    assessed("B1", 1)  # only the tested language changes; the onboarding answer stays
    after = ("B1", (2, "B1", 102, "B1", "A1"), (3, "A1", 100, None, "A1"))
    assert _levels(client, user) == after
    assessed("B2", 2)  # a later test replaces an earlier one
    assert _levels(client, user)[:2] == ("B2", (2, "B2", 103, "B2", "A1"))
    assessed("B1", 3)
    assert _levels(client, user) == after

    rebuild(rt, profiles.name, keep_old=True)  # the read model comes back from history
    assert _levels(client, user) == after


MALFORMED: list[tuple[str, Any]] = [
    ("/api/v1/onboarding/steps/1/save", {"stepNumber": 1, "stepData": {"englishName": "x"}}),
    ("/api/v1/onboarding/steps/1/save", {"stepNumber": 1}),
    ("/api/v1/users/location", {"locationId": 99999}),
    ("/api/v1/users/location", {"locationId": "seoul"}),
    ("/api/v1/users/self-bio", {"selfBio": "x" * 1001}),
    ("/api/v1/users/gender", {"genderType": "DRAGON"}),
    ("/api/v1/users/birthyear", {"birthyear": "3020"}),
    ("/api/v1/users/birthday", {"birthday": "13-40"}),
    ("/api/v1/onboarding/language/native-language", {"languageId": 9999}),
    ("/api/v1/onboarding/language/language-level", {"languages": []}),
    (
        "/api/v1/onboarding/language/language-level",
        {"languages": [{"languageId": 2, "currentLevelId": 5, "targetLevelId": 5}]},
    ),
    ("/api/v1/onboarding/interest/motivation", {"motivationIds": [999]}),
    ("/api/v1/onboarding/interest/topic", {"topicIds": []}),
    ("/api/v1/onboarding/interest/learning-style", {"learningStyleIds": "1"}),
    (
        "/api/v1/onboarding/interest/learning-expectation",
        {"learningExpectationIds": [1], "extra": 1},
    ),
    ("/api/v1/onboarding/partner/gender", {"partnerGenderType": "SOMETIMES"}),
    (
        "/api/v1/onboarding/partner/personality",
        {"personalPartnerIds": [{"partnerPersonalityId": 77}]},
    ),
    ("/api/v1/onboarding/schedule/communication-method", {"communicationMethodType": "PIGEON"}),
    ("/api/v1/onboarding/schedule/group-size", {"groupSizeIds": [42]}),
    ("/api/v1/onboarding/schedule/daily-minute", {"dailyMinutesType": "MINUTES_999"}),
    ("/api/v1/onboarding/schedule", {"schedules": [{"dayOfWeek": "FUNDAY", "classTime": "19:00"}]}),
    ("/api/v1/onboarding/schedule", {"schedules": [{"dayOfWeek": "MONDAY", "classTime": "25:00"}]}),
    ("/api/v1/auth/register", {"email": "x@example.com", "password": "short", "name": "X"}),
    ("/api/v1/auth/login", {"email": "not-an-email", "password": "whatever"}),
]


def test_malformed_bodies_are_422_and_append_nothing(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    token = client.post(
        "/api/v1/auth/dev-login", json={"email": "bad@example.com", "name": "Bad"}
    ).json()["data"]["accessToken"]
    head = rt.store.max_position()
    for path, body in MALFORMED:
        response = client.post(path, json=body, headers=_auth(token))
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["success"] is False
        response = client.post(
            path, content=b"{not json", headers={**_auth(token), "Content-Type": "application/json"}
        )
        assert response.status_code == 422, path
    assert rt.store.max_position() == head


def _png(width: int = 800, height: int = 600) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_profile_image_is_reencoded_and_served_publicly(client: TestClient) -> None:
    token = client.post(
        "/api/v1/auth/dev-login", json={"email": "pic@example.com", "name": "Pic"}
    ).json()["data"]["accessToken"]
    response = client.post(
        "/api/v1/users/me/profile-image",
        files={"file": ("me.png", _png(), "image/png")},
        headers=_auth(token),
    )
    assert response.status_code == 200, response.text
    url = response.json()["data"]["url"]
    assert url.startswith("http") and url.endswith("/512.webp")
    served = client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(served.content)).size == (512, 512)
    profile = client.get("/api/v1/users/profile", headers=_auth(token)).json()["data"]
    assert profile["profileImageUrl"] == url
    bad = client.post(
        "/api/v1/users/me/profile-image",
        files={"file": ("me.jpg", b"not an image", "image/jpeg")},
        headers=_auth(token),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "IMAGE_UNSUPPORTED_TYPE"
    assert client.get("/api/v1/upload/file/leveltest/secret.webm").status_code == 404


def test_settings_sections_persist_with_defaults(client: TestClient) -> None:
    token = client.post(
        "/api/v1/auth/dev-login", json={"email": "set@example.com", "name": "Set"}
    ).json()["data"]["accessToken"]
    defaults = client.get("/api/v1/settings/notifications", headers=_auth(token)).json()
    assert defaults["pushChat"] is True
    changed = client.patch(
        "/api/v1/settings/notifications",
        json={**defaults["data"], "pushChat": False},
        headers=_auth(token),
    )
    assert changed.status_code == 200
    again = client.get("/api/v1/settings/notifications", headers=_auth(token)).json()
    assert again["pushChat"] is False and again["data"]["pushChat"] is False
    language = client.patch(
        "/api/v1/settings/language",
        json={"appLanguage": "en", "targetLanguages": ["ko"]},
        headers=_auth(token),
    ).json()
    assert language["targetLanguages"] == ["ko"]
    bad = client.patch(
        "/api/v1/settings/privacy", json={"showAge": "sometimes"}, headers=_auth(token)
    )
    assert bad.status_code == 422
