"""Video ingestion with PyAV: key frames at a stride in seconds with true timestamps, and the audio track.

Timestamps come from each frame's pts × time_base (measured from the container's start), so variable frame
rate videos get the right times. Frames are turned upright using the display matrix (phone videos) and
downscaled so that their longer side is at most `max_side`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from ..errors import SocraticError

DEFAULT_MAX_SIDE = 512  # CLIP sees 224-336 px; larger frames only cost memory and cache space


@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration: float | None  # seconds, None when the container does not say
    width: int  # as displayed (after rotation)
    height: int
    rotation: int  # degrees counter-clockwise applied for display: 0, 90, 180 or 270
    fps: float | None  # average frame rate
    has_audio: bool
    audio_rate: int | None


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.exists():
        raise SocraticError("file not found", file=str(p))
    if p.is_dir():
        raise SocraticError("is a directory, not a video", file=str(p))
    if p.stat().st_size == 0:
        raise SocraticError("empty file (0 bytes), not a video", file=str(p))
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as exc:
        raise SocraticError(f"cannot read as video: {exc.strerror or exc}", file=str(p)) from None
    return container


def _is_image(container) -> bool:
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


def _video_stream(container, path: str | Path):
    if _is_image(container):
        raise SocraticError(f"is an image ({container.format.name}), not a video", file=str(path))
    if not container.streams.video:
        raise SocraticError("has no video stream", file=str(path))
    return container.streams.video[0]


def _t0(container) -> float:
    """Zero of the timeline: the container's start time (seconds)."""
    return (container.start_time or 0) / 1_000_000


def _rotation(stream, frame=None) -> int:
    """Counter-clockwise display rotation in degrees, snapped to a multiple of 90."""
    deg = getattr(frame, "rotation", None) if frame is not None else None
    if deg is None:  # older PyAV: the legacy `rotate` tag is clockwise
        tag = stream.metadata.get("rotate")
        deg = -float(tag) if tag else 0
    return int(round(float(deg) / 90.0)) * 90 % 360


def probe(path: str | Path) -> VideoInfo:
    """Size, duration, rotation, frame rate and audio presence of a video (errors name the file)."""
    with _open(path) as c:
        vs = _video_stream(c, path)
        rotation = 0
        try:
            first = next(c.decode(vs), None)
        except Exception as exc:  # decoder errors come in several types
            raise SocraticError(f"cannot decode video: {exc}", file=str(path)) from None
        if first is None:
            raise SocraticError("contains no video frames (zero-length video)", file=str(path))
        rotation = _rotation(vs, first)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        duration = c.duration / 1_000_000 if c.duration else None
        rate = float(vs.average_rate) if vs.average_rate else None
        audio = c.streams.audio[0] if c.streams.audio else None
        return VideoInfo(str(path), duration, w, h, rotation, rate, audio is not None,
                         audio.codec_context.sample_rate if audio else None)


def _to_image(frame, rotation: int, max_side: int | None) -> Image.Image:
    w, h = frame.width, frame.height
    scale = min(1.0, max_side / max(w, h)) if max_side else 1.0
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = frame.reformat(width=nw, height=nh, format="rgb24").to_image()
    else:
        img = frame.to_image()
    if rotation == 90:
        img = img.transpose(Image.Transpose.ROTATE_90)
    elif rotation == 180:
        img = img.transpose(Image.Transpose.ROTATE_180)
    elif rotation == 270:
        img = img.transpose(Image.Transpose.ROTATE_270)
    return img.convert("RGB")


def iter_frames(path: str | Path, stride_s: float = 2.0, max_side: int | None = DEFAULT_MAX_SIDE,
                warn: Callable[[str], None] | None = None) -> Iterator[tuple[float, Image.Image]]:
    """Key frames as a stream of (seconds from the start, image), decoded one at a time.

    For each boundary k·stride_s the first frame shown at or after it is kept; when a long frame covers
    several boundaries (variable frame rate) it is kept once and the next boundary after it is used.
    A file whose frames stop well before its stated duration (truncated, or corrupt midway) ends the stream
    early with a message to `warn`; a file with no decodable frame at all is an error.
    """
    if not stride_s or stride_s <= 0:
        raise SocraticError(f"stride_s must be > 0, got {stride_s!r}", field="stride_s")
    kept = 0
    with _open(path) as c:
        vs = _video_stream(c, path)
        vs.thread_type = "AUTO"
        t0 = _t0(c)
        next_t = 0.0
        last_t = -math.inf
        step = 1.0 / float(vs.average_rate) if vs.average_rate else 0.0
        try:
            for frame in c.decode(vs):
                t = frame.time - t0 if frame.time is not None else last_t + step
                last_t = t
                if t < next_t - 1e-6:
                    continue
                image = _to_image(frame, _rotation(vs, frame), max_side)
                next_t = (math.floor(t / stride_s + 1e-9) + 1) * stride_s
                kept += 1
                yield round(max(t, 0.0), 6), image
        except (GeneratorExit, SocraticError):
            raise
        except Exception as exc:  # corrupt packets surface as several av.error types
            if not kept:
                raise SocraticError(f"cannot decode video: {exc}", file=str(path)) from None
            if warn:
                warn(f"{path}: decoding stopped at {last_t:.1f} s: {exc}")
        else:
            duration = c.duration / 1_000_000 if c.duration else None
            if kept and duration and last_t + max(step, 0.04) < duration - 0.5 and warn:
                warn(f"{path}: frames end at {last_t:.1f} s of a stated {duration:.1f} s (truncated file?)")
    if not kept:
        raise SocraticError("contains no video frames (zero-length video)", file=str(path))


def sample_frames(path: str | Path, stride_s: float = 2.0, max_frames: int | None = None,
                  max_side: int | None = DEFAULT_MAX_SIDE, warn: Callable[[str], None] | None = None
                  ) -> tuple[list[Image.Image], list[float]]:
    """Key frames and their timestamps as lists (`iter_frames` collected; at most `max_frames`)."""
    frames: list[Image.Image] = []
    times: list[float] = []
    stream = iter_frames(path, stride_s, max_side, warn)
    for t, image in stream:
        frames.append(image)
        times.append(t)
        if max_frames and len(frames) >= max_frames:
            stream.close()
            break
    return frames, times


def extract_audio(path: str | Path, sr: int = 16000) -> np.ndarray | None:
    """The first audio track as mono float32 at `sr` Hz, aligned to the video's timeline; None without one."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            return None
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks: list[np.ndarray] = []
        first_time = None
        try:
            for frame in c.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = frame.time
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except Exception as exc:
            if not chunks:
                raise SocraticError(f"cannot decode audio: {exc}", file=str(path)) from None
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        lead = (first_time or 0.0) - _t0(c)
        if lead > 0:  # audio starting after the video: pad so sample 0 is at time 0
            samples = np.concatenate([np.zeros(int(round(lead * sr)), np.float32), samples])
        return samples
