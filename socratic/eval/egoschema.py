"""EgoSchema (egoschema/EgoSchema) from its official files: `questions.json` (a list of {q_uid, question,
"option 0".."option 4"}, videos `<q_uid>.mp4`) → a dataset JSONL; a run's choices → subset accuracy against
`subset_answers.json` ({q_uid: index}) or the `q_uid,answer` CSV the full set's server scores."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SocraticError
from ..paths import write_atomic
from .choices import (Choices, invalid_summary, load_json, read_choices, refuse_existing, shortfall_lines,
                      write_jsonl)

N_OPTIONS = 5
INVALID_ANSWER = -1  # what the CSV says for an invalid or missing choice (LLoVi's "could not parse"; scored wrong)
_OPTION_KEY = re.compile(r"option (\d+)")


@dataclass
class Question:
    q_uid: str
    question: str | None
    options: list[str]


def read_questions(path: str | Path) -> list[Question]:
    """Every entry of questions.json, in file order; options in the order of their numbers."""
    p = Path(path)
    data = load_json(p, "questions file")
    if not isinstance(data, list):
        raise SocraticError("questions.json is a JSON list of questions", file=str(p))
    out, seen = [], {}
    for k, e in enumerate(data):
        if not isinstance(e, dict) or not isinstance(e.get("q_uid"), str) or not e["q_uid"]:
            raise SocraticError(f"entry {k}: needs a 'q_uid' text", file=str(p), field="q_uid")
        if e["q_uid"] in seen:
            raise SocraticError(f"entry {k}: q_uid {e['q_uid']} repeats entry {seen[e['q_uid']]}", file=str(p),
                                field="q_uid")
        seen[e["q_uid"]] = k
        numbered = sorted((int(m.group(1)), key) for key in e if (m := _OPTION_KEY.fullmatch(key)))
        options = [e[key] for _, key in numbered]
        if not all(isinstance(o, str) for o in options):
            raise SocraticError(f"entry {k} (q_uid {e['q_uid']}): options must be texts", file=str(p),
                                field="option")
        q = e.get("question")
        out.append(Question(e["q_uid"], q if isinstance(q, str) and q.strip() else None, options))
    return out


@dataclass
class ItemsReport:
    written: int
    missing_videos: list[str] = field(default_factory=list)
    no_question: list[str] = field(default_factory=list)
    other_counts: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        for ids, what in ((self.missing_videos, "have no video file (their runs fail as item errors, scored "
                                                "wrong)"),
                          (self.no_question, "have no question (their runs fail as item errors, scored wrong)"),
                          (self.other_counts, f"do not have {N_OPTIONS} options (lm_choose with n_options: "
                                              f"{N_OPTIONS} fails them as item errors)")):
            if ids:
                shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
                out.append(f"{len(ids)} question(s) {what}: {shown}")
        return out


def write_items(questions: str | Path, videos: str | Path, out: str | Path) -> ItemsReport:
    """One dataset row per question: {id: q_uid, video, question, options}, absolute video paths
    (`<videos>/<q_uid>.mp4`). A question without its video is kept (the run records it as that item's error) and
    listed in the report; so are questions without a question text or with another number of options."""
    refuse_existing(out)
    folder = Path(videos)
    if not folder.is_dir():
        raise SocraticError("videos folder not found", file=str(folder))
    rows, rep = [], ItemsReport(0)
    for q in read_questions(questions):
        video = (folder / f"{q.q_uid}.mp4").resolve()
        row = {"id": q.q_uid, "video": str(video), "options": q.options}
        if q.question is not None:
            row["question"] = q.question
        else:
            rep.no_question.append(q.q_uid)
        if not video.is_file():
            rep.missing_videos.append(q.q_uid)
        if len(q.options) != N_OPTIONS:
            rep.other_counts.append(q.q_uid)
        rows.append(row)
    rep.written = write_jsonl(out, rows)
    return rep


def read_answers(path: str | Path) -> dict[str, int]:
    """subset_answers.json: {q_uid: index of the right option}."""
    p = Path(path)
    data = load_json(p, "answers file")
    if not isinstance(data, dict) or not data:
        raise SocraticError("subset_answers.json is a JSON object {q_uid: answer index}", file=str(p))
    for q, a in data.items():
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < N_OPTIONS:
            raise SocraticError(f"q_uid {q}: answer must be a whole number from 0 to {N_OPTIONS - 1}, got {a!r}",
                                file=str(p), field=q)
    return data


@dataclass
class Accuracy:
    total: int
    correct: int
    invalid: list[str]
    missing: list[str]
    choices: Choices
    ignored: int  # predictions of questions the answer file does not answer

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total

    def report(self) -> str:
        lines = [f"EgoSchema accuracy: {self.percent:.2f} ({self.correct}/{self.total} questions with an answer)"]
        lines += shortfall_lines(self.invalid, self.missing, self.ignored, self.choices,
                                 "questions the answer file does not answer")
        return "\n".join(lines)


def evaluate(predictions: str | Path, answers: str | Path) -> Accuracy:
    """Accuracy over every question the answer file answers; invalid and missing predictions count as wrong."""
    key = read_answers(answers)
    ch = read_choices(predictions, N_OPTIONS)
    correct = sum(ch.picked.get(q) == a for q, a in key.items())
    invalid = [q for q in key if q in ch.picked and ch.picked[q] is None]
    missing = [q for q in key if q not in ch.picked]
    return Accuracy(len(key), correct, invalid, missing, ch, sum(q not in key for q in ch.picked))


@dataclass
class Export:
    written: int
    invalid: list[str]
    missing: list[str]
    choices: Choices
    ignored: int = 0  # predictions of items the questions file does not have

    def warnings(self) -> list[str]:
        out = []
        if self.ignored:
            out.append(f"{self.ignored} prediction(s) of items not in the questions file: left out")
        if self.invalid:
            out.append(f"{invalid_summary(self.invalid, self.choices)}: written as {INVALID_ANSWER}")
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" …" if len(self.missing) > 5 else "")
            out.append(f"{len(self.missing)} question(s) without a prediction ({shown}): written as "
                       f"{INVALID_ANSWER}")
        return out


def export_csv(predictions: str | Path, out: str | Path, questions: str | Path | None = None) -> Export:
    """`q_uid,answer`, one row per question: those of `questions` (in its order) when given, else every item of
    the predictions. Invalid or missing choices are written as -1 (never a guess) and listed."""
    refuse_existing(out)
    ch = read_choices(predictions, N_OPTIONS)
    ids = [q.q_uid for q in read_questions(questions)] if questions is not None else list(ch.picked)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["q_uid", "answer"])
    for q in ids:
        c = ch.picked.get(q)
        w.writerow([q, INVALID_ANSWER if c is None else c])
    write_atomic(Path(out), buf.getvalue())
    wanted = set(ids)
    return Export(len(ids), [q for q in ids if q in ch.picked and ch.picked[q] is None],
                  [q for q in ids if q not in ch.picked], ch, sum(q not in wanted for q in ch.picked))
