"""Long egocentric video end to end: a 12-minute ffmpeg-built video with espeak-ng narration at known times, the
real Whisper base, the packaged SmolLM2 and all-MiniLM-L6-v2; CLIP is the random stand-in (visual branch only).
Also: peak memory does not grow with the video's length, and the summary never overflows a tiny context."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from socratic import Pipeline
from socratic.context import Context
from socratic.models.loader import ModelSpec, load_model
from socratic.socratic_models.log_summary import hierarchical_summary
from support.long_videos import SCENE_THRESHOLD, build, minutes_video

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SCENES = [("coffee", 120.0), ("rocket", 150.0), ("chelsea", 90.0), ("astronaut", 120.0),
          ("hubble_deep_field", 60.0), ("camera", 180.0)]
SAID = [(15.0, "I am making a cup of coffee in the kitchen."),
        (140.0, "I put my keys in the blue bowl by the front door."),
        (300.0, "My cat is sleeping on the sofa."),
        (400.0, "I am reading a good book in the garden."),
        (600.0, "The old camera on the shelf still works.")]
RUN = {"profile": "offline", "random_vlm": True}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return build(tmp_path_factory.mktemp("long") / "twelve_minutes.mp4", SCENES, SAID)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("node-cache")


@pytest.fixture(scope="module")
def summary(video, cache):
    p = Pipeline.from_yaml(REPO / "pipelines/egocentric_summary.yaml")
    p.nodes["summary"].params["context_length"] = 450  # the log must not fit: windows, then a merge
    return p.run({"video": str(video.path), "scene_threshold": SCENE_THRESHOLD}, cache_dir=cache, **RUN)


def _entry_at(log, t):
    return next(e for e in reversed(log) if e["t"] <= t)


def test_static_scenes_collapse_to_one_entry_each(video, summary):
    log = summary["log"]
    assert len(log) == len(SCENES)
    for entry, (_, start, seconds) in zip(log, video.scenes):
        assert entry["t"] == pytest.approx(start, abs=2.0)
        assert entry["last"] == pytest.approx(start + seconds, abs=2.0)  # until the next entry begins
    assert summary["coverage"]["complete"] and summary["coverage"]["duration"] == pytest.approx(720, abs=1)
    first = summary["lines"].splitlines()[0]
    assert first.startswith("[00:00–02:00] place: ")


def test_every_narrated_sentence_is_in_the_log_at_its_time(summary):
    for t, text in SAID:
        heard = _entry_at(summary["log"], t)["heard"].lower()
        keyword = next(k for k in ("coffee", "keys", "cat", "book", "camera") if k in text)
        assert keyword in heard, (t, text, heard)


def test_hierarchical_summary_windows_cover_the_whole_video(summary):
    windows = summary["summaries"]
    level1 = [w for w in windows if w["level"] == 1]
    assert len(level1) >= 2, windows  # the log did not fit the 450-token context at once
    log = summary["log"]
    assert level1[0]["start"] == log[0]["t"]
    assert level1[-1]["end"] == log[-1]["last"]
    assert sum(w["entries"] for w in level1) == len(log)
    for a, b in zip(level1, level1[1:]):
        assert a["end"] <= b["start"]  # consecutive, in time order (an entry spans until the next one begins)
    assert summary["summary"].strip()
    assert any(w["summary"].strip() for w in level1)


def test_qa_finds_the_moment_the_keys_were_said(video, summary, cache):
    p = Pipeline.from_yaml(REPO / "pipelines/video_qa.yaml")
    out = p.run({"video": str(video.path), "scene_threshold": SCENE_THRESHOLD,
                 "question": "Where did I put my keys?"}, cache_dir=cache, **RUN)
    said = [e for e in out["evidence"] if e["by"] == "speech"]
    assert said and any(e["t"] <= 140.0 <= e["last"] + 2.0 for e in said), out["evidence"]
    assert out["answer"].strip() and "\n" not in out["answer"]
    # the log nodes were served from the cache of the summary run
    cached = {r.node for r in out.trace.records if r.cached}
    assert {"world/frames", "world/speech", "world/activity_candidates"} <= cached


def test_unrelated_question_gets_a_result_without_text_evidence(video, summary, cache):
    p = Pipeline.from_yaml(REPO / "pipelines/video_qa.yaml")
    out = p.run({"video": str(video.path), "scene_threshold": SCENE_THRESHOLD,
                 "question": "What is the boiling point of mercury in kelvin?"}, cache_dir=cache, **RUN)
    assert not [e for e in out["evidence"] if e["by"] != "clip"]
    if not out["evidence"]:
        assert out["answer"] == "No evidence found in the video."
    assert all(e in ("mercury", "boiling point", "point", "kelvin", "boiling") or e.lower() in
               "what is the boiling point of mercury in kelvin" for e in out["entities"])


def test_long_speech_spans_windows_and_one_enormous_sentence_is_truncated_with_a_warning():
    lm = load_model(ModelSpec.from_dict("lm", {"family": "lm", "backend": "transformers",
                                               "packaged": "smollm2-135m-instruct"}))
    speech = " ".join(f"The {w} cupboard needs a new handle." for w in ("red", "green", "blue", "white", "black",
                                                                        "oak", "pine", "tall", "small", "old"))
    endless = " ".join(["and then the weather changed again"] * 200)  # one "sentence" of ~1,400 tokens
    log = [{"t": 0.0, "place": "kitchen", "objects": ["mug"], "activity": "talking", "heard": speech},
           {"t": 2.0, "place": "kitchen", "objects": ["mug"], "activity": "talking", "heard": endless}]
    ctx = Context(node="summary")
    prompts = {k: (REPO / f"prompts/{f}").read_text() for k, f in (
        ("template", "egocentric_summary.txt"), ("window_template", "egocentric_window_summary.txt"),
        ("merge_template", "egocentric_merge_summary.txt"))}
    out = hierarchical_summary(log, lm=lm, max_new_tokens=32, context_length=512, ctx=ctx, **prompts)
    assert any("truncated" in w for w in ctx.warnings), ctx.warnings
    first = [w for w in out["windows"] if w["level"] == 1 and w["start"] == 0.0]
    assert len(first) >= 2  # the first entry's speech continues over several windows, none of it cut
    assert sum(w["facts"] for w in first) >= 10
    assert all("cupboard" in w["summary"].lower() for w in first if w["facts"])
    assert isinstance(out["summary"], str) and out["levels"] >= 2


_MEASURE = """
import json, resource, sys
from socratic import Pipeline
p = Pipeline.from_yaml(sys.argv[1])
out = p.run({"video": sys.argv[2], "scene_threshold": float(sys.argv[3])}, profile="offline", random_vlm=True,
            cache=False)
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "entries": len(out["log"])}))
"""


def _peak_rss(video: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(REPO / "pipelines/egocentric_summary.yaml"),
                           str(video), str(SCENE_THRESHOLD)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_the_video(tmp_path):
    five = _peak_rss(minutes_video(tmp_path / "five.mp4", 5).path)
    twenty = _peak_rss(minutes_video(tmp_path / "twenty.mp4", 20).path)
    assert twenty["entries"] > five["entries"]
    assert twenty["rss_kb"] < 1.3 * five["rss_kb"], (five, twenty)


def test_summary_fits_an_openai_compatible_server_by_its_spec_context(llama_server):
    """A log longer than the server's 2048-token context is summarised in windows; no request overflows."""
    from socratic.models.lm_openai import OpenAILM
    from support.llama_server import SERVER_MODEL_ALIAS

    lm = OpenAILM(model=SERVER_MODEL_ALIAS, base_url=llama_server, timeout=300, max_retries=0, context_length=2048)
    log = [{"t": 30.0 * i, "place": "kitchen" if i % 2 else "garden", "objects": ["mug", "kettle", "spoon"],
            "activity": "making tea" if i % 2 else "watering plants",
            "heard": f"This is moment {i}; I keep talking about the plants and the tea."} for i in range(70)]
    prompts = {k: (REPO / f"prompts/{f}").read_text() for k, f in (
        ("template", "egocentric_summary.txt"), ("window_template", "egocentric_window_summary.txt"),
        ("merge_template", "egocentric_merge_summary.txt"))}
    whole = prompts["template"].replace("{lines}", "\n".join(f"[{i}] {e}" for i, e in enumerate(log)))
    assert lm.count_tokens(whole) > 2048  # one prompt would overflow the server
    ctx = Context(node="summary")
    out = hierarchical_summary(log, lm=lm, max_new_tokens=48, ctx=ctx, **prompts)
    level1 = [w for w in out["windows"] if w["level"] == 1]
    assert len(level1) >= 2 and sum(w["entries"] for w in level1) == len(log)
    assert level1[0]["start"] == 0.0 and level1[-1]["end"] == 30.0 * 69
    assert out["levels"] >= 2 and isinstance(out["summary"], str)
