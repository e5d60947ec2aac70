"""Fit the CEFR scorer's text calibration on labelled development data and report how it
does (issue 7). Prints a JSON report; ``--write`` stores the coefficients in
``workers/cefr_calibration.json``.

The data is ``../shared/data/cefr-dev/asag-dev.jsonl`` (97 learner answers, examiner
majority labels; CC BY-NC-SA, read in place, never copied into the repository). The model
is ridge regression of the level (1..6) on standardised text features; quality is measured
by leave-one-out cross-validation, against the two baselines the data's README names: word
count alone and always predicting the most frequent level.

    python bench/cefr_calibrate.py [--data PATH] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def scores(truth: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    levels = np.rint(guess)
    return {
        "spearman": round(spearman(truth, guess), 3) if guess.std() > 0 else 0.0,
        "exact": round(float((levels == truth).mean()), 3),
        "within_one": round(float((abs(levels - truth) <= 1).mean()), 3),
        "rmse": round(float(np.sqrt(((guess - truth) ** 2).mean())), 3),
    }


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = predict(*fit(x[keep], y[keep]), x[i : i + 1])[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    features = [text_features(r["text"], "en") for r in rows]
    x = np.array([[f[name] for name in TEXT_FEATURES] for f in features])
    y = np.array([float(r["level_num"]) for r in rows])
    words_only = x[:, [TEXT_FEATURES.index("log_words")]]
    majority = float(np.bincount(y.astype(int)).argmax())
    report: dict[str, Any] = {
        "benchmark": "cefr_calibration",
        "data": args.data.name,
        "samples": len(rows),
        "features": list(TEXT_FEATURES),
        "leave_one_out": scores(y, leave_one_out(x, y)),
        "baseline_word_count": scores(y, leave_one_out(words_only, y)),
        "baseline_majority": scores(y, np.full(len(y), majority)),
    }
    weights, mean, std = fit(x, y)
    report["in_sample"] = scores(y, predict(weights, mean, std, x))
    calibration = {
        "version": "text-ridge-1",
        "data": f"{args.data.name} ({len(rows)} answers)",
        "features": list(TEXT_FEATURES),
        "intercept": round(float(weights[0]), 6),
        "weights": [round(float(w), 6) for w in weights[1:]],
        "mean": [round(float(m), 6) for m in mean],
        "std": [round(float(s), 6) for s in std],
        "leave_one_out": report["leave_one_out"],
    }
    if args.write:
        TARGET.write_text(json.dumps(calibration, indent=2) + "\n")
    report["calibration"] = calibration
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
