"""The AI service routes: real speech through the workers' Whisper, transcripts through the
scorer and the language model, and the guards the original lacked (sign-in, size limits,
a per-user rate limit, a clear 503 when no worker answers)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from tests.support import appended_by_requests, signed_in_learner
from workers import llm, speech

pytestmark = pytest.mark.skipif(
    not (speech.available() and llm.runtime_available()),
    reason="the speech or llm extra is not installed",
)
SPOKEN = "I usually take the subway to work, and in the evening I cook dinner with friends."
ANSWER = (
    "I live in Seoul with my sister, who moved here two years ago to study architecture. "
    "Although the city is crowded and the rent is expensive, I like it because there are many "
    "museums, and the subway is convenient and cheap. On weekdays I work in an office near the "
    "river, so I often walk there in the morning when the weather is nice. On weekends we "
    "usually go hiking in the mountains around the city, or we visit small markets to try "
    "different kinds of street food. However, I sometimes miss my hometown, which is much "
    "quieter, and I would like to live near the sea one day."
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to synthesise test speech (apt-get install espeak-ng)")
    path: Path = tmp_path_factory.mktemp("ai") / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SPOKEN], check=True)
    return path.read_bytes()


def _transcribe(client: TestClient, user: dict[str, Any], data: bytes) -> Any:
    return client.post("/api/v1/leveltest/voice/transcribe", headers=user["headers"],
                       files={"audio": ("clip.wav", data, "audio/wav")},
                       data={"language": "English"})  # fmt: skip


@pytest.mark.workers
@pytest.mark.settings(ai_wait_seconds=120)  # a loaded CI machine; the bench measures speed
def test_the_workers_transcribe_evaluate_and_correct(client: TestClient, clip: bytes) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Min")
    before = rt.store.max_position()

    heard = _transcribe(client, user, clip)
    assert heard.status_code == 200, heard.text
    data = heard.json()["data"]
    assert "subway" in data["transcription"].lower() and data["language"] == "en"
    assert data["wordCount"] == len(data["words"]) > 10
    starts = [w["start"] for w in data["words"]]
    assert starts == sorted(starts) and data["duration"] > 3
    root: Path = rt.blobs.root  # type: ignore[attr-defined]
    parked = [p for p in root.rglob("*") if p.is_file() and "transient" in str(p.relative_to(root))]
    assert parked == []  # the worker read the parked clip, then removed it

    body = {"languageCode": "en", "responses": [{"question": "Where do you live?",
                                                 "transcript": ANSWER}]}  # fmt: skip
    rated = client.post("/api/v1/leveltest/evaluate", headers=user["headers"], json=body)
    assert rated.status_code == 200, rated.text
    result = rated.json()["data"]
    assert result["overallLevel"] in ("A2", "B1", "B2") and 0 <= result["overallScore"] <= 100
    assert len(result["scores"]) == 6 and result["feedback"].startswith("Estimated level")

    said = "Yesterday I go to the market and buyed three apple. It were very nice um um."
    feedback = client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"],
                           json={"transcript": said, "languageCode": "en"})  # fmt: skip
    assert feedback.status_code == 200, feedback.text
    tips = feedback.json()["data"]
    assert tips["estimatedLevel"] is None and "Too short" in tips["overallAssessment"]
    assert {"overallAssessment", "strengths", "weaknesses", "corrections", "suggestions",
            "encouragement", "fluencyScore"} <= set(tips)  # fmt: skip
    for correction in tips["corrections"]:
        assert correction["original"].lower() in said.lower()
    assert appended_by_requests(rt.store, before) == []  # questions, not decisions


@pytest.mark.workers
@pytest.mark.settings(ai_rate_limit="2/hour", ai_wait_seconds=120)  # calls may be slow
def test_the_ai_routes_need_a_user_valid_input_and_respect_the_limit(
    client: TestClient, clip: bytes
) -> None:
    user = signed_in_learner(client, f"Jun{uuid4().hex[:8]}")  # fresh counters in any Redis
    assert client.post("/api/v1/leveltest/evaluate", json={"responses": []}).status_code == 401
    too_many = {"responses": [{"transcript": "Hello."}] * 5}
    assert client.post("/api/v1/leveltest/evaluate", headers=user["headers"],
                       json=too_many).status_code == 422  # fmt: skip
    huge = {"transcript": "word " * 2_000}
    assert client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"],
                       json=huge).status_code == 422  # fmt: skip
    unknown = {"transcript": "Hello there.", "languageCode": "Klingon"}
    assert client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"],
                       json=unknown).status_code == 422  # fmt: skip
    garbage = _transcribe(client, user, b"not audio at all" * 100)
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "AUDIO_UNDECODABLE"

    ok = {"transcript": "I like my city because it is green."}
    for _ in range(2):
        assert client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"],
                           json=ok).status_code == 200  # fmt: skip
    limited = client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"], json=ok)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other = signed_in_learner(client, f"Ara{uuid4().hex[:8]}")  # the limit is per user
    assert client.post("/api/v1/leveltest/feedback/realtime", headers=other["headers"],
                       json=ok).status_code == 200  # fmt: skip


@pytest.mark.settings(ai_wait_seconds=1)
def test_no_worker_in_time_is_a_clear_503(client: TestClient) -> None:
    user = signed_in_learner(client, "Nobody")
    answer = client.post("/api/v1/leveltest/feedback/realtime", headers=user["headers"],
                         json={"transcript": "Is anyone there?"})  # fmt: skip
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "AI_BUSY"
    assert answer.headers["Retry-After"]
