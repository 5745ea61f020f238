"""EgoSchema and NExT-QA from files in their official formats (written here) to the official numbers: the items
commands on tiny ffmpeg-built videos, scorers against hand-computed values on crafted predictions (failed items,
null and out-of-range choices, missing and repeated records), the submission CSV, and one-line errors."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from socratic.cli import app
from socratic.eval import egoschema, nextqa
from support.long_videos import build


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def write_runs(path, records):
    """A dataset run's output: {id, outputs: {choice, ...}} or {id, error} per line."""
    lines = []
    for rid, choice in records:
        if choice == "error":
            lines.append({"id": rid, "error": "d.jsonl:3: field 'video': file not found: x.mp4"})
        else:
            lines.append({"id": rid, "outputs": {"choice": choice, "letter": "", "scores": [], "decided_by": "score"},
                          "warnings": []})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


# ---------------------------------------------------------------- EgoSchema

def ego_question(uid, n=5, question=True):
    q = {"q_uid": uid, "google_drive_id": "x"}
    if question:
        q["question"] = f"What did c do in video {uid}?"
    q.update({f"option {k}": f"option {k} of {uid}" for k in range(n)})
    return q


EGO_KEY = {"q1": 0, "q2": 1, "q3": 2, "q4": 3, "q5": 4, "q6": 0, "q7": 1, "q8": 2}
EGO_RUNS = [("q1", 0), ("q2", 1), ("q3", 0), ("q3", 2),  # q3: the later record wins (right)
            ("q4", 0), ("q5", "error"), ("q6", None), ("q8", 7),  # wrong, failed, null, not an option
            ("q9", 3)]  # q7 has no record; q9 is not in the answer key


def test_egoschema_accuracy_by_hand(tmp_path):
    answers = tmp_path / "subset_answers.json"
    answers.write_text(json.dumps(EGO_KEY))
    runs = write_runs(tmp_path / "runs.jsonl", EGO_RUNS)
    res = egoschema.evaluate(runs, answers)
    assert (res.correct, res.total) == (3, 8)  # q1, q2, q3
    assert res.percent == pytest.approx(37.5)
    assert res.invalid == ["q5", "q6", "q8"] and res.missing == ["q7"] and res.ignored == 1
    assert res.choices.why == {"q5": "failed item", "q6": "choice null", "q8": "choice 7 is not an option"}
    code, out = cli("eval", "egoschema", "--predictions", runs, "--answers", answers)
    assert code == 0
    assert "EgoSchema accuracy: 37.50 (3/8" in out
    assert "3 invalid (failed item: q5; choice null: q6; choice 7 is not an option: q8): scored wrong" in out
    assert "1 without a prediction (q7)" in out and "1 prediction(s) of questions the answer file" in out


def test_egoschema_export_csv(tmp_path):
    runs = write_runs(tmp_path / "runs.jsonl", EGO_RUNS)
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([ego_question(f"q{k}") for k in range(1, 9)]))
    out = tmp_path / "submission.csv"
    code, text = cli("egoschema", "export", "--predictions", runs, "--out", out, "--questions", questions)
    assert code == 0, text
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["q_uid", "answer"]
    assert rows[1:] == [["q1", "0"], ["q2", "1"], ["q3", "2"], ["q4", "0"], ["q5", "-1"], ["q6", "-1"],
                        ["q7", "-1"], ["q8", "-1"]]
    assert "3 invalid" in text and "1 question(s) without a prediction (q7): written as -1" in text
    assert "1 prediction(s) of items not in the questions file" in text  # q9
    before = out.read_bytes()
    code, text = cli("egoschema", "export", "--predictions", runs, "--out", out)
    assert code == 2 and "already exists" in text and out.read_bytes() == before  # never overwritten
    alone = tmp_path / "all.csv"
    assert cli("egoschema", "export", "--predictions", runs, "--out", alone)[0] == 0
    assert [r[0] for r in csv.reader(alone.open())][1:] == [f"q{k}" for k in (1, 2, 3, 4, 5, 6, 8, 9)]


