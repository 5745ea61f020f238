"""Video nodes: key frames at a stride in seconds, as a list of images (short clips) or streamed into
`KeyFrame`s with static scenes collapsed (long videos: memory follows the log, not the video)."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..context import Context
from ..errors import SocraticError
from ..media.gate import FrameGate
from ..media.keyframe import KeyFrame, clock
from ..media.video import DEFAULT_MAX_SIDE, iter_frames, probe, sample_frames
from ..models.base import VLM
from ..node import node
from ..types import Image, Video


def _check_cap(max_frames: int | None) -> None:
    if max_frames is not None and max_frames < 1:
        raise SocraticError(f"max_frames must be ≥ 1, got {max_frames}", field="max_frames")


@node("video_frames", outputs={"frames": list[Image], "timestamps": list[float]})
def video_frames(video: Video, *, stride_s: float = 2.0, max_frames: int | None = None,
                 max_side: int | None = DEFAULT_MAX_SIDE, ctx: Context) -> dict:
    """Key frames every `stride_s` seconds, with their timestamps in seconds, all held in memory (short clips;
    long videos: `video_keyframes`). Frames are upright and at most `max_side` pixels on their longer side;
    `max_frames` caps the count (the rest of the video is then not read, and a warning says so)."""
    _check_cap(max_frames)
    cap = max_frames + 1 if max_frames else None  # one more tells whether the cap cut anything
    frames, times = sample_frames(video, stride_s, max_frames=cap, max_side=max_side, warn=ctx.warn)
    if max_frames and len(frames) > max_frames:
        frames, times = frames[:max_frames], times[:max_frames]
        ctx.warn(f"video_frames: stopped at max_frames={max_frames} (t = {times[-1]:.1f} s); "
                 f"the rest of {video} is not in the log")
    return {"frames": frames, "timestamps": times}


def collapse(embeddings: np.ndarray, threshold: float | None, previous: np.ndarray | None = None) -> list[bool]:
    """Per row, whether it starts a new scene: its cosine with the row before it (`previous` for the first)
    is below `threshold` (rows are L2-normalised). `threshold` None keeps every row."""
    starts = []
    for row in embeddings:
        starts.append(threshold is None or previous is None or float(row @ previous) < threshold)
        previous = row
    return starts


def _chunks(frames: Iterator[tuple[float, Any]], size: int) -> Iterator[list[tuple[float, Any]]]:
    chunk: list[tuple[float, Any]] = []
    for item in frames:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


GATE = 0.05  # see benchmarks/README.md "Long egocentric video": codec noise stays below it, a pan does not


def _embed(vlm: VLM, images: list[Any], gate: FrameGate, last: np.ndarray | None) -> np.ndarray:
    """CLIP embeddings of the frames the gate keeps; a frame it stops gets the last embedded frame's row."""
    kept = [gate.keep(im) for im in images]
    fresh = vlm.encode_images([im for im, k in zip(images, kept) if k]).float().cpu().numpy()
    rows, j = [], 0
    for k in kept:
        if k:
            last, j = fresh[j], j + 1
        rows.append(last)
    return np.stack(rows)


@node("video_keyframes", outputs={"frames": list[KeyFrame], "timestamps": list[float], "ends": list[float],
                                  "coverage": dict})
def video_keyframes(video: Video, scene_threshold: float | None = 0.95, gate: float | None = GATE, *, vlm: VLM,
                    stride_s: float = 2.0,
                    max_frames: int | None = None, chunk: int = 32, max_side: int | None = DEFAULT_MAX_SIDE,
                    preview_side: int = 256, ctx: Context) -> dict:
    """The whole video, streamed: a frame every `stride_s` seconds is decoded and embedded by CLIP `chunk` at
    a time; consecutive frames whose embeddings have cosine ≥ `scene_threshold` (each compared with the one
    before it) become one key frame covering their time range (None: every frame is its own key frame). The
    threshold is an input, so a pipeline can expose it (`--input scene_threshold=0.9`).

    `gate` (an input too; None or 0 turns it off): a frame whose 64×64 grey thumbnail differs from the last
    embedded frame's by less than this (the largest 8×8-block mean absolute difference, 0–1) is not run through
    CLIP: it takes that frame's embedding (media/gate.py). The default lets codec noise through and stops at
    any visible change, a pan included.

    Outputs per key frame: `frames` (a `KeyFrame`: JPEG preview, CLIP embedding, time range), `timestamps` (its
    first frame, s) and `ends` (where it ends, s: the next key frame's start; the last runs to the end of the video,
    or of what was read). `coverage` says what was read: {duration, logged_to,
    complete, sampled, keyframes, gate_skipped, note}. `max_frames` (off by default) stops after that many sampled frames; the log then says so.
    """
    _check_cap(max_frames)
    if chunk < 1:
        raise SocraticError(f"chunk must be ≥ 1, got {chunk}", field="chunk")
    if scene_threshold is not None and not -1.0 <= scene_threshold <= 1.0:
        raise SocraticError(f"scene_threshold must be a cosine in [-1, 1] or null, got {scene_threshold}",
                            field="scene_threshold")
    if gate is not None and not 0.0 <= gate <= 1.0:
        raise SocraticError(f"gate must be a difference in [0, 1] or null, got {gate}", field="gate")
    frame_gate = FrameGate(gate)
    info = probe(video)
    keys: list[KeyFrame] = []
    previous, sampled, stopped, last_t = None, 0, False, 0.0
    stream = iter_frames(video, stride_s, max_side, ctx.warn)
    for batch in _chunks(stream, chunk):
        if max_frames and sampled + len(batch) > max_frames:
            batch, stopped = batch[:max_frames - sampled], True
        sampled += len(batch)
        emb = _embed(vlm, [im for _, im in batch], frame_gate, previous)
        for (t, image), row, new in zip(batch, emb, collapse(emb, scene_threshold, previous)):
            if new:
                keys.append(KeyFrame.from_image(image, t, preview_side=preview_side, embedding=row.copy(),
                                                embedder=vlm.fingerprint))
            else:
                keys[-1].last, keys[-1].count = t, keys[-1].count + 1
            last_t = t
        previous = emb[-1]
        if stopped:
            stream.close()
            break
    duration = info.duration or (last_t + stride_s)
    for k, nxt in zip(keys, keys[1:] + [None]):
        k.end = nxt.t if nxt else (duration if not stopped else last_t + stride_s)
    note = ""
    if stopped:
        note = (f"the log stops at {clock(last_t)} (max_frames={max_frames}); the video runs to "
                f"{clock(duration)} and the rest is not logged")
        ctx.warn(f"video_keyframes: {note}")
    coverage = {"duration": round(duration, 3), "logged_to": round(keys[-1].end, 3), "complete": not stopped,
                "sampled": sampled, "keyframes": len(keys), "gate_skipped": frame_gate.skipped, "note": note}
    return {"frames": keys, "timestamps": [k.t for k in keys], "ends": [k.end for k in keys],
            "coverage": coverage}
