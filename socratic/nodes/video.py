"""Video nodes: key frames at a stride in seconds (near-duplicate dropping is `frame_dedupe` in vision.py)."""

from __future__ import annotations

from ..context import Context
from ..errors import SocraticError
from ..media.video import DEFAULT_MAX_SIDE, sample_frames
from ..node import node
from ..types import Image, Video


@node("video_frames", outputs={"frames": list[Image], "timestamps": list[float]})
def video_frames(video: Video, *, stride_s: float = 2.0, max_frames: int | None = None,
                 max_side: int | None = DEFAULT_MAX_SIDE, ctx: Context) -> dict:
    """Key frames every `stride_s` seconds (default 2.0: one "moment" of an egocentric log), with their
    timestamps in seconds. Frames are upright (rotation metadata applied) and at most `max_side` pixels on
    their longer side; `max_frames` caps the count (the rest of the video is then not read)."""
    if max_frames is not None and max_frames < 1:
        raise SocraticError(f"max_frames must be ≥ 1, got {max_frames}", field="max_frames")
    cap = max_frames + 1 if max_frames else None  # one more tells whether the cap cut anything
    frames, times = sample_frames(video, stride_s, max_frames=cap, max_side=max_side, warn=ctx.warn)
    if max_frames and len(frames) > max_frames:
        frames, times = frames[:max_frames], times[:max_frames]
        ctx.warn(f"video_frames: stopped at max_frames={max_frames} (t = {times[-1]:.1f} s); "
                 f"the rest of {video} is not in the log")
    return {"frames": frames, "timestamps": times}
