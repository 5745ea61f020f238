"""Egocentric video: speech attached to key frames, the timestamped world-state log, and video search.

A log line per key frame reads
    [00:12] place: kitchen | objects: kettle, mug | activity: making coffee | heard: "I'll make coffee"
with the `heard` part left out when nothing was heard near that frame. When sound events are wired in, a
`sounds: dog, speech` part (before `heard`) lists the sounds recognised during the frame's interval. When scene
text is wired in (`ocr_text`), a `text: "PLATFORM 9"` part (after `activity`) quotes what the key frame shows in
writing.
"""

from __future__ import annotations

import re
from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame, clock, span_owner
from ..models.base import LM, VLM
from ..node import node
from ..nodes.text import fill
from ..types import Image, Prompt
from .wording import RULES, content_words


def _labels(value: Any, first_synonym: bool = False) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out = [str(v).split(", ")[0].strip() if first_synonym else str(v).strip() for v in items]
    return [v for v in out if v]


def when(entry: dict[str, Any]) -> str:
    """`[00:12]`, or `[00:06–00:12]` for an entry standing for several frames."""
    start, last = clock(entry["t"]), clock(entry.get("last", entry["t"]))
    return f"[{start}]" if last == start else f"[{start}–{last}]"


def format_line(entry: dict[str, Any]) -> str:
    parts = [f"{when(entry)} place: {entry['place']}", f"objects: {', '.join(entry['objects'])}",
             f"activity: {entry['activity']}"]
    if entry.get("text"):
        parts.append(f'text: "{entry["text"]}"')
    if entry.get("sounds"):
        parts.append(f"sounds: {', '.join(entry['sounds'])}")
    if entry.get("heard"):
        parts.append(f'heard: "{entry["heard"]}"')
    return " | ".join(parts)


