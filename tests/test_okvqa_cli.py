"""OK-VQA end to end through `socratic okvqa` and `socratic eval vqa`, on tiny files in the official formats
made here: PICa memory from images or from .npy features, val questions with VinVL-style caption/tag TSVs,
answers from the packaged SmolLM2 (CLIP is a random stand-in), the official results JSON and its score."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from socratic.cli import app
from socratic.eval.vqa import question_accuracy
from socratic.pica.memory import ExampleMemory

pytestmark = pytest.mark.slow

TRAIN = [  # question_id, image_id, question, ten answers (annotator order)
    (101, 1, "What animal is this?", ["cat"] * 8 + ["kitten"] * 2),
    (102, 2, "What drink is in the cup?", ["coffee"] * 10),
    (103, 3, "What is this vehicle used for?", [""] + ["space travel"] * 9),  # empty first answer: invalid
    (104, 2, "What color is the cup?", ["white"] * 6 + ["cream"] * 4),
]
CAPTIONS = {1: [" A cat sleeping on a sofa. ", "a grey cat"], 2: ["A cup of coffee.\n"], 3: ["A rocket on a pad."]}
VAL = [  # question_id, image_id, question, ten answers
    (201, 11, "What sound does this animal make?", ["meow"] * 7 + ["purr"] * 3),
    (202, 12, "Which country grows this drink?", ["brazil"] * 5 + ["colombia"] * 5),
    (203, 13, "What is this?", ["clock"] * 10),  # its image is missing: the answer fails
]
PIPELINE = """
models:
  clip: {family: vlm, backend: open_clip, name: ViT-B-16, pretrained: openai}
  lm: {family: lm, backend: transformers, packaged: smollm2-135m-instruct}
inputs:
  image: {type: image}
  question: {type: text}
  caption: {type: text}
  tags: {type: texts, default: []}
nodes:
  select:
    type: pica_select
    params: {vlm: clip, memory: none, n_shot: 2, n_ensemble: 2}
    inputs: {question: inputs.question, image: inputs.image}
  prompts:
    type: pica_prompts
    inputs: {examples: select.examples, question: inputs.question, caption: inputs.caption, tags: inputs.tags}
  answer:
    type: pica_answer
    params: {lm: lm}
    inputs: {prompts: prompts.prompts}
outputs:
  answer: answer.answer
