"""Whether a short phrase is in a given language, by word lists (wordfreq) rather than a classifier: reliable on
the two-to-eight-word phrases an LM proposes, where character-statistics classifiers guess."""

from __future__ import annotations

import functools
import re

from ..errors import SocraticError

COMPARED = ("en", "fr", "es", "de", "it", "pt", "nl")  # the languages a word is weighed against
MARGIN = 1.0  # Zipf units: a word of the language is at least a tenth as common there as anywhere else
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


@functools.lru_cache(maxsize=1)
def _wordfreq():
    try:
        import wordfreq
    except ImportError:  # a dependency; a broken install is worth one clear line
        raise SocraticError("checking a phrase's language needs the `wordfreq` package (pip install wordfreq)")
    return wordfreq


@functools.lru_cache(maxsize=65536)
def _zipf(word: str, language: str) -> float:
    return _wordfreq().zipf_frequency(word, language)


def check_language(language: str) -> None:
    if language not in _wordfreq().available_languages():
        raise SocraticError(f"no word list for language {language!r} (wordfreq has: "
                            f"{', '.join(sorted(_wordfreq().available_languages()))})", field="language")


def is_word_of(word: str, language: str) -> bool:
    """`word` is in `language`'s word list, at least a tenth as common there (Zipf − MARGIN) as in the commonest of
    the COMPARED languages."""
    own = _zipf(word, language)
    others = [_zipf(word, other) for other in COMPARED if other != language]
    return own > 0 and own >= max(others, default=0.0) - MARGIN


def in_language(text: str, language: str = "en") -> bool:
    """More than half of the words of `text` are words of `language` (`is_word_of`); no words: no."""
    found = _WORD.findall(text.lower())
    return bool(found) and sum(is_word_of(w, language) for w in found) * 2 > len(found)
