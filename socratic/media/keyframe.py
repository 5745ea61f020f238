"""A key frame of a long video, kept small: its time range, a JPEG preview and its CLIP image embedding.

Long videos are decoded as a stream; what flows on through the pipeline is one `KeyFrame` per log entry, so
memory follows the log, not the video. CLIP nodes use the stored embedding when it came from the same model
(`VLM.encode_images` accepts key frames) and fall back to the preview otherwise.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image


def clock(t: float) -> str:
    """Seconds → `MM:SS` (or `H:MM:SS` from one hour on), rounded down."""
    s = max(0, int(t))
    h, m, s = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def span_owner(starts: list[float], ends: list[float] | None, start: float, end: float) -> int:
    """Which of the entries [starts[i], ends[i]) a span [start, end) belongs to: the one it overlaps most (ties:
    the earlier). Without `ends`, entry i runs to starts[i+1]; the first also takes what comes before it, the
    last what comes after. A span overlapping none (or of no length) goes to the entry holding its start."""
    n = len(starts)
    bounds = [(float("-inf") if i == 0 else float(starts[i]),
               float("inf") if i == n - 1 else float(ends[i] if ends is not None else starts[i + 1]))
              for i in range(n)]
    best, most = None, 0.0
    for i, (lo, hi) in enumerate(bounds):
        overlap = min(hi, end) - max(lo, start)
        if overlap > most:
            best, most = i, overlap
    if best is not None:
        return best
    return max([i for i, (lo, _) in enumerate(bounds) if lo <= start] or [0])


class KeyFrame:
    """Sampled frames `first` … `last` (seconds) that look alike, standing for the interval [t, end)."""

    __slots__ = ("t", "last", "end", "count", "preview", "embedding", "embedder", "_digest")

    def __init__(self, t: float, last: float, end: float, count: int, preview: bytes,
                 embedding: np.ndarray | None = None, embedder: str = ""):
        self.t, self.last, self.end, self.count = float(t), float(last), float(end), int(count)
        self.preview, self.embedding, self.embedder = preview, embedding, embedder
        self._digest: str | None = None

    @classmethod
    def from_image(cls, image: Image.Image, t: float, *, preview_side: int = 256,
                   embedding: np.ndarray | None = None, embedder: str = "") -> "KeyFrame":
        small = image.copy()
        small.thumbnail((preview_side, preview_side))
        buf = io.BytesIO()
        small.convert("RGB").save(buf, format="JPEG", quality=85)
        return cls(t, t, t, 1, buf.getvalue(), embedding, embedder)

    def image(self) -> Image.Image:
        """The preview, decoded."""
        with Image.open(io.BytesIO(self.preview)) as im:
            return im.convert("RGB")

    def digest(self) -> str:
        """Content identity (times, preview, embedding): what cache keys see."""
        if self._digest is None:
            h = hashlib.sha256(repr((self.t, self.last, self.end, self.count, self.embedder)).encode())
            h.update(self.preview)
            if self.embedding is not None:
                h.update(np.ascontiguousarray(self.embedding, dtype=np.float32).tobytes())
            self._digest = h.hexdigest()[:24]
        return self._digest

    def trace_summary(self) -> str:
        return f"keyframe {clock(self.t)}–{clock(self.last)} ({self.count} frames)"

    def __repr__(self) -> str:  # also the cache key's view of a key frame
        return f"KeyFrame(t={self.t:.3f}, last={self.last:.3f}, frames={self.count}, {self.digest()})"

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "_digest"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._digest = None
