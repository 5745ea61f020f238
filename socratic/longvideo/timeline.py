"""Caption-then-LM video QA, the text side (methods.md §4): one frame per fixed-length clip, and the time-ordered
text the LM reads (clip captions, speech, scene text), plus LLoVi's question-aware summary.

A timeline line reads `[00:12] a person holds a cup`, `[00:20] heard: "the train leaves at seven"` or
`[00:40] text on screen: "PLATFORM 9"`.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame, clock
from ..media.video import DEFAULT_MAX_SIDE, iter_frames, probe
from ..models.base import LM
from ..node import node
from ..nodes.lm_budget import budget, context_of, pack, shorten
from ..nodes.lm_choose import option_lines
from ..nodes.text import fill, use_chat
from ..types import Prompt, Video

@node("clip_frames", outputs={"frames": list[KeyFrame], "timestamps": list[float], "ends": list[float],
                              "duration": float})
def clip_frames(video: Video, clip_s: float = 1.0, *, max_side: int | None = DEFAULT_MAX_SIDE,
                preview_side: int = 384, ctx: Context) -> dict:
    """The video cut into consecutive clips of `clip_s` seconds, each represented by its first frame: a small
    `KeyFrame` (JPEG preview of `preview_side` px, no embedding) standing for [t, t + clip_s). Streamed, so an
    hour of video holds only the previews. A video shorter than one clip is an error. `clip_s` is an input, so a
    pipeline can expose it (`--input clip_s=2`)."""
    if not clip_s or clip_s <= 0:
        raise SocraticError(f"clip_s must be > 0, got {clip_s!r}", field="clip_s")
    info = probe(video)
    if info.duration is not None and info.duration < clip_s:
        raise SocraticError(f"the video lasts {info.duration:.2f} s, shorter than one {clip_s:g}-second clip "
                            f"(lower clip_s)", file=str(video))
    keys = [KeyFrame.from_image(image, t, preview_side=preview_side)
            for t, image in iter_frames(video, clip_s, max_side, ctx.warn)]
    duration = info.duration or keys[-1].t + clip_s
    for k in keys:
        k.end = min(k.t + clip_s, duration)
    return {"frames": keys, "timestamps": [k.t for k in keys], "ends": [k.end for k in keys],
            "duration": round(duration, 3)}


def _items(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SocraticError(f"expected a list, got {type(value).__name__}", field=name)
    return list(value)


def scene_text_events(times: list[float], texts: list[Any]) -> list[dict[str, Any]]:
    """Per-frame scene text → events {t, text}: empty texts dropped, a text repeated on consecutive frames kept
    once (at its first frame). A frame's text may be a string or a list of strings (joined with " / ")."""
    if len(times) != len(texts):
        raise SocraticError(f"{len(times)} scene-text times but {len(texts)} texts", field="scene_text")
    events: list[dict[str, Any]] = []
    previous = None
    for t, text in sorted(zip(times, texts), key=lambda p: float(p[0])):
        s = " / ".join(str(x).strip() for x in text if str(x).strip()) if isinstance(text, (list, tuple)) \
            else " ".join(str(text or "").split())
        if s and s != previous:
            events.append({"t": float(t), "text": s})
        previous = s
    return events


def timeline(timestamps: list[float], captions: list[str], segments: list[Any] | None = None,
             scene_times: list[float] | None = None, scene_text: list[Any] | None = None) -> list[dict[str, Any]]:
    """Captions, speech segments and scene text as entries {t, kind, text}, in time order (at one time:
    caption, then text on screen, then speech)."""
    if len(timestamps) != len(captions):
        raise SocraticError(f"{len(timestamps)} timestamps but {len(captions)} captions", field="captions")
    entries = [{"t": float(t), "kind": "caption", "text": " ".join(str(c or "").split())}
               for t, c in zip(timestamps, captions)]
    entries = [e for e in entries if e["text"]]
    if scene_text is not None:
        entries += [{"t": e["t"], "kind": "text", "text": e["text"]}
                    for e in scene_text_events(_items(scene_times, "scene_times"), _items(scene_text, "scene_text"))]
    for seg in _items(segments, "segments"):
        text = " ".join(str(seg.get("text", "")).split())
        if text:
            entries.append({"t": float(seg["start"]), "kind": "speech", "text": text})
    rank = {"caption": 0, "text": 1, "speech": 2}
    return sorted(entries, key=lambda e: (e["t"], rank[e["kind"]]))


