"""A cheap gate before CLIP: a sampled frame that looks like the last frame CLIP embedded reuses that embedding.

Each frame is reduced to a 64×64 grey thumbnail; its distance to the last embedded frame's is the largest mean
absolute difference over the 8×8 grid of blocks (0–1), so a change in one corner counts as much as a change
everywhere. Comparing with the last *embedded* frame, not the previous one, keeps slow drift (a pan) from
creeping past the gate a little at a time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE, BLOCKS = 64, 8


def thumbnail(image: Image.Image) -> np.ndarray:
    """The frame as a SIDE×SIDE grey array in [0, 1]."""
    grey = image.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest block mean of |a - b| over the BLOCKS×BLOCKS grid."""
    cell = SIDE // BLOCKS
    diff = np.abs(a - b).reshape(BLOCKS, cell, BLOCKS, cell).mean(axis=(1, 3))
    return float(diff.max())


class FrameGate:
    """`keep(image)`: True when CLIP must embed the frame, False when the last embedded frame stands for it.
    `threshold` None (or 0) embeds every frame."""

    def __init__(self, threshold: float | None):
        self.threshold = threshold or 0.0
        self.reference: np.ndarray | None = None
        self.skipped = 0

    def keep(self, image: Image.Image) -> bool:
        if self.threshold <= 0:
            return True
        thumb = thumbnail(image)
        if self.reference is not None and distance(thumb, self.reference) < self.threshold:
            self.skipped += 1
            return False
        self.reference = thumb
        return True
