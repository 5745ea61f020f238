"""What was said (`heard`) and read (`text`, scene text) at a log entry, sentence by sentence, as quotes."""

from __future__ import annotations

from typing import Any

from .egocentric import when
from .wording import content_words, sentences

SOURCES = (("speech", "said", "heard", 2), ("text", "read", "text", 1))  # by, verb, log field, content words of a fact


def speech_pieces(heard: str, segments: list[Any] | None) -> list[str]:
    """`heard` cut where its transcript segments meet (the log joins them with spaces, and Whisper often ends a
    segment without a full stop), when the segments, in order, make up exactly `heard`; else `[heard]`."""
    heard = heard.strip()
    pieces, pos = [], 0
    for seg in sorted(segments or [], key=lambda x: float(x.get("start", 0.0))):
        text = str(seg.get("text", "")).strip()
        i = heard.find(text, pos) if text else -1
        if i >= 0 and not heard[pos:i].strip():
            pieces.append(text)
            pos = i + len(text)
    return pieces if pieces and " ".join(pieces) == heard else [heard]


def entry_quotes(entry: dict[str, Any], segments: list[Any] | None = None) -> list[dict[str, Any]]:
    """{t, last, by, verb, text, fact} per sentence said or read at `entry`, speech first (cut at its transcript
    `segments` too, when given). A fact is a spoken sentence with two content words or more, or a written one with
    at least one."""
    out = []
    for by, verb, field, least in SOURCES:
        value = entry.get(field) or ""
        text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts = speech_pieces(text, segments) if by == "speech" and segments else [text]
        for s in (x for part in parts for x in sentences(part)):
            out.append({"t": float(entry["t"]), "last": float(entry.get("last", entry["t"])), "by": by,
                        "verb": verb, "text": s, "fact": len(content_words(s)) >= least})
    return out


def quote_line(q: dict[str, Any]) -> str:
    """`[02:00–03:10] I said: "…"` (the time range of the entry it was said at)"""
    return f'{when(q)} I {q["verb"]}: "{q["text"]}"'


def quote_sentence(q: dict[str, Any]) -> str:
    """`[02:00–03:10] I said: "…."` (a full stop added when the sentence has none)"""
    text = q["text"] if q["text"].endswith((".", "!", "?", "…")) else q["text"] + "."
    return f'{when(q)} I {q["verb"]}: "{text}"'
