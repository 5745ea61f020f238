"""Video-to-text retrieval (methods.md §1c), step by step against straightforward reference computations: random
CLIP for the visual side, the real packaged all-MiniLM-L6-v2 for text-text scores. Readers, metrics, bad input."""

import json
import math
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

import socratic.socratic_models.retrieval as R
from socratic.context import Context
from socratic.errors import SocraticError
from socratic.eval.msrvtt import load_gallery
from socratic.eval.retrieval import evaluate, metrics, read_predictions, write_items
from socratic.models.loader import ModelSpec, load_model
from socratic.models.vlm_open_clip import OpenClipVLM

TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
IDS = ["v0", "v1", "v2", "v3"]
SETS = [["a dog runs in a park", "a puppy on the grass"],
        ["a man cooks pasta", "someone is cooking dinner", "pasta in a pot"],
        ["a rocket launches"],
        ["a cat sleeps on a sofa", "a sleepy cat"]]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCRATIC_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def clip():
    return OpenClipVLM(config=TINY, random_init=True, seed=3, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def embedder():
    return load_model(ModelSpec.from_dict("e", {"family": "text_embed", "backend": "sentence_transformers",
                                                "packaged": "all-minilm-l6-v2", "device": "cpu"}))


def frames(seed, n):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)) for _ in range(n)]


def ref_video_feature(clip, images):
    """Each frame alone through CLIP, normalised; their mean; normalised."""
    rows = [clip.encode_images([im])[0].double() for im in images]
    rows = [r / r.norm() for r in rows]
    mean = sum(rows) / len(rows)
    return mean / mean.norm()


