"""Small real test videos built with ffmpeg and espeak-ng (session-scoped fixtures, memoised per process).

Import the fixtures into a test module: `from support.media_videos import narrated_video, ...`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from socratic.media.sample import build_sample_video, run_tool, sample_images, scene_starts

SIZE = (160, 120)
NARRATION = ("I am making a cup of coffee.", None, "Look, a rocket is taking off.")
SCENE_S = 3.0


@dataclass(frozen=True)
class Narrated:
    path: Path
    images: tuple  # the stills as shown (fitted to SIZE)
    starts: tuple  # scene start times, seconds
    texts: tuple


@functools.lru_cache(maxsize=None)
def _narrated(root: Path) -> Narrated:
    imgs = sample_images()
    stills = [imgs["coffee"], imgs["chelsea"], imgs["rocket"]]
    scenes = [(im, text, SCENE_S) for im, text in zip(stills, NARRATION)]
    path = build_sample_video(root / "narrated.mp4", scenes, fps=10, size=SIZE)
    return Narrated(path, tuple(ImageOps.fit(im, SIZE) for im in stills), tuple(scene_starts(scenes)), NARRATION)


@functools.lru_cache(maxsize=None)
def _silent_track(root: Path) -> Path:
    imgs = sample_images()
    scenes = [(imgs["coffee"], None, 2.0), (imgs["chelsea"], None, 2.0)]
    return build_sample_video(root / "silent_track.mp4", scenes, fps=10, size=SIZE, audio=True)


@functools.lru_cache(maxsize=None)
def _no_audio(root: Path) -> Path:
    imgs = sample_images()
    scenes = [(imgs["coffee"], None, 2.0), (imgs["chelsea"], None, 2.0)]
    return build_sample_video(root / "no_audio.mp4", scenes, fps=10, size=SIZE, audio=False)


# Variable frame rate: three solid-colour segments at 10, 1 and 25 fps, joined without re-encoding.
VFR_SEGMENTS = (("red", 10, 2.0), ("lime", 1, 4.0), ("blue", 25, 2.0))
VFR_COLOURS = {"red": (255, 0, 0), "lime": (0, 255, 0), "blue": (0, 0, 255)}


@functools.lru_cache(maxsize=None)
def _vfr(root: Path) -> Path:
    parts = []
    for colour, fps, seconds in VFR_SEGMENTS:
        seg = root / f"vfr_{colour}.mp4"
        run_tool(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"color=c={colour}:size=160x120:rate={fps}",
                  "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-video_track_timescale", "10000",
                  str(seg)], str(seg))
        parts.append(f"file '{seg}'")
    listing = root / "vfr_list.txt"
    listing.write_text("\n".join(parts) + "\n")
    out = root / "vfr.mp4"
    run_tool(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
              str(out)], str(out))
    return out


def vfr_frame_times() -> list[tuple[float, str]]:
    """The true (time, colour) of every frame of the VFR video, from its construction."""
    out, t0 = [], 0.0
    for colour, fps, seconds in VFR_SEGMENTS:
        out += [(round(t0 + k / fps, 6), colour) for k in range(int(seconds * fps))]
        t0 += seconds
    return out


def upright_pattern() -> Image.Image:
    """A landscape picture whose orientation is unambiguous: a red block top-left, blue bottom edge."""
    a = np.full((120, 160, 3), 200, np.uint8)
    a[:40, :50] = (255, 0, 0)
    a[-20:, :] = (0, 0, 255)
    return Image.fromarray(a)


@functools.lru_cache(maxsize=None)
def _rotated(root: Path) -> Path:
    """A phone-style video: stored sideways (portrait pixels) with a display matrix saying rotate back.

    The stored picture is the upright pattern turned 90° clockwise; the mp4 `rotate` tag written by ffmpeg
    yields a display matrix of 90° counter-clockwise, so a player shows the upright pattern."""
    still = root / "sideways.png"
    upright_pattern().transpose(Image.Transpose.ROTATE_270).save(still)
    plain = root / "sideways.mp4"
    run_tool(["ffmpeg", "-y", "-loglevel", "error", "-loop", "1", "-framerate", "5", "-t", "1", "-i", str(still),
              "-c:v", "libx264", "-pix_fmt", "yuv420p", "-qp", "0", str(plain)], str(plain))
    out = root / "rotated.mp4"
    run_tool(["ffmpeg", "-y", "-loglevel", "error", "-i", str(plain), "-c", "copy", "-metadata:s:v", "rotate=90",
              str(out)], str(out))
    return out


@functools.lru_cache(maxsize=None)
def _large(root: Path) -> Path:
    out = root / "large.mp4"
    run_tool(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=2", "-t", "1",
              "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)], str(out))
    return out


def _root(factory) -> Path:
    d = factory.getbasetemp() / "media"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def narrated_video(tmp_path_factory) -> Narrated:
    return _narrated(_root(tmp_path_factory))


@pytest.fixture(scope="session")
def silent_track_video(tmp_path_factory) -> Path:
    return _silent_track(_root(tmp_path_factory))


@pytest.fixture(scope="session")
def no_audio_video(tmp_path_factory) -> Path:
    return _no_audio(_root(tmp_path_factory))


@pytest.fixture(scope="session")
def vfr_video(tmp_path_factory) -> Path:
    return _vfr(_root(tmp_path_factory))


@pytest.fixture(scope="session")
def rotated_video(tmp_path_factory) -> Path:
    return _rotated(_root(tmp_path_factory))


@pytest.fixture(scope="session")
def large_video(tmp_path_factory) -> Path:
    return _large(_root(tmp_path_factory))