"""


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("okvqa")
    rng = np.random.default_rng(0)
    for folder, pattern, ids in (("train2014", "COCO_train2014_{:012d}.jpg", (1, 2, 3)),
                                 ("val2014", "COCO_val2014_{:012d}.jpg", (11, 12))):
        (d / folder).mkdir()
        for i in ids:
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(d / folder / pattern.format(i))

    def qa(rows, split):
        qs = {"questions": [{"question_id": q, "image_id": i, "question": t} for q, i, t, _ in rows]}
        anns = {"annotations": [{"question_id": q, "image_id": i, "question_type": "what", "answer_type": "other",
                                 "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                                             for k, a in enumerate(ans)]} for q, i, _, ans in rows]}
        (d / f"OpenEnded_mscoco_{split}2014_questions.json").write_text(json.dumps(qs))
        (d / f"mscoco_{split}2014_annotations.json").write_text(json.dumps(anns))

    qa(TRAIN, "train")
    qa(VAL, "val")
    (d / "captions_train2014.json").write_text(json.dumps({"annotations": [
        {"image_id": i, "id": 10 * i + k, "caption": c} for i, cs in CAPTIONS.items() for k, c in enumerate(cs)]}))
    (d / "vinvl_val.tsv").write_text('11\ta cat on a bed\n12\t[{"caption": "a cup of coffee", "conf": 0.9}]\n'
                                     "13\ta wall clock\n")
    (d / "tags_val.tsv").write_text('11\t[{"class": "cat", "conf": 0.9}, {"class": "bed", "conf": 0.5}]\n'
                                    "12\tcup, saucer\n")
    (d / "pica.yaml").write_text(PIPELINE)
    return d


@pytest.fixture(scope="module")
def memory(files):
    code, out = cli("okvqa", "build-memory", "--questions", files / "OpenEnded_mscoco_train2014_questions.json",
                    "--annotations", files / "mscoco_train2014_annotations.json",
                    "--captions", files / "captions_train2014.json", "--images", files / "train2014",
                    "--out", files / "memory", "--pipeline", files / "pica.yaml", "--random-vlm")
    assert code == 0, out
    assert "4 examples (3 with a question and an answer)" in out
    assert "warning: vlm" in out and "RANDOM weights" in out  # the stand-in says so
    return files / "memory"


def test_memory_from_official_files(memory):
    mem = ExampleMemory(memory)
    assert [it.question_id for it in mem.items] == [101, 102, 103, 104]
    assert mem.items[0].captions == CAPTIONS[1] and mem.items[1].captions == CAPTIONS[2]  # as is
    assert mem.items[0].answer == "cat" and mem.items[2].answer == "" and not mem.valid[2]
    assert np.array_equal(mem.image_features[1], mem.image_features[3])  # same image, same row


def test_memory_from_precomputed_features(files, memory):
    mem = ExampleMemory(memory)
    feats = np.stack([mem.image_features[2], mem.image_features[0], mem.image_features[1]]) * 3.0
    np.save(files / "feats.npy", feats.astype(np.float32))
    (files / "feat_ids.txt").write_text("COCO_train2014_000000000003.jpg\n1\n2\n")
    code, out = cli("okvqa", "build-memory", "--questions", files / "OpenEnded_mscoco_train2014_questions.json",
                    "--annotations", files / "mscoco_train2014_annotations.json",
                    "--captions", files / "captions_train2014.json", "--features", files / "feats.npy",
                    "--feature-ids", files / "feat_ids.txt", "--out", files / "memory_npy",
                    "--pipeline", files / "pica.yaml", "--random-vlm")
    assert code == 0, out
    other = ExampleMemory(files / "memory_npy")
    assert np.allclose(other.image_features, mem.image_features, atol=1e-6)  # rows found by id, normalised
    assert np.array_equal(np.asarray(other.question_features), np.asarray(mem.question_features))


def test_questions_answers_export_and_score(files, memory):
    val = files / "val.jsonl"
    code, out = cli("okvqa", "questions", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--images", files / "val2014", "--captions", files / "vinvl_val.tsv",
                    "--tags", files / "tags_val.tsv", "--out", val)
    assert code == 0 and "3 questions" in out, out
    rows = [json.loads(x) for x in val.read_text().splitlines()]
    assert rows[0]["caption"] == "a cat on a bed" and rows[0]["tags"] == ["cat", "bed"]
    assert rows[1]["caption"] == "a cup of coffee" and rows[1]["tags"] == ["cup", "saucer"]
    assert rows[2]["tags"] == [] and rows[2]["image"].endswith("COCO_val2014_000000000013.jpg")

    pred = files / "pred.jsonl"
    code, out = cli("okvqa", "answer", "--dataset", val, "--memory", memory, "--out", pred,
                    "--pipeline", files / "pica.yaml", "--random-vlm", "--no-progress")
    assert code == 3, out  # question 203 failed: not a success
    assert f"2 done, 0 skipped, 1 failed, 0 retried → {pred}" in out and "RANDOM weights" in out
    recs = {r["question_id"]: r for r in map(json.loads, pred.read_text().splitlines())}
    assert set(recs) == {201, 202, 203} and "error" in recs[203] and "answer" in recs[201]

    results = files / "results.json"
    code, out = cli("okvqa", "export", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--predictions", pred, "--out", results)
    assert code == 0, out
    assert '"written": 3, "answered": 2, "empty": 1' in out
    assert 'question(s) without an answer written as "": 203' in out
    got = json.loads(results.read_text())
    assert [r["question_id"] for r in got] == [201, 202, 203] and got[2]["answer"] == ""
    assert [r["answer"] for r in got[:2]] == [recs[201]["answer"], recs[202]["answer"]]

    code, out = cli("eval", "vqa", "--annotations", files / "mscoco_val2014_annotations.json",
                    "--questions", files / "OpenEnded_mscoco_val2014_questions.json", "--predictions", results)
    assert code == 0, out
    accs = [question_accuracy(r["answer"], v[3]) for r, v in zip(got, VAL)]
    assert f"Overall accuracy: {round(100 * sum(accs) / 3, 2):.2f}" in out

    code, out = cli("okvqa", "export", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--predictions", pred, "--out", results)
    assert code == 2 and "exists" in out and len(out.strip().splitlines()) == 1  # never overwritten


def test_bad_input_one_line(files, tmp_path):
    (tmp_path / "bad.tsv").write_text("11\tok\nno tab here\n")
    code, out = cli("okvqa", "questions", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--captions", tmp_path / "bad.tsv", "--out", tmp_path / "v.jsonl")
    assert code == 2 and "bad.tsv:2: expected 'image_id<TAB>value'" in out and len(out.strip().splitlines()) == 1
    (tmp_path / "few.tsv").write_text("11\tonly one\n")
    code, out = cli("okvqa", "questions", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--captions", tmp_path / "few.tsv", "--out", tmp_path / "v.jsonl")
    assert code == 2 and "2 image(s) of the questions have no caption" in out
    common = ["okvqa", "build-memory", "--questions", files / "OpenEnded_mscoco_train2014_questions.json",
              "--annotations", files / "mscoco_train2014_annotations.json",
              "--captions", files / "captions_train2014.json", "--pipeline", files / "pica.yaml", "--random-vlm"]
    code, out = cli(*common, "--out", tmp_path / "m")
    assert code == 2 and "give --images DIR, or --features" in out
    np.save(tmp_path / "f.npy", np.ones((1, 64), dtype=np.float32))
    (tmp_path / "ids.txt").write_text("1\n")
    code, out = cli(*common, "--features", tmp_path / "f.npy", "--feature-ids", tmp_path / "ids.txt",
                    "--out", tmp_path / "m")
    assert code == 2 and "2 training image(s) have no feature row" in out and not (tmp_path / "m").exists()
    pred = tmp_path / "p.jsonl"
    pred.write_text('{"question_id": 201, "answer": "meow"}\n{broken\n')
    code, out = cli("okvqa", "export", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--predictions", pred, "--out", tmp_path / "r.json")
    assert code == 2 and "p.jsonl:2: invalid JSON" in out and not (tmp_path / "r.json").exists()


def test_malformed_official_file_is_one_line(files, tmp_path):
    (tmp_path / "q.json").write_text(json.dumps({"questions": [{"image_id": 11, "question": "no id?"}]}))
    code, out = cli("okvqa", "questions", "--questions", tmp_path / "q.json", "--out", tmp_path / "v.jsonl")
    assert code == 2 and "q.json: questions[0]: missing 'question_id'" in out and len(out.strip().splitlines()) == 1


# -- the documented routes (issue 22) ------------------------------------------------------------------

def _val(files, tmp_path):
    val = tmp_path / "val.jsonl"
    code, out = cli("okvqa", "questions", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                    "--images", files / "val2014", "--captions", files / "vinvl_val.tsv", "--out", val)
    assert code == 0, out
    return val


def test_answer_says_before_any_model_loads_when_the_memory_is_too_small(files, memory, tmp_path):
    val = _val(files, tmp_path)
    # the shipped pipeline's defaults (n=16, m=5) on a 4-example memory: advice naming the real flags
    code, out = cli("okvqa", "answer", "--dataset", val, "--memory", memory, "--out", tmp_path / "p.jsonl",
                    "--random-vlm", "--profile", "offline")
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "holds 4 examples, fewer than n·m = 16·5 = 80" in out and "--n-shot" in out and "--n-ensemble" in out
    assert "RANDOM" not in out and not (tmp_path / "p.jsonl").exists()  # nothing loaded, nothing written
    code, out = cli("okvqa", "answer", "--dataset", val, "--memory", memory, "--out", tmp_path / "p.jsonl",
                    "--pipeline", files / "pica.yaml", "--n-shot", "3", "--random-vlm")
    assert code == 2 and "fewer than n·m = 3·2 = 6" in out and "e.g. --n-shot 2" in out


def test_answer_flags_seed_trace_report_and_resume_advice(files, memory, tmp_path):
    from socratic.report.load import load

    val = _val(files, tmp_path)
    pred, html = tmp_path / "pred.jsonl", tmp_path / "pred.html"
    args = ["okvqa", "answer", "--dataset", val, "--memory", memory, "--out", pred, "--pipeline",
            files / "pica.yaml", "--random-vlm", "--no-progress", "--n-shot", "1", "--n-ensemble", "3"]
    code, out = cli(*args, "--seed", "2", "--trace", "--report", html)
    assert code == 3 and f"wrote {html}" in out, out
    recs = {r["question_id"]: r for r in map(json.loads, pred.read_text().splitlines())}
    select = next(n for n in recs[201]["trace"]["nodes"] if n["node"] == "select")
    assert [len(group) for group in select["outputs"]["examples"]] == [1, 1, 1]  # m=3 prompts of n=1 example
    doc = load(pred)  # what `socratic report` reads: one row per question, its answer among the outputs
    rows = {r["id"]: r for r in doc.rows}
    assert set(rows) == {201, 202, 203} and rows[201]["outputs"]["answer"] == recs[201]["answer"]
    assert "error" in rows[203] and "a cup of coffee" in html.read_text()
    code, out = cli("report", pred, "-o", tmp_path / "again.html")
    assert code == 0, out
    # another seed on the same output: the advice names flags this command has
    code, out = cli(*args, "--seed", "3")
    assert code == 2 and "--resume-anyway" in out and "--restart" in out
    code, out = cli(*args, "--seed", "3", "--restart")
    assert code == 3 and "2 done, 0 skipped, 1 failed" in out


def test_captions_in_one_format_for_questions_and_build_memory(files, tmp_path):
    from socratic.pica.okvqa import read_captions

    coco = tmp_path / "captions_val2014.json"  # the COCO captions JSON, as build-memory takes it
    coco.write_text(json.dumps({"annotations": [{"image_id": 11, "caption": "a cat"},
                                                {"image_id": 11, "caption": "a kitten"},
                                                {"image_id": 12, "caption": "coffee"},
                                                {"image_id": 13, "caption": "a clock"}]}))
    results = tmp_path / "predicted.json"  # a captioner's COCO results JSON
    results.write_text(json.dumps([{"image_id": 11, "caption": "a cat"}, {"image_id": 12, "caption": "coffee"},
                                   {"image_id": 13, "caption": "a clock"}]))
    for captions in (coco, results):
        out_file = tmp_path / f"{captions.stem}.jsonl"
        code, out = cli("okvqa", "questions", "--questions", files / "OpenEnded_mscoco_val2014_questions.json",
                        "--images", files / "val2014", "--captions", captions, "--out", out_file)
        assert code == 0, out
        assert [json.loads(x)["caption"] for x in out_file.read_text().splitlines()] == ["a cat", "coffee",
                                                                                         "a clock"]
    tsv = tmp_path / "train_captions.tsv"  # and a TSV, as questions takes it, for build-memory
    tsv.write_text("1\ta cat on a sofa\n2\ta cup\n3\ta rocket\n")
    assert read_captions(tsv) == {1: ["a cat on a sofa"], 2: ["a cup"], 3: ["a rocket"]}
    code, out = cli("okvqa", "build-memory", "--questions", files / "OpenEnded_mscoco_train2014_questions.json",
                    "--annotations", files / "mscoco_train2014_annotations.json", "--captions", tsv,
                    "--images", files / "train2014", "--out", tmp_path / "mem", "--pipeline", files / "pica.yaml",
                    "--random-vlm")
    assert code == 0, out
    assert [it.captions for it in ExampleMemory(tmp_path / "mem").items][:2] == [["a cat on a sofa"], ["a cup"]]


def test_kbvqa_example_says_its_clip_is_a_random_stand_in(files, memory, repo):
    import subprocess
    import sys

    image = files / "val2014" / "COCO_val2014_000000000011.jpg"
    r = subprocess.run([sys.executable, "examples/kbvqa.py", "--memory", str(memory), "--image", str(image),
                        "--question", "What is this?", "--caption", "A cat on a bed.", "--profile", "offline",
                        "--random-vlm", "--n-shot", "2", "--n-ensemble", "2"], capture_output=True, text=True,
                       cwd=repo, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and "RANDOM weights" in r.stderr
