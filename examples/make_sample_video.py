"""Build the README's sample video: four scikit-image photographs with espeak-ng narration (nothing downloaded).

    python examples/make_sample_video.py [OUT.mp4]      # default: sample_video.mp4

Needs ffmpeg and espeak-ng on PATH and scikit-image installed (it ships the photographs).
"""

from __future__ import annotations

import sys
from pathlib import Path

from socratic.errors import SocraticError
from socratic.media.sample import build_sample_video, sample_images, scene_starts

SCENES = [
    ("coffee", "I am making a cup of coffee in the kitchen.", 4.0),
    ("chelsea", "My cat is sitting next to me.", 4.0),
    ("astronaut", None, 3.0),
    ("rocket", "Now I am watching a rocket launch on television.", 5.0),
]


def main(out: str = "sample_video.mp4") -> Path:
    images = sample_images()
    scenes = [(images[name], text, seconds) for name, text, seconds in SCENES]
    path = build_sample_video(out, scenes, fps=10, size=(320, 240))
    for (name, text, _), start in zip(SCENES, scene_starts(scenes)):
        print(f"{start:5.1f} s  {name:<10} {text or '(no narration)'}")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    try:
        main(*sys.argv[1:2])
    except SocraticError as exc:
        sys.exit(f"error: {exc}")
