"""Derive the object vocabulary from the Tencent ML-Images dictionary (methods.md §1a step 4).

    python -m socratic.vocab.build_objects          # rewrites objects_tencent_synonyms_filtered.txt
    python -m socratic.vocab.build_objects --filter-list profanity-filter --out objects_pf.txt

The filter list is a named option: `ours` (offensive_words.txt, the shipped list's), `profanity-filter` (the
English list of the installed `profanity-filter` package, as the reference notebook used; GPL-3.0+, so it is
read from the installed package and never shipped) or a path to a word list. Only `ours` may write the shipped
file; other lists need --out. See SOURCES.md for how the two lists' results differ.

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

from ..errors import SocraticError
from . import VOCAB_DIR, place_names, read_lines

DICTIONARY = VOCAB_DIR / "tencent_ml_images_dictionary_raw.txt"
WORD_LIST = VOCAB_DIR / "offensive_words.txt"
OUTPUT = VOCAB_DIR / "objects_tencent_synonyms_filtered.txt"
FILTER_LISTS = ("ours", "profanity-filter")
PROFANITY_FILTER_FILE = ("data", "en_profane_words.txt")  # inside the installed profanity_filter package


def load_word_list(path: Path = WORD_LIST) -> list[str]:
    return [w.lower() for w in read_lines(path) if not w.startswith("#")]


def filter_list_path(name: str) -> Path:
    """The word-list file of a named filter list, or `name` itself as a path."""
    if name == "ours":
        return WORD_LIST
    if name == "profanity-filter":
        import importlib.util

        spec = importlib.util.find_spec("profanity_filter")  # located, not imported (it pulls in spaCy)
        if spec is None or not spec.submodule_search_locations:
            raise SocraticError("the profanity-filter package is not installed (pip install "
                                "profanity-filter==1.3.3; its list is GPL-3.0+, so it is not shipped)",
                                field="--filter-list")
        path = Path(list(spec.submodule_search_locations)[0]).joinpath(*PROFANITY_FILTER_FILE)
        if not path.is_file():
            raise SocraticError(f"the installed profanity-filter has no English list at {path}",
                                field="--filter-list")
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise SocraticError(f"unknown filter list {name!r}: one of {', '.join(FILTER_LISTS)} or a word-list file",
                            field="--filter-list")
    return path


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


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m socratic.vocab.build_objects", description=__doc__.split("\n")[0])
    ap.add_argument("--filter-list", default="ours", help=f"{' | '.join(FILTER_LISTS)} | PATH (default: ours)")
    ap.add_argument("--out", type=Path, default=None, help="output file (default: the shipped list, ours only)")
    args = ap.parse_args(argv)
    try:
        words = load_word_list(filter_list_path(args.filter_list))
        out = args.out
        if out is None:
            if args.filter_list != "ours":
                raise SocraticError("only the 'ours' list rebuilds the shipped vocabulary; give --out FILE",
                                    field="--out")
            out = OUTPUT
        elif out.exists():
            raise SocraticError(f"{out} exists; the build never overwrites a file it did not make", field="--out")
        lines = DICTIONARY.read_text(encoding="utf-8").splitlines()
        objects = build_objects(lines, place_names(), words)
    except SocraticError as exc:
        print(f"error: {exc.format()}", file=sys.stderr)
        return 2
    out.write_text("\n".join(objects) + "\n", encoding="utf-8")
    print(f"{len(objects)} entries ({args.filter_list} filter list, {len(words)} words) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
