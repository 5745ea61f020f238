"""Content words and the overlap rules that check summaries, answers and activity proposals against evidence.

Rules (English): a word is a lower-cased run of letters, digits and apostrophes ("'s" dropped); a word of STOP
carries no content; content words are compared by `stem`, so "tuning", "tuned" and "tunes" match ("tun").
A text *covers* a fact when it holds at least half of the fact's content words (two at least, when it has two);
a sentence is *supported* by some material when at least 60% of its content words occur in it.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Iterable


def _rules_digest() -> str:
    here = Path(__file__).parent
    text = b"".join((here / name).read_bytes() for name in ("wording.py", "quotes.py", "language.py"))
    return hashlib.sha256(text).hexdigest()[:12]


RULES = _rules_digest()  # the version of the nodes checked by these rules: editing a rule retires their cache

STOP = frozenset("""
a an the this that these those there here it its it's i me my mine myself we us our you your he him his she her
they them their what which who whom whose when where why how whether if then than so as of to in on at by for from
with without about into onto over under up down out off again also just only very too not no nor and or but both
either neither each every all any some such own same other am is are was were be been being have has had having do
does did doing done can could will would shall should may might must let lets let's now today still yet ever even
before after while because during until since through across around near
oh okay ok yes yeah hmm um uh well like one ll re ve d s t m i'm i've i'll i'd you're you've you'll we're we've
we'll they're they've don't doesn't didn't isn't aren't wasn't weren't can't won't
""".split())

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’])\s+|(?<=[\"”])\s+(?=[A-Z])|\n+")


def words(text: str) -> list[str]:
    return [w[:-2] if w.endswith("'s") else w for w in _WORD.findall(str(text).lower())]


def stem(word: str) -> str:
    """A plural, -ing or -ed ending dropped (leaving at least three letters), then a final e, then one of a doubled
    last consonant: "tuning" / "tuned" / "tune" → "tun", "running" → "run", "boxes" → "box"."""
    w = word
    for end in ("ing", "ed", "es", "s"):
        if w.endswith(end) and len(w) - len(end) >= 3 and not (end == "s" and w.endswith("ss")):
            w = w[: -len(end)]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    return w


def content_words(text: str) -> list[str]:
    """The stems of `text`'s content words, unique, in order."""
    return list(dict.fromkeys(stem(w) for w in words(text) if w not in STOP))


def sentences(text: str) -> list[str]:
    """`text` split after . ! ? (and a closing quote after them), after a closing quote followed by a capital, and at
    line breaks; empty pieces left out."""
    return [s.strip() for s in _SENTENCE.split(str(text)) if s.strip()]


def covers(text_words: Iterable[str], fact: str, share: float = 0.5) -> bool:
    """Whether a text (its content words) keeps `fact`: it holds ≥ `share` of the fact's content words, and at
    least two of them when the fact has two or more."""
    have, need = set(text_words), content_words(fact)
    least = max(min(2, len(need)), math.ceil(share * len(need) - 1e-9))
    return bool(need) and sum(w in have for w in need) >= least


def supported(sentence: str, material_words: Iterable[str], share: float = 0.6) -> bool:
    """Whether ≥ `share` of the sentence's content words occur in the material (a sentence without any: no)."""
    have, own = set(material_words), content_words(sentence)
    return bool(own) and sum(w in have for w in own) >= share * len(own)


_ROLE = re.compile(r"^\s*(?:(?:q|a|i|me|answer|assistant|response|output|summary|user|system)\s*:\s*)+",
                   re.IGNORECASE)
_SELF = re.compile(r"\b(?:i am|i'm|you are|you're|my name is|as an?)\b[^.!?]*"
                   r"\b(?:assistant|ai|language model|chatbot|smollm|trained)\b", re.IGNORECASE)
_QUOTES = "\"'`“”‘’ "


def clean_reply(text: str, echo_words: Iterable[str] = ()) -> tuple[str, list[str]]:
    """An LM reply cleaned by rule, and the pieces removed. Each sentence loses its leading role labels ("A:",
    "Answer:", "Assistant:", a speaker label "I:", … repeated); a sentence is dropped when it describes the
    assistant ("You're a helpful AI named …", a system-prompt echo) or brings no content word beyond `echo_words`
    (the prompt's own instructions and the question: an echo) and the sentences kept before it (a repeat). Quotes
    around the result go when they wrap the whole reply."""
    echo, kept, removed = set(echo_words), [], []
    for sentence in sentences(" ".join(str(text).split())):
        bare = _ROLE.sub("", sentence).strip()
        own = content_words(bare)
        if not bare or _SELF.search(bare) or not own or all(w in echo for w in own):
            removed.append(sentence)
        else:
            kept.append(bare)
            echo.update(own)  # a later sentence must bring something new too
    out = " ".join(kept)
    if len(out) > 1 and out[0] in _QUOTES and out[-1] in _QUOTES and not any(q in out[1:-1] for q in _QUOTES[:-1]):
        out = out[1:-1].strip()  # one quoted answer: the quotes go
    return out, removed
