"""Trial (issue 21, not shipped): does a sentence-difficulty model fitted on CEFR-SP add to
the level's features? Prints a JSON report.

CEFR-SP (``../shared/data/cefr-dev/cefr-sp-wikiauto.tsv``, Arase et al. 2022, CC BY-SA 3.0:
Wikipedia sentences each levelled by two English teachers) is the only sentence-level CEFR
resource here. A ridge regression of a sentence's mean label on its words is fitted on the
CEFR-SP train split alone (penalty chosen on its dev split, figure on its test split); the
learner answers play no part in it. An answer is then read as overlapping 20-word windows
(so where sentences or spoken units end cannot move it), and the mean and upper quartile of
the windows' predicted levels join the shipped features under the nested protocol of
``bench/leveltest_eval.py``, paired against the shipped features.

Two sentence models: ``lexical`` (length-free measures the scorer can already compute: word
length, rare-word share, mean and lowest Zipf frequency, B1+/B2+/C1+ profile shares, B1+
grammar items), and with ``--embeddings`` all-MiniLM-L6-v2 sentence vectors (the
``embeddings`` extra; encoding CEFR-SP takes about 4 minutes on 2 cores, and an answer's
windows about 45 ms each).

    python bench/cefr_sentence_trial.py [--embeddings]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cefr_stats import (  # noqa: E402
    Ridge,
    bootstrap,
    macro_recall,
    nested,
    report,
    spearman,
)
from bench.leveltest_eval import DATA_DIR, feature_matrix, load  # noqa: E402
from workers.cefr_features import (  # noqa: E402
    TEXT_FEATURES,
    grammar_items,
    lexical_levels,
    words_of,
)

SENTENCES = DATA_DIR / "cefr-sp-wikiauto.tsv"
WINDOW, STEP = 20, 10
ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
Encoder = Callable[[list[list[str]]], np.ndarray]


def lexical(windows: list[list[str]]) -> np.ndarray:
    """Length-free lexical measures of each word list."""
    from wordfreq import zipf_frequency

    from workers.cefr_features import PROFILE

    grammar = json.loads(PROFILE.read_text())["grammar"]
    rows = []
    for words in windows:
        known = [z for z in (zipf_frequency(w, "en") for w in words) if z > 0] or [5.0]
        shares = lexical_levels(words)
        rows.append([sum(map(len, words)) / max(len(words), 1),
                     sum(1 for z in known if z < 4) / len(known), float(np.mean(known)),
                     min(known), shares["b1_share"], shares["b2_share"], shares["c1_share"],
                     sum(1 for code in grammar_items(words) if grammar[code] >= 3)])  # fmt: skip
    return np.array(rows)


def embedded(windows: list[list[str]]) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors of each word list (lowercased words, no punctuation, as
    speech and text both give them)."""
    from workers.sentence_encoder import shared_encoder

    encoder, texts = shared_encoder(), [" ".join(w) for w in windows]
    return np.vstack([encoder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)])


def sentence_model(encode: Encoder) -> tuple[Ridge, dict[str, Any]]:
    """The CEFR-SP model: fitted on train, penalty by dev Spearman, figure on test."""
    with SENTENCES.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    x = encode([words_of(r["sentence"]) for r in rows])
    y = np.array([(int(r["label_a"]) + int(r["label_b"])) / 2 for r in rows])
    split = np.array([r["split"] for r in rows])
    train = split == "train"

    def dev_spearman(alpha: float) -> float:
        fitted = Ridge.fit(x[train], y[train], alpha)
        return spearman(y[split == "dev"], fitted.linear(x[split == "dev"]))

    alpha = max(ALPHAS, key=dev_spearman)
    model = Ridge.fit(x[train], y[train], alpha)
    test = split == "test"
    return model, {"alpha": alpha, "sentences_train": int(train.sum()),
                   "test_spearman": round(spearman(y[test], model.linear(x[test])), 3)}  # fmt: skip


def windows_of(text: str) -> list[list[str]]:
    words = words_of(text)
    if len(words) <= WINDOW:
        return [words]
    return [words[i : i + WINDOW] for i in range(0, len(words) - WINDOW + 1, STEP)]


def trial(y: np.ndarray, guess: np.ndarray, shipped: np.ndarray, word_count: np.ndarray,
          resamples: int) -> dict[str, Any]:  # fmt: skip
    """A trial's figures paired against the shipped features, and its Spearman paired
    against word count (issue 21's goal)."""
    against_words = bootstrap(y, guess, word_count, resamples)["minus_baseline"]["spearman"]
    return {"minus_shipped": report(y, guess, shipped, resamples),
            "spearman_minus_word_count": against_words}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embeddings", action="store_true")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    encode: Encoder = embedded if args.embeddings else lexical
    model, about = sentence_model(encode)
    rows = load(DATA_DIR / "asag-dev.jsonl", None)
    y = np.array([level for _, _, level in rows])
    x = feature_matrix([text for _, text, _ in rows])
    levels = [model.linear(encode(windows_of(text))) for _, text, _ in rows]
    answer = np.array([[p.mean(), np.percentile(p, 75)] for p in levels])
    shipped, _ = nested(x, y)
    word_count, _ = nested(x[:, [TEXT_FEATURES.index("log_words")]], y)
    trials = {"mean": answer[:, :1], "mean_and_upper_quartile": answer}
    out: dict[str, Any] = {
        "benchmark": "cefr_sentence_trial",
        "sentence_model": {"kind": "embeddings" if args.embeddings else "lexical", **about},
        "answer_mean_level_spearman": round(spearman(y, answer[:, 0]), 3),
    }
    for name, extra in trials.items():
        guess, _ = nested(np.hstack([x, extra]), y)
        out[f"shipped_plus_{name}"] = trial(y, guess, shipped, word_count, args.resamples)
    guess, _ = nested(np.hstack([x, answer[:, :1]]), y, cuts_for=macro_recall)
    out["shipped_plus_mean_with_cut_points"] = trial(y, guess, shipped, word_count, args.resamples)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
