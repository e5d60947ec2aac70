"""Fit the CEFR scorer's text calibration on labelled development data and report how it
does (issue 7). Prints a JSON report; ``--write`` stores the coefficients in
``workers/cefr_calibration.json``.

The data is ``../shared/data/cefr-dev/asag-dev.jsonl`` (97 learner answers, examiner
majority labels; CC BY-NC-SA, read in place, never copied into the repository). The model
is ridge regression of the level (1..6) on standardised text features; quality is measured
by leave-one-out cross-validation, against the two baselines the data's README names: word
count alone and always predicting the most frequent level.

``--llm NAME`` adds that model's log-probability level as one more feature and stores the
fit under the model's ``signal_key`` (``with_llm``; the model file's and the examiner
prompt's digests): the scorer uses it only with that exact model and prompt. The text-only
fit is refitted and stored too; other models' fits are kept.

    python bench/cefr_calibrate.py [--data PATH] [--llm qwen2.5-1.5b] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.leveltest_eval import agreement, confusion  # noqa: E402
from workers import llm  # noqa: E402
from workers.cefr_features import TEXT_FEATURES, text_features  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cefr-dev" / "asag-dev.jsonl"
TARGET = ROOT / "workers" / "cefr_calibration.json"
RIDGE = 1.0


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    penalty = RIDGE * np.eye(z.shape[1])
    penalty[0, 0] = 0.0
    weights = np.linalg.solve(z.T @ z + penalty, z.T @ y)
    return weights, mean, std


def predict(weights: np.ndarray, mean: np.ndarray, std: np.ndarray, x: np.ndarray) -> np.ndarray:
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    return np.clip(z @ weights, 1.0, 6.0)


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = predict(*fit(x[keep], y[keep]), x[i : i + 1])[0]
    return out


def calibration(x: np.ndarray, y: np.ndarray, names: list[str], version: str,
                data: str) -> dict[str, Any]:  # fmt: skip
    """A fit as the scorer reads it, with its leave-one-out quality and confusion matrix."""
    weights, mean, std = fit(x, y)
    held_out = leave_one_out(x, y)
    return {
        "version": version,
        "data": data,
        "features": names,
        "intercept": round(float(weights[0]), 6),
        "weights": [round(float(w), 6) for w in weights[1:]],
        "mean": [round(float(m), 6) for m in mean],
        "std": [round(float(s), 6) for s in std],
        "leave_one_out": agreement(y, held_out),
        "leave_one_out_confusion": confusion(y, held_out),
        "in_sample": agreement(y, predict(weights, mean, std, x)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--llm", default="off", help="smollm2, qwen2.5-1.5b, a GGUF path, off")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lm-models")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    features = [text_features(r["text"], "en") for r in rows]
    x = np.array([[f[name] for name in TEXT_FEATURES] for f in features])
    y = np.array([float(r["level_num"]) for r in rows])
    words_only = x[:, [TEXT_FEATURES.index("log_words")]]
    majority = float(np.bincount(y.astype(int)).argmax())
    data = f"{args.data.name} ({len(rows)} answers)"
    text_fit = calibration(x, y, list(TEXT_FEATURES), "text-ridge-1", data)
    report: dict[str, Any] = {
        "benchmark": "cefr_calibration",
        "data": args.data.name,
        "samples": len(rows),
        "text_only": text_fit,
        "baseline_word_count": agreement(y, leave_one_out(words_only, y)),
        "baseline_majority": agreement(y, np.full(len(y), majority)),
    }
    stored = json.loads(TARGET.read_text())
    text_fit["with_llm"] = stored.get("with_llm", {})
    model = llm.shared_model(args.llm, args.cache)
    if model is not None:
        started = time.perf_counter()
        signal = np.array([[llm.expected_level(model.level_distribution(r["text"]))]
                           for r in rows])  # fmt: skip
        seconds = (time.perf_counter() - started) / len(rows)
        blended = calibration(np.hstack([x, signal]), y, [*TEXT_FEATURES, "llm_level"],
                              f"text-ridge-1+{model.name}", data)  # fmt: skip
        blended["model"] = model.name
        text_fit["with_llm"][model.signal_key] = blended
        report["llm"] = {
            "model": model.name,
            "signal_alone": agreement(y, leave_one_out(signal, y)),
            "signal_spearman_raw": agreement(y, signal[:, 0])["spearman"],
            "seconds_per_answer": round(seconds, 3),
            "blended": blended,
        }
    if args.write:
        TARGET.write_text(json.dumps(text_fit, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
