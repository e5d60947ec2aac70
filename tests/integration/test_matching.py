"""The matching journey over HTTP (spa-contract 4.5, journey 5) in both modes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands.base import Outcome
from domain.profile_embeddings import ProfileEmbedded
from domain.profiles import Profile, SelfBioSet, profile_id
from infra.jobs import EMBED_PROFILE
from projections import matching as rm
from projections.matching import matching as matching_projection
from tests.support import appended_by_requests
from tests.support import signed_in_learner as _user
from workers import sentence_encoder
from workers.embeddings import embed_profile


def _head(client: TestClient) -> int:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt.store.max_position()


def test_request_accept_and_match_journey(client: TestClient) -> None:
    mina, jun = _user(client, "Mina"), _user(client, "Jun", native=2, target=1)
    sent = client.post(
        "/api/v1/matching/request",
        json={"targetUserId": jun["id"], "message": "안녕하세요!"},
        headers=mina["headers"],
    )
    assert sent.status_code == 200, sent.text
    request_id = sent.json()["data"]["requestId"]
    received = client.get(
        "/api/v1/matching/requests/received?status=pending", headers=jun["headers"]
    ).json()
    assert [r["requestId"] for r in received["data"]] == [request_id]
    assert received["data"][0]["status"] == "pending"
    assert received["data"][0]["sender"]["userId"] == mina["id"]
    assert received["data"][0]["message"] == "안녕하세요!"
    outgoing = client.get("/api/v1/matching/requests/sent", headers=mina["headers"]).json()["data"]
    assert outgoing[0]["receiverId"] == jun["id"]
    # The SPA adds the answer to its "sent" list as it is: it must be that list's item.
    answered = sent.json()["data"]
    assert {k: v for k, v in answered.items() if k not in ("success", "matched")} == outgoing[0]
    assert answered["receiverName"] == "Jun" and answered["partner"]["name"] == "Jun"
    accepted = client.post(
        f"/api/v1/matching/accept/{request_id}",
        json={"responseMessage": ""},
        headers=jun["headers"],
    )
    assert accepted.status_code == 200, accepted.text
    for user, partner in ((mina, jun), (jun, mina)):
        matches = client.get(
            "/api/v1/matching/matches?page=1&size=12", headers=user["headers"]
        ).json()
        assert [m["partnerId"] for m in matches["data"]] == [partner["id"]]
        assert matches["meta"]["total"] == 1
    again = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    )
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_MATCHED"
    status = client.get("/api/v1/matching/requests/sent", headers=mina["headers"]).json()["data"][
        0
    ]["status"]
    assert status == "accepted"


def test_rule_violations_answer_4xx_and_append_nothing(client: TestClient) -> None:
    mina, jun = _user(client, "Mina"), _user(client, "Jun", native=2, target=1)
    first = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    )
    request_id = first.json()["data"]["requestId"]
    head = _head(client)
    cases = [
        (
            client.post(
                "/api/v1/matching/request",
                json={"targetUserId": mina["id"]},
                headers=mina["headers"],
            ),
            422,
            "MATCHING_SELF_REQUEST",
        ),
        (
            client.post(
                "/api/v1/matching/request",
                json={"targetUserId": jun["id"]},
                headers=mina["headers"],
            ),
            409,
            "MATCHING_DUPLICATE_REQUEST",
        ),
        (
            client.post(
                "/api/v1/matching/request",
                json={"targetUserId": "00000000-0000-0000-0000-000000000001"},
                headers=mina["headers"],
            ),
            404,
            "USER_NOT_FOUND",
        ),
        (
            client.post(
                "/api/v1/matching/request",
                json={"targetUserId": "not-a-uuid"},
                headers=mina["headers"],
            ),
            422,
            "VALIDATION_ERROR",
        ),
        (
            client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=mina["headers"]),
            422,
            "NOT_THE_RECEIVER",
        ),
        (
            client.post(
                "/api/v1/matching/accept/00000000-0000-0000-0000-000000000009",
                json={},
                headers=jun["headers"],
            ),
            404,
            "REQUEST_NOT_FOUND",
        ),
        (
            client.delete(f"/api/v1/matching/requests/{request_id}", headers=jun["headers"]),
            422,
            "NOT_THE_SENDER",
        ),
        (
            client.delete(
                "/api/v1/matching/matches/00000000-0000-0000-0000-000000000009",
                headers=jun["headers"],
            ),
            404,
            "MATCH_NOT_FOUND",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
    assert "PENDING" in cases[1][0].json()["message"] or "대기 중" in cases[1][0].json()["message"]
    assert appended_by_requests(client.app.state.runtime.store, head) == []  # type: ignore[attr-defined]


def test_requesting_each_other_at_once_makes_one_match(client: TestClient) -> None:
    mina, jun = _user(client, "Mina"), _user(client, "Jun", native=2, target=1)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def send(sender: dict[str, Any], receiver: dict[str, Any]) -> None:
        barrier.wait()
        results.append(
            client.post(
                "/api/v1/matching/request",
                json={"targetUserId": receiver["id"]},
                headers=sender["headers"],
            )
        )

    threads = [threading.Thread(target=send, args=pair) for pair in ((mina, jun), (jun, mina))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in results) == [200, 200]
    matches = client.get("/api/v1/matching/matches", headers=mina["headers"]).json()["data"]
    assert len(matches) == 1
    pending = client.get(
        "/api/v1/matching/requests/received?status=pending", headers=mina["headers"]
    ).json()["data"]
    pending += client.get(
        "/api/v1/matching/requests/received?status=pending", headers=jun["headers"]
    ).json()["data"]
    assert pending == []


def test_reject_cancel_and_settings_are_enforced(client: TestClient) -> None:
    mina, jun, ara = (
        _user(client, "Mina"),
        _user(client, "Jun", native=2, target=1),
        _user(client, "Ara", native=2, target=1),
    )
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    assert (
        client.post(
            f"/api/v1/matching/reject/{request_id}", json={}, headers=jun["headers"]
        ).status_code
        == 200
    )
    late = client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    assert late.status_code == 409 and late.json()["code"] == "REQUEST_NOT_PENDING"
    second = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    assert (
        client.delete(f"/api/v1/matching/requests/{second}", headers=mina["headers"]).status_code
        == 200
    )
    statuses = {
        r["requestId"]: r["status"]
        for r in client.get("/api/v1/matching/requests/sent", headers=mina["headers"]).json()[
            "data"
        ]
    }
    assert statuses == {request_id: "rejected", second: "cancelled"}
    off = client.patch(
        "/api/v1/matching/settings", json={"allowMatchRequests": False}, headers=ara["headers"]
    )
    assert off.status_code == 200 and off.json()["allowMatchRequests"] is False
    refused = client.post(
        "/api/v1/matching/request", json={"targetUserId": ara["id"]}, headers=mina["headers"]
    )
    assert refused.status_code == 422 and refused.json()["code"] == "MATCH_REQUESTS_DISABLED"
    assert (
        client.patch(
            "/api/v1/matching/settings",
            json={"allowMatchRequests": "maybe"},
            headers=ara["headers"],
        ).status_code
        == 422
    )


def test_search_filters_orders_and_excludes(client: TestClient) -> None:
    me = _user(client, "Me", native=1, target=2)
    exchange = _user(client, "Exchange", native=2, target=1, year="1996")
    same_language = _user(client, "Same", native=1, target=2, year="1970")
    blocked = _user(client, "Blocked", native=2, target=1)
    matched = _user(client, "Matched", native=2, target=1)
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": matched["id"]}, headers=me["headers"]
    ).json()["data"]["requestId"]
    client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=matched["headers"])
    assert (
        client.post(f"/api/v1/matching/block/{me['id']}", headers=blocked["headers"]).status_code
        == 200
    )

    # Someone who has only signed in has no language to exchange: never a candidate.
    only_signed_in = {"email": "carol@example.com", "name": "Carol"}
    assert client.post("/api/v1/auth/dev-login", json=only_signed_in).status_code == 200

    # Exactly what the SPA's recommendation tab sends: unset filters as empty strings.
    spa = "page=0&size=20&nativeLanguage=&targetLanguage=&languageLevel=&minAge=&maxAge="
    as_sent = client.get(f"/api/v1/matching/partners?{spa}", headers=me["headers"])
    assert as_sent.status_code == 200, as_sent.text
    found = client.get("/api/v1/matching/partners?page=0&size=20", headers=me["headers"]).json()
    assert as_sent.json()["data"] == found["data"]
    ids = [p["userId"] for p in found["data"]]
    assert ids[0] == exchange["id"]  # the language-exchange partner ranks first
    assert set(ids) == {exchange["id"], same_language["id"]}
    assert found["meta"]["total"] == 2
    assert found["data"][0]["compatibilityScore"] > found["data"][1]["compatibilityScore"]
    by_native = client.get(
        "/api/v1/matching/partners?nativeLanguage=2", headers=me["headers"]
    ).json()["data"]
    assert [p["userId"] for p in by_native] == [exchange["id"]]
    by_age = client.get(
        "/api/v1/matching/partners?minAge=40&maxAge=70", headers=me["headers"]
    ).json()["data"]
    assert [p["userId"] for p in by_age] == [same_language["id"]]
    bad_range = client.get("/api/v1/matching/partners?minAge=50&maxAge=20", headers=me["headers"])
    assert bad_range.status_code == 422
    client.post("/api/v1/users/location", json={"locationId": 19}, headers=exchange["headers"])
    client.post("/api/v1/users/location", json={"locationId": 1}, headers=same_language["headers"])

    deadline = time.monotonic() + 20
    while True:
        in_us = client.get("/api/v1/matching/partners?location=US", headers=me["headers"]).json()[
            "data"
        ]
        if [p["userId"] for p in in_us] == [exchange["id"]] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [p["userId"] for p in in_us] == [exchange["id"]]
    in_seoul = client.get(
        "/api/v1/matching/partners?timeZone=Asia/Seoul", headers=me["headers"]
    ).json()["data"]
    assert [p["userId"] for p in in_seoul] == [same_language["id"]]
    assert (
        client.get("/api/v1/matching/partners?location=ATLANTIS", headers=me["headers"]).status_code
        == 422
    )
    # The block hides both ways, and the blocked user cannot send a request either.
    theirs = [
        p["userId"]
        for p in client.get("/api/v1/matching/partners", headers=blocked["headers"]).json()["data"]
    ]
    assert me["id"] not in theirs
    refused = client.post(
        "/api/v1/matching/request", json={"targetUserId": blocked["id"]}, headers=me["headers"]
    )
    assert refused.status_code == 422


def test_dissolve_and_feedback_rules(client: TestClient) -> None:
    mina, jun, ara = (
        _user(client, "Mina"),
        _user(client, "Jun", native=2, target=1),
        _user(client, "Ara"),
    )
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    match_id = client.post(
        f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"]
    ).json()["data"]["matchId"]
    feedback = {
        "partnerId": jun["id"],
        "matchId": match_id,
        "overallRating": 5,
        "writtenFeedback": "great",
    }
    assert (
        client.post("/api/v1/matching/feedback", json=feedback, headers=mina["headers"]).status_code
        == 200
    )
    twice = client.post("/api/v1/matching/feedback", json=feedback, headers=mina["headers"])
    assert twice.status_code == 409 and twice.json()["code"] == "FEEDBACK_EXISTS"
    assert (
        client.post(
            "/api/v1/matching/feedback",
            json={**feedback, "overallRating": 6},
            headers=jun["headers"],
        ).status_code
        == 422
    )
    stranger = client.post(
        "/api/v1/matching/feedback",
        json={**feedback, "partnerId": mina["id"]},
        headers=ara["headers"],
    )
    assert stranger.status_code == 404
    assert (
        client.delete(f"/api/v1/matching/matches/{match_id}", headers=ara["headers"]).status_code
        == 404
    )
    assert (
        client.delete(f"/api/v1/matching/matches/{match_id}", headers=jun["headers"]).status_code
        == 200
    )
    assert client.get("/api/v1/matching/matches", headers=mina["headers"]).json()["data"] == []
    compatibility = client.get(
        f"/api/v1/matching/compatibility/{jun['id']}", headers=mina["headers"]
    )
    assert compatibility.status_code == 200
    assert {"overallScore", "compatibilityLevel", "categoryScores"} <= set(
        compatibility.json()["data"]
    )


def test_requests_expire_after_seven_days_by_the_schedule(client: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    from policies.schedules import run_due

    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun = _user(client, "Mina"), _user(client, "Jun", native=2, target=1)
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    assert run_due(rt.bus, rt.read_models, datetime.now(UTC) + timedelta(days=6)) == 0
    assert run_due(rt.bus, rt.read_models, datetime.now(UTC) + timedelta(days=8)) == 1
    head = rt.store.max_position()

    from domain.matching import MatchPair, MatchRequestExpired, pair_id

    history = rt.store.history(pair_id(mina["id"], jun["id"]))
    assert isinstance(history[-1], MatchRequestExpired)
    pair = rt.store.load(MatchPair, pair_id(mina["id"], jun["id"]))
    assert pair is not None and pair.requests[request_id].status == "expired"
    # A second run of the job (a restarted scheduler) appends nothing.
    applied = Outcome({}, [head], aggregates=[pair.id])
    rt.wait_applied(matching_projection, applied, pair.id)
    assert run_due(rt.bus, rt.read_models, datetime.now(UTC) + timedelta(days=8)) == 0
    assert appended_by_requests(rt.store, head) == []
    received = client.get("/api/v1/matching/requests/received", headers=jun["headers"]).json()[
        "data"
    ]
    assert received[0]["status"] == "expired"


def test_advanced_ranking_explains_each_factor(client: TestClient) -> None:
    me = _user(client, "Me", native=1, target=2)
    partner = _user(client, "Partner", native=2, target=1)
    for user, slot in ((me, "21:00"), (partner, "21:00")):
        body = {"schedules": [{"dayOfWeek": "MONDAY", "classTime": slot}]}
        assert (
            client.post(
                "/api/v1/onboarding/schedule", json=body, headers=user["headers"]
            ).status_code
            == 200
        )
    deadline = time.monotonic() + 20  # the candidate index is its own projection: poll it
    while True:
        response = client.post(
            "/api/v1/matching/ai/best-matches", json={"limit": 5}, headers=me["headers"]
        )
        assert response.status_code == 200, response.text
        if response.json()["data"]["matches"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    best = response.json()["data"]["matches"][0]
    assert best["partner"]["id"] == partner["id"]
    assert best["scores"]["scheduleCompatibility"] == 100.0  # same zone, same slot
    assert best["scores"]["languageCompatibility"] > 50
    assert best["scores"]["semanticSimilarity"] is None  # no worker ran: left out, not faked
    assert best["matchReason"] and set(best["explanations"]) == {
        "language",
        "personality",
        "goals",
        "interests",
        "levelCompatibility",
        "scheduleCompatibility",
        "semanticSimilarity",
    }
    assert "100.0%" in best["explanations"]["scheduleCompatibility"]
    bad = client.post(
        "/api/v1/matching/ai/best-matches", json={"limit": 500}, headers=me["headers"]
    )
    assert bad.status_code == 422


def _bio(client: TestClient, user: dict[str, Any], text: str) -> None:
    response = client.post(
        "/api/v1/users/self-bio", json={"selfBio": text}, headers=user["headers"]
    )
    assert response.status_code == 200, response.text


def _semantic_scores(
    client: TestClient, me: dict[str, Any], ready: Callable[[dict[str, float]], bool]
) -> dict[str, float]:
    """Poll the advanced ranking until both partners are scored and ``ready`` holds."""
    deadline = time.monotonic() + 60
    while True:
        body = client.post(
            "/api/v1/matching/ai/best-matches", json={"limit": 10}, headers=me["headers"]
        ).json()["data"]
        scores = {m["partner"]["id"]: m["scores"]["semanticSimilarity"] for m in body["matches"]}
        if len(scores) == 2 and None not in scores.values() and ready(scores):
            return scores
        assert time.monotonic() < deadline, f"embeddings never arrived: {scores}"
        time.sleep(0.2)


def _embeddings_of(rt: Runtime, user_id: str) -> list[int]:
    """Profile versions of the user's recorded embeddings, in order."""
    events = [r.decode() for r in rt.store.read_all() if r.topic == ProfileEmbedded.topic]
    return [
        e.profile_version for e in events if isinstance(e, ProfileEmbedded) and e.user_id == user_id
    ]


