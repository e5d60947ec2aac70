"""Level-test latency (issue 7): seconds from upload to result for a spoken answer of about
60 s through a real ``languagemate serve`` process (its in-process Dramatiq workers run
Whisper, the scorer and the language model), then the parts on their own in this process:
Whisper's real-time factor, the LLM surprisal features and the LLM feedback wording.

The answer is synthesised with espeak-ng. The first test is sent as soon as a fresh server
answers ("cold": it may meet the models still loading, workers/warm_up.py), or
``--start-delay`` seconds later; the following ones show the steady state ("warm").
``--env WARM_MODELS=0`` leaves the load to the first test, as before the warm-up.

    python bench/leveltest.py [--llm smollm2|qwen2.5-1.5b|off] [--runs 3] [--env NAME=VALUE]
                              [--start-delay SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.load import stop, wait_healthy  # noqa: E402
from devservices import free_port  # noqa: E402
from infra.media import audio  # noqa: E402
from workers import cefr_scorer, level_feedback, llm, speech  # noqa: E402
from workers.cefr_surprisal import surprisal_features, trusted  # noqa: E402

ANSWER = (
    "I would like to talk about the town where I grew up. It is a small place on the south "
    "coast, and most people there work in fishing or in the shops near the harbour. When I "
    "was a child, I spent almost every afternoon by the sea with my friends, because there "
    "was not much else to do. In winter it was quiet and a little boring, but in summer "
    "thousands of tourists arrived, and the streets were full of music and noise. Although I "
    "moved to the capital to study, I still go back twice a year to visit my parents. I think "
    "the town has changed a lot. There are new cafes and a modern library, which is great, "
    "but the rents have gone up, so many young people cannot afford to stay. In my opinion, "
    "the local council should build more affordable flats, otherwise the town will slowly "
    "lose its character. Anyway, if you ever travel there, you should try the grilled fish."
)


@contextlib.contextmanager
def server(workdir: Path, model: str, cache: Path, settings: list[str]) -> Iterator[str]:
    """A ``serve`` process; ``settings`` are ``NAME=VALUE`` LANGUAGEMATE_* settings, over
    the defaults below."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    env |= {
        "LANGUAGEMATE_DATA_DIR": str(workdir / "var"),
        "LANGUAGEMATE_DEV_LOGIN": "1",
        "LANGUAGEMATE_LOG_LEVEL": "WARNING",
        "LANGUAGEMATE_LLM_MODEL": model,
        "LANGUAGEMATE_MODEL_CACHE_DIR": str(cache),
        "LANGUAGEMATE_LEVEL_TEST_WAIT_SECONDS": "120",
    }
    env |= dict(f"LANGUAGEMATE_{item}".split("=", 1) for item in settings)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                            env=env, cwd=ROOT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        yield base
    finally:
        stop([proc])


def one_test(base: str, headers: dict[str, str], recording: bytes) -> dict[str, Any]:
    started = httpx.post(f"{base}/api/v1/level-test/voice/start", headers=headers,
                         json={"languageCode": "English"}, timeout=60).json()["data"]  # fmt: skip
    test_id = started["testId"]
    began = time.perf_counter()
    files = {"audio": ("answer.wav", recording, "audio/wav")}
    uploaded = httpx.post(f"{base}/api/v1/level-test/voice/{test_id}/upload", headers=headers,
                          files=files, timeout=120)  # fmt: skip
    uploaded.raise_for_status()
    analyzed = httpx.post(f"{base}/api/v1/level-test/voice/{test_id}/analyze", headers=headers,
                          timeout=180)  # fmt: skip
    deadline = time.monotonic() + 600
    while analyzed.status_code == 202 and time.monotonic() < deadline:  # past the wait: poll
        time.sleep(0.5)
        analyzed = httpx.get(f"{base}/api/v1/level-test/voice/{test_id}/result", headers=headers)
        if analyzed.status_code == 404:
            analyzed.status_code = 202
    seconds = time.perf_counter() - began
    if analyzed.status_code != 200:
        raise RuntimeError(f"no result: {analyzed.text}")
    data = analyzed.json()["data"]
    return {"seconds": round(seconds, 2), "level": data["level"],
            "feedback_source": data["feedbackSource"]}  # fmt: skip


STAGES = (
    "leveltest.AnswerRecorded",
    "leveltest.AnswerTranscribed",
    "leveltest.AnalysisRequested",
    "leveltest.LevelAssessed",
)


