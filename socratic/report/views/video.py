"""Video: a timeline of key frames (thumbnails and time ranges) with their log lines, the speech segments and
sound events under the time they happened, the summary at every level; each entry opens onto the prompts and
LM candidates behind it (the entry's element of every node mapped over the key frames)."""

from __future__ import annotations

from typing import Any

from ..load import RunDoc
from ..media import parse_ref
from ..page import section
from ..records import Node
from ..values import Media, esc, render as render_value, text_block

VIEW_ID = "view-video"
FRAME_NODES = ("video_keyframes", "video_frames", "frame_dedupe")


def _first(doc: RunDoc, *types: str) -> Node | None:
    return next((n for n in doc.nodes if n.type in types), None)


def applies(doc: RunDoc) -> bool:
    return _first(doc, *FRAME_NODES, "world_state_log") is not None


def clock(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return "?"
    s = max(0, int(t))
    h, m, s = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Timeline:
    """Entries (one per key frame or log line) with start/end times, and which entry a time belongs to."""

    def __init__(self, doc: RunDoc):
        frames_node = _first(doc, *FRAME_NODES)
        log_node = _first(doc, "world_state_log")
        self.frames = _list(frames_node.outputs.get("frames")) if frames_node else []
        stamps = _list(frames_node.outputs.get("timestamps")) if frames_node else []
        ends = _list(frames_node.outputs.get("ends")) if frames_node else []
        self.log = [e for e in _list(log_node.outputs.get("log")) if isinstance(e, dict)] if log_node else []
        lines = log_node.outputs.get("lines") if log_node else None
        self.lines = lines.split("\n") if isinstance(lines, str) and lines else []
        self.count = max(len(self.frames), len(self.log))
        self.starts = [self._time(stamps, "t", i) for i in range(self.count)]
        self.ends = [self._time(ends, "last", i) for i in range(self.count)]
        self.extra_lines = self.lines[self.count:]  # e.g. the note where a capped log stops

    def _time(self, values: list, key: str, i: int) -> float | None:
        if i < len(values):
            return _num(values[i])
        return _num(self.log[i].get(key)) if i < len(self.log) else None

    def entry_of(self, t: float) -> int:
        """The entry whose [start, next start) holds t (before the first: the first)."""
        k = 0
        for i, s in enumerate(self.starts):
            if s is not None and s <= t:
                k = i
        return k

    def entry_of_span(self, start: float, end: float) -> int:
        """The entry a span (a speech segment) overlaps most: the log's own rule (attach_speech)."""
        from ...media.keyframe import span_owner

        if not self.starts or any(s is None for s in self.starts):
            return self.entry_of(start)
        ends = self.ends if all(e is not None for e in self.ends) else None
        return span_owner(self.starts, ends, start, max(start, end))


def _segments(doc: RunDoc) -> list[dict]:
    node = _first(doc, "transcribe")
    return [s for s in _list(node.outputs.get("segments")) if isinstance(s, dict)] if node else []


def _events(doc: RunDoc) -> list[dict]:
    node = _first(doc, "sound_events")
    return [e for e in _list(node.outputs.get("events")) if isinstance(e, dict)] if node else []


def _labels(event: dict) -> str:
    labels, scores = _list(event.get("labels")), _list(event.get("scores"))
    return ", ".join(f"{lab} ({scores[k]:.3g})" if k < len(scores) and isinstance(scores[k], (int, float))
                     else str(lab) for k, lab in enumerate(labels))


def _behind(doc: RunDoc, i: int, count: int, media: Media) -> str:
    """Entry i of every node mapped over the entries: prompts, candidates, labels, scores."""
    parts = []
    for n in doc.nodes:
        if n.items != count or n.type in FRAME_NODES:
            continue
        rows = []
        for direction, values in (("←", n.inputs), ("→", n.outputs)):
            for port, v in values.items():
                if isinstance(v, list) and len(v) == count and parse_ref(v[i]) is None:
                    rows.append(f"<tr><th>{direction} {esc(port)}</th><td>{render_value(v[i], media)}</td></tr>")
        if rows:
            model = f" ({esc(', '.join(n.models.values()))})" if n.models else ""
            parts.append(f'<h3>{esc(n.name)} [{esc(n.type)}]{model}</h3><table class="kv">{"".join(rows)}</table>')
    return "".join(parts) or '<p class="meta">No node was mapped over the key frames.</p>'


def _prompt(text: Any) -> str:
    """The prompt behind a summary, folded (absent in results made before summaries recorded it)."""
    if not isinstance(text, str):
        return ""
    return f'<details class="summary-prompt"><summary>prompt</summary>{text_block(text)}</details>'


def _summary(doc: RunDoc) -> str:
    node = _first(doc, "hierarchical_summary")
    if node is None:
        return ""
    out = (f'<h3>Summary</h3><div class="summary" id="summary">{esc(node.outputs.get("summary", ""))}</div>'
           + _prompt(node.outputs.get("prompt")))
    windows = [w for w in _list(node.outputs.get("windows")) if isinstance(w, dict)]
    levels = sorted({w.get("level") for w in windows if isinstance(w.get("level"), int)}, reverse=True)
    for level in levels:
        items = "".join(f'<li><span class="at">[{clock(w.get("start"))}–{clock(w.get("end"))}]</span> '
                        f'{esc(w.get("summary", ""))} <span class="meta">({w.get("entries", "?")} entries)</span>'
                        f'{_prompt(w.get("prompt"))}</li>'
                        for w in windows if w.get("level") == level)
        out += f'<div class="level"><h3>Level {level} summaries</h3><ul class="windows">{items}</ul></div>'
    return out


def render(doc: RunDoc, media: Media) -> tuple[str, str, str]:
    tl = Timeline(doc)
    speech: dict[int, list[dict]] = {}
    for s in _segments(doc):
        start = _num(s.get("start")) or 0.0
        speech.setdefault(tl.entry_of_span(start, _num(s.get("end")) or start), []).append(s)
    sounds: dict[int, list[dict]] = {}
    for e in _events(doc):
        sounds.setdefault(tl.entry_of(_num(e.get("start")) or 0.0), []).append(e)
    entries = []
    for i in range(tl.count):
        frame = tl.frames[i] if i < len(tl.frames) else None
        thumb = media.thumb(frame) if frame is not None else None
        thumb = thumb or '<span class="thumb nothumb">no key frame recorded</span>'
        line = tl.lines[i] if i < len(tl.lines) else ""
        if not line and i < len(tl.log):
            line = " | ".join(f"{k}: {v}" for k, v in tl.log[i].items() if k not in ("t", "last"))
        said = "".join(f'<li class="segment"><span class="at">{clock(s.get("start"))}–{clock(s.get("end"))}</span>'
                       f'{esc(s.get("text", ""))}</li>' for s in speech.get(i, []))
        heard = "".join(f'<li class="sound"><span class="at">{clock(e.get("start"))}</span>{esc(_labels(e))}</li>'
                        for e in sounds.get(i, []))
        end = tl.ends[i]
        when = clock(tl.starts[i]) + (f"–{clock(end)}" if end is not None and end != tl.starts[i] else "")
        entries.append(
            f'<div class="entry" id="entry-{i}"><div>{thumb}</div><div><div class="when">{when}</div>'
            f'<div class="logline">{esc(line)}</div>'
            + (f'<ul class="speech">{said}</ul>' if said else "")
            + (f'<ul class="sounds">{heard}</ul>' if heard else "")
            + f"<details><summary>prompts and candidates behind this entry</summary>"
            f"{_behind(doc, i, tl.count, media)}</details></div></div>")
    extra = "".join(f'<p class="logline note">{esc(x)}</p>' for x in tl.extra_lines if x.strip())
    counts = [f"{tl.count} log entries", f"{sum(map(len, speech.values()))} speech segments"]
    if _first(doc, "sound_events"):
        counts.append(f"{sum(map(len, sounds.values()))} sound windows")
    head = f'<p class="meta">{", ".join(counts)}.</p>'
    body = head + f'<div class="timeline">{"".join(entries)}</div>{extra}{_summary(doc)}'
    return VIEW_ID, "Video", section(VIEW_ID, "Video timeline", body)