def cos(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float(a @ b / (a.norm() * b.norm()))


def test_video_feature_is_normalised_mean_of_frames(clip):
    videos = [frames(0, 3), frames(1, 1), frames(2, 5)]
    got = R.video_clip_feature(videos, vlm=clip)
    for v, g in zip(videos, got):
        assert torch.allclose(g.double(), ref_video_feature(clip, v), atol=1e-5)
        assert abs(float(g.norm()) - 1) < 1e-5
    # precomputed embeddings give the same feature as the frames
    emb = clip.encode_images(videos[0])
    assert torch.allclose(R.video_clip_feature([emb * 3.0], vlm=clip)[0], got[0], atol=1e-5)
    with pytest.raises(SocraticError, match="no frames"):
        R.video_clip_feature([[]], vlm=clip)


def test_caption_set_score_is_max_over_captions(clip):
    feats = R.video_clip_feature([frames(5, 2), frames(6, 3)], vlm=clip)
    got = R.caption_set_scores(feats, [IDS] * 2, [SETS] * 2, vlm=clip)
    for f, row in zip(feats, got):
        want = [max(cos(f, clip.encode_texts([c])[0]) for c in s) for s in SETS]
        assert np.allclose(row.numpy(), want, atol=1e-5)


def test_top_k_prerank_descending_and_stable_on_ties():
    scores = [torch.tensor([0.2, 0.5, 0.5, 0.1]), torch.tensor([0.3, 0.3, 0.3, 0.3])]
    out = R.top_k_prerank(scores, [IDS] * 2, k=3)
    assert out["ranking"] == [["v1", "v2", "v0"], ["v0", "v1", "v2"]]  # ties keep gallery order
    assert out["scores"][0] == pytest.approx([0.5, 0.5, 0.2])
    for s, rank in zip(scores, out["ranking"]):  # reference: Python's stable sort on -score
        ref = sorted(range(len(IDS)), key=lambda j: -float(s[j]))[:3]
        assert rank == [IDS[j] for j in ref]
    with pytest.raises(SocraticError, match="k must be >= 1"):
        R.top_k_prerank(scores, [IDS] * 2, k=0)


def test_text_scores_are_max_cosine_over_captions(embedder):
    summaries = ["a person is cooking pasta for dinner", "", "a dog is running on grass"]
    ranking = [["v2", "v1", "v0"], ["v0"], ["v3", "v0"]]
    got = R.text_set_scores(summaries, ranking, [IDS] * 3, [SETS] * 3, embedder=embedder)
    assert got[1] == []  # no summary: no text scores
    for s, rank, row in zip(summaries, ranking, got):
        if not s:
            continue
        e = embedder.encode([s])[0]
        want = [max(cos(e, embedder.encode([c])[0]) for c in SETS[IDS.index(v)]) for v in rank]
        assert row == pytest.approx(want, abs=1e-5)
    assert got[0][1] > got[0][0] and got[2][1] > got[2][0]  # meaning: cooking and dog sets win


def test_product_rerank_reference_and_stability():
    ranking = [["a", "b", "c", "d"], ["a", "b", "c"], ["x", "y"]]
    clip = [[0.9, 0.8, 0.6, 0.5], [0.5, 0.4, 0.2], [0.3, 0.2]]
    text = [[0.1, 0.5, 1.0, 0.2], [0.4, 0.5, 1.0], []]
    out = R.product_rerank(ranking, clip, text)
    for rank, c, t, got in zip(ranking, clip, text, out["ranking"]):
        if not t:
            assert got == rank
            continue
        prod = [ci * ti for ci, ti in zip(c, t)]
        assert got == [rank[j] for j in sorted(range(len(rank)), key=lambda j: -prod[j])]
    # 0.5·0.4 == 0.4·0.5 exactly: the tie keeps the CLIP order (a before b)
    assert out["ranking"][1] == ["a", "b", "c"] and out["scores"][1][0] == out["scores"][1][1]
    assert out["reranked"] == [True, True, False] and out["scores"][2] == [0.3, 0.2]
    with pytest.raises(SocraticError, match="text scores"):
        R.product_rerank([["a", "b"]], [[0.1, 0.2]], [[0.3]])


def test_videos_without_speech_keep_clip_ranking(embedder):
    prerank = R.top_k_prerank([torch.tensor([0.1, 0.4, 0.3, 0.2])], [IDS], k=4)
    summary = R.transcript_summary([""], lm=None, template="unused {transcript}", ctx=Context())
    assert summary == {"summary": [""], "note": ["no transcript (no audio track, silence or no speech)"]}
    text = R.text_set_scores(summary["summary"], prerank["ranking"], [IDS], [SETS], embedder=embedder)
    out = R.product_rerank(prerank["ranking"], prerank["scores"], text)
    assert out["ranking"] == prerank["ranking"] == [["v1", "v2", "v3", "v0"]]
    assert out["reranked"] == [False]


def test_gallery_mismatch_and_unknown_ids_are_errors(clip, embedder):
    with pytest.raises(SocraticError, match="same gallery"):
        R.caption_set_scores([torch.ones(32)] * 2, [IDS, IDS[:3]], [SETS, SETS[:3]], vlm=clip)
    with pytest.raises(SocraticError, match="empty caption set"):
        R.caption_set_scores([torch.ones(32)], [IDS], [SETS[:3] + [[]]], vlm=clip)
    with pytest.raises(SocraticError, match="not in the gallery"):
        R.text_set_scores(["x"], [["v9"]], [IDS], [SETS], embedder=embedder)


# ---------------------------------------------------------------- readers

def _info(videos, sentences):
    return {"info": {}, "videos": videos, "sentences": sentences}


def test_videodatainfo_reader(tmp_path):
    videos = [{"video_id": "video7010", "split": "test"}, {"video_id": "video1", "split": "train"},
              {"video_id": "video7011", "split": "test"}]
    sents = [{"video_id": "video7011", "caption": "b1 ", "sen_id": 0},
             {"video_id": "video7010", "caption": "a1", "sen_id": 1},
             {"video_id": "video1", "caption": "t", "sen_id": 2},
             {"video_id": "video7011", "caption": "b2", "sen_id": 3}]
    p = tmp_path / "test_videodatainfo.json"
    p.write_text(json.dumps(_info(videos, sents)))
    g = load_gallery(p)
    assert g.ids == ["video7010", "video7011"] and g.captions == [["a1"], ["b1", "b2"]]
    assert load_gallery(p, split="all").ids == ["video7010", "video1", "video7011"]
    with pytest.raises(SocraticError, match="no video of split 'val'"):
        load_gallery(p, split="val")


def test_1ka_csv_reader(tmp_path):
    p = tmp_path / "MSRVTT_JSFUSION_test.csv"
    p.write_text("key,vid_key,video_id,sentence\nret0,msr7,video7,a man sings\nret1,msr8,video8,a dog barks\n")
    g = load_gallery(p)
    assert g.ids == ["video7", "video8"] and g.captions == [["a man sings"], ["a dog barks"]]


@pytest.mark.parametrize("content, match", [
    ('{"videos": [], "sentence": []}', "videodatainfo shape"),
    ('[1, 2]', "videodatainfo shape"),
    ('{"videos": [{"video_id": "v", "split": "test"}, {"video_id": "v", "split": "test"}], "sentences": []}',
     "duplicate video id 'v'"),
    ('{"videos": [{"video_id": "v", "split": "test"}], "sentences": []}', "empty caption set"),
    ('{"videos": [{"id": 3}], "sentences": []}', "no text 'video_id'"),
    ('{"videos": [{"video_id": "v", "split": "test"}], "sentences": [{"video_id": "v"}]}', "caption"),
    ('not json', "not valid JSON"),
])
def test_bad_videodatainfo_is_one_line(tmp_path, content, match):
    p = tmp_path / "ann.json"
    p.write_text(content)
    with pytest.raises(SocraticError, match=match) as err:
        load_gallery(p)
    assert "\n" not in str(err.value) and str(p) in str(err.value)


def test_bad_csv_is_one_line(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("key,video,text\n1,v,x\n")
    with pytest.raises(SocraticError, match="missing video_id, sentence"):
        load_gallery(p)
    p.write_text("key,vid_key,video_id,sentence\n0,a,v1,x\n1,b,v2,y\n2,c,v1,z\n")
    with pytest.raises(SocraticError, match="duplicate video id 'v1'") as err:
        load_gallery(p)
    assert err.value.line == 4
    (tmp_path / "a.tsv").write_text("x")
    with pytest.raises(SocraticError, match=r"\.json\) or the 1k-A \.csv"):
        load_gallery(tmp_path / "a.tsv")


def test_uneven_caption_sets_score_as_they_are(tmp_path, clip):
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(_info([{"video_id": i, "split": "test"} for i in IDS],
                                  [{"video_id": i, "caption": c} for i, s in zip(IDS, SETS) for c in s])))
    ctx = Context()
    g = R.caption_gallery(p, ctx=ctx)
    assert g["captions"] == SETS and "1 to 3 captions" in ctx.warnings[0]


# ---------------------------------------------------------------- metrics

def _record(vid, ranking, clip_ranking=None, reranked=True):
    return {"id": vid, "outputs": {"video_id": vid, "ranking": ranking, "clip_ranking": clip_ranking or ranking,
                                   "reranked": reranked}, "warnings": []}


def test_metrics_against_reference(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(30)]
    recs = []
    for vid in ids:
        perm = list(rng.permutation(ids))
        recs.append(_record(vid, perm[:12], list(rng.permutation(ids))[:12], reranked=bool(rng.integers(2))))
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + json.dumps({"id": "bad", "error": "boom"}) + "\n")
    rep = evaluate(path, absent_rank=100)
    rows = {name: (n, m) for name, n, m in rep.rows}

    def ref(key, subset):
        ranks = [(r["outputs"][key].index(r["id"]) + 1) if r["id"] in r["outputs"][key] else 100 for r in subset]
        return {"R@1": 100 * sum(x <= 1 for x in ranks) / len(ranks), "R@5": 100 * sum(x <= 5 for x in ranks) /
                len(ranks), "R@10": 100 * sum(x <= 10 for x in ranks) / len(ranks),
                "MdR": statistics.median(ranks), "MnR": sum(ranks) / len(ranks)}

    speech = [r for r in recs if r["outputs"]["reranked"]]
    for name, key, subset in [("CLIP", "clip_ranking", recs), ("Socratic", "ranking", recs),
                              ("CLIP, with speech", "clip_ranking", speech),
                              ("Socratic, with speech", "ranking", speech)]:
        n, m = rows[name]
        assert n == len(subset)
        for k, v in ref(key, subset).items():
            assert math.isclose(m[k], v), (name, k)
    assert rep.failed == ["bad"] and "1 failed" in rep.warnings[0]
    assert metrics([1, 2, 3, 100]) == {"R@1": 25.0, "R@5": 75.0, "R@10": 75.0, "MdR": 2.5, "MnR": 26.5}


