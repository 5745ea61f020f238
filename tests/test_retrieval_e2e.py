"""Video-to-text retrieval end to end through the CLI on a small offline fixture (8 videos of scikit-image stills,
6 with espeak-ng narration, 1 without an audio track, 1 with a silent one): real Whisper base, the packaged
SmolLM2, the real all-MiniLM-L6-v2 and a random CLIP (--random-vlm)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))

from make_retrieval_fixture import CLIPS, build_fixture  # noqa: E402

pytestmark = pytest.mark.slow

PICK = ("coffee", "chelsea", "rocket", "coins", "horse", "brick", "camera", "page")
MARGIN = 40.0  # points of R@1 by which Socratic must beat CLIP-only on the speech videos
METHODS_PROMPT = ('I am an intelligent video captioning bot.\n'
                  'I hear a person saying: "{t}".\n'
                  "Q: What's a short video caption for this video? A: In this video,")


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "socratic", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    clips = [next(c for c in CLIPS if c.still == name) for name in PICK]
    fix = build_fixture(root / "fixture", clips, seconds=4.0)
    env = {**os.environ, "SOCRATIC_NODE_CACHE": str(root / "node-cache"), "HF_HUB_OFFLINE": "1"}
    out = root / "runs.jsonl"
    proc = _cli("run", "pipelines/video_text_retrieval.yaml", "--dataset", fix / "items.jsonl", "--out", out,
                "--profile", "offline", "--random-vlm", "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {json.loads(x)["id"]: json.loads(x) for x in out.read_text().splitlines()}
    return {"fixture": fix, "out": out, "records": records, "clips": dict(zip((f"video{i}" for i in range(8)), clips)),
            "env": env}


def _rank(vid, ranking):
    return ranking.index(vid) + 1 if vid in ranking else 100


def test_every_video_has_a_record_with_the_whole_gallery(run):
    recs = run["records"]
    assert sorted(recs) == sorted(run["clips"])
    for vid, rec in recs.items():
        o = rec["outputs"]
        assert o["video_id"] == vid
        assert sorted(o["ranking"]) == sorted(o["clip_ranking"]) == sorted(run["clips"])  # k=100 > 8 videos
        assert o["scores"] == sorted(o["scores"], reverse=True)


def test_speech_is_transcribed_and_summarised(run):
    for vid, clip in run["clips"].items():
        o = run["records"][vid]["outputs"]
        if clip.narration:
            assert o["reranked"] is True and o["transcript"] and o["summary"] and o["note"] == ""
            said = set(clip.narration.lower().strip(".").split())
            heard = set(o["transcript"].lower().replace(".", "").split())
            assert len(said & heard) >= len(said) / 3, (clip.narration, o["transcript"])


def test_videos_without_speech_keep_the_clip_ranking_and_say_why(run):
    for vid, clip in run["clips"].items():
        rec = run["records"][vid]
        o = rec["outputs"]
        if clip.narration is None:
            assert o["reranked"] is False and o["ranking"] == o["clip_ranking"] and o["scores"] == o["clip_scores"]
            assert o["transcript"] == "" and o["note"].startswith("no transcript")
            why = "no audio track" if not clip.audio else "silent"
            assert any(why in w and f"{vid}.mp4" in w for w in rec["warnings"]), rec["warnings"]


def test_socratic_beats_clip_only_on_speech_videos(run):
    speech = [v for v, c in run["clips"].items() if c.narration]
    recs = run["records"]
    clip_r1 = 100 * sum(_rank(v, recs[v]["outputs"]["clip_ranking"]) == 1 for v in speech) / len(speech)
    soc_r1 = 100 * sum(_rank(v, recs[v]["outputs"]["ranking"]) == 1 for v in speech) / len(speech)
    assert soc_r1 >= clip_r1 + MARGIN, (soc_r1, clip_r1)
    # the eval command computes the same figures from the JSONL
    proc = _cli("eval", "retrieval", "--predictions", run["out"], "--annotations",
                run["fixture"] / "test_videodatainfo.json", "--json", env=run["env"])
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    assert table["Socratic, with speech"]["R@1"] == pytest.approx(soc_r1)
    assert table["CLIP, with speech"]["R@1"] == pytest.approx(clip_r1)
    assert table["CLIP"]["n"] == 8 and table["Socratic, with speech"]["n"] == len(speech)


def test_summary_node_is_the_reference_prompt_and_decoding(run):
    """The node's summaries equal the packaged LM called directly with methods.md's prompt, greedy, 64 tokens,
    stop '.', stripped (same batch of prompts)."""
    import socratic.socratic_models.retrieval as R
    from socratic.context import Context
    from socratic.models.loader import ModelSpec, load_model
    from socratic.models.profiles import apply_profile
    from socratic.engine.pipeline import Pipeline

    template = (REPO / "prompts" / "msrvtt_summary.txt").read_text(encoding="utf-8")
    assert template == METHODS_PROMPT.replace("{t}", "{transcript}")
    p = Pipeline.from_yaml(REPO / "pipelines" / "video_text_retrieval.yaml")
    spec = apply_profile({"lm": ModelSpec.from_dict("lm", p.models["lm"])}, "offline")["lm"]
    lm = load_model(spec)
    transcripts = [run["records"][v]["outputs"]["transcript"] for v in ("video0", "video2")]
    got = R.transcript_summary([" " + transcripts[0] + " ", transcripts[1]], lm=lm, template=template,
                               ctx=Context())["summary"]
    want = [row[0].text.strip() for row in lm.generate([METHODS_PROMPT.format(t=t.strip()) for t in transcripts],
                                                       max_new_tokens=64, temperature=0.0, stop=["."])]
    assert got == want and all(got)
