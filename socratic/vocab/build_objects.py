"""Derive the object vocabulary from the Tencent ML-Images dictionary (methods.md §1a step 4).

    python -m socratic.vocab.build_objects          # rewrites objects_tencent_synonyms_filtered.txt

Rules, in order:
1. Skip the header line; take the 4th tab-separated column (the synonym string "a, b, c").
2. Split it on ",", strip each synonym, and keep the synonyms that pass the offensive-word filter:
   a synonym fails when any word of `offensive_words.txt` occurs in it as a whole word, case-insensitively
   (regex word boundaries, so "pussy willow" and "pussy-paw" fail, "Titan" and "cockpit" pass).
3. Rejoin the kept synonyms with ", "; an entry with none left is dropped.
4. De-duplicate, keeping the first occurrence (dictionary order; the reference used an unordered set).
5. Drop an entry equal to a formatted Places365 name (`places365_sm_order.txt`).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import VOCAB_DIR, place_names, read_lines

DICTIONARY = VOCAB_DIR / "tencent_ml_images_dictionary_raw.txt"
WORD_LIST = VOCAB_DIR / "offensive_words.txt"
OUTPUT = VOCAB_DIR / "objects_tencent_synonyms_filtered.txt"


def load_word_list(path: Path = WORD_LIST) -> list[str]:
    return [w.lower() for w in read_lines(path) if not w.startswith("#")]


def word_filter(words: list[str]) -> re.Pattern[str]:
    """Matches text containing any of `words` as a whole word, ignoring case."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def clean_synonyms(synonyms: str, bad: re.Pattern[str]) -> str:
    """The synonyms of one entry that pass the filter, rejoined with ", " ("" when none)."""
    kept = [s for s in (part.strip() for part in synonyms.split(",")) if s and not bad.search(s)]
    return ", ".join(kept)


def build_objects(dictionary_lines: list[str], places: list[str], words: list[str]) -> list[str]:
    bad = word_filter(words)
    place_set = set(places)
    seen: set[str] = set()
    out: list[str] = []
    for line in dictionary_lines[1:]:
        columns = line.rstrip("\n").split("\t")
        if len(columns) < 4:
            continue
        entry = clean_synonyms(columns[3], bad)
        if entry and entry not in seen and entry not in place_set:
            seen.add(entry)
            out.append(entry)
    return out


def main() -> None:
    lines = DICTIONARY.read_text(encoding="utf-8").splitlines()
    objects = build_objects(lines, place_names(), load_word_list())
    OUTPUT.write_text("\n".join(objects) + "\n", encoding="utf-8")
    print(f"{len(objects)} entries -> {OUTPUT}")


if __name__ == "__main__":
    main()