def test_predictions_bad_input(tmp_path):
    p = tmp_path / "runs.jsonl"
    p.write_text(json.dumps(_record("v0", ["v0"])) + "\n" + json.dumps(_record("v0", ["v1"])) + "\n")
    with pytest.raises(SocraticError, match="duplicate video id 'v0' \\(first on line 1\\)") as err:
        read_predictions(p)
    assert err.value.line == 2
    p.write_text(json.dumps({"id": "x", "outputs": {"answer": "no"}}) + "\n")
    with pytest.raises(SocraticError, match="outputs.video_id"):
        read_predictions(p)


def test_annotations_check_coverage(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(_info([{"video_id": i, "split": "test"} for i in IDS],
                                    [{"video_id": i, "caption": c} for i, s in zip(IDS, SETS) for c in s])))
    p = tmp_path / "runs.jsonl"
    p.write_text(json.dumps(_record("v0", ["v0", "v1"])) + "\n")
    with pytest.raises(SocraticError, match="3 video\\(s\\) of the gallery have no prediction"):
        evaluate(p, ann)
    rep = evaluate(p, ann, allow_missing=True, absent_rank=4)
    assert rep.rows[0][1] == 4 and rep.rows[1][2]["MnR"] == (1 + 4 * 3) / 4
    p.write_text(json.dumps(_record("zz", ["v0"])) + "\n")
    with pytest.raises(SocraticError, match="'zz' is not in"):
        evaluate(p, ann)


