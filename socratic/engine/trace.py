"""The run's record: every node's inputs and outputs (text in full, tensors summarised), timings, models.
Images and key frames keep a small JPEG thumbnail in the trace's `media` table (docs/trace.md)."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..encoding import json_document
from ..trace_schema import (CACHED, INCLUDE_TYPE, MEDIA, MODELS, NODE, NODES, PIPELINE, SCHEMA_VERSION, SECONDS,
                            SEP, TYPE, VERSION, WARNINGS, NodeRecord)
from .transcript import MEDIA_PREFIXES, compact_transcript

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|(?i:api[_-]?key)['\"]?\s*[:=]\s*['\"]?[^'\"\s,}]+)")


def redact(text: str) -> str:
    """Hide anything that looks like an API key."""
    return _SECRET.sub("<redacted>", text)


def summarise(value: Any, depth: int = 0) -> Any:
    """JSON-safe view of a value: text in full, media and tensors as short descriptions."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, Image.Image):
        return MediaText(f"<image {value.width}x{value.height} {value.mode}>", value)
    if isinstance(value, torch.Tensor):
        return f"<tensor {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} {value.device}>"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    if hasattr(value, "trace_summary"):  # e.g. a KeyFrame: its time range, not its bytes
        return MediaText(f"<{value.trace_summary()}>", value) if hasattr(value, "preview") else \
            f"<{value.trace_summary()}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): summarise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [summarise(v, depth + 1) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return summarise(asdict(value), depth + 1)
    return f"<{type(value).__name__}>"


@dataclass
class Trace:
    pipeline: str
    records: list[NodeRecord] = field(default_factory=list)  # every node run; included ones as `caption/places`
    warnings: list[str] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # included pipeline -> file, inputs, outputs

    def to_dict(self) -> dict[str, Any]:
        table = MediaTable()
        nodes = _nested([table.refer(r.to_dict()) for r in self.records], table.refer(self.groups))
        return {VERSION: SCHEMA_VERSION, PIPELINE: self.pipeline, WARNINGS: list(self.warnings), NODES: nodes,
                MEDIA: table.entries}

    def to_json(self, indent: int = 2) -> str:
        """The trace as JSON text (a NaN written as null, with a warning in the trace)."""
        return json_document(self.to_dict(), indent=indent)[0]

    def transcript(self) -> list[dict[str, str]]:
        """The language messages in the order they were produced: node, direction, port, text."""
        msgs: list[dict[str, str]] = []
        for r in self.records:
            for direction, values in (("in", r.inputs), ("out", r.outputs)):
                for port, val in values.items():
                    for text in _texts(val):
                        msgs.append({"node": r.node, "type": r.type, "dir": direction, "port": port, "text": text})
        return msgs

    def transcript_text(self) -> str:
        """The Socratic transcript, compact: each node's language in and out, a value shown once (later
        uses name where it came from), mapped nodes item by item, long lists folded."""
        return compact_transcript(self.records)

    def transcript_full(self) -> str:
        """Every node's language in and out, repeated wherever it flows."""
        lines: list[str] = []
        for r in self.records:
            ins = [(p, t) for p, v in r.inputs.items() for t in _texts(v)]
            outs = [(p, t) for p, v in r.outputs.items() for t in _texts(v)]
            if not outs:
                continue
            model = f" ({', '.join(r.models.values())})" if r.models else ""
            lines.append(f"── {r.node} [{r.type}]{model}{' (cached)' if r.cached else ''}")
            for arrow, pairs in (("  ←", ins), ("  →", outs)):
                for port, text in pairs:
                    body = text if "\n" not in text else "\n" + _indent(text, "      ")
                    lines.append(f"{arrow} {port}: {body}")
        return "\n".join(lines)