@pytest.mark.parametrize("content, needle", [
    ({"q1": 5}, "subset_answers.json: field 'q1': q_uid q1: answer must be a whole number from 0 to 4, got 5"),
    ({"q1": "B"}, "field 'q1'"),
    ([1, 2], "is a JSON object {q_uid: answer index}"),
])
def test_egoschema_bad_answer_file_is_one_line(tmp_path, content, needle):
    answers = tmp_path / "subset_answers.json"
    answers.write_text(json.dumps(content))
    runs = write_runs(tmp_path / "runs.jsonl", [("q1", 0)])
    code, out = cli("eval", "egoschema", "--predictions", runs, "--answers", answers)
    assert code == 2 and needle in out and len(out.strip().splitlines()) == 1


def test_predictions_that_are_not_runs_are_one_line(tmp_path):
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"q1": 0}))
    bad = tmp_path / "runs.jsonl"
    bad.write_text(json.dumps({"id": "q1", "outputs": {"choice": 0}}) + "\n" + json.dumps({"q_uid": "q2"}) + "\n")
    code, out = cli("eval", "egoschema", "--predictions", bad, "--answers", answers)
    assert code == 2 and f"{bad}: line 2: not a dataset-run record" in out and len(out.strip().splitlines()) == 1
    bad.write_text(json.dumps({"id": "q1", "outputs": {"answer": "a cat"}}) + "\n")
    code, out = cli("eval", "egoschema", "--predictions", bad, "--answers", answers)
    assert code == 2 and "line 1: outputs carry no 'choice'" in out
    bad.write_text('{"id": "q1", "outputs": {"choice": 0}}\n{"id": \n')
    code, out = cli("eval", "egoschema", "--predictions", bad, "--answers", answers)
    assert code == 2 and f"{bad}:2: invalid JSON" in out


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
    """Two 2-second videos made by ffmpeg from scikit-image stills."""
    root = tmp_path_factory.mktemp("mc_videos")
    return {name: build(root / f"{name}.mp4", [(still, 2.0)], []).path
            for name, still in (("a", "coffee"), ("b", "rocket"))}


@pytest.mark.slow
def test_egoschema_items_keep_and_report_missing_videos(tmp_path, tiny_videos):
    videos = tmp_path / "videos"
    videos.mkdir()
    for uid, src in (("q1", "a"), ("q3", "b")):
        (videos / f"{uid}.mp4").write_bytes(tiny_videos[src].read_bytes())
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([ego_question("q1"), ego_question("q2"), ego_question("q3", n=4),
                                     ego_question("q4", question=False)]))
    out = tmp_path / "items.jsonl"
    code, text = cli("egoschema", "items", "--questions", questions, "--videos", videos, "--out", out)
    assert code == 0, text
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]  # none dropped
    assert rows[0] == {"id": "q1", "video": str((videos / "q1.mp4").resolve()),
                       "options": [f"option {k} of q1" for k in range(5)], "question": "What did c do in video q1?"}
    assert len(rows[2]["options"]) == 4 and "question" not in rows[3]
    assert "2 question(s) have no video file (their runs fail as item errors, scored wrong): q2, q4" in text
    assert "1 question(s) have no question" in text and "1 question(s) do not have 5 options" in text
    assert "wrote 4 question(s)" in text
    code, text = cli("egoschema", "items", "--questions", questions, "--videos", videos, "--out", out)
    assert code == 2 and "already exists" in text
    questions.write_text(json.dumps([ego_question("q1"), ego_question("q1")]))
    code, text = cli("egoschema", "items", "--questions", questions, "--videos", videos, "--out", tmp_path / "x.jsonl")
    assert code == 2 and "questions.json: field 'q_uid': entry 1: q_uid q1 repeats entry 0" in text


# ---------------------------------------------------------------- NExT-QA

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"
# video, qid, type, answer, run's choice
NEXT = [("101", 0, "CW", 2, 2), ("101", 1, "CW", 0, 1), ("102", 3, "CH", 4, 4), ("102", 4, "TN", 1, 1),
        ("103", 2, "TP", 3, None), ("103", 5, "TC", 0, "missing"), ("104", 7, "DC", 1, 1), ("104", 8, "DL", 2, "error")]