def timeline(data_dir: Path) -> list[dict[str, float]]:
    """Per test, seconds between its events (from the server's own event store): where
    the time between upload and result goes."""
    from devservices.settings import make_settings
    from eventflow.store import open_event_store

    store = open_event_store(make_settings(data_dir))
    tests: dict[Any, dict[str, datetime]] = {}
    try:
        for event in store.read_all():
            if event.topic in STAGES:
                meta = event.document()["meta"]
                tests.setdefault(event.aggregate_id, {})[event.topic.split(".")[1]] = (
                    datetime.fromisoformat(meta["occurred_at"])
                )
    finally:
        store.close()
    out = []
    for times in tests.values():
        names = [s.split(".")[1] for s in STAGES if s.split(".")[1] in times]
        out.append({f"{a}->{b}": round((times[b] - times[a]).total_seconds(), 2)
                    for a, b in itertools.pairwise(names)})  # fmt: skip
    return out


def parts(samples: Any, model_name: str, cache: Path, transcript: str) -> dict[str, Any]:
    """Each stage alone, warm (models already loaded), in this process."""
    transcriber = speech.shared_transcriber(cache)
    seconds = len(samples) / audio.SAMPLE_RATE
    began = time.perf_counter()
    heard = transcriber.transcribe(samples, "en")
    asr = time.perf_counter() - began
    report: dict[str, Any] = {
        "audio_seconds": round(seconds, 1),
        "transcription_seconds": round(asr, 2),
        "transcription_real_time_factor": round(asr / seconds, 3),
        "transcript_words": len(heard.words),
    }
    began = time.perf_counter()
    model = llm.shared_model(model_name, cache)
    report["llm_load_seconds"] = round(time.perf_counter() - began, 2)
    if model is not None:
        model.token_surprisals(transcript)  # warm the examiner prefix
        rows = [[w.word, w.start, w.end, w.probability] for w in heard.words]
        signal = []
        for _ in range(3):
            began = time.perf_counter()
            surprisal_features(model, heard.text, "en", trusted(heard.text, rows))
            signal.append(time.perf_counter() - began)
        report["llm_surprisal_seconds_p50"] = round(statistics.median(signal), 2)
        answer = cefr_scorer.Answer("", heard.text, rows)
        facts = cefr_scorer.assess([answer], "en")["feedback"]
        began = time.perf_counter()
        _, source = level_feedback.assessment_feedback(model, heard.text, facts)
        report["llm_feedback_seconds"] = round(time.perf_counter() - began, 2)
        report["llm_feedback_source"] = source
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", default="smollm2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lm-models")
    parser.add_argument("--env", action="append", default=[],
                        help="a LANGUAGEMATE_* setting, e.g. WARM_MODELS=0")  # fmt: skip
    parser.add_argument("--start-delay", type=float, default=0.0,
                        help="seconds between the server answering and the first test")  # fmt: skip
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "answer.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), ANSWER],
                       check=True)  # fmt: skip
        spoken = wav.read_bytes()
        samples = audio.decode(spoken)
        with server(Path(tmp), args.llm, args.cache, args.env) as base:
            login = httpx.post(f"{base}/api/v1/auth/dev-login", timeout=30,
                               json={"email": "bench@example.com", "name": "Bench"})  # fmt: skip
            headers = {"Authorization": f"Bearer {login.json()['data']['accessToken']}"}
            time.sleep(args.start_delay)
            runs = [one_test(base, headers, spoken) for _ in range(args.runs)]
        for run, stages in zip(runs, timeline(Path(tmp) / "var"), strict=False):
            run["stages_seconds"] = stages
        report = {
            "benchmark": "leveltest",
            "llm": args.llm,
            "settings": args.env,
            "start_delay_seconds": args.start_delay,
            "audio_seconds": round(len(samples) / audio.SAMPLE_RATE, 1),
            "upload_to_result_cold_seconds": runs[0]["seconds"],
            "upload_to_result_warm_seconds": [r["seconds"] for r in runs[1:]],
            "runs": runs,
            "parts_warm": parts(samples, args.llm, args.cache, ANSWER),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg_at_start": load_start, "loadavg_at_end": os.getloadavg()},
        }  # fmt: skip
    out = ROOT / "bench" / "results" / f"leveltest-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
