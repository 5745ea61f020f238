"""Streaming pieces of the long-video path, each against a straightforward reference: scene collapse, speech
stretches, key frames on real ffmpeg videos (single static shot, a capped run stated in the log), articles and
grounded entities, and the window packing of the hierarchical summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from socratic.context import Context
from socratic.errors import SocraticError
from socratic.media.audio_stream import speech_stretches
from socratic.media.keyframe import KeyFrame
from socratic.models.loader import ModelSpec, load_model
from socratic.models.vlm_open_clip import STAND_IN_CONFIG
from socratic.socratic_models.egocentric import grounded, world_state_log
from socratic.nodes.lm_budget import pack
from socratic.nodes.text import fill, with_article
from socratic.nodes.video import collapse, video_keyframes
from support.long_videos import build


@pytest.fixture(scope="module")
def clip():
    return load_model(ModelSpec("clip", "vlm", "open_clip", {"config": STAND_IN_CONFIG, "random_init": True}))


def test_collapse_compares_each_row_with_the_one_before():
    rows = torch.nn.functional.normalize(torch.randn(12, 8), dim=-1).numpy()
    rows[3] = rows[2]
    rows[4] = rows[3]
    want = [True] + [float(rows[i] @ rows[i - 1]) < 0.9 for i in range(1, 12)]
    assert collapse(rows, 0.9) == want and want[3:5] == [False, False]
    assert collapse(rows, None) == [True] * 12
    assert collapse(rows[:1], 0.9, previous=rows[0]) == [False]  # continues the chunk before


def _reference_stretches(x, sr, floor_db, gap_s, pad_s):
    hop = int(0.1 * sr)
    loud = [np.abs(x[i * hop:(i + 1) * hop]).max() >= 10 ** (floor_db / 20) for i in range(len(x) // hop)]
    idx = [i for i, on in enumerate(loud) if on]
    groups = [[idx[0]]] if idx else []
    for i in idx[1:]:
        if i - groups[-1][-1] >= round(gap_s / 0.1) + 1:
            groups.append([i])
        else:
            groups[-1].append(i)
    pad = round(pad_s / 0.1)
    return [(max(0, g[0] - pad) * 0.1, (min(len(loud), g[-1] + 1 + pad) - max(0, g[0] - pad)) * 0.1)
            for g in groups]


@pytest.mark.parametrize("block_s", [0.37, 3.0, 50.0])
def test_speech_stretches_match_a_whole_array_reference(block_s):
    sr = 1000
    rng = np.random.default_rng(0)
    x = np.zeros(120 * sr, np.float32)
    for a, b in [(5, 8), (9, 10), (30, 31.5), (31.9, 33), (80, 95)]:
        x[int(a * sr):int(b * sr)] = rng.uniform(-0.2, 0.2, int(b * sr) - int(a * sr))
    step = int(block_s * sr)
    got = [(round(o, 3), round(len(s) / sr, 3))
           for o, s in speech_stretches((x[i:i + step] for i in range(0, len(x), step)), sr, gap_s=2.0, pad_s=0.5)]
    want = [(round(o, 3), round(d, 3)) for o, d in _reference_stretches(x, sr, -50.0, 2.0, 0.5)]
    assert got == want
    # every sample of a stretch is the input's own
    for o, s in speech_stretches(iter([x]), sr):
        assert np.array_equal(s, x[int(round(o * sr)):int(round(o * sr)) + len(s)])


def test_speech_stretches_cut_long_sound_and_skip_silence():
    sr = 1000
    x = np.full(100 * sr, 0.1, np.float32)
    parts = list(speech_stretches(iter([x]), sr, max_s=30.0))
    assert all(len(s) <= 30 * sr for _, s in parts)
    assert sum(len(s) for _, s in parts) == len(x)  # contiguous: nothing lost, nothing twice
    assert [o for o, _ in parts] == sorted(o for o, _ in parts)
    assert list(speech_stretches(iter([np.zeros(10 * sr, np.float32)]), sr)) == []


def test_single_static_shot_is_one_keyframe_and_capped_runs_say_so(tmp_path, clip):
    video = build(tmp_path / "one_shot.mp4", [("coffee", 120.0)], [])
    out = video_keyframes(str(video.path), 0.99, vlm=clip, ctx=Context())
    assert len(out["frames"]) == 1 and out["timestamps"] == [0.0] and out["ends"][0] == pytest.approx(120.0)
    k = out["frames"][0]
    assert k.count == 60 and k.end == pytest.approx(120.0) and out["coverage"]["complete"]
    # the stored embedding is what the model gives the first frame
    assert torch.allclose(clip.encode_images([k]), torch.from_numpy(k.embedding)[None])
    ctx = Context()
    capped = video_keyframes(str(video.path), None, vlm=clip, max_frames=10, ctx=ctx)
    assert len(capped["frames"]) == 10 and not capped["coverage"]["complete"]
    assert "max_frames=10" in capped["coverage"]["note"] and ctx.warnings
    log = world_state_log(capped["timestamps"], ["x"] * 10, [["y"]] * 10, ["z"] * 10, ends=capped["ends"],
                          coverage=capped["coverage"])
    assert log["lines"].splitlines()[-1].startswith("[00:20] (end of log: the log stops at 00:18")
    with pytest.raises(SocraticError, match="scene_threshold"):
        video_keyframes(str(video.path), 1.5, vlm=clip, ctx=Context())


def test_keyframe_embedding_is_used_only_by_the_model_that_made_it(clip):
    from PIL import Image

    img = Image.new("RGB", (64, 48), (200, 30, 30))
    k = KeyFrame.from_image(img, 3.0, embedding=np.ones(clip.embed_dim, np.float32), embedder="another-model")
    assert torch.allclose(clip.encode_images([k]), clip.encode_images([k.image()]))  # preview, not the stranger's
    k2 = KeyFrame.from_image(img, 3.0, embedding=np.full(clip.embed_dim, 0.5, np.float32), embedder=clip.fingerprint)
    assert torch.equal(clip.encode_images([k2])[0], torch.full((clip.embed_dim,), 0.5))
    assert repr(k) != repr(KeyFrame.from_image(img, 4.0, embedding=k.embedding, embedder="another-model"))


def test_articles_and_templates():
    assert [with_article(w) for w in ("amusement arcade", "kitchen", "hour", "university", "one-way street",
                                      "umbrella", "European city")] == \
        ["an amusement arcade", "a kitchen", "an hour", "a university", "a one-way street", "an umbrella",
         "a European city"]
    assert fill("I am in {place|a}.", {"place": ["indoor arena"]}) == "I am in an indoor arena."
    assert fill("{x} and {x|a}", {"x": "owl"}) == "owl and an owl"


def test_grounded_entities_never_come_from_elsewhere():
    q = "Where did I put my keys after the meeting?"
    assert grounded(["keys", "tea", "the meeting", "key", "kitchen table"], q) == ["keys", "the meeting", "key"]
    assert grounded([], q) == []


def test_pack_keeps_order_and_limits():
    sizes = [5, 5, 5, 20, 3, 3, 40, 1]
    windows = pack(["x"] * len(sizes), sizes, limit=12)
    assert [i for w in windows for i in w] == list(range(len(sizes)))
    for w in windows:
        assert len(w) == 1 or sum(sizes[i] + 1 for i in w) <= 12