@pytest.mark.workers
@pytest.mark.skipif(not sentence_encoder.available(), reason="embeddings extra not installed")
def test_semantic_similarity_comes_from_worker_embeddings_and_follows_bio_changes(
    client: TestClient,
) -> None:
    me = _user(client, "Me", native=1, target=2)
    cook = _user(client, "Cook", native=2, target=1)
    coder = _user(client, "Coder", native=2, target=1)
    _bio(client, me, "I love cooking Korean food and trying new recipes with my friends.")
    _bio(client, cook, "Cooking is my passion: I bake bread and try recipes from everywhere.")
    _bio(client, coder, "I design distributed databases and write compilers at night.")
    # Each bio reaches the ranking once its job has run (topics alone embed identically).
    _semantic_scores(client, me, lambda s: s[cook["id"]] > s[coder["id"]] + 10)
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    head = rt.store.max_position()  # every job for what was written so far is sent, and done
    while rt.reacted_upto("policies.jobs") < head:
        time.sleep(0.05)
    rt.jobs.broker.join("embeddings", timeout=30_000)
    first = _semantic_scores(client, me, lambda s: True)

    # A redelivered job (sent twice more) finds its text embedded and records nothing.
    profile = profile_id(cook["id"])
    last = max(r.position for r in rt.store.read_all() if r.aggregate_id == profile)
    deadline = time.monotonic() + 30  # every job the embedder will send for Cook is sent...
    while rt.reacted_upto("policies.jobs") < last:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rt.jobs.broker.join("embeddings", timeout=30_000)  # ...and done
    before = _embeddings_of(rt, cook["id"])
    assert before == sorted(before)  # each result newer than the last (1 or 2 of them,
    # as the job sent for the topics may already have read the bio)
    rt.jobs.send(EMBED_PROFILE, cook["id"])
    rt.jobs.send(EMBED_PROFILE, cook["id"])
    rt.jobs.broker.join("embeddings", timeout=30_000)
    assert _embeddings_of(rt, cook["id"]) == before

    _bio(client, coder, "I cook for my family and collect recipes for Korean stews.")
    later = _semantic_scores(client, me, lambda s: s[coder["id"]] > first[coder["id"]] + 10)
    assert later[cook["id"]] == first[cook["id"]]  # untouched profiles keep their vector
    best = client.post(
        "/api/v1/matching/ai/best-matches", json={"limit": 10}, headers=me["headers"]
    ).json()["data"]
    assert best["message"] == "ranked by all factors"
    top = best["matches"][0]
    assert f"{top['scores']['semanticSimilarity']}점" in top["explanations"]["semanticSimilarity"]
    # Deleting the account takes the vector out of the read model (and the ranking).
    gone = client.request("DELETE", "/api/v1/settings/account", json={}, headers=coder["headers"])
    assert gone.status_code == 200, gone.text
    deadline = time.monotonic() + 30
    while rm.embeddings_of(rt.read_models, [coder["id"]]):
        assert time.monotonic() < deadline, "the deleted user's vector is still served"
        time.sleep(0.05)
    assert rm.embeddings_of(rt.read_models, [cook["id"]])