def test_write_items_finds_videos_and_never_overwrites(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(_info([{"video_id": i, "split": "test"} for i in IDS[:2]],
                                    [{"video_id": i, "caption": "c"} for i in IDS[:2]])))
    vids = tmp_path / "videos"
    vids.mkdir()
    (vids / "v0.mp4").write_bytes(b"x")
    with pytest.raises(SocraticError, match="1 of 2 videos have no file \\(first: v1"):
        write_items(ann, vids, tmp_path / "items.jsonl")
    (vids / "v1.avi").write_bytes(b"y")
    assert write_items(ann, vids, tmp_path / "items.jsonl") == 2
    rows = [json.loads(x) for x in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == IDS[:2] and rows[1]["video"].endswith("v1.avi")
    before = (tmp_path / "items.jsonl").read_bytes()
    with pytest.raises(SocraticError, match="already exists"):
        write_items(ann, vids, tmp_path / "items.jsonl")
    assert (tmp_path / "items.jsonl").read_bytes() == before


def test_cli_bad_gallery_is_one_line(tmp_path, run_cli):
    from socratic.media.sample import build_sample_video

    video = build_sample_video(tmp_path / "video0.mp4", [(Image.new("RGB", (64, 48), (200, 30, 30)), None, 1.0)],
                               fps=5, size=(64, 48), audio=False)
    bad = tmp_path / "test_videodatainfo.json"
    bad.write_text('{"videos": 3}')
    proc = run_cli("run", "pipelines/video_text_retrieval.yaml", "--input", f"video={video}", "--input",
                   f"gallery={bad}", "--profile", "offline", "--random-vlm", "--no-progress",
                   env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: node 'captions'") and "videodatainfo shape" in line
