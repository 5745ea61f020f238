"""The shipped pipelines written with sub-pipelines give what their flat versions gave, byte for byte: the same
outputs and every node's same inputs, params and outputs (so the same LM prompts), on the offline profile with a
fixed seed. The flat versions are kept in tests/data/flat_pipelines/ (as shipped before composition).

Real: an ffmpeg-built narrated video (espeak-ng), packaged Whisper base and SmolLM2, packaged MiniLM embeddings;
CLIP and CLAP are random-init stand-ins (same weights on both sides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socratic import Pipeline
from socratic.media.sample import sample_images
from support.media_videos import narrated_video  # noqa: F401

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FLAT = REPO / "tests" / "data" / "flat_pipelines"
RUN = {"profile": "offline", "random_vlm": True, "seed": 7}


def _nodes(result) -> list[str]:
    """Every node's type, inputs, params and outputs as JSON (names aside: included nodes are `world/places`;
    the flat captioner's `pick` nodes are list-element refs now)."""
    return sorted(json.dumps([r.type, r.inputs, r.params, r.outputs], sort_keys=True, default=str)
                  for r in result.trace.records if r.type != "pick")


def _prompts(result) -> list[str]:
    return [json.dumps(r.inputs, sort_keys=True) for r in result.trace.records
            if r.type in ("lm_generate", "pica_answer")]


def _same(flat, composed) -> None:
    assert composed.outputs == flat.outputs
    assert _prompts(composed) == _prompts(flat) and _prompts(flat)
    assert _nodes(composed) == _nodes(flat)


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    """One node cache per side: the three video pipelines share their world-state nodes within a side."""
    root = tmp_path_factory.mktemp("caches")
    return root / "flat", root / "composed"


@pytest.mark.parametrize("name, extra", [
    ("egocentric_summary", {}),
    ("egocentric_summary_sounds", {"random_atm": True}),
    ("video_qa", {"question": "What was I making?"}),
])
def test_video_pipelines_match_their_flat_versions(name, extra, narrated_video, caches):  # noqa: F811
    opts = {k: v for k, v in extra.items() if k == "random_atm"}
    inputs = {"video": str(narrated_video.path), "scene_threshold": 0.99,
              **{k: v for k, v in extra.items() if k != "random_atm"}}
    flat = Pipeline.from_yaml(FLAT / f"{name}.yaml").run(inputs, cache_dir=caches[0], **RUN, **opts)
    composed_p = Pipeline.from_yaml(REPO / "pipelines" / f"{name}.yaml")
    assert "world" in composed_p.nodes and "frames" not in composed_p.nodes
    composed = composed_p.run(inputs, cache_dir=caches[1], **RUN, **opts)
    _same(flat, composed)
    assert {r.node for r in composed.trace.records} >= {"world/frames", "world/activity_candidates", "log"}
    nested = {n["node"]: n for n in json.loads(composed.trace.to_json())["nodes"]}
    assert nested["world"]["type"] == "pipeline" and nested["world"]["file"].endswith("keyframe_world_state.yaml")


def test_pica_matches_its_flat_version(tmp_path):
    images = sample_images()
    rows = []
    for i, key in enumerate(["coffee", "rocket", "chelsea"]):
        images[key].save(tmp_path / f"{key}.png")
        rows.append({"question_id": i, "image": str(tmp_path / f"{key}.png"), "question": f"What is this {key}?",
                     "answers": [key], "caption": [f"A photo of {key}."]})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    inputs = {"image": str(tmp_path / "coffee.png"), "question": "What drink is this?"}

    def run(p: Pipeline, captions: str, cache: str):
        p.nodes["select"].params.update({"memory": str(tmp_path / "train.jsonl"), "n_shot": 1, "n_ensemble": 2})
        p.nodes[captions].params.update({"n": 3, "max_new_tokens": 16})  # the same cut on both sides
        return p.run(inputs, cache_dir=tmp_path / cache, **RUN)

    flat = run(Pipeline.from_yaml(FLAT / "pica_okvqa.yaml"), "captions", "flat")
    composed = run(Pipeline.from_yaml(REPO / "pipelines" / "pica_okvqa.yaml").expanded(), "caption/captions",
                   "composed")
    _same(flat, composed)
    assert not any(r.type == "pick" for r in composed.trace.records)
    assert [r.type for r in flat.trace.records].count("pick") == 4


def test_socratic_caption_matches_its_flat_version(tmp_path):
    image = tmp_path / "cat.png"
    sample_images()["chelsea"].save(image)

    def run(path: Path, cache: str):
        p = Pipeline.from_yaml(path)
        p.nodes["captions"].params.update({"n": 3, "max_new_tokens": 16})
        return p.run({"image": str(image)}, cache_dir=tmp_path / cache, **RUN)

    _same(run(FLAT / "socratic_caption.yaml", "flat"), run(REPO / "pipelines" / "socratic_caption.yaml", "composed"))
