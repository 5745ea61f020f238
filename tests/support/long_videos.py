"""Minutes-long test videos: scikit-image stills held for minutes, espeak-ng narration at known times.

Scene order matters with the random CLIP stand-in, which tells few images apart: consecutive stills here have
stand-in cosines below 0.98, so `SCENE_THRESHOLD` (0.99) separates scenes while a static (or slowly zooming)
scene stays one log entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from socratic.media.sample import build_long_video, sample_images

SCENE_THRESHOLD = 0.99
STILLS = ("coffee", "rocket", "chelsea", "astronaut", "hubble_deep_field", "camera", "coins")


def stills() -> dict:
    import numpy as np
    from PIL import Image
    from skimage import data

    imgs = dict(sample_images())
    for name in STILLS:
        if name not in imgs:
            imgs[name] = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
    return imgs


@dataclass(frozen=True)
class LongVideo:
    path: Path
    scenes: tuple  # (still name, start s, seconds)
    narrations: tuple  # (time s, text)

    @property
    def duration(self) -> float:
        return sum(s for _, _, s in self.scenes)


def build(path: Path, scenes: list[tuple[str, float]], narrations: list[tuple[float, str]], *,
          zoom: float = 0.0, fps: float = 1) -> LongVideo:
    imgs = stills()
    build_long_video(path, [(imgs[name], seconds) for name, seconds in scenes], narrations, zoom=zoom, fps=fps)
    starts, t = [], 0.0
    for name, seconds in scenes:
        starts.append((name, t, seconds))
        t += seconds
    return LongVideo(path, tuple(starts), tuple(narrations))


def minutes_video(path: Path, minutes: float) -> LongVideo:
    """`minutes` of video: a new still every 2.5 minutes (in STILLS order), a sentence every 2 minutes."""
    total = minutes * 60.0
    scenes, t, i = [], 0.0, 0
    while t < total - 1e-6:
        seconds = min(150.0, total - t)
        scenes.append((STILLS[i % len(STILLS)], seconds))
        t, i = t + seconds, i + 1
    said = [(k * 120.0 + 20.0, f"This is note number {k + 1}.") for k in range(int(total // 120))]
    return build(path, scenes, said)