@pytest.mark.skipif(not sentence_encoder.available(), reason="embeddings extra not installed")
def test_a_burst_of_bio_edits_is_encoded_once_by_the_job_of_its_last_edit(
    client: TestClient,
) -> None:
    """Encoding costs tens of ms of CPU: a job whose edit was followed by another edit of
    the document does nothing, and the last edit's job embeds the final text. (No worker
    threads run here: the jobs are called as a worker would call them, in any order.)"""
    me = _user(client, "Me", native=1, target=2)
    for n in range(3):
        _bio(client, me, f"I cook Korean food and bake bread, draft {n}.")
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    history = rt.store.history(profile_id(me["id"]))
    edits = [e.version for e in history if isinstance(e, SelfBioSet)]
    assert len(edits) == 3
    for version in edits[:2]:  # redelivered or late: both find a later edit
        embed_profile.run(rt, me["id"], version)
    assert _embeddings_of(rt, me["id"]) == []
    embed_profile.run(rt, me["id"], edits[2])
    assert _embeddings_of(rt, me["id"]) == [rt.store.load(Profile, profile_id(me["id"])).version]
    embed_profile.run(rt, me["id"], edits[2])  # the same job again records nothing new
    assert len(_embeddings_of(rt, me["id"])) == 1


@pytest.mark.skipif(not sentence_encoder.available(), reason="embeddings extra not installed")
def test_the_jobs_of_a_burst_decode_each_stored_event_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A superseded edit's job reads the profile's history from the events its process
    keeps decoded, so the burst's jobs together read each stored event at most once. Each
    used to read and decrypt every event after its own edit: under a write load the queue's
    lag made that a fifth of the embedded server's CPU."""
    me = _user(client, "Me", native=1, target=2)
    for n in range(6):
        _bio(client, me, f"I grow tomatoes and read novels, draft {n}.")
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    edits = [e.version for e in rt.store.history(profile_id(me["id"])) if isinstance(e, SelfBioSet)]
    select, mine, rows = rt.store.recorder.select_events, threading.get_ident(), []

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = select(*args, **kwargs)
        if threading.get_ident() == mine:
            rows.append(len(found))
        return found

    monkeypatch.setattr(rt.store.recorder, "select_events", counted)
    for version in edits[:-1]:
        embed_profile.run(rt, me["id"], version)
    assert _embeddings_of(rt, me["id"]) == []
    assert len(rows) == len(edits) - 1 and sum(rows) <= 1  # the last edit, if not yet read


