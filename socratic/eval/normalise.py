"""Answer normalisation of the official VQA evaluation (methods.md §2), written from its documented behaviour.

current (default, official head a013f00): newlines/tabs -> spaces and strip on both sides; then, only when the
    ten answers are not all identical, the punctuation rule and the word rule on the prediction AND every answer.
2017 (legacy, a4f1afd): prediction always fully normalised; answers get the punctuation rule only, and only when
    they disagree (no stripping, no lower-casing).
"""

from __future__ import annotations

import re

from ..errors import SocraticError

# Characters the punctuation rule handles ("." has its own rule; the apostrophe and ":" are kept).
PUNCTUATION = tuple(';/[]"{}()=+\\_->< @`,?!'.replace(" ", ""))
# A "." that is not followed by a digit (the official look-behind is malformed and never applies).
_PERIOD = re.compile(r"\.(?!\d)")
# The official code passes re.UNICODE (32) where re.sub takes `count`: at most 32 periods are removed.
_PERIOD_LIMIT = 32
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")

NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())} | {"none": "0"}
ARTICLES = frozenset({"a", "an", "the"})

# Contractions written with all their apostrophes. The official table maps every spelling with exactly one
# apostrophe missing back to this form (its capitalised "I" entries can never match lower-cased text, so
# they are left out here; its two identity entries change nothing).
_CONTRACTIONS = """
ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't
he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll ma'am mightn't mightn't've might've mustn't
must've needn't not've o'clock oughtn't 'ow's'at shan't she'd've should've shouldn't shouldn't've
somebody'd've somebody'll somebody's someone'd someone'd've someone'll someone's something'd
something'd've something'll that's there'd there'd've there're there's they'd they'd've they'll they're
they've 'twas wasn't we'd've we've weren't what'll what're what's what've when's where'd where's where've
who'd who'd've who'll who's who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll
y'all'd've you'd you'd've you'll you're you've
""".split()


def _contraction_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for full in _CONTRACTIONS:
        for k, ch in enumerate(full):
            if ch == "'":
                table[full[:k] + full[k + 1:]] = full
    table["somebody'd"] = "somebodyd"  # the official table has this one entry reversed; kept for parity
    return table


CONTRACTIONS = _contraction_table()


def normalise_punctuation(text: str) -> str:
    """Each listed mark is deleted when it touches a space in the original text (or the text has a
    digit,digit group), else replaced by a space; then periods not followed by a digit are removed."""
    glue = bool(_DIGIT_COMMA_DIGIT.search(text))
    out = text
    for p in PUNCTUATION:
        out = out.replace(p, "" if glue or (p + " ") in text or (" " + p) in text else " ")
    return _PERIOD.sub("", out, count=_PERIOD_LIMIT)


def normalise_words(text: str) -> str:
    """Lower-case, split on whitespace, number words -> digits, drop articles, restore contractions."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def clean_whitespace(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalise_prediction(text: str) -> str:
    return normalise_words(normalise_punctuation(clean_whitespace(text)))


def normalise_ground_truth(answers: list[str]) -> list[str]:
    """2017 rule: punctuation rule only when the answers disagree; no other change (not even stripping)."""
    answers = list(answers)
    if len(set(answers)) > 1:
        answers = [normalise_punctuation(a) for a in answers]
    return answers


def normalise_pair(prediction: str, answers: list[str]) -> tuple[str, list[str]]:
    """Current rule: both sides cleaned; both fully normalised only when the cleaned answers disagree."""
    pred, gts = clean_whitespace(prediction), [clean_whitespace(a) for a in answers]
    if len(set(gts)) > 1:
        pred = normalise_words(normalise_punctuation(pred))
        gts = [normalise_words(normalise_punctuation(a)) for a in gts]
    return pred, gts


SCORERS = ("current", "2017")


def compared_forms(prediction: str, answers: list[str], scorer: str = "current") -> tuple[str, list[str]]:
    """The prediction and answers as the chosen official scorer compares them."""
    if scorer == "current":
        return normalise_pair(prediction, answers)
    if scorer == "2017":
        return normalise_prediction(prediction), normalise_ground_truth(answers)
    raise SocraticError(f"unknown scorer {scorer!r} (current or 2017)", field="--scorer")
