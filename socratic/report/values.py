"""Summarised values as HTML: text in full, media as thumbnails from the trace's media table, long lists
folded, objects as small tables."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from .media import data_uri, parse_ref

FOLD = 12  # list items shown before the rest is folded


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


class Media:
    """The media table of one run, and what the report could not find in it."""

    def __init__(self, table: dict[str, Any], aliases: dict[str, str] | None = None):
        self.table = table
        self.aliases = aliases or {}  # description -> id, for media values written without one (outputs)
        self.missing: set[str] = set()  # ids referenced but absent or unusable
        self.unreferenced = 0  # media values written without an id (older traces)
        self.chips: dict[str, str] = {}  # id -> data URI, for the shared CSS rules

    def thumb(self, value: Any, cls: str = "thumb", inline: bool = True) -> str | None:
        """An <img> for a media reference (`inline`), or a chip drawing the same thumbnail from one shared CSS
        rule (so a frame shown in many places is embedded once); a labelled placeholder when the thumbnail is
        missing; None if the value is not media."""
        ref = parse_ref(value)
        if ref is None:
            return None
        if ref.kind not in ("image", "keyframe"):
            return f'<span class="media">{esc(ref.text)}</span>'
        ref_id = ref.id or self.aliases.get(ref.text)
        uri = data_uri(self.table.get(ref_id)) if ref_id else None
        if uri is None:
            if ref_id:
                self.missing.add(ref_id)
            else:
                self.unreferenced += 1
            return f'<span class="{cls} nothumb" title="thumbnail not in the trace">{esc(ref.text)}</span>'
        if inline or not re.fullmatch(r"[A-Za-z0-9_-]+", ref_id):
            return f'<img class="{cls}" src="{uri}" alt="{esc(ref.text)}" title="{esc(ref.text)}">'
        self.chips[ref_id] = uri
        return f'<span class="chip m-{esc(ref_id)}" role="img" title="{esc(ref.text)}"></span>'

    def css(self) -> str:
        """One rule per thumbnail drawn as a chip."""
        return "".join(f'.m-{i} {{ background-image: url("{uri}"); }}\n' for i, uri in self.chips.items())

    def problems(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"{len(self.missing)} thumbnail(s) referenced but missing from the trace's media table")
        if self.unreferenced:
            out.append(f"{self.unreferenced} image/key-frame value(s) without a thumbnail (an older trace)")
        return out


def media_aliases(values: Any) -> dict[str, str]:
    """Each media description seen with exactly one id in `values` (the trace) -> that id."""
    seen: dict[str, set[str]] = {}

    def walk(v: Any) -> None:
        ref = parse_ref(v)
        if ref is not None and ref.id:
            seen.setdefault(ref.text, set()).add(ref.id)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(values)
    return {text: next(iter(ids)) for text, ids in seen.items() if len(ids) == 1}


def text_block(text: str, cls: str = "text") -> str:
    return f'<pre class="{cls}">{esc(text)}</pre>' if "\n" in text or len(text) > 120 else \
        f'<span class="{cls}">{esc(text)}</span>'


def render(value: Any, media: Media, depth: int = 0) -> str:
    """Any JSON value of a trace as HTML."""
    thumb = media.thumb(value, inline=False)
    if thumb is not None:
        return thumb
    if isinstance(value, str):
        return text_block(value)
    if isinstance(value, float):
        return f'<span class="scalar" title="{value!r}">{value:.6g}</span>'
    if value is None or isinstance(value, (bool, int)):
        return f'<span class="scalar">{esc(json.dumps(value))}</span>'
    if isinstance(value, list):
        if not value:
            return '<span class="scalar">[]</span>'
        if _records(value):
            return _record_table(value, media, depth)
        if depth > 4:
            return f'<span class="scalar">[{len(value)} items]</span>'
        items = [f"<li>{render(v, media, depth + 1)}</li>" for v in value]
        if len(items) <= FOLD:
            return f'<ol start="0" class="list">{"".join(items)}</ol>'
        return (f'<ol start="0" class="list">{"".join(items[:FOLD])}</ol><details class="fold"><summary>'
                f'{len(items) - FOLD} more</summary><ol start="{FOLD}" class="list">{"".join(items[FOLD:])}</ol>'
                "</details>")
    if isinstance(value, dict):
        if not value:
            return '<span class="scalar">{}</span>'
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{render(v, media, depth + 1)}</td></tr>" for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    return esc(value)


def _records(value: list) -> bool:
    """A list of flat objects (log entries, segments, candidates): shown as one table."""
    return len(value) > 1 and all(isinstance(v, dict) and v and all(
        not isinstance(x, dict) and not (isinstance(x, list) and any(isinstance(y, (dict, list)) for y in x))
        for x in v.values()) for v in value)


def _cell(value: Any, media: Media, depth: int) -> str:
    if isinstance(value, list) and all(isinstance(v, str) and parse_ref(v) is None for v in value):
        return esc(", ".join(value))
    return render(value, media, depth + 1)


def _record_table(value: list, media: Media, depth: int) -> str:
    keys = list(dict.fromkeys(k for v in value for k in v))
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    rows = [f"<tr><td class=\"scalar\">{i}</td>" + "".join(f"<td>{_cell(v[k], media, depth) if k in v else ''}</td>"
                                                        for k in keys) + "</tr>" for i, v in enumerate(value)]

    def table(part: str) -> str:
        return f'<table class="grid records"><thead><tr><th>#</th>{head}</tr></thead><tbody>{part}</tbody></table>'
    if len(rows) <= 3 * FOLD:
        return table("".join(rows))
    return (table("".join(rows[:FOLD])) + f'<details class="fold"><summary>{len(rows) - FOLD} more</summary>'
            + table("".join(rows[FOLD:])) + "</details>")


def ports(values: dict[str, Any], media: Media) -> str:
    return render(values, media) if values else '<span class="scalar">none</span>'
