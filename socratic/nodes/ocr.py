"""Scene text as language: what a key frame says in writing (signs, labels, screens), read by an OCR model
(`family: ocr`, models/ocr.py; `rapidocr` runs offline from its wheel).

    text:
      type: ocr_text
      params: {ocr: ocr, min_score: 0.6}
      inputs: {frames: world.frames}

Per frame: `text`, one cleaned string (`PLATFORM 9`; rows of the image joined by " / ", top to bottom), empty when
nothing legible was found, and `boxes`, every line kept with its confidence and corner points. Each frame is read
once per OCR model (kept in the node cache by its pixels: nodes/per_frame.py). A key frame is read from its preview
(`video_keyframes`' `preview_side`, 512 px in the shipped egocentric pipelines).
"""

from __future__ import annotations

import re
from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame
from ..models.base import OCR, TextBox
from ..models.ocr import text_rows
from ..node import node
from ..types import Image
from .per_frame import per_frame

_ALNUM = re.compile(r"[^\W_]", re.UNICODE)


def clean_text(boxes: list[TextBox], *, max_chars: int = 80) -> str:
    """One string of a frame's lines: whitespace collapsed, lines without a letter or digit dropped, a row repeated
    later dropped, boxes of a row joined by a space and rows by " / ", double quotes made single (the log quotes
    the text), cut at a word boundary with "…" past `max_chars`."""
    rows, seen = [], set()
    for row in text_rows([b for b in boxes if _ALNUM.search(b.text)]):
        line = " ".join(" ".join(b.text.split()) for b in row).replace('"', "'")
        if line and line.lower() not in seen:
            seen.add(line.lower())
            rows.append(line)
    text = " / ".join(rows)
    if len(text) > max_chars:
        cut = text[:max_chars + 1].rsplit(" ", 1)[0] if " " in text[:max_chars + 1] else text[:max_chars]
        text = cut.rstrip(" /") + "…"
    return text


@node("ocr_text", outputs={"text": list[str], "boxes": list[Any]}, batched=True)
def ocr_text(frames: list[Image | KeyFrame], *, ocr: OCR, min_score: float = 0.6, max_chars: int = 80,
             ctx: Context) -> dict[str, list]:
    """Per frame, the text visible in it: `text` (cleaned, "" when none) and `boxes` ([{text, score, box}],
    in reading order). Lines recognised with confidence below `min_score` (0-1) are left out; `text` is cut past
    `max_chars` characters."""
    if not 0.0 <= min_score <= 1.0:
        raise SocraticError(f"min_score must be in [0, 1], got {min_score}", field="min_score")
    if max_chars < 1:
        raise SocraticError(f"max_chars must be ≥ 1, got {max_chars}", field="max_chars")
    sizes = [len(f) for f in frames]
    flat = [x for f in frames for x in f]
    read, _ = per_frame(ctx, f"ocr|{ocr.fingerprint}", flat, lambda todo: ocr.read(todo, min_score=0.0))
    texts, boxes = [], []
    for found in read:
        kept = [b for b in found if b.score >= min_score]
        texts.append(clean_text(kept, max_chars=max_chars))
        boxes.append([{"text": b.text, "score": round(b.score, 3),
                       "box": [[round(x, 1), round(y, 1)] for x, y in b.box]} for b in kept])
    out: dict[str, list] = {"text": [], "boxes": []}
    start = 0
    for n in sizes:
        out["text"].append(texts[start:start + n])
        out["boxes"].append(boxes[start:start + n])
        start += n
    return out