def _check_lengths(**lists: list[Any] | None) -> int:
    sizes = {k: len(v) for k, v in lists.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise SocraticError("inputs have different lengths: " + ", ".join(f"{k}={n}" for k, n in sizes.items()))
    return next(iter(sizes.values()), 0)


@node("attach_speech", outputs={"heard": list[str]})
def attach_speech(timestamps: list[float], segments: list[Any], ends: list[float] | None = None) -> list[str]:
    """Per key frame, the speech heard during its interval.

    Key frame i covers [t_i, end_i) (`ends` from video_keyframes; without it, up to t_{i+1}; the last one runs to
    the end). A segment goes, whole, to the frame whose interval it overlaps most (ties: the earlier; what is
    said before the first frame goes to it). Several segments on one frame are joined with spaces, in order."""
    if any(b < a for a, b in zip(timestamps, timestamps[1:])):
        raise SocraticError("timestamps must be in increasing order", field="timestamps")
    _check_lengths(timestamps=timestamps, ends=ends)
    heard: list[list[str]] = [[] for _ in timestamps]
    if not timestamps:
        return []
    for seg in sorted(segments, key=lambda s: float(s["start"])):
        text = str(seg.get("text", "")).strip()
        if text:
            start = float(seg["start"])
            heard[span_owner(timestamps, ends, start, float(seg.get("end", start)))].append(text)
    return [" ".join(h) for h in heard]


def frame_sounds(timestamps: list[float], events: list[Any], first_synonym: bool = True) -> list[list[str]]:
    """Per key frame, the top-1 labels of the sound windows overlapping its interval [t_i, t_{i+1}) (the first
    interval also takes what comes before it, the last runs to the end), de-duplicated, in time order."""
    out: list[list[str]] = [[] for _ in timestamps]
    for ev in sorted(events, key=lambda e: float(e["start"])):
        top = _labels(list(ev.get("labels") or [])[:1], first_synonym)
        if not top:
            continue
        start, end = float(ev["start"]), float(ev["end"])
        for i in range(len(timestamps)):
            lo = float(timestamps[i]) if i else float("-inf")
            hi = float(timestamps[i + 1]) if i + 1 < len(timestamps) else float("inf")
            if start < hi and (end > lo or start >= lo) and top[0] not in out[i]:
                out[i].append(top[0])
    return out


@node("world_state_log", outputs={"log": list[Any], "lines": str})
def world_state_log(timestamps: list[float], places: list[Any], objects: list[Any], activities: list[str],
                    heard: list[str] | None = None, sounds: list[Any] | None = None, ends: list[float] | None = None,
                    coverage: dict | None = None, text: list[str] | None = None, *, place_sep: str = " or ",
                    first_synonym: bool = True) -> dict:
    """One entry per key frame: {t, place, objects, activity, heard} and its human-readable line.

    With `ends` (where each key frame's interval ends, from `video_keyframes`: the next one's start), an entry
    also has `last`, and its line shows the range it spans: `[00:06–00:12] place: …`. With `coverage` from a
    capped run (`complete` false), the lines end with one saying where the log stops and why.

    With `sounds` (the events of `sound_events`), each entry also gets `sounds`: the top-1 labels of the
    sound windows overlapping the frame's interval (see `frame_sounds`), shown before `heard`. With `text` (per
    key frame, the scene text of `ocr_text`; "" for none), each entry also gets `text`, shown after the activity.

    `places` / `objects` hold per frame a label or a ranked list of labels (e.g. a mapped clip_classify);
    several places are joined with `place_sep`. With `first_synonym`, an object label that is a synonym list
    ("mug, coffee mug") is shown by its first name ("mug"), so that the log's comma-separated objects stay
    one name each."""
    n = _check_lengths(timestamps=timestamps, places=places, objects=objects, activities=activities, heard=heard,
                       ends=ends, text=text)
    log = []
    for i in range(n):
        log.append({"t": float(timestamps[i]), "place": place_sep.join(_labels(places[i])),
                    "objects": _labels(objects[i], first_synonym), "activity": str(activities[i]).strip(),
                    "heard": (heard[i] if heard else "").strip()})
        if ends is not None and float(ends[i]) > float(timestamps[i]):
            log[-1]["last"] = float(ends[i])
        if text is not None:
            log[-1]["text"] = " ".join(str(text[i]).split())
    if sounds is not None:
        for entry, names in zip(log, frame_sounds([e["t"] for e in log], sounds, first_synonym)):
            entry["sounds"] = names
    lines = [format_line(e) for e in log]
    if coverage and not coverage.get("complete", True):
        lines.append(f"[{clock(coverage.get('logged_to', 0.0))}] (end of log: {coverage.get('note', 'cut short')})")
    return {"log": log, "lines": "\n".join(lines)}


@node("clean_phrases", outputs={"phrases": list[str]})
def clean_phrases(texts: list[str], *, fallback: str = "looking around") -> list[str]:
    """LM candidates → unique phrases without surrounding quotes or end punctuation, in order.
    When none is left (all empty), `[fallback]`, so a reranker always has a candidate."""
    out: list[str] = []
    for t in texts:
        p = " ".join(str(t).split()).strip("\"'`.,;:!?").strip()
        if p and p.lower() not in (o.lower() for o in out):
            out.append(p)
    return out or [fallback]


UNKNOWN_ACTIVITY = "unknown"


@node("scene_phrases", outputs={"phrases": list[str], "dropped": dict}, version=RULES)
def scene_phrases(texts: list[str], place: Any = None, objects: Any = None, heard: str | None = None, *,
                  language: str = "en", form: str = "", on_scene: bool = True,
                  fallback: str = UNKNOWN_ACTIVITY) -> dict:
    """LM proposals (activities) that stay on the scene, for a reranker. Cleaned as `clean_phrases`, then a
    candidate is dropped when it is not in `language` (language.in_language: most of its words are words of that
    language), when it does not match the regular expression `form` (e.g. the prompt's "a phrase that starts with
    a verb ending in -ing"; case aside), or, with `on_scene`, when it shares no content word (stems, wording.py)
    with the place, the objects or what was heard. `dropped` counts each kind ({language, form, off_scene}). When
    none is left: `[fallback]`, so the log says "activity: unknown" rather than inventing one."""
    from .language import check_language, in_language  # loads word lists: only when proposals are checked

    check_language(language)
    try:
        shape = re.compile(form, re.IGNORECASE) if form else None
    except re.error as exc:
        raise SocraticError(f"form is not a regular expression: {exc}", field="form") from None
    scene = set(content_words(" ".join(_labels(place) + _labels(objects, True) + [heard or ""])))
    kept, dropped = [], {"language": 0, "form": 0, "off_scene": 0}
    for p in clean_phrases(texts, fallback=""):
        if not p:
            continue
        if not in_language(p, language):
            dropped["language"] += 1
        elif shape is not None and not shape.search(p):
            dropped["form"] += 1
        elif on_scene and not scene & set(content_words(p)):
            dropped["off_scene"] += 1
        else:
            kept.append(p)
    return {"phrases": kept or [fallback], "dropped": dropped}


_SPLIT = re.compile(r"[,;\n]|\band\b")


def parse_entities(text: str, limit: int = 8) -> list[str]:
    """An LM's comma-separated list → clean, unique phrases (quotes, numbering and end punctuation removed)."""
    out: list[str] = []
    for part in _SPLIT.split(text):
        p = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", part).strip().strip("\"'`.:!?").strip()
        if p and p.lower() not in (o.lower() for o in out):
            out.append(p)
    return out[:limit]