def _nested(records: list[dict[str, Any]], groups: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of an included pipeline (`caption/places`) nest, by their own names, in a `type: pipeline` record
    of its node (`nodes: [...]`) with the include's file, inputs and outputs and its nodes' totals."""
    top: list[dict[str, Any]] = []
    made: dict[str, dict[str, Any]] = {}

    def holder(path: str) -> list[dict[str, Any]]:
        if not path:
            return top
        if path not in made:
            parent, _, short = path.rpartition(SEP)
            made[path] = {NODE: short, TYPE: INCLUDE_TYPE, **groups.get(path, {}), MODELS: {}, SECONDS: 0.0,
                          CACHED: True, WARNINGS: [], NODES: []}
            holder(parent).append(made[path])
        return made[path][NODES]

    for r in records:
        path, _, short = r[NODE].rpartition(SEP)
        holder(path).append({**r, NODE: short})
        while path:  # totals up the chain of includes
            g = made[path]
            g[SECONDS] = round(g[SECONDS] + r[SECONDS], 4)
            g[CACHED] = g[CACHED] and r[CACHED]
            g[MODELS].update(r[MODELS])
            g[WARNINGS] += [w for w in r[WARNINGS] if w not in g[WARNINGS]]
            path = path.rpartition(SEP)[0]
    return top


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _texts(value: Any) -> list[str]:
    """The language inside a summarised value (media descriptions excluded)."""
    if isinstance(value, str):
        return [] if value.startswith(MEDIA_PREFIXES) else [value]
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            texts = [v for v in value if not v.startswith(MEDIA_PREFIXES)]
            return [" | ".join(texts)] if texts and all("\n" not in t for t in texts) else texts
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        return [f"{k}: {t}" for k, v in value.items() for t in _texts(v)]
    return []


THUMB_SIDE = 256  # px, the longer side of a media thumbnail
MEDIA_MAX = 2000  # thumbnails per trace; later media values keep their description only


class MediaText(str):
    """A media value's description, as the trace shows it, carrying the image or key frame it describes
    (for the thumbnail written by `Trace.to_dict`). Compares and serialises as the plain description."""

    def __new__(cls, text: str, source: Any):
        obj = super().__new__(cls, text)
        obj.source = source
        obj._thumb = None
        return obj

    def __deepcopy__(self, memo):  # dataclasses.asdict copies values: share the source, never copy it
        return self

    def __reduce__(self):  # across processes: the thumbnail travels, not the image
        return (_restore_media, (str(self), self.key(), self.thumbnail()))

    def key(self) -> str:
        if isinstance(self.source, _Thumb):
            return self.source.key
        digest = getattr(self.source, "digest", None)
        return f"kf-{digest()[:16]}" if callable(digest) else f"img-{id(self.source):x}"

    def thumbnail(self) -> tuple[bytes, int, int]:
        """(JPEG bytes, width, height), at most THUMB_SIDE on the longer side."""
        if self._thumb is None:
            preview = getattr(self.source, "preview", None)
            img = self.source.image() if preview is not None else self.source
            if preview is not None and max(img.size) <= THUMB_SIDE:
                self._thumb = (bytes(preview), *img.size)
            else:
                small = img.convert("RGB")
                small.thumbnail((THUMB_SIDE, THUMB_SIDE))
                buf = io.BytesIO()
                small.save(buf, format="JPEG", quality=80)
                self._thumb = (buf.getvalue(), *small.size)
        return self._thumb


class _Thumb:
    """A MediaText restored from a pickle: its thumbnail only."""

    def __init__(self, key: str):
        self.key = key


def _restore_media(text: str, key: str, thumb: tuple[bytes, int, int]) -> MediaText:
    obj = MediaText(text, _Thumb(key))
    obj._thumb = thumb
    return obj


class MediaTable:
    """The trace's `media` table: one thumbnail per image or key frame, referenced as `<... #ID>`."""

    def __init__(self):
        self.entries: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, str] = {}  # MediaText key -> table id

    def refer(self, value: Any) -> Any:
        """The value with every MediaText rewritten as `<description #ID>` and its thumbnail tabled."""
        if isinstance(value, MediaText):
            ref = self._add(value)
            return f"{value[:-1]} #{ref}>" if ref else str(value)
        if isinstance(value, dict):
            return {k: self.refer(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.refer(v) for v in value]
        return value

    def _add(self, value: MediaText) -> str | None:
        key = value.key()
        if key in self._ids:
            return self._ids[key]
        if len(self.entries) >= MEDIA_MAX:
            return None
        try:
            data, width, height = value.thumbnail()
        except Exception:  # an unreadable preview: the description stays, the report says it is missing
            return None
        ref = key if key.startswith("kf-") else f"img-{len(self._ids) + 1}"
        source = value.source
        entry = {"kind": "keyframe" if key.startswith("kf-") else "image", "mime": "image/jpeg",
                 "width": width, "height": height, "data": base64.b64encode(data).decode("ascii")}
        if hasattr(source, "t") and hasattr(source, "last"):
            entry.update(t=source.t, last=source.last, end=source.end, frames=source.count)
        self._ids[key] = ref
        self.entries[ref] = entry
        return ref
