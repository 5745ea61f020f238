"""PICa core: prompt bytes, example selection against brute force, memory storage, ensembling rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socratic.errors import SocraticError
from socratic.models.base import Completion
from socratic.paths import REPO_DIR
from socratic.pica.core import PICaSettings, build_prompts, item_rng, select_scored_shots, select_shots
from socratic.pica.ensemble import Candidate, candidate, completion_score, pick, process_answer
from socratic.pica.memory import ExampleMemory, Item, read_training_set, top_k
from socratic.pica.prompt import PromptFormat, image_context

# methods.md §2, written out by hand
HEADER = "Please answer the question according to the above context.\n===\n"


def example_block(caption, question, answer):
    return "Context: %s\n===\n" % caption + "Q: %s\nA: %s\n\n===\n" % (question, answer)


def query_block(caption, question):
    return "Context: %s\n===\n" % caption + "Q: %s\nA:" % question


# ---------------------------------------------------------------- prompt bytes

def test_template_files_are_the_spec_bytes():
    d = REPO_DIR / "prompts"
    assert (d / "pica_header.txt").read_bytes() == HEADER.encode()
    assert (d / "pica_example.txt").read_bytes() == b"Context: {caption}\n===\nQ: {question}\nA: {answer}\n\n===\n"
    assert (d / "pica_query.txt").read_bytes() == b"Context: {caption}\n===\nQ: {question}\nA:"


def test_prompt_byte_for_byte():
    shots = [("A man riding a wave on top of a surfboard.", "What sport is this?", "surfing"),
             ("Two dogs {question} on a couch.", "What breed is the dog?", "")]
    got = PromptFormat.default().build(shots, "A red fire hydrant.. hydrant, street", "Who invented this?")
    want = (HEADER + example_block(*shots[0]) + example_block(*shots[1])
            + query_block("A red fire hydrant.. hydrant, street", "Who invented this?"))
    assert got == want
    assert got.encode() == want.encode()
    assert got.endswith("\nA:") and "{question}" in got  # a caption's braces are never substituted


def test_zero_shot_prompt():
    assert PromptFormat.default().build([], "c", "q?") == HEADER + "Context: c\n===\nQ: q?\nA:"


def test_image_context_tags():
    assert image_context("A dog.", ["dog", "grass"]) == "A dog.. dog, grass"  # reference behaviour
    assert image_context("A dog.", ["dog", "grass"], tag_join="clean") == "A dog. dog, grass"
    assert image_context("A dog", ["dog"]) == "A dog. dog"
    assert image_context("A dog", None) == image_context("A dog", []) == "A dog"
    with pytest.raises(SocraticError, match="tag_join"):
        image_context("x", ["y"], tag_join="fancy")


def test_build_prompts_m_prompts():
    shots = [[("c1", "q1", "a1")], [("c2", "q2", "a2")]]
    ps = build_prompts(shots, "cap", "Q?", ["t1"])
    assert ps == [HEADER + example_block("c1", "q1", "a1") + query_block("cap. t1", "Q?"),
                  HEADER + example_block("c2", "q2", "a2") + query_block("cap. t1", "Q?")]


# ---------------------------------------------------------------- memory and selection

def _memory(tmp_path, n=300, d=24, seed=0, items=None):
    rng = np.random.default_rng(seed)
    q, i = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    items = items or [Item(f"question {k}?", f"answer {k}", [f"caption {k} a", f"caption {k} b"], [f"tag{k}"], k)
                      for k in range(n)]
    return ExampleMemory.write(tmp_path / "mem", items, q, i, {"source": "test"}), q, i


def _brute_force(qm, im, qt, it, k, wq=1.0, wi=1.0):
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    scores = [(wq * float(np.dot(unit(qm[j]), unit(qt))) + wi * float(np.dot(unit(im[j]), unit(it))), j)
              for j in range(len(qm))]
    return [j for s, j in sorted(scores, key=lambda sj: (-sj[0], sj[1]))[:k]]


@pytest.mark.parametrize("mode, wq, wi", [("question_image", 1, 1), ("question", 1, 0), ("image", 0, 1)])
def test_selection_matches_brute_force(tmp_path, mode, wq, wi):
    mem, qm, im = _memory(tmp_path)
    rng = np.random.default_rng(1)
    qt, it = rng.normal(size=(4, qm.shape[1])), rng.normal(size=(4, qm.shape[1]))
    got = mem.select(qt, it, 80, mode=mode)
    assert got.shape == (4, 80)
    for b in range(4):
        assert got[b].tolist() == _brute_force(qm, im, qt[b], it[b], 80, wq, wi)


def test_scored_shots_carry_each_ranked_rows_similarity(tmp_path):
    mem, qm, im = _memory(tmp_path)
    rng = np.random.default_rng(2)
    qt, it = rng.normal(size=(2, qm.shape[1])), rng.normal(size=(2, qm.shape[1]))
    s = PICaSettings(n_shot=4, n_ensemble=3, caption_choice="first")
    shots, sims = select_scored_shots(mem, qt, it, ["a?", "b?"], s)
    assert shots == select_shots(mem, qt, it, ["a?", "b?"], s)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    for b in range(2):
        rows = _brute_force(qm, im, qt[b], it[b], 12)
        want = [float(np.dot(unit(qm[j]), unit(qt[b])) + np.dot(unit(im[j]), unit(it[b]))) for j in rows]
        assert np.allclose(np.ravel(sims[b]), want, atol=1e-4)
        assert [len(g) for g in sims[b]] == [4, 4, 4]
        assert shots[b][0][0][1] == mem.items[rows[0]].question  # prompt 0 takes the most similar rows
    _, random_sims = select_scored_shots(mem, None, None, ["a?"], PICaSettings(n_shot=2, n_ensemble=1, mode="random"))
    assert random_sims == [None]


def test_memory_is_memory_mapped_and_reopens(tmp_path):
    mem, qm, _ = _memory(tmp_path, n=10)
    assert isinstance(mem.features, np.memmap)
    again = ExampleMemory(tmp_path / "mem")
    assert np.array_equal(np.asarray(again.features), np.asarray(mem.features))
    assert again.items[3].captions == ["caption 3 a", "caption 3 b"]
    assert np.allclose(np.linalg.norm(again.question_features, axis=1), 1, atol=1e-6)


def test_top_k_ties_later_index_first():
    row = np.array([[0.5, 0.9, 0.7, 0.9, 0.7, 0.7, 0.1]])
    assert top_k(row, 4).tolist() == [[3, 1, 5, 4]]  # 0.7 tied at the boundary: rows 5, 4, 2 -> 5 and 4 kept
    assert top_k(row, 7).tolist() == [[3, 1, 5, 4, 2, 0, 6]]


def test_selection_needs_enough_examples(tmp_path):
    mem, qm, im = _memory(tmp_path, n=5)
    with pytest.raises(SocraticError, match="fewer than n·m = 6"):
        mem.select(qm[:1], im[:1], 6)
    with pytest.raises(SocraticError, match="dims"):
        mem.select(qm[:1, :3], im[:1], 2)


def test_shots_chunks_and_invalid_replacement(tmp_path):
    items = [Item(f"q{k}", f"a{k}", [f"c{k}"], [], k) for k in range(8)]
    items[2] = Item("q2", "", ["c2"], [], 2)  # empty answer: replaced by a random valid example
    items[5] = Item("", "a5", ["c5"], [], 5)  # empty question: replaced too
    mem, _, _ = _memory(tmp_path, n=8, items=items)
    shots = mem.shots([7, 6, 2, 1, 0, 5], n=2, m=3, rng=np.random.default_rng(0), caption_choice="first")
    assert [len(p) for p in shots] == [2, 2, 2]
    assert shots[0] == [("c7", "q7", "a7"), ("c6", "q6", "a6")]  # ranks 0..n-1, most similar first
    assert shots[1][1] == ("c1", "q1", "a1") and shots[2][0] == ("c0", "q0", "a0")
    for c, q, a in (shots[1][0], shots[2][1]):
        assert q and a and q not in ("q2", "") and c == "c" + q[1:]


def test_random_mode_is_uniform_with_replacement_and_seeded(tmp_path):
    mem, _, _ = _memory(tmp_path, n=4)
    s = PICaSettings(n_shot=30, n_ensemble=1, mode="random", caption_choice="first")
    a = select_shots(mem, None, None, ["what?"], s)
    b = select_shots(mem, None, None, ["what?"], s)
    assert a == b  # same seed and item -> same draws
    qs = [q for (_, q, _) in a[0][0]]
    assert len(set(qs)) < len(qs) and set(qs) <= {f"question {k}?" for k in range(4)}  # replacement
    c = select_shots(mem, None, None, ["what?"], PICaSettings(**{**s.__dict__, "seed": 1}))
    assert c != a


def test_random_caption_choice_draws_among_captions(tmp_path):
    mem, qm, im = _memory(tmp_path, n=6)
    got = set()
    for seed in range(30):
        shots = mem.shots([0] * 4, n=4, m=1, rng=item_rng(seed, "x"))
        got |= {c for c, _, _ in shots[0]}
    assert got == {"caption 0 a", "caption 0 b"}


def test_read_training_set_errors(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text('{"question": "q", "answers": ["a"], "caption": "c", "image": "nope.jpg"}\n')
    with pytest.raises(SocraticError, match=r"train.jsonl:1: image not found"):
        read_training_set(p)
    p.write_text('{"question": "q", "answers": ["a"], "caption": "c", "image_embedding": [1, 0]}\n{bad\n')
    with pytest.raises(SocraticError, match=r"train.jsonl:2: invalid JSON"):
        read_training_set(p)
    p.write_text('{"question": "q", "answers": ["a"], "image_embedding": [1, 0]}\n')
    with pytest.raises(SocraticError, match="caption"):
        read_training_set(p)
    p.write_text(json.dumps({"question": "q", "answers": [{"answer": "first"}, {"answer": "x"}],
                             "caption": ["c1", "c2"], "image_embedding": [1, 0]}) + "\n")
    recs, digest = read_training_set(p)
    assert recs[0].item.answer == "first" and recs[0].item.captions == ["c1", "c2"]
    assert len(digest) == 64


# ---------------------------------------------------------------- ensembling

def test_process_answer_reference_rule():
    assert process_answer(" The Eiffel Tower.") == "eiffel tower"
    assert process_answer("to a  park, an area") == "park area"
    assert process_answer("") == ""


def test_completion_score_stops_at_newline():
    assert completion_score([" yes", "\n", " no"], [-0.5, -1.0, -2.0]) == -0.5
    assert completion_score([" red", " car"], [-0.25, -0.5]) == -0.75


def test_pick_max_first_wins_ties_not_pooled():
    cs = [Candidate("a", "cat", -2.0), Candidate("b", "dog", -1.0), Candidate("c", "dog", -1.0),
          Candidate("d", "cat", -1.5)]
    assert pick(cs) == 1  # max; prompt 2 ties and loses; "cat" appearing twice is not pooled
    assert pick([Candidate("", "", 0.0), Candidate("x", "x", -0.1)]) == 0  # empty answer can win (reference)
    assert pick([Candidate("", "", 0.0), Candidate("x", "x", -0.1)], skip_empty=True) == 1


def test_candidate_from_completion():
    c = candidate(Completion(" The Dog.", [-0.5, -0.25, -0.25], [" The", " Dog", "."]))
    assert (c.text, c.answer, c.score) == (" The Dog.", "dog", -1.0)
    with pytest.raises(SocraticError, match="log-probs"):
        candidate(Completion(" dog", [], []))


# ---------------------------------------------------------------- the shipped pipeline

def test_pipeline_yaml_prompts_and_defaults_are_the_paper():
    from socratic.engine.pipeline import Pipeline

    p = Pipeline.from_yaml(REPO_DIR / "pipelines" / "pica_okvqa.yaml")
    p.nodes["select"].params["memory"] = __file__  # the shipped file names a memory the user provides
    plan = p.validate()
    pr = plan.params["prompts"]
    assert pr["header"] == HEADER and pr["tag_join"] == "faithful"
    fmt = PromptFormat(pr["header"], pr["example"], pr["query"])
    assert fmt.build([("c", "q", "a")], "t", "Q") == HEADER + example_block("c", "q", "a") + query_block("t", "Q")
    sel = plan.params["select"]
    assert (sel["n_shot"], sel["n_ensemble"], sel["mode"], sel["caption_choice"]) == (16, 5, "question_image",
                                                                                      "random")
    assert plan.params["answer"]["max_new_tokens"] == 5


def test_given_caption_rewires_and_drops_the_captioner():
    from socratic.pica.api import PICa

    pica = PICa.from_yaml(REPO_DIR / "pipelines" / "pica_okvqa.yaml", memory=__file__)
    p = pica._variant(True, False).pipeline
    assert p.nodes["prompts"].inputs["caption"] == "inputs.caption"
    assert set(p.nodes) == {"select", "prompts", "answer"} and set(p.models) == {"clip", "lm"}
    assert p.outputs["caption"] == "inputs.caption" and set(p.inputs) == {"image", "question", "caption", "tags"}
    b = pica._variant(True, True).pipeline
    assert b.nodes["prompts"].inputs["tags"] == "inputs.tags" and "tags" in b.inputs
    # the original is untouched: the included captioner's nodes, by path
    assert pica.pipeline.nodes["prompts"].inputs["caption"] == "caption/rerank.best"
    assert pica.pipeline.nodes["caption/captions"].params["n"] == 10


def test_okvqa_conversion(tmp_path):
    from socratic.pica.okvqa import okvqa_questions, okvqa_training_set

    (tmp_path / "q.json").write_text(json.dumps({"questions": [{"question_id": 5, "image_id": 9, "question": "Why?"}]}))
    (tmp_path / "a.json").write_text(json.dumps({"annotations": [{"question_id": 5, "image_id": 9, "answers": [
        {"answer": "rain", "answer_id": 1}, {"answer": "snow", "answer_id": 2}]}]}))
    (tmp_path / "c.json").write_text(json.dumps({"annotations": [{"image_id": 9, "caption": " A wet street. "},
                                                                 {"image_id": 9, "caption": "Rain."}]}))
    assert okvqa_training_set(tmp_path / "q.json", tmp_path / "a.json", tmp_path / "c.json", "imgs",
                              tmp_path / "train.jsonl") == 1
    row = json.loads((tmp_path / "train.jsonl").read_text())
    assert row == {"question_id": 5, "image": "imgs/COCO_train2014_000000000009.jpg", "question": "Why?",
                   "answers": ["rain", "snow"], "caption": [" A wet street. ", "Rain."]}
    (tmp_path / "val").mkdir()
    okvqa_questions(tmp_path / "q.json", tmp_path / "val", tmp_path / "val.jsonl", captions={9: "cap"})
    assert json.loads((tmp_path / "val.jsonl").read_text())["caption"] == "cap"
    with pytest.raises(SocraticError, match="'annotations' list"):
        okvqa_training_set(tmp_path / "q.json", tmp_path / "q.json", tmp_path / "c.json", "i", tmp_path / "x")
