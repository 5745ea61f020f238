"""The gate before CLIP on real ffmpeg-built videos: a static shot skips, a pan and a change in one corner do not,
and the key frames of a static shot are those without the gate."""

from __future__ import annotations

import numpy as np
import pytest

from socratic.context import Context
from socratic.errors import SocraticError
from socratic.media.gate import FrameGate, distance, thumbnail
from socratic.media.sample import build_long_video, with_sign
from socratic.media.video import iter_frames
from socratic.models.loader import ModelSpec, load_model
from socratic.models.vlm_open_clip import STAND_IN_CONFIG
from socratic.nodes.video import GATE, video_keyframes
from support.long_videos import build, stills


@pytest.fixture(scope="module")
def clip():
    return load_model(ModelSpec("clip", "vlm", "open_clip", {"config": STAND_IN_CONFIG, "random_init": True}))


def _reference_distance(a, b):
    worst = 0.0
    for i in range(0, 64, 8):
        for j in range(0, 64, 8):
            worst = max(worst, sum(abs(float(a[y, x]) - float(b[y, x])) for y in range(i, i + 8)
                                   for x in range(j, j + 8)) / 64)
    return worst


def test_distance_is_the_worst_block_mean():
    rng = np.random.default_rng(0)
    a, b = rng.random((64, 64), dtype=np.float32), rng.random((64, 64), dtype=np.float32)
    assert distance(a, b) == pytest.approx(_reference_distance(a, b), abs=1e-6)
    c = a.copy()
    c[56:, 56:] += 0.3  # one corner block changes: the distance is that block's, not diluted by the rest
    assert distance(a, c) == pytest.approx(0.3, abs=1e-6)


def test_static_shot_skips_and_gives_the_same_key_frames(tmp_path, clip):
    video = build(tmp_path / "static.mp4", [("coffee", 60.0), ("rocket", 60.0)], [])
    gated = video_keyframes(str(video.path), 0.99, vlm=clip, ctx=Context())
    plain = video_keyframes(str(video.path), 0.99, None, vlm=clip, ctx=Context())
    assert plain["coverage"]["gate_skipped"] == 0 and plain["coverage"]["sampled"] == 60
    assert gated["coverage"]["gate_skipped"] >= 50  # 58 frames repeat a still; codec noise stays under the gate
    assert gated["timestamps"] == plain["timestamps"] == [0.0, 60.0] and gated["ends"] == plain["ends"]
    assert [k.count for k in gated["frames"]] == [k.count for k in plain["frames"]] == [30, 30]
    for g, p in zip(gated["frames"], plain["frames"]):
        assert np.array_equal(g.embedding, p.embedding)  # a key frame's first frame is always embedded
    with pytest.raises(SocraticError, match="gate"):
        video_keyframes(str(video.path), 0.99, 2.0, vlm=clip, ctx=Context())


def test_a_pan_is_never_skipped(tmp_path):
    imgs = stills()
    path = build_long_video(tmp_path / "pan.mp4", [(imgs["chelsea"], 60.0, "pan"), (imgs["coins"], 40.0, "shake")],
                            fps=5, size=(480, 360))
    gate = FrameGate(GATE)
    kept = [gate.keep(image) for _, image in iter_frames(path, 2.0)]
    assert len(kept) == 50 and all(kept), [i for i, k in enumerate(kept) if not k]


def test_a_change_in_one_corner_is_embedded(tmp_path):
    imgs = stills()
    room = imgs["astronaut"]
    signed = with_sign(room, ["EXIT"], at=(0.8, 0.85), height=0.06)  # a small sign in a corner
    path = build_long_video(tmp_path / "corner.mp4", [(room, 20.0), (signed, 20.0)], fps=2, size=(480, 360))
    gate = FrameGate(GATE)
    frames = list(iter_frames(path, 2.0))
    kept = [gate.keep(image) for _, image in frames]
    first_signed = next(i for i, (t, _) in enumerate(frames) if t >= 20.0)
    assert kept[0] and kept[first_signed], kept
    assert sum(kept) <= 4  # otherwise still: the rest reuse an embedding
    # the gate's own measure: the sign moved its block well past the threshold
    assert distance(thumbnail(frames[first_signed][1]), thumbnail(frames[first_signed - 1][1])) > GATE