_WORD = re.compile(r"[a-z0-9']+")
_FILLER = {"a", "an", "the", "my", "your", "our", "his", "her", "their", "its", "of", "to", "in", "on", "at", "i",
           "me", "you", "we", "did", "do", "does", "is", "are", "was", "were", "what", "where", "when", "who", "how"}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def grounded(entities: list[str], question: str) -> list[str]:
    """The entities whose every content word occurs in the question (an LM may copy words from elsewhere)."""
    said = {_stem(w) for w in _WORD.findall(question.lower())}
    keep = []
    for e in entities:
        words = [_stem(w) for w in _WORD.findall(e.lower()) if w not in _FILLER]
        if words and all(w in said for w in words):
            keep.append(e)
    return keep


@node("video_search", outputs={"lines": str, "entities": list[str], "indices": list[int]})
def video_search(question: str, frames: list[Image | KeyFrame], log: list[Any], enabled: bool = True, *, lm: LM, vlm: VLM,
                 template: Prompt, clip_template: str = "Photo of a {}.", top_k: int = 3, window: int = 0,
                 max_new_tokens: int = 24, ctx: Context) -> dict:
    """Only the part of the log relevant to `question` ("video search", for long videos).

    The LM lists the question's entities (`template` with `{question}`, greedy); CLIP scores every frame
    against each entity (`clip_template`); a frame's score is its best entity's cosine. The `top_k` best
    frames, each with `window` neighbours on both sides, give the log lines, in time order. With `enabled`
    false, or `top_k` ≥ the number of frames, every line is kept and no model is called. When the LM names no
    entity, the question itself is the query."""
    n = _check_lengths(frames=frames, log=log)
    if top_k < 1:
        raise SocraticError(f"top_k must be ≥ 1, got {top_k}", field="top_k")
    if not enabled or top_k >= n:
        return {"lines": "\n".join(format_line(e) for e in log), "entities": [], "indices": list(range(n))}
    reply = lm.generate([fill(template, {"question": question})], max_new_tokens=max_new_tokens, temperature=0.0,
                        stop=["\n"], seed=ctx.node_seed())[0][0].text
    entities = grounded(parse_entities(reply), question)
    if not entities:
        ctx.warn(f"video_search: the LM named no entity in {reply!r}; searching with the whole question")
    queries = [clip_template.format(e) for e in entities] or [question]
    scores = (vlm.encode_images(frames) @ vlm.encode_texts(queries).T).max(dim=1).values
    best = scores.topk(min(top_k, n)).indices.tolist()
    keep = sorted({j for i in best for j in range(max(0, i - window), min(n, i + window + 1))})
    return {"lines": "\n".join(format_line(log[i]) for i in keep), "entities": entities, "indices": keep}
