"""lm_choose: the letter rules, the real packaged SmolLM2 on a designed set (the answering fact in the context),
an OpenAI-compatible server without log-probs (a loopback HTTP server), bad items as per-item errors of a dataset
run, and the context thinned to fit."""

from __future__ import annotations

import json

import pytest

from socratic.context import Context
from socratic.errors import SocraticError
from socratic.models.lm_openai import OpenAILM
from socratic.models.loader import ModelSpec, load_model
from socratic.nodes.lm_choose import build_prompt, default_template, letters_phrase, lm_choose, parse_letter
from support.mc_items import designed_items
from test_lm_openai import completion_json, scripted_server

SMOL = {"family": "lm", "backend": "transformers", "packaged": "smollm2-135m-instruct", "device": "cpu"}


# ---------------------------------------------------------------- the letter rules (no model)

@pytest.mark.parametrize("reply, rule, anchor, n, want", [
    ("B", "auto", None, 5, 1),
    ("  (C) because the mug is red", "auto", None, 5, 2),
    ("**D**", "auto", None, 5, 3),
    ("E.", "auto", None, 5, 4),
    ("The answer is E.", "auto", None, 5, 4),
    ("I think C is right", "auto", None, 5, 2),
    ("A man walks in", "auto", None, 5, None),  # the article, not option A
    ("A man walks in, so B", "auto", None, 5, 1),
    ("Apples", "auto", None, 5, None),
    ("F", "auto", None, 5, None),  # not an option of five
    ("D", "auto", None, 3, None),
    ("", "auto", None, 5, None),
    ("Banana", "first", None, 5, 1),  # LLoVi's rule takes the first character as it is
    (" C", "first", None, 5, 2),
    ("(C)", "first", None, 5, None),
    ("Sure. The most likely answer is (D)", "anchor", "answer is (", 5, 3),
    ("The most likely answer is (D)", "auto", "answer is (", 5, 3),
    ("no anchor here: B", "anchor", "answer is (", 5, None),
    ("no anchor here: B", "auto", "answer is (", 5, 1),  # auto goes on to the first letter standing alone
])
def test_parse_letter_rules(reply, rule, anchor, n, want):
    assert parse_letter(reply, n, rule, anchor) == want


def test_prompt_labels_options_and_keeps_time_order():
    item = designed_items()[0]
    p = build_prompt(default_template(), item.context, item.question, item.options)
    assert item.context in p and f"Question: {item.question}" in p
    assert "A. red\nB. blue\nC. green\nD. yellow\nE. white" in p
    assert "(A, B, C, D or E)" in p and p.endswith("Answer:")
    assert letters_phrase(3) == "A, B or C" and letters_phrase(1) == "A"


# ---------------------------------------------------------------- the real SmolLM2

@pytest.fixture(scope="module")
def smol():
    return load_model(ModelSpec.from_dict("lm", SMOL))


def choose(lm, items, **params):
    ctx = Context(node="choose")
    out = lm_choose([it.question for it in items], [list(it.options) for it in items],
                    [it.context for it in items], lm=lm, ctx=ctx, **params)
    return out, ctx.warnings


def accuracy(out, items):
    return sum(c == it.answer for c, it in zip(out["choice"], items)) / len(items)


@pytest.mark.slow
def test_smollm2_scores_pick_the_fact_in_the_context(smol):
    items = designed_items()
    assert len(items) >= 20 and {it.answer for it in items} == set(range(5))
    out, warnings = choose(smol, items)  # mode auto: this LM scores
    assert set(out["decided_by"]) == {"score"} and not warnings
    assert all(len(s) == 5 and k == max(range(5), key=lambda j: (s[j], -j))
               for s, k in zip(out["scores"], out["choice"]))
    assert [chr(65 + k) for k in out["choice"]] == out["letter"]
    # measured: 20/24 (cloze, chat, mean log-prob per token); chance is 1/5
    assert accuracy(out, items) >= 0.75


@pytest.mark.slow
def test_smollm2_letter_mode_never_ends_without_a_choice(smol):
    items = designed_items()[:6]
    out, warnings = choose(smol, items, mode="letter", max_new_tokens=8)
    assert set(out["decided_by"]) <= {"letter", "fallback_score"}
    assert None not in out["choice"] and all(out["reply"][i] for i in range(len(items)))
    for k, how in enumerate(out["decided_by"]):
        if how == "letter":
            assert parse_letter(out["reply"][k], 5) == out["choice"][k] and out["scores"][k] == []
        else:
            assert parse_letter(out["reply"][k], 5) is None and len(out["scores"][k]) == 5
    fallbacks = out["decided_by"].count("fallback_score")
    assert bool(fallbacks) == any("decided by scores" in w for w in warnings)


@pytest.mark.slow
def test_context_too_long_is_thinned_with_a_warning(smol, monkeypatch):
    item = designed_items()[3]
    long_context = "\n".join(f"[{i:03d}s] I walk past shelf number {i} in the big store." for i in range(120))
    monkeypatch.setattr(smol, "context_length", 600)
    ctx = Context(node="choose")
    out = lm_choose([item.question], [list(item.options)], [long_context], lm=smol, ctx=ctx)
    assert out["choice"][0] is not None and smol.count_tokens(out["prompt"][0], chat=True) <= 600
    assert "[000s]" in out["prompt"][0] and "[119s]" not in out["prompt"][0]
    assert any("does not fit" in w and "lines spread over it were kept" in w for w in ctx.warnings)


