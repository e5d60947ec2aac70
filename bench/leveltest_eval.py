"""Evaluate the level-test scorer on a CEFR-labelled set (issue 7): Spearman, exact and
within-one-level agreement, RMSE on the 1..6 scale, and a confusion matrix. Prints JSON.

Sets (read in place from ``../shared/data/cefr-dev``, never copied into the repository):

- ``asag-dev.jsonl``: learner answers with examiner majority labels. The shipped calibration
  was fitted on it, so its figures here are in-sample (the report says so); the honest
  figures for it are the leave-one-out ones from ``bench/cefr_calibrate.py``.
- ``cefr-sp-wikiauto.tsv``: Wikipedia sentences labelled by two teachers (mean label,
  rounded); out of sample and out of domain (single written sentences, not answers).

``--audio`` speaks each text with espeak-ng and scores the Whisper transcript with its word
timings instead: the whole pipeline, and the transcription real-time factor. ``--llm``
adds the language model's level signal (blended when the calibration has a fit for it).

    python bench/leveltest_eval.py [--data PATH] [--limit N] [--audio] [--llm smollm2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from domain.level_tests import CEFR_LEVELS  # noqa: E402
from infra.media import audio  # noqa: E402
from workers import cefr_scorer, llm, speech  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data" / "cefr-dev"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(truth: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    """Levels as 1 (A1) .. 6 (C2); ``guess`` may be continuous (rounded for agreement)."""
    levels = np.rint(guess)
    return {
        "spearman": round(spearman(truth, guess), 3) if guess.std() > 0 else 0.0,
        "exact": round(float((levels == truth).mean()), 3),
        "within_one": round(float((abs(levels - truth) <= 1).mean()), 3),
        "rmse": round(float(np.sqrt(((guess - truth) ** 2).mean())), 3),
    }


def confusion(truth: np.ndarray, guess: np.ndarray) -> dict[str, dict[str, int]]:
    """``{true level: {predicted level: count}}`` over the levels that occur."""
    out: dict[str, dict[str, int]] = {}
    for t, g in zip(truth.astype(int), np.clip(np.rint(guess), 1, 6).astype(int), strict=True):
        row = out.setdefault(CEFR_LEVELS[t - 1], {})
        row[CEFR_LEVELS[g - 1]] = row.get(CEFR_LEVELS[g - 1], 0) + 1
    return {level: out[level] for level in CEFR_LEVELS if level in out}


def load(path: Path, limit: int | None) -> list[tuple[str, str, float]]:
    """``(prompt, text, level 1..6)`` rows of a jsonl (``text``, ``level_num``) or the
    CEFR-SP tsv (``sentence``, ``label_a``, ``label_b``; its test split, evenly sampled)."""
    if path.suffix == ".tsv":
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "test"]
        parsed = [("", r["sentence"], (int(r["label_a"]) + int(r["label_b"])) / 2) for r in rows]
    else:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        parsed = [(r.get("prompt", ""), r["text"], float(r["level_num"])) for r in lines]
    if limit and len(parsed) > limit:
        step = len(parsed) / limit
        parsed = [parsed[int(i * step)] for i in range(limit)]
    return parsed


def spoken(text: str, transcriber: speech.Transcriber) -> tuple[cefr_scorer.Answer, float, float]:
    """The text as espeak-ng speech through Whisper: the answer and (audio s, transcribe s)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav.name, text],
                       check=True)  # fmt: skip
        samples = audio.decode(Path(wav.name).read_bytes())
    started = time.perf_counter()
    result = transcriber.transcribe(samples, "en")
    elapsed = time.perf_counter() - started
    words = [[w.word, w.start, w.end, w.probability] for w in result.words]
    return cefr_scorer.Answer("", result.text, words), len(samples) / audio.SAMPLE_RATE, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR / "asag-dev.jsonl")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--llm", default="off", help="smollm2, qwen2.5-1.5b, a GGUF path, off")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lm-models")
    args = parser.parse_args()

    rows = load(args.data, args.limit)
    model = llm.shared_model(args.llm, args.cache)
    transcriber = speech.shared_transcriber(args.cache) if args.audio else None
    truth, guess, scoring, audio_s, asr_s = [], [], [], 0.0, 0.0
    for prompt, text, level in rows:
        if transcriber is not None:
            answer, seconds, took = spoken(text, transcriber)
            audio_s, asr_s = audio_s + seconds, asr_s + took
        else:
            answer = cefr_scorer.Answer(prompt, text, [])
        started = time.perf_counter()
        result = cefr_scorer.assess([answer], "en", llm=model)
        scoring.append(time.perf_counter() - started)
        truth.append(level)
        guess.append(result["features"]["level_value"])
    t, g = np.array(truth), np.array(guess)
    calibration = cefr_scorer.fit_for(model.signal_key if model else None)
    report: dict[str, Any] = {
        "benchmark": "leveltest_eval",
        "data": args.data.name,
        "samples": len(rows),
        "in_sample": args.data.name in calibration["data"],
        "input": "espeak-ng speech -> Whisper" if args.audio else "text as transcript",
        "llm": model.name if model else "off",
        "calibration": calibration["version"],
        "agreement": agreement(np.rint(t), g),
        "confusion": confusion(np.rint(t), g),
        "baseline_majority": agreement(
            np.rint(t), np.full(len(t), float(np.bincount(np.rint(t).astype(int)).argmax()))
        ),
        "scoring_seconds_p50": round(float(np.median(scoring)), 3),
        "scoring_seconds_max": round(float(np.max(scoring)), 3),
    }
    if args.audio:
        report["audio_seconds"] = round(audio_s, 1)
        report["transcription_real_time_factor"] = round(asr_s / audio_s, 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
