"""Official VQA accuracy: hand-worked cases, normalisation edge cases, file formats, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from socratic.errors import SocraticError
from socratic.eval.cli import eval_app
from socratic.eval.normalise import (CONTRACTIONS, normalise_ground_truth, normalise_prediction,
                                     normalise_punctuation)
from socratic.eval.vqa import evaluate_files, load_predictions, question_accuracy


# ---------------------------------------------------------------- leave-one-out averaging, worked by hand

@pytest.mark.parametrize("answers, pred, expected", [
    (["yes"] * 10, "yes", 1.0),                       # every subset of 9 has 9 matches -> min(1, 3) = 1
    (["no"] * 10, "yes", 0.0),
    (["dog"] * 3 + ["cat"] * 7, "dog", 0.9),          # 3 annotators see 2/3, 7 see 3/3 -> (2 + 7) / 10
    (["dog"] * 2 + ["cat"] * 8, "dog", 0.6),          # 2·(1/3) + 8·(2/3) = 6 -> 0.6
    (["dog"] + ["cat"] * 9, "dog", 0.3),              # the dog annotator sees 0, the others 1/3
    (["dog"] * 4 + ["cat"] * 6, "dog", 1.0),          # 4 matches: every subset keeps >= 3
])
def test_leave_one_out(answers, pred, expected):
    assert question_accuracy(pred, answers) == pytest.approx(expected)


def test_legacy_2017_rule():
    """--scorer 2017: prediction always normalised, answers punctuation only (when they disagree)."""
    acc = lambda p, a: question_accuracy(p, a, scorer="2017")  # noqa: E731
    assert acc("Two", ["2"] * 10) == 1.0            # number word -> digit
    assert acc("The Dog.", ["dog"] * 10) == 1.0     # article, case, period
    assert acc("dont", ["don't"] * 10) == 1.0       # contraction restored
    # ground truth is not lower-cased: "Dog" answers can never match a normalised prediction
    assert acc("Dog", ["Dog"] * 3 + ["cat"] * 7) == 0.0
    # answers that disagree get the punctuation rule: "hot-dog" -> "hot dog"
    assert acc("hot dog", ["hot-dog"] * 5 + ["sausage"] * 5) == 1.0
    # ... but ten identical answers are left untouched, while the prediction is normalised
    assert acc("hot-dog", ["hot-dog"] * 10) == 0.0
    assert acc("hot dog", ["hot-dog"] * 10) == 0.0


# Current official rule (methods.md §2): strip both sides; normalise both sides only when the ten cleaned
# answers are not all identical. Expected values worked out by hand from that rule and leave-one-out.
@pytest.mark.parametrize("pred, answers, expected", [
    # all identical: nothing is normalised on either side
    ("hot-dog", ["hot-dog"] * 10, 1.0),
    ("hot dog", ["hot-dog"] * 10, 0.0),
    ("two", ["2"] * 10, 0.0),
    ("dog", ["Dog"] * 10, 0.0),
    ("Dog", ["Dog"] * 10, 1.0),
    ("dog", ["a dog"] * 10, 0.0),
    # mixed case: both sides lower-cased when the answers disagree (3 hits -> 0.9)
    ("dog", ["Dog"] * 3 + ["cat"] * 7, 0.9),
    ("DOG", ["dog"] * 3 + ["Cat"] * 7, 0.9),
    # punctuation on both sides: "hot-dog" -> "hot dog" (5 hits -> 1)
    ("hot-dog", ["hot-dog"] * 5 + ["sausage"] * 5, 1.0),
    ("hot dog!", ["Hot-Dog"] * 2 + ["sausage"] * 8, 0.6),
    # numbers with commas: a digit,digit group makes every mark vanish (2 hits -> 0.6)
    ("1000", ["1,000"] * 2 + ["many"] * 8, 0.6),
    ("1,000", ["1000"] * 1 + ["many"] * 9, 0.3),
    ("ten", ["10"] * 3 + ["many"] * 7, 0.9),
    # decimals: a period before a digit stays, a final one goes
    ("3.5", ["3.5"] * 2 + ["3"] * 8, 0.6),
    ("3.5.", ["3.5"] * 2 + ["3"] * 8, 0.6),
    ("35", ["3.5"] * 2 + ["3"] * 8, 0.0),
    # articles dropped on both sides (6 hits -> 1)
    ("dog", ["a dog"] * 3 + ["the dog"] * 3 + ["cat"] * 4, 1.0),
    ("an apple", ["apple"] * 1 + ["pear"] * 9, 0.3),
    # contractions restored on both sides
    ("don't", ["dont"] * 3 + ["no"] * 7, 0.9),
    ("cant", ["can't"] * 2 + ["no"] * 8, 0.6),
    # whitespace: cleaned before the identity test, so these ten are identical and "Yes" is not lowered
    ("yes\n", [" yes "] * 10, 1.0),
    ("Yes", ["yes "] * 5 + ["yes"] * 5, 0.0),
    ("red\tcar", ["red car"] * 3 + ["car"] * 7, 0.9),
    # unicode: lower-cased, non-ASCII marks are not punctuation
    ("Café", ["café"] * 3 + ["coffee"] * 7, 0.9),
    ("naïve", ["naïve"] * 10, 1.0),
    ("rock–paper", ["rock–paper"] * 1 + ["game"] * 9, 0.3),
])
def test_current_official_rule(pred, answers, expected):
    assert question_accuracy(pred, answers) == pytest.approx(expected)


def test_unknown_scorer_is_one_line():
    with pytest.raises(SocraticError, match="unknown scorer '2015'"):
        question_accuracy("x", ["x"] * 10, scorer="2015")


def test_punctuation_rule():
    assert normalise_punctuation("left/right") == "left right"      # mark inside a word -> space
    assert normalise_punctuation("yes !") == "yes "                  # mark touching a space -> deleted
    assert normalise_punctuation("1,000") == "1000"                  # digit,digit: every mark deleted
    assert normalise_punctuation("1,000 (approx)") == "1000 approx"
    assert normalise_punctuation("3.5") == "3.5"                     # a period before a digit stays
    assert normalise_punctuation("end. 5.") == "end 5"
    assert normalise_punctuation("it's") == "it's"                   # apostrophe is not punctuation
    assert normalise_punctuation("." * 40) == "." * 8                # only 32 periods are removed


def test_words_rule():
    assert normalise_prediction("  The answer is\tten\n") == "answer is 10"
    assert normalise_prediction("none") == "0"
    assert normalise_prediction("an apple a day") == "apple day"
    assert normalise_prediction("cant") == "can't"
    assert normalise_prediction("yall'd've") == "y'all'd've"
    assert normalise_prediction("shes") == "shes"       # not in the official table
    assert normalise_prediction("im") == "im"           # the official "Im" entry never matches lower case
    assert normalise_prediction("somebody'd") == "somebodyd"  # the official table's reversed entry
    assert normalise_prediction("eleven") == "eleven"


def test_contraction_table_shape():
    assert len(CONTRACTIONS) == 114  # official 120 minus 4 capitalised "I" forms and 2 identities
    assert all("'" in v for k, v in CONTRACTIONS.items() if k != "somebody'd")
    assert CONTRACTIONS["couldn'tve"] == CONTRACTIONS["couldnt've"] == "couldn't've"


def test_ground_truth_normalisation_only_when_disagreeing():
    assert normalise_ground_truth(["a-b", "a-b"]) == ["a-b", "a-b"]
    assert normalise_ground_truth(["a-b", "c"]) == ["a b", "c"]
    assert normalise_ground_truth(["The Cat", "x"]) == ["The Cat", "x"]


# ---------------------------------------------------------------- files and CLI

def _write_set(tmp_path, preds, *, as_list=False):
    anns = {"annotations": [
        {"question_id": 1, "image_id": 10, "answer_type": "other", "question_type": "eight",
         "answers": [{"answer": a, "answer_id": k + 1} for k, a in enumerate(["dog"] * 3 + ["cat"] * 7)]},
        {"question_id": 2, "image_id": 11, "answer_type": "number", "question_type": "four",
         "answers": [{"answer": "2", "answer_id": k + 1} for k in range(10)]},
        {"question_id": 3, "image_id": 12, "answer_type": "other", "question_type": "eight",
         "answers": [{"answer": "red", "answer_id": k + 1} for k in range(10)]},
    ]}
    qs = {"questions": [{"question_id": q, "image_id": 9 + q, "question": f"q{q}?"} for q in (1, 2, 3)]}
    (tmp_path / "ann.json").write_text(json.dumps(anns))
    (tmp_path / "q.json").write_text(json.dumps(qs))
    p = tmp_path / ("pred.json" if as_list else "pred.jsonl")
    if as_list:
        p.write_text(json.dumps(preds))
    else:
        p.write_text("".join(json.dumps(r) + "\n" for r in preds))
    return tmp_path / "ann.json", tmp_path / "q.json", p


PREDS = [{"question_id": 1, "answer": "dog"}, {"question_id": 2, "answer": "two"},
         {"question_id": 3, "answer": "blue"}]


@pytest.mark.parametrize("as_list", [False, True])
def test_files_both_prediction_formats(tmp_path, as_list):
    a, q, p = _write_set(tmp_path, PREDS, as_list=as_list)
    res = evaluate_files(a, q, p, scorer="2017")
    assert res.overall == round(100 * (0.9 + 1.0 + 0.0) / 3, 2) == 63.33
    assert res.per_answer_type == {"other": 45.0, "number": 100.0}
    assert [r["accuracy"] for r in res.per_question] == [90.0, 100.0, 0.0]
    cur = evaluate_files(a, q, p)  # ten identical "2": "two" is not turned into a digit any more
    assert cur.overall == 30.0 and cur.per_answer_type == {"other": 45.0, "number": 0.0}
    assert cur.per_question_type == {"eight": 45.0, "four": 0.0}


def test_cli_prints_and_writes_per_question(tmp_path):
    a, q, p = _write_set(tmp_path, PREDS)
    out = tmp_path / "per.jsonl"
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p), "--per-question", str(out), "--scorer", "2017"])
    assert r.exit_code == 0, r.output
    assert "Overall accuracy: 63.33" in r.output
    assert "number: 100.00" in r.output and "other: 45.00" in r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["question_id"], x["normalised"]) for x in rows] == [("1", "dog"), ("2", "2"), ("3", "blue")]
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p), "--per-question", str(out)])
    assert r.exit_code == 2 and "exists" in r.output and len(out.read_text().splitlines()) == 3
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p)])
    assert r.exit_code == 0, r.output
    assert "Overall accuracy: 30.00  (scorer: current)" in r.output
    assert "Per question type:\n  eight: 45.00\n  four: 0.00" in r.output
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p), "--scorer", "2015"])
    assert r.exit_code == 2 and "unknown scorer '2015'" in r.output


def test_missing_predictions_error_or_zero(tmp_path):
    a, q, p = _write_set(tmp_path, PREDS[:2] + [{"question_id": 3, "error": "LM timed out"}])
    with pytest.raises(SocraticError, match="1 of 3 questions have no prediction"):
        evaluate_files(a, q, p)
    res = evaluate_files(a, q, p, allow_missing=True, scorer="2017")
    assert res.overall == round(100 * 1.9 / 3, 2)
    assert any("scored 0: 3" in w for w in res.warnings) and res.missing == ["3"]
    assert any("1 question(s) whose latest record is a failure" in w for w in res.warnings)


def test_unknown_ids_and_duplicates_are_counted_warnings(tmp_path):
    preds = PREDS + [{"question_id": 1, "answer": "cat"}, {"question_id": 99, "answer": "x"},
                     {"question_id": 98, "answer": "y"}]
    a, q, p = _write_set(tmp_path, preds)
    res = evaluate_files(a, q, p)
    assert res.per_question[0]["accuracy"] == 100.0  # the later "cat" wins (7 hits)
    assert "1 duplicate prediction(s): the later record of a question wins" in res.warnings
    assert "2 prediction(s) for unknown question ids ignored: 99, 98" in res.warnings
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p)])
    assert r.exit_code == 0 and "warning: 1 duplicate" in r.output and "Traceback" not in r.output


def test_missing_questions_listed_in_one_line_cli(tmp_path):
    a, q, p = _write_set(tmp_path, PREDS[:1])
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "2 of 3 questions have no prediction: 2, 3 (--allow-missing scores them 0)" in r.output
    p.write_text("")
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p)])
    assert r.exit_code == 2 and "no predictions in the file" in r.output


@pytest.mark.parametrize("content, match", [
    ('{"question_id": 1, "answer": "dog"}\n{oops\n', r"pred.jsonl:2: invalid JSON"),
    ('{"question_id": 1, "answer": 5}\n', r"'answer' must be a text"),
    ('{"answer": "dog"}\n', r"without 'question_id'"),
])
def test_malformed_predictions(tmp_path, content, match):
    p = tmp_path / "pred.jsonl"
    p.write_text(content)
    with pytest.raises(SocraticError, match=match) as e:
        load_predictions(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ('{"questions": []}', "an 'annotations' list"),
    ('{"annotations": [{"question_id": 1, "answers": []}]}', "non-empty list"),
    ('{"annotations": [{"question_id": 1, "answers": [{"ans": "x"}]}]}', "text 'answer'"),
])
def test_malformed_annotations_cli_one_line(tmp_path, content, match):
    a, q, p = _write_set(tmp_path, PREDS)
    a.write_text(content)
    r = CliRunner().invoke(eval_app, ["vqa", "--annotations", str(a), "--questions", str(q),
                                      "--predictions", str(p)])
    assert r.exit_code == 2
    assert match in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_engine_dataset_lines_accepted(tmp_path):
    p = tmp_path / "run.jsonl"
    p.write_text('{"id": "1", "outputs": {"answer": "dog", "caption": "x"}, "warnings": []}\n'
                 '{"id": "2", "error": "boom"}\n')
    assert load_predictions(p) == {"1": "dog"}
