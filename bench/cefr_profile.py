"""Build ``workers/cefr_profile.json`` from the English CEFR profiles (issue 21).

The scorer's lexical-level and grammatical-range features read a compact table derived from
``../shared/data/cefr-vocab/`` (Open Language Profiles, commit d4e45b7):

- ``words``: headword -> level 1..6. A1-B2 from the CEFR-J Wordlist 1.5, C1/C2 from the
  Octanove Vocabulary Profile C1/C2 1.0 (CC BY-SA 4.0). A headword listed under several
  parts of speech or in both lists keeps its lowest level (the scorer has no tagger, and a
  learner's use of a word is most likely its commonest sense). Spelling variants
  ("analyze/analyse") each get the level; multi-word entries ("according to") are left
  out, since the scorer looks words up one at a time.
- ``grammar``: for each grammar item the scorer detects (``workers/cefr_features.py``,
  ``GRAMMAR``), its level in the CEFR-J Grammar Profile 20180315; where the CEFR-J column is
  empty, the lowest level the English Grammar Profile column gives, then the Core Inventory's.

The table is derived data under the sources' terms (citation; CC BY-SA 4.0 for the
Octanove part): NOTICE carries the attribution. Rebuild after changing ``GRAMMAR``:

    python bench/cefr_profile.py [--source DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.cefr_features import GRAMMAR, PROFILE  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "cefr-vocab"
LEVEL = re.compile(r"([ABC][12])")
NUMBER = {"A1": 1, "A2": 2, "B1": 3, "B2": 4, "C1": 5, "C2": 6}


def words(source: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in ("cefrj-vocabulary-profile-1.5.csv", "octanove-vocabulary-profile-c1c2-1.0.csv"):
        with (source / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                level = NUMBER.get(row["CEFR"].strip())
                if level is None:
                    continue
                for variant in row["headword"].split("/"):
                    word = variant.strip().lower()
                    if word and " " not in word:
                        out[word] = min(out.get(word, level), level)
    return dict(sorted(out.items()))


def grammar(source: Path) -> dict[str, int]:
    with (source / "cefrj-grammar-profile-20180315.csv").open(newline="", encoding="utf-8") as f:
        rows = {row["Shorthand Code"].strip(): row for row in csv.DictReader(f)}
    out = {}
    for code in GRAMMAR:
        row = rows[code]  # a code the profile does not have is a typo in GRAMMAR
        for column in ("CEFR-J Level", "EGP", "Core Inventory"):
            found = LEVEL.findall(row[column])
            if found:
                out[code] = min(NUMBER[level] for level in found)
                break
        else:
            raise ValueError(f"{code} has no level in the grammar profile")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    table = {
        "source": "CEFR-J Wordlist 1.5 and Grammar Profile 20180315 (Tono Laboratory, TUFS); "
        "Octanove Vocabulary Profile C1/C2 1.0 (Octanove Labs, CC BY-SA 4.0); see NOTICE",
        "words": words(args.source),
        "grammar": grammar(args.source),
    }
    PROFILE.write_text(json.dumps(table, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"{PROFILE}: {len(table['words'])} words, {len(table['grammar'])} grammar items")


if __name__ == "__main__":
    main()