def test_language_and_level_filters_read_what_candidates_learn(client: TestClient) -> None:
    me = _user(client, "Me", native=1, target=2)
    beginner = _user(client, "Beginner", native=2, target=1)  # learns 1 at level 102
    other = _user(client, "Other", native=3, target=4)
    response = client.post(
        "/api/v1/onboarding/language/language-level",
        json={"languages": [{"languageId": 1, "currentLevelId": 104, "targetLevelId": 106}]},
        headers=other["headers"],
    )
    assert response.status_code == 200
    # Changing a filter column after the targets were set reaches the learning rows too.
    assert (
        client.post(
            "/api/v1/users/gender", json={"genderType": "MALE"}, headers=beginner["headers"]
        ).status_code
        == 200
    )

    def found(query: str) -> tuple[list[str], int]:
        body = client.get(f"/api/v1/matching/partners?{query}", headers=me["headers"]).json()
        return [p["userId"] for p in body["data"]], body["meta"]["total"]

    deadline = time.monotonic() + 20
    while found("targetLanguage=1&gender=MALE") != ([beginner["id"]], 1):
        assert time.monotonic() < deadline, found("targetLanguage=1&gender=MALE")
        time.sleep(0.1)
    assert found("targetLanguage=1") == ([beginner["id"], other["id"]], 2)  # exchange first
    assert found("targetLanguage=4") == ([], 0)  # other's languages were replaced
    assert found("languageLevel=102") == ([beginner["id"]], 1)  # B1 (INTERMEDIATE)
    assert found("languageLevel=C1") == ([other["id"]], 1)  # 104 (ADVANCED)