# ---------------------------------------------------------------- an LM without log-probs

def no_logprobs_server(reply):
    """Chat and plain completions answer `reply`; echo with log-probs (what scoring needs) is refused."""
    def respond(n, body):
        if body.get("echo"):
            return 400, {"error": {"message": "echo is not supported"}}, 0
        if "messages" in body:
            return 200, {"id": "c", "object": "chat.completion", "created": 0, "model": "fake", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]}, 0
        return 200, completion_json(reply), 0
    return scripted_server(respond)


@pytest.mark.parametrize("api_mode", ["chat", "completions"])
def test_lm_without_logprobs_answers_by_letter_or_counts_invalid(api_mode):
    items = designed_items()[:2]
    with no_logprobs_server("The answer is C.") as (url, seen):
        lm = OpenAILM(model="fake", base_url=url, mode=api_mode, max_retries=0)
        out, warnings = choose(lm, items)
    assert out["choice"] == [2, 2] and out["decided_by"] == ["letter", "letter"] and out["scores"] == [[], []]
    assert any("cannot score options" in w for w in warnings)
    with no_logprobs_server("I am not sure.") as (url, seen):
        lm = OpenAILM(model="fake", base_url=url, mode=api_mode, max_retries=0)
        out, warnings = choose(lm, items, mode="letter")
    assert out["choice"] == [None, None] and out["decided_by"] == ["invalid", "invalid"]
    assert out["letter"] == ["", ""] and out["reply"] == ["I am not sure.", "I am not sure."]
    assert any("counted invalid (choice null)" in w for w in warnings)
    with no_logprobs_server("C") as (url, seen):
        lm = OpenAILM(model="fake", base_url=url, mode=api_mode, max_retries=0)
        with pytest.raises(SocraticError, match="score"):
            choose(lm, items, mode="score")


# ---------------------------------------------------------------- bad items in a dataset run

PIPELINE = """
models:
  lm: {family: lm, backend: transformers, packaged: smollm2-135m-instruct}
inputs:
  question: {type: text}
  options: {type: texts}
  context: {type: text, default: ""}
nodes:
  answer:
    type: lm_choose
    params: {lm: lm, n_options: 5}
    inputs: {question: inputs.question, options: inputs.options, context: inputs.context}
outputs:
  choice: answer.choice
  letter: answer.letter
  scores: answer.scores
  decided_by: answer.decided_by
"""


@pytest.mark.slow
def test_bad_items_fail_alone_in_a_dataset_run(tmp_path):
    from socratic.engine.pipeline import Pipeline

    items = designed_items()[:3]
    rows = [{"id": f"q{k}", "question": it.question, "options": list(it.options), "context": it.context}
            for k, it in enumerate(items)]
    rows.insert(1, {**rows[0], "id": "four", "options": rows[0]["options"][:4]})
    rows.insert(2, {**rows[0], "id": "six", "options": rows[0]["options"] + ["a sixth"]})
    rows.append({**rows[0], "id": "blank", "options": ["", "b", "c", "d", "e"]})
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipe = tmp_path / "mc.yaml"
    pipe.write_text(PIPELINE)
    counts = Pipeline.from_yaml(pipe).run_dataset(data, tmp_path / "runs.jsonl", batch_size=8)
    assert counts["failed"] == 3 and counts["done"] == 3
    recs = {r["id"]: r for r in map(json.loads, (tmp_path / "runs.jsonl").read_text().splitlines())}
    assert "4 options, expected 5 (n_options)" in recs["four"]["error"] and "field 'options'" in recs["four"]["error"]
    assert "6 options, expected 5" in recs["six"]["error"]
    assert "option A is empty" in recs["blank"]["error"]
    assert "\n" not in recs["four"]["error"]
    for k, it in enumerate(items):
        o = recs[f"q{k}"]["outputs"]
        assert o["decided_by"] == "score" and len(o["scores"]) == 5 and o["letter"] == "ABCDE"[o["choice"]]


def test_bad_params_are_named_at_validation(tmp_path):
    from socratic.engine.pipeline import Pipeline

    bad = PIPELINE.replace("params: {lm: lm, n_options: 5}",
                           'params: {lm: lm, n_options: 0, mode: guess, parse: anchor, template: "Q {question} {foo}"}')
    pipe = tmp_path / "bad.yaml"
    pipe.write_text(bad)
    with pytest.raises(SocraticError) as ei:
        Pipeline.from_yaml(pipe).validate()
    msg = str(ei.value)
    for needle in ("node 'answer': mode must be one of auto, score, letter, got 'guess'",
                   "parse: anchor needs the `anchor` param", "template placeholder '{foo}' is not one of",
                   "template needs '{options}'", "n_options must be a whole number from 1 to 26, got 0"):
        assert "bad.yaml:" in msg and needle in msg
