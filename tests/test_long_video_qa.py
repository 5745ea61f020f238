"""Long-video multiple-choice QA: the timeline the LM reads, VideoTree's rating parser, the three shipped pipelines
(llovi_qa, videotree_qa, smlog_qa) end to end on a real ffmpeg video (random CLIP, random captioner, the real
packaged SmolLM2, Whisper base and rapidocr), captions computed once per video in dataset runs, and bad items."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from socratic import Pipeline, node
from socratic.errors import SocraticError
from socratic.longvideo.timeline import caption_timeline, scene_text_events
from socratic.longvideo.videotree import parse_ratings, text_at

REPO = Path(__file__).resolve().parents[1]
MC_FIELDS = ("choice", "letter", "scores", "decided_by")
QUESTION = {"question": "Where did I leave my keys?",
            "options": ["in the red bag", "in the blue box", "under the bed", "on the table", "in my pocket"]}


# ---------------------------------------------------------------- the text side, no models

def test_timeline_orders_captions_speech_and_new_scene_text():
    out = caption_timeline(
        [0.0, 1.0, 2.0, 3.0], ["a kitchen", "", "a kitchen", "a door"],
        segments=[{"start": 1.5, "end": 3.0, "text": " I left my keys  here. "}, {"start": 2.0, "text": "  "}],
        scene_times=[0.0, 2.0, 2.5, 3.0], scene_text=["", "EXIT", "EXIT", ["GATE", "12"]])
    assert out["lines"].split("\n") == [
        "[00:00] a kitchen",
        '[00:01] heard: "I left my keys here."',
        "[00:02] a kitchen",
        '[00:02] text on screen: "EXIT"',
        "[00:03] a door",
        '[00:03] text on screen: "GATE / 12"',
    ]
    assert out["captions"] == 3  # the empty caption is left out


def test_timeline_rejects_mismatched_lengths():
    with pytest.raises(SocraticError, match="2 timestamps but 1 captions"):
        caption_timeline([0.0, 1.0], ["a"])
    with pytest.raises(SocraticError, match="2 scene-text times but 1 texts"):
        scene_text_events([0.0, 1.0], ["A"])


def test_scene_text_of_a_frame_is_the_last_reading_at_or_before_it():
    times = [0.0, 4.0, 8.0]
    events = scene_text_events(times, ["", "EXIT", ""])
    assert [text_at(events, times, t) for t in (0.0, 3.9, 4.0, 7.0, 8.0, 20.0)] == ["", "", "EXIT", "EXIT", "", ""]


@pytest.mark.parametrize("reply, n, want", [
    ("3, 1, 2", 3, [3, 1, 2]),
    ("1: 3\n2: 1\n3: 2", 3, [3, 1, 2]),              # numbered pairs win over the digits in order
    ("Frame 2 = 1, frame 1 = 3", 2, [3, 1]),
    ("Ratings: 1, 1, 3, 2 and more", 3, [1, 1, 3]),   # the first n
    ("A. under the bed", 2, None),                   # no ratings: the caller scores instead
    ("1, 22, 3", 3, None),                           # 22 is not a rating
])
def test_parse_ratings(reply, n, want):
    assert parse_ratings(reply, n) == want


# ---------------------------------------------------------------- one computation per video in a batch

CALLS: list[str] = []


@node("count_calls_ltvqa", outputs={"text": str})
def count_calls(text: str) -> str:
    CALLS.append(text)
    return text.upper()


def test_items_of_a_batch_with_the_same_inputs_compute_a_node_once(tmp_path):
    CALLS.clear()
    p = Pipeline("twins").add_input("video", "text").add_input("question", "text")
    p.add_node("per_video", "count_calls_ltvqa", inputs={"text": "inputs.video"})
    p.add_node("per_question", "count_calls_ltvqa", inputs={"text": "inputs.question"})
    p.add_output("v", "per_video.text").add_output("q", "per_question.text")
    from socratic.engine.runner import run_batch

    items = [{"video": "a", "question": "x"}, {"video": "a", "question": "y"}, {"video": "b", "question": "x"}]
    results = run_batch(p.validate(), items, cache_dir=tmp_path / "cache")
    assert [r["v"] for r in results] == ["A", "A", "B"] and [r["q"] for r in results] == ["X", "Y", "X"]
    assert sorted(CALLS) == ["a", "b", "x", "y"]  # "a" and "x" once each
    cached = [{rec.node: rec.cached for rec in r.trace.records} for r in results]
    assert cached == [{"per_video": False, "per_question": False}, {"per_video": True, "per_question": False},
                      {"per_video": False, "per_question": True}]


# ---------------------------------------------------------------- real models on a real video

@functools.lru_cache(maxsize=None)
def _signed_video(root: Path) -> Path:
    from socratic.media.sample import build_sample_video, sample_images, with_sign

    imgs = sample_images()
    scenes = [(imgs["coffee"], "I left my keys in the blue box.", 5.0),
              (with_sign(imgs["rocket"], ["EXIT"], height=0.16), None, 5.0),
              (imgs["chelsea"], "The cat is sleeping.", 4.0)]
    return build_sample_video(root / "signed.mp4", scenes, fps=4, size=(480, 320))


@pytest.fixture(scope="module")
def signed_video(tmp_path_factory) -> Path:
    return _signed_video(tmp_path_factory.mktemp("lvqa"))


def _run(name, inputs, **kw):
    p = Pipeline.from_yaml(REPO / "pipelines" / f"{name}.yaml")
    return p.run(inputs, profile="offline", random_vlm=True, random_captioner=True, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [("llovi_qa", {"heard_seen/scene_threshold": 0.99}),
                                         ("videotree_qa", {"heard_seen/scene_threshold": 0.99}),
                                         ("smlog_qa", {"scene_threshold": 0.99})])
def test_pipelines_answer_with_the_multiple_choice_fields(signed_video, name, extra):
    Pipeline.from_yaml(REPO / "pipelines" / f"{name}.yaml").validate()
    out = _run(name, {"video": str(signed_video), **QUESTION, **extra})
    assert isinstance(out["choice"], int) and 0 <= out["choice"] < 5
    assert out["letter"] == "ABCDE"[out["choice"]]
    assert len(out["scores"]) == 5 and out["choice"] == max(range(5), key=lambda k: (out["scores"][k], -k))
    assert out["decided_by"] == "score"
    lines = out["lines"]
    assert "blue box" in lines.lower()  # Whisper's speech reached the LM's context
    assert "EXIT" in lines  # rapidocr's scene text too
    assert any("RANDOM weights" in w for w in out.warnings)
    if name != "smlog_qa":
        assert any("captioner" in w and "RANDOM" in w for w in out.warnings)
    if name == "videotree_qa":
        assert 1 <= out["captions"] <= out["captioned"] <= 14  # 14 s at a frame a second
        assert out["steps"][0]["clusters"] == 8 and all(r in (1, 2, 3) for r in out["ratings"])
        assert {s["rated_by"] for s in out["steps"]} <= {"list", "score (fallback)"}  # the shipped `relevance: list`


class _Counted:
    """The pooled random captioner with its `caption` counted (the real model still runs)."""

    def __enter__(self):
        from socratic.models.loader import ModelSpec, load_model

        self.model = load_model(ModelSpec("captioner", "captioner", "transformers", {"random_init": True}))
        self.inner, self.frames = self.model.caption, []

        def counted(items, prompt=None, **kw):
            self.frames.extend(f.digest() for f in items)
            return self.inner(items, prompt, **kw)

        self.model.caption = counted
        return self

    def __exit__(self, *exc):
        del self.model.caption


def _records(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.slow
def test_a_second_question_on_a_captioned_video_costs_only_the_lm(signed_video, tmp_path):
    second = {"question": "What word was on the sign?", "options": ["EXIT", "BANK", "HOTEL", "CAFE", "PARK"]}
    items = [{"id": q, "video": str(signed_video), "summary": False, "heard_seen/scene_threshold": 0.99, **body}
             for q, body in (("keys", QUESTION), ("sign", second))]
    p = Pipeline.from_yaml(REPO / "pipelines" / "llovi_qa.yaml")
    cache = tmp_path / "cache"
    opts = dict(profile="offline", random_vlm=True, random_captioner=True, cache_dir=cache)
    with _Counted() as counted:
        p.run_dataset(items, tmp_path / "llovi.jsonl", **opts)  # both questions in one batch
    recs = _records(tmp_path / "llovi.jsonl")
    assert all(recs[q]["outputs"]["captions"] == 14 for q in ("keys", "sign"))
    assert len(counted.frames) == len(set(counted.frames)) <= 14  # each frame once, for both questions
    assert recs["keys"]["outputs"]["scores"] != recs["sign"]["outputs"]["scores"]  # the LM saw each question

    once = sorted(counted.frames)

    # One item per batch, a fresh cache: the second question finds every caption in the node cache.
    with _Counted() as counted:
        p.run_dataset(items, tmp_path / "llovi-1.jsonl", batch_size=1, **{**opts, "cache_dir": tmp_path / "c1"})
    assert sorted(counted.frames) == once

    # VideoTree (own cache): the second question captions only frames the first did not need.
    tree = Pipeline.from_yaml(REPO / "pipelines" / "videotree_qa.yaml")
    with _Counted() as counted:
        tree.run_dataset(items, tmp_path / "tree-fresh.jsonl", batch_size=1, **{**opts, "cache_dir": tmp_path / "c2"})
    out = {q: r["outputs"] for q, r in _records(tmp_path / "tree-fresh.jsonl").items()}
    assert out["keys"]["computed"] == out["keys"]["captioned"] > 0
    assert out["sign"]["computed"] < out["sign"]["captioned"]  # the first round's representatives are shared
    assert len(counted.frames) == len(set(counted.frames))


@pytest.mark.slow
def test_bad_videos_and_option_counts_are_per_item_errors_in_a_dataset_run(signed_video, tmp_path):
    from socratic.media.sample import build_sample_video, sample_images

    short = build_sample_video(tmp_path / "short.mp4", [(sample_images()["coffee"], None, 0.5)], fps=4,
                               size=(160, 120), audio=False)
    items = [{"id": "good", "video": str(signed_video), "summary": False, **QUESTION},
             {"id": "missing", "video": str(tmp_path / "nowhere.mp4"), **QUESTION},
             {"id": "short", "video": str(short), "summary": False, **QUESTION},
             {"id": "four", "video": str(signed_video), "summary": False, "question": QUESTION["question"],
              "options": QUESTION["options"][:4]},
             {"id": "six", "video": str(signed_video), "summary": False, "question": QUESTION["question"],
              "options": QUESTION["options"] + ["in the fridge"]}]
    p = Pipeline.from_yaml(REPO / "pipelines" / "llovi_qa.yaml")
    counts = p.run_dataset(items, tmp_path / "out.jsonl", profile="offline", random_vlm=True,
                           random_captioner=True)
    recs = _records(tmp_path / "out.jsonl")
    assert isinstance(recs["good"]["outputs"]["choice"], int)
    assert "nowhere.mp4" in recs["missing"]["error"] and "not found" in recs["missing"]["error"]
    assert "shorter than one 1-second clip" in recs["short"]["error"] and "short.mp4" in recs["short"]["error"]
    for bad, n in (("four", 4), ("six", 6)):  # the shipped pipelines take EgoSchema's and NExT-QA's 5 options
        assert f"{n} options, expected 5 (n_options)" in recs[bad]["error"]
    assert counts.get("failed") == 4
