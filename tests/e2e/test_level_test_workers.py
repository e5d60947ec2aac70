"""The level-test pipeline across real processes: a worker killed (SIGKILL) while it holds
the transcription job loses nothing. Its job goes back to the queue once its heartbeat
lapses, a fresh worker runs it, and the test gets exactly one transcript and one result."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis

from devservices import free_port
from devservices.settings import make_settings
from domain.level_tests import AnswerTranscribed, LevelAssessed
from eventflow.store import open_event_store
from tests.e2e.conftest import Processes, wait_healthy
from tests.support import held_jobs
from workers import llm, speech

pytestmark = pytest.mark.skipif(
    not (speech.available() and llm.runtime_available()),
    reason="the speech or llm extra is not installed",
)
ANSWER = (
    "I grew up in a small village by the sea, but now I live in Seoul because I work for a "
    "bank. Although my job is busy, I take English lessons twice a week, and I practise by "
    "watching films without subtitles. Next year I hope to study abroad for a few months."
)


def test_a_worker_killed_mid_job_is_replaced_and_assesses_once(
    distributed_env: dict[str, str],
    redis_url: str,
    postgres_url: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to synthesise test speech (apt-get install espeak-ng)")
    wav = tmp_path / "answer.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), ANSWER], check=True)
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url,
           "LANGUAGEMATE_JOB_HEARTBEAT_SECONDS": "3",
           "LANGUAGEMATE_LEVEL_TEST_WAIT_SECONDS": "0"}  # fmt: skip
    port = free_port()
    api = processes.start(["api", "--port", str(port)], env, "api")
    for role in (["relay"], ["projector", "all"], ["policies"]):
        processes.start(role, env, role[0])
    doomed = processes.start(["worker"], env, "worker1")
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, api)
    who = {"email": "kill@example.com", "name": "Kill"}
    login = httpx.post(f"{base}/api/v1/auth/dev-login", json=who, timeout=30).json()["data"]
    headers = {"Authorization": f"Bearer {login['accessToken']}"}
    started = httpx.post(f"{base}/api/v1/level-test/voice/start", headers=headers,
                         json={"languageCode": "English"}, timeout=30)  # fmt: skip
    test_id = started.json()["data"]["testId"]
    audio = {"audio": ("a.wav", wav.read_bytes(), "audio/wav")}
    uploaded = httpx.post(f"{base}/api/v1/level-test/voice/{test_id}/upload", headers=headers,
                          files=audio, timeout=60)  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 90
    while held_jobs(client, "speech") == 0:
        assert time.monotonic() < deadline, processes.log("worker1")
        time.sleep(0.05)
    doomed.kill()  # SIGKILL: no shutdown hook requeues anything
    doomed.wait(10)
    store = open_event_store(make_settings(tmp_path / "reader", database_url=postgres_url))
    assert AnswerTranscribed.topic not in [r.topic for r in store.read_all()]  # truly mid-job
    processes.start(["worker"], env, "worker2")
    analyzed = httpx.post(f"{base}/api/v1/level-test/voice/{test_id}/analyze", headers=headers,
                          timeout=30)  # fmt: skip
    assert analyzed.status_code in (200, 202), analyzed.text

    deadline = time.monotonic() + 240
    url = f"{base}/api/v1/level-test/{test_id}"
    while (state := httpx.get(url, headers=headers).json()["data"])["status"] != "completed":
        assert state["status"] in ("in_progress", "analyzing"), state
        assert time.monotonic() < deadline, processes.log("worker2")
        time.sleep(0.5)
    assert state["level"] in ("A2", "B1", "B2", "C1")

    try:
        topics = [r.topic for r in store.read_all()]
    finally:
        store.close()
    assert topics.count(AnswerTranscribed.topic) == 1
    assert topics.count(LevelAssessed.topic) == 1