def test_search_totals_are_exact_for_each_callers_exclusions(client: TestClient) -> None:
    me = _user(client, "Me", native=1, target=2)
    first = _user(client, "First", native=2, target=1)
    second = _user(client, "Second", native=2, target=1)

    def total(user: dict[str, Any]) -> int:
        body = client.get("/api/v1/matching/partners", headers=user["headers"]).json()
        return int(body["meta"]["total"])

    assert total(me) == 2
    assert total(first) == 2
    client.post(f"/api/v1/matching/block/{second['id']}", headers=me["headers"])
    assert total(me) == 1  # a block counts at once
    assert total(second) == 1  # both ways
    assert total(first) == 2


def test_pages_slice_one_order_across_scoring_tiers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.matching

    monkeypatch.setattr(api.matching, "SEARCH_POOL", 2)  # tiers of 2 instead of 100
    me = _user(client, "Me", native=1, target=2)
    others = {_user(client, f"P{n}", native=2 + n % 2, target=1)["id"] for n in range(5)}

    def page(number: int) -> tuple[list[str], dict[str, Any]]:
        body = client.get(
            f"/api/v1/matching/partners?page={number}&size=2", headers=me["headers"]
        ).json()
        return [p["userId"] for p in body["data"]], body["meta"]

    deadline = time.monotonic() + 20
    while page(1)[1]["total"] != 5:
        assert time.monotonic() < deadline, page(1)
        time.sleep(0.1)
    pages = [page(n) for n in (1, 2, 3, 4)]
    seen = [user for ids, _ in pages for user in ids]
    assert sorted(seen) == sorted(others)  # every candidate once, none twice
    assert [len(ids) for ids, _ in pages] == [2, 2, 1, 0]
    assert {meta["totalPages"] for _, meta in pages} == {3}
    assert [ids for ids, _ in pages] == [ids for ids, _ in (page(n) for n in (1, 2, 3, 4))]
    too_deep = client.get("/api/v1/matching/partners?page=201&size=50", headers=me["headers"])
    assert too_deep.status_code == 422