def entry_line(entry: dict[str, Any]) -> str:
    if entry["kind"] == "speech":
        return f'[{clock(entry["t"])}] heard: "{entry["text"]}"'
    if entry["kind"] == "text":
        return f'[{clock(entry["t"])}] text on screen: "{entry["text"]}"'
    return f'[{clock(entry["t"])}] {entry["text"]}'


@node("caption_timeline", outputs={"lines": str, "entries": list[Any], "captions": int})
def caption_timeline(timestamps: list[float], captions: list[str], segments: list[Any] | None = None,
                     scene_times: list[float] | None = None, scene_text: list[Any] | None = None) -> dict:
    """The text an LM reads about a video: one line per clip caption, per speech segment (`segments` of
    `transcribe`) and per new scene text (`scene_text` per frame at `scene_times`; repeats on consecutive frames
    kept once), in time order. `captions` counts the caption lines (empty captions are left out)."""
    entries = timeline(timestamps, captions, segments, scene_times, scene_text)
    return {"lines": "\n".join(entry_line(e) for e in entries), "entries": entries,
            "captions": sum(e["kind"] == "caption" for e in entries)}


@node("question_summary", outputs={"summary": str, "prompts": list[str]})
def question_summary(lines: str, question: str, options: list[str], enabled: bool = True, clip_s: float = 1.0, *,
                     lm: LM, template: Prompt, max_new_tokens: int = 256, chat: str | bool = "auto",
                     context_length: int | None = None, ctx: Context) -> dict:
    """LLoVi's question-aware summary (methods.md §4a): the LM summarises the timeline `lines` with the question
    and the lettered options in view, asked not to answer (`template` with {lines}, {question}, {options},
    {clip_s}). Lines that do not fit the LM's context are summarised window by window and the window summaries
    joined in time order (with a warning). With `enabled` false the lines pass through unchanged."""
    if not enabled:
        return {"summary": lines, "prompts": []}
    if not lines.strip():
        raise SocraticError("nothing to summarise: the video gave no captions, speech or text", field="lines")
    chat = use_chat(chat, lm)
    values = {"question": question, "options": option_lines(options), "clip_s": f"{clip_s:g}"}
    room = budget(lm, lm.count_tokens(fill(template, {**values, "lines": ""}), chat=chat),
                  context_of(lm, context_length, ctx.warn), max_new_tokens)
    rows = lines.split("\n")
    sizes = [lm.count_tokens(r, chat=False) for r in rows]
    rows = [shorten(r, s, room) if s > room else r for r, s in zip(rows, sizes)]
    groups = pack(rows, [min(s, room) for s in sizes], room)
    if len(groups) > 1:
        ctx.warn(f"question_summary: the {len(rows)} lines exceed lm '{lm.model_id}''s context; summarised in "
                 f"{len(groups)} windows, joined in time order")
    prompts = [fill(template, {**values, "lines": "\n".join(rows[i] for i in g)}) for g in groups]
    outs = lm.generate(prompts, max_new_tokens=max_new_tokens, temperature=0.0, seed=ctx.node_seed(), chat=chat)
    parts = [" ".join(row[0].text.split()) for row in outs]
    if not any(parts):
        ctx.warn(f"question_summary: lm '{lm.model_id}' gave an empty summary; the answer sees the lines instead")
        return {"summary": lines, "prompts": prompts}
    return {"summary": "\n".join(p for p in parts if p), "prompts": prompts}
