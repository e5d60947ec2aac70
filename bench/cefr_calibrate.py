"""Fit the CEFR scorer's calibration on labelled development data (issues 7 and 21). Prints
a JSON report; ``--write`` stores the fit in ``workers/cefr_calibration.json``.

The data is ``../shared/data/cefr-dev/asag-dev.jsonl`` (97 learner answers, examiner
majority labels; CC BY-NC-SA, read in place, never copied into the repository). The model
is ridge regression of the level (1..6) on standardised text features with a stretch
(``bench/cefr_stats.py``); its penalty and stretch are chosen by cross-validation on the
whole set, and the figure stored with it is the nested cross-validated one
(``bench/leveltest_eval.py``), where that choice was made inside each outer fold.

``--llm NAME`` adds that model's surprisal features (``workers/cefr_surprisal.py``) and
stores the fit under the model's ``signal_key`` (``with_llm``; the model file's and the
examiner prompt's digests), with the nested figures of features alone, features plus
surprisal, and word count, paired, so the report says whether the model adds anything and
whether the result beats word count. The scorer uses it only with that exact model and
prompt. Fits for another feature set or protocol are dropped on ``--write``: the scorer
refuses a calibration whose features it does not compute.

``--class-weights 0,0.5,1`` also measures class-balanced sample weights (issue 21, fifth
round; ``bench/cefr_stats.py``, ``class_weights``) on the same features (with ``--llm``,
features plus surprisal): the power chosen by the inner folds from those given, jointly
with the penalty and stretch, paired against the unweighted selection and against word
count. It is measured only; ``--write`` stores the unweighted fit.

    python bench/cefr_calibrate.py [--data PATH] [--llm qwen2.5-1.5b] [--class-weights P,P]
        [--write]
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

from bench.cefr_stats import (  # noqa: E402
    Ridge,
    agreement,
    bootstrap,
    confusion,
    ends,
    nested,
    select,
)
from bench.cefr_stats import report as stats_report  # noqa: E402
from bench.leveltest_eval import feature_matrix, load  # noqa: E402
from workers import llm  # noqa: E402
from workers.cefr_features import TEXT_FEATURES  # noqa: E402
from workers.cefr_surprisal import SURPRISAL_FEATURES, surprisal_features  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cefr-dev" / "asag-dev.jsonl"
TARGET = ROOT / "workers" / "cefr_calibration.json"
VERSION = "text-ridge-2"
SEED = 0


def calibration(x: np.ndarray, y: np.ndarray, names: list[str], version: str,
                data: str) -> dict[str, Any]:  # fmt: skip
    """A fit as the scorer reads it, with its nested cross-validated quality."""
    alpha, stretch, _ = select(x, y, 5, SEED)
    model = Ridge.fit(x, y, alpha, stretch)
    held_out, _ = nested(x, y, seed=SEED)
    return {
        "version": version,
        "data": data,
        "features": names,
        "alpha": alpha,
        "stretch": stretch,
        "intercept": round(model.intercept, 6),
        "weights": [round(float(w), 6) for w in model.weights],
        "mean": [round(float(m), 6) for m in model.mean],
        "std": [round(float(s), 6) for s in model.std],
        "cross_validated": {k: round(v, 3) for k, v in agreement(y, held_out).items()},
        "cross_validated_confusion": confusion(y, held_out),
        "in_sample": {k: round(v, 3) for k, v in agreement(y, model.predict(x)).items()},
    }


def class_weighted(x: np.ndarray, y: np.ndarray, words: np.ndarray,
                   powers: list[float]) -> dict[str, Any]:  # fmt: skip
    """Nested figures with the class-weight power chosen by the inner folds from ``powers``,
    paired against the unweighted selection on the same features and against word count."""
    unweighted, _ = nested(x, y, seed=SEED)
    guess, chosen = nested(x, y, seed=SEED, powers=powers)
    return {
        "powers": powers,
        "minus_unweighted": stats_report(y, guess, unweighted),
        "minus_word_count": bootstrap(y, guess, words),
        "unweighted_ends": ends(y, unweighted),
        "chosen_per_fold": chosen,
    }


def powers_list(text: str) -> list[float]:
    return [float(p) for p in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--llm", default="off", help="smollm2, qwen2.5-1.5b, a GGUF path, off")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lm-models")
    parser.add_argument("--class-weights", type=powers_list, default=None, metavar="P,P",
                        help="also measure class-balanced weights (powers: 0,0.5,1)")  # fmt: skip
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = load(args.data, None)
    texts = [text for _, text, _ in rows]
    x = feature_matrix(texts)
    y = np.array([level for _, _, level in rows])
    data = f"{args.data.name} ({len(rows)} answers)"
    text_fit = calibration(x, y, list(TEXT_FEATURES), VERSION, data)
    report: dict[str, Any] = {"benchmark": "cefr_calibration", "data": args.data.name,
                              "samples": len(rows), "text_only": text_fit}  # fmt: skip
    stored = json.loads(TARGET.read_text())
    text_fit["with_llm"] = {
        key: fit for key, fit in stored.get("with_llm", {}).items()
        if fit["features"][: len(TEXT_FEATURES)] == list(TEXT_FEATURES)
        and "cross_validated" in fit
    }  # fmt: skip
    words, _ = nested(x[:, [TEXT_FEATURES.index("log_words")]], y, seed=SEED)
    measured_x = x
    model = llm.shared_model(args.llm, args.cache)
    if model is not None:
        started = time.perf_counter()
        measured = [surprisal_features(model, t, "en") for t in texts]
        seconds = (time.perf_counter() - started) / len(rows)
        signal = np.array([[m[name] for name in SURPRISAL_FEATURES] for m in measured])
        blended = calibration(np.hstack([x, signal]), y, [*TEXT_FEATURES, *SURPRISAL_FEATURES],
                              f"{VERSION}+{model.name}", data)  # fmt: skip
        blended["model"] = model.name
        text_fit["with_llm"][model.signal_key] = blended
        features_only, _ = nested(x, y, seed=SEED)
        measured_x = np.hstack([x, signal])
        with_signal, _ = nested(measured_x, y, seed=SEED)
        report["llm"] = {
            "model": model.name,
            "features": list(SURPRISAL_FEATURES),
            "surprisal_alone": {
                k: round(v, 3) for k, v in agreement(y, nested(signal, y, seed=SEED)[0]).items()
            },
            "with_surprisal_minus_features_alone": bootstrap(y, with_signal, features_only),
            "with_surprisal_vs_word_count": stats_report(y, with_signal, words),
            "seconds_per_answer": round(seconds, 3),
        }
    if args.class_weights is not None:
        report["class_weights"] = class_weighted(measured_x, y, words, args.class_weights)
    if args.write:
        TARGET.write_text(json.dumps(text_fit, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
