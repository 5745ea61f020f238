"""PICa details the reference fixes (methods.md §2), each on designed cases: example captions used as is,
exact-tie order, the score rule around newline tokens, the invalid-example quirk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socratic.errors import SocraticError
from socratic.models.base import Completion
from socratic.pica.core import PICaSettings
from socratic.pica.ensemble import candidate, completion_score, generate_answers, scored_tokens
from socratic.pica.memory import ExampleMemory, Item, read_training_set, top_k
from socratic.pica.okvqa import okvqa_training_set
from socratic.pica.prompt import PromptFormat

HEADER = "Please answer the question according to the above context.\n===\n"


def _memory(tmp_path, items, feats=None):
    n = len(items)
    f = np.eye(n, 4, dtype=np.float32) + 0.1 if feats is None else feats
    return ExampleMemory.write(tmp_path / "mem", items, f, f)


# ---------------------------------------------------------------- captions as they are

def test_coco_captions_reach_the_prompt_unstripped(tmp_path):
    raw = [" A man on a horse. ", "Two horses in a field.\n"]  # COCO has both kinds
    (tmp_path / "q.json").write_text(json.dumps({"questions": [{"question_id": 1, "image_id": 7,
                                                                "question": "What breed?"}]}))
    (tmp_path / "a.json").write_text(json.dumps({"annotations": [{"question_id": 1, "image_id": 7, "answers": [
        {"answer": "arabian", "answer_id": 1}]}]}))
    (tmp_path / "c.json").write_text(json.dumps({"annotations": [{"image_id": 7, "caption": c} for c in raw]}))
    okvqa_training_set(tmp_path / "q.json", tmp_path / "a.json", tmp_path / "c.json", "imgs", tmp_path / "t.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    rows[0]["image_embedding"] = [1.0, 0.0]
    del rows[0]["image"]
    recs, _ = read_training_set(rows)
    assert recs[0].item.captions == raw
    mem = ExampleMemory.write(tmp_path / "mem", [recs[0].item], np.ones((1, 2)), np.ones((1, 2)))
    for k, cap in enumerate(raw):
        shots = mem.shots([0], 1, 1, np.random.default_rng(0), caption_choice="first" if k == 0 else "random")
        if k == 1 and shots[0][0][0] != cap:
            continue  # the random draw took the other caption; "first" already covered it
        prompt = PromptFormat.default().build(shots[0], "ctx", "Q?")
        assert prompt == (HEADER + f"Context: {cap}\n===\nQ: What breed?\nA: arabian\n\n===\n"
                          + "Context: ctx\n===\nQ: Q?\nA:")


# ---------------------------------------------------------------- exact ties

def test_exact_ties_put_the_later_row_first():
    assert top_k(np.array([[0.9, 0.5, 0.9, 0.9]]), 4).tolist() == [[3, 2, 0, 1]]
    assert top_k(np.array([[0.2, 0.2, 0.2]]), 2).tolist() == [[2, 1]]


def test_memory_selection_ties_on_identical_rows(tmp_path):
    items = [Item(f"q{k}", f"a{k}", [f"c{k}"], [], k) for k in range(5)]
    feats = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8], [1, 0]], dtype=np.float32)  # rows 0, 2, 4 identical
    mem = _memory(tmp_path, items, feats)
    got = mem.select(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), 4)
    assert got.tolist() == [[4, 2, 0, 3]]
    s = mem.scores(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert s[0, 0] == s[0, 2] == s[0, 4]  # the ties are exact


# ---------------------------------------------------------------- the score rule

@pytest.mark.parametrize("tokens, lps, n, total", [
    ([" yes", "\n", " no"], [-0.5, -1.0, -2.0], 1, -0.5),          # a bare newline token is not counted
    ([" Paris", ".\n"], [-0.25, -0.5], 2, -0.75),                   # a merged ".\n" token counts
    ([" milk", "\n\n", "Q", ":"], [-1.0, -0.5, -2.0, -4.0], 2, -1.5),  # "\n\n" counts; nothing after it
    ([".\n", "\n"], [-0.125, -8.0], 1, -0.125),
    (["\n"], [-3.0], 0, 0.0),
    ([" red", " car"], [-0.25, -0.5], 2, -0.75),                    # no newline: every token
])
def test_score_rule(tokens, lps, n, total):
    assert scored_tokens(tokens, len(lps)) == n
    assert completion_score(tokens, lps) == total


def test_candidate_keeps_the_merged_token_in_the_score():
    c = candidate(Completion(" Paris.\nQ:", [-0.25, -0.5, -3.0], [" Paris", ".\n", "Q:"]))
    assert (c.text, c.answer, c.score, c.scored) == (" Paris.", "paris", -0.75, " Paris.\n")


@pytest.mark.slow
def test_real_lm_scores_by_the_rule():
    """The packaged SmolLM2, asked without a stop string: every token before the bare "\\n" is summed."""
    from socratic.models.loader import ModelSpec, load_model

    lm = load_model(ModelSpec.from_dict("lm", {"family": "lm", "backend": "transformers",
                                               "packaged": "smollm2-135m-instruct"}))
    prompts = [HEADER + "Context: A cat on a bed.\n===\nQ: What animal is this?\nA: cat\n\n===\n"
               "Context: A dog in a park.\n===\nQ: What animal is this?\nA:",
               "Q: What is the capital of France?\nA: Paris.\nQ: What is the capital of Italy?\nA:"]
    res = generate_answers(lm, [prompts])[0]
    for p, c in zip(prompts, res.candidates):
        raw = lm.generate([p], max_new_tokens=5, temperature=0.0, logprobs=True)[0][0]
        n = scored_tokens(raw.tokens, len(raw.token_logprobs))
        assert c.scored == "".join(raw.tokens[:n]) and "\n" not in c.text
        assert c.score == pytest.approx(sum(raw.token_logprobs[:n]), abs=1e-4)  # batched vs alone
        assert c.score == pytest.approx(sum(lm.score([p], [c.scored])[0]), abs=2e-3)
    assert res.answer == res.candidates[res.best].answer and res.answer


def test_only_newline_stop_is_supported():
    with pytest.raises(SocraticError, match="newline"):
        generate_answers(None, [["p"]], stop=(".",))


# ---------------------------------------------------------------- the invalid-example quirk

def test_invalid_example_replace_or_reference_quirk(tmp_path):
    items = [Item("", "a0", ["caption of the invalid one"], [], 0), Item("q1", "a1", ["c1"], [], 1)]
    mem = _memory(tmp_path, items)
    rep = mem.shots([0], 1, 1, np.random.default_rng(0), caption_choice="first")
    ref = mem.shots([0], 1, 1, np.random.default_rng(0), caption_choice="first", invalid_example="reference")
    assert rep == [[("c1", "q1", "a1")]]                            # swapped whole (default)
    assert ref == [[("caption of the invalid one", "q1", "a1")]]    # the reference's mix
    with pytest.raises(SocraticError, match="invalid_example"):
        PICaSettings.from_dict({"invalid_example": "keep"})
