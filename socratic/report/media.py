"""Media references in a trace: `<keyframe 00:04–00:06 (2 frames) #kf-1a2b>` points at `media["kf-1a2b"]`,
a small JPEG thumbnail (base64) with its time range for key frames."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

REF = re.compile(r"^<(image|keyframe|tensor|array|audio|video)\b(.*?)(?:\s#([\w.\-]+))?>$", re.S)
MIMES = ("image/jpeg", "image/png", "image/webp")


@dataclass
class MediaRef:
    kind: str
    text: str  # the description without the id
    id: str | None


def parse_ref(value: Any) -> MediaRef | None:
    """The media reference a summarised value holds, if any."""
    if not isinstance(value, str):
        return None
    m = REF.match(value)
    if not m:
        return None
    return MediaRef(m.group(1), f"{m.group(1)}{m.group(2)}", m.group(3))


def data_uri(entry: Any) -> str | None:
    """A media table entry as a data: URI; None when the entry is unusable (missing data, bad base64, odd type)."""
    if not isinstance(entry, dict):
        return None
    mime, data = entry.get("mime", "image/jpeg"), entry.get("data")
    if mime not in MIMES or not isinstance(data, str) or not data:
        return None
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return f"data:{mime};base64,{data}"