def write_next_csv(path, rows=NEXT):
    lines = [HEADER] + [f"{v},100,640,480,what happens {q},{a},{q},{t},w{q}0,w{q}1,w{q}2,w{q}3,w{q}4"
                        for v, q, t, a, _ in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_nextqa_accuracy_per_type_by_hand(tmp_path):
    csv_file = write_next_csv(tmp_path / "val.csv")
    runs = write_runs(tmp_path / "runs.jsonl",
                      [(f"{v}_{q}", c) for v, q, _, _, c in NEXT if c != "missing"] + [("999_1", 0)])
    res = nextqa.evaluate(runs, csv_file)
    # CW 1/2, CH 1/1, TN (with TP) 1/2, TC 0/1, DC 1/1, DL 0/1, DO none; C 2/3, T 1/3, D 1/2; all 4/8
    assert {k: res.percent(k) for k in ("CW", "CH", "TN", "TC", "DC", "DL", "DO")} == {
        "CW": 50.0, "CH": 100.0, "TN": 50.0, "TC": 0.0, "DC": 100.0, "DL": 0.0, "DO": None}
    assert res.percent("C") == pytest.approx(200 / 3) and res.percent("T") == pytest.approx(100 / 3)
    assert res.percent("D") == 50.0 and res.overall == 50.0
    assert res.invalid == ["103_2", "104_8"] and res.missing == ["103_5"] and res.ignored == 1
    code, out = cli("eval", "nextqa", "--predictions", runs, "--csv", csv_file)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split("\t") == ["Why(CW)", "How(CH)", "Bef&Aft(TN)", "When(TC)", "Cnt(DC)", "Loc(DL)",
                                    "Other(DO)", "Acc_C(C)", "Acc_T(T)", "Acc_D(D)"]
    assert lines[1].split("\t") == ["50.00", "100.00", "50.00", "0.00", "100.00", "0.00", "-", "66.67", "33.33",
                                    "50.00"]
    assert lines[2] == "Acc: 50.00"
    assert "2 invalid (choice null: 103_2; failed item: 104_8): scored wrong" in out
    assert "1 without a prediction (103_5)" in out


@pytest.mark.parametrize("edit, needle", [
    (lambda s: s.replace(",CH,", ",XX,"), "val.csv:4: field 'type': unknown question type 'XX'"),
    (lambda s: s.replace("102,100,640,480,what happens 3,4,", "102,100,640,480,what happens 3,five,"),
     "val.csv:4: field 'answer': answer must be a whole number from 0 to 4, got 'five'"),
    (lambda s: s.replace(",type,", ",kind,"), "val.csv:1: missing column(s) type"),
    (lambda s: s + "101,100,640,480,again,1,0,CW,a,b,c,d,e\n", "val.csv:10: field 'qid': question 101_0 repeats "
                                                               "line 2"),
])
def test_nextqa_bad_csv_is_one_line(tmp_path, edit, needle):
    csv_file = write_next_csv(tmp_path / "val.csv")
    csv_file.write_text(edit(csv_file.read_text()))
    runs = write_runs(tmp_path / "runs.jsonl", [("101_0", 2)])
    code, out = cli("eval", "nextqa", "--predictions", runs, "--csv", csv_file)
    assert code == 2 and needle in out and len(out.strip().splitlines()) == 1


@pytest.mark.slow
def test_nextqa_items_follow_the_map(tmp_path, tiny_videos):
    videos = tmp_path / "NExTVideo"
    (videos / "1017").mkdir(parents=True)
    (videos / "1017" / "101.mp4").write_bytes(tiny_videos["a"].read_bytes())
    (videos / "1017" / "102.mp4").write_bytes(tiny_videos["b"].read_bytes())
    mapping = tmp_path / "map_vid_vidorID.json"
    mapping.write_text(json.dumps({"101": "1017/101", "102": "1017/102", "103": "1020/103"}))
    csv_file = write_next_csv(tmp_path / "val.csv")
    out = tmp_path / "items.jsonl"
    code, text = cli("nextqa", "items", "--csv", csv_file, "--videos", videos, "--map", mapping, "--out", out)
    assert code == 0, text
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"{v}_{q}" for v, q, *_ in NEXT]
    assert rows[2] == {"id": "102_3", "video": str((videos / "1017" / "102.mp4").resolve()),
                       "question": "what happens 3", "options": [f"w3{k}" for k in range(5)]}
    assert "4 question(s) have no video file (their runs fail as item errors, scored wrong): 103_2, 103_5, 104_7, " \
           "104_8" in text
    assert "2 question(s) have a video the map does not list" in text  # 104
    code, text = cli("nextqa", "items", "--csv", csv_file, "--videos", tmp_path / "nope", "--out", tmp_path / "y")
    assert code == 2 and "nope: videos folder not found" in text
