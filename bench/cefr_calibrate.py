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

``--hinge-grid none,40,60,80``: the low-end length hinge (issue 21, eighth round;
``workers/cefr_features.py``, ``length_hinge``) of the fit this run makes (``--llm``'s, or
the text-only one without it), its T in words chosen from the grid by the inner folds
jointly with the penalty and stretch (``none``: no hinge), measured paired against the
grid ``none`` and stored with the fit (``hinge_words``, ``hinge_grid``). Any other fit the
run makes (the text-only one, on an ``--llm`` run) and every fit on a run without the
option is refitted over the grid stored with it (``none`` when there is none), so a plain
refit keeps each fit's decision.

    python bench/cefr_calibrate.py [--data PATH] [--llm qwen2.5-1.5b] [--class-weights P,P]
        [--hinge-grid none,T,T] [--write]
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
    nested,
    select,
    widened,
)
from bench.cefr_stats import report as stats_report  # noqa: E402
from bench.leveltest_eval import feature_matrix, load  # noqa: E402
from workers import llm  # noqa: E402
from workers.cefr_features import HINGE, TEXT_FEATURES, length_hinge  # noqa: E402
from workers.cefr_surprisal import SURPRISAL_FEATURES, surprisal_features  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cefr-dev" / "asag-dev.jsonl"
TARGET = ROOT / "workers" / "cefr_calibration.json"
VERSION = "text-ridge-2"
SEED = 0


Hinges = list[int | None]


def hinge_blocks(x: np.ndarray, hinges: Hinges) -> list[np.ndarray]:
    """For each T of the grid, the hinge column beside ``x``'s features (``log_words`` is
    one of them), or no column for ``None``: the blocks the inner folds choose among."""
    log_words = x[:, TEXT_FEATURES.index("log_words")]
    return [x[:, :0] if t is None else np.array([[length_hinge(v, t)] for v in log_words])
            for t in hinges]  # fmt: skip


def calibration(x: np.ndarray, y: np.ndarray, names: list[str], version: str, data: str, *,
                hinges: Hinges) -> dict[str, Any]:  # fmt: skip
    """A fit as the scorer reads it, with its nested cross-validated quality; its hinge's T
    chosen from ``hinges`` (``None``: no hinge) with the penalty and stretch."""
    blocks = hinge_blocks(x, hinges)
    alpha, stretch, _, pick = select(x, y, 5, SEED, extra=blocks)
    hinge = hinges[pick]
    chosen = widened(x, blocks, pick)
    model = Ridge.fit(chosen, y, alpha, stretch)
    held_out, _ = nested(x, y, seed=SEED, extra=blocks)
    return {
        # A fit with a hinge scores differently: its results must say so (LevelAssessed).
        "version": version if hinge is None else f"{version}+hinge{hinge}",
        "data": data,
        "features": names if hinge is None else [*names, HINGE],
        "hinge_words": hinge,
        "hinge_grid": hinges,
        "alpha": alpha,
        "stretch": stretch,
        "intercept": round(model.intercept, 6),
        "weights": [round(float(w), 6) for w in model.weights],
        "mean": [round(float(m), 6) for m in model.mean],
        "std": [round(float(s), 6) for s in model.std],
        "cross_validated": {k: round(v, 3) for k, v in agreement(y, held_out).items()},
        "cross_validated_confusion": confusion(y, held_out),
        "in_sample": {k: round(v, 3) for k, v in agreement(y, model.predict(chosen)).items()},
    }


def with_choice(x: np.ndarray, y: np.ndarray, words: np.ndarray,
                **choice: Any) -> dict[str, Any]:  # fmt: skip
    """Nested figures with one more setting for the inner folds to choose (``powers`` or
    ``extra``, as ``nested`` takes them), and without it on the same features: each with
    its figures minus word count, and the first paired against the second."""
    without, _ = nested(x, y, seed=SEED)
    guess, chosen = nested(x, y, seed=SEED, **choice)
    return {
        "with": stats_report(y, guess, words),
        "without": stats_report(y, without, words),
        "with_minus_without": bootstrap(y, guess, without),
        "chosen_per_fold": chosen,
    }


def powers_list(text: str) -> list[float]:
    return [float(p) for p in text.split(",")]


def hinge_list(text: str) -> Hinges:
    return [None if t == "none" else int(t) for t in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--llm", default="off", help="smollm2, qwen2.5-1.5b, a GGUF path, off")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lm-models")
    parser.add_argument("--class-weights", type=powers_list, default=None, metavar="P,P",
                        help="also measure class-balanced weights (powers: 0,0.5,1)")  # fmt: skip
    parser.add_argument("--hinge-grid", type=hinge_list, default=None, metavar="none,T,T",
                        help="the length hinge's T for this run's fit: none,40,60,80")  # fmt: skip
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = load(args.data, None)
    texts = [text for _, text, _ in rows]
    x = feature_matrix(texts)
    y = np.array([level for _, _, level in rows])
    data = f"{args.data.name} ({len(rows)} answers)"
    stored = json.loads(TARGET.read_text())
    model = llm.shared_model(args.llm, args.cache)
    hinges = (args.hinge_grid if model is None else None) or stored.get("hinge_grid", [None])
    text_fit = calibration(x, y, list(TEXT_FEATURES), VERSION, data, hinges=hinges)
    report: dict[str, Any] = {"benchmark": "cefr_calibration", "data": args.data.name,
                              "samples": len(rows), "text_only": text_fit}  # fmt: skip
    text_fit["with_llm"] = {
        key: fit for key, fit in stored.get("with_llm", {}).items()
        if fit["features"][: len(TEXT_FEATURES)] == list(TEXT_FEATURES)
        and "cross_validated" in fit
    }  # fmt: skip
    words, _ = nested(x[:, [TEXT_FEATURES.index("log_words")]], y, seed=SEED)
    measured_x = x
    if model is not None:
        started = time.perf_counter()
        measured = [surprisal_features(model, t, "en") for t in texts]
        seconds = (time.perf_counter() - started) / len(rows)
        signal = np.array([[m[name] for name in SURPRISAL_FEATURES] for m in measured])
        measured_x = np.hstack([x, signal])
        previous = text_fit["with_llm"].get(model.signal_key, {})
        hinges = args.hinge_grid or previous.get("hinge_grid", [None])
        blended = calibration(measured_x, y, [*TEXT_FEATURES, *SURPRISAL_FEATURES],
                              f"{VERSION}+{model.name}", data, hinges=hinges)  # fmt: skip
        blended["model"] = model.name
        text_fit["with_llm"][model.signal_key] = blended
        features_only, _ = nested(x, y, seed=SEED)
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
        report["class_weights"] = {
            "powers": args.class_weights,
            **with_choice(measured_x, y, words, powers=args.class_weights),
        }
    if len(hinges) > 1:
        hinged = with_choice(measured_x, y, words, extra=hinge_blocks(measured_x, hinges))
        for settings in hinged["chosen_per_fold"]:
            settings["hinge_words"] = hinges[settings.pop("extra")]
        report["hinge"] = {"grid": hinges, **hinged}
    if args.write:
        TARGET.write_text(json.dumps(text_fit, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
