"""VQA accuracy as the official evaluation computes it (methods.md §2), on OK-VQA / VQAv2 format files.

Per question: the prediction and the ground-truth answers are normalised as the chosen scorer does (see
normalise.py: "current" = the official head, "2017" = the legacy rule); for every annotator,
acc_i = min(1, (answers of the *other* annotators equal to the prediction) / 3); the question scores the mean
of acc_i. Overall, per-answer-type and per-question-type figures are 100·mean, rounded to two decimals.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import SocraticError
from .normalise import SCORERS, compared_forms
from .records import read_records


def question_accuracy(prediction: str, answers: Sequence[str], scorer: str = "current") -> float:
    """Accuracy in [0, 1] of one raw prediction against the raw ground-truth answers."""
    if not answers:
        raise SocraticError("a question has no ground-truth answers", field="answers")
    pred, gts = compared_forms(prediction, list(answers), scorer)
    hits = sum(g == pred for g in gts)
    return sum(min(1.0, (hits - (g == pred)) / 3) for g in gts) / len(gts)


# ---------------------------------------------------------------- files

@dataclass
class Annotation:
    answers: list[str]
    answer_type: str = "unknown"
    question_type: str = "unknown"


def _read_json(path: str | Path, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise SocraticError(f"{what} file not found", file=str(p))
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SocraticError(f"not valid JSON ({exc})", file=str(p)) from None


def _qid(rec: Any, where: str, file: str) -> str:
    if not isinstance(rec, dict) or "question_id" not in rec:
        raise SocraticError(f"{where}: an entry without 'question_id'", file=file)
    q = rec["question_id"]
    if not isinstance(q, (int, str)) or isinstance(q, bool):
        raise SocraticError(f"{where}: question_id must be a number or text, got {q!r}", file=file)
    return str(q)


def load_annotations(path: str | Path) -> dict[str, Annotation]:
    data = _read_json(path, "annotations")
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(anns, list):
        raise SocraticError("expected a JSON object with an 'annotations' list", file=str(path))
    out: dict[str, Annotation] = {}
    for k, a in enumerate(anns):
        qid = _qid(a, f"annotations[{k}]", str(path))
        answers = a.get("answers")
        if not isinstance(answers, list) or not answers:
            raise SocraticError(f"annotations[{k}] (question {qid}): 'answers' must be a non-empty list",
                                file=str(path))
        texts = []
        for x in answers:
            t = x.get("answer") if isinstance(x, dict) else None
            if not isinstance(t, str):
                raise SocraticError(f"annotations[{k}] (question {qid}): every answer needs a text 'answer'",
                                    file=str(path))
            texts.append(t)
        out[qid] = Annotation(texts, str(a.get("answer_type", "unknown")), str(a.get("question_type", "unknown")))
    return out


def load_questions(path: str | Path) -> dict[str, str]:
    data = _read_json(path, "questions")
    qs = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(qs, list):
        raise SocraticError("expected a JSON object with a 'questions' list", file=str(path))
    return {_qid(q, f"questions[{k}]", str(path)): str(q.get("question", "")) for k, q in enumerate(qs)}


def read_predictions(path: str | Path) -> tuple[dict[str, str], list[str]]:
    """A JSON list of {"question_id", "answer"} (official results format) or JSONL lines of the same
    (also `socratic run --dataset` lines: {"id": question_id, "outputs": {"answer": ...}}).

    Returns the answers and counted warnings: records holding an "error" and no "answer" (failed items) are
    skipped; for a question given twice the later record wins (as the official loader's dict does)."""
    p = Path(path)
    numbered = read_records(p)
    latest: dict[str, dict] = {}
    answered: dict[str, int] = {}
    for where, r in numbered:
        if isinstance(r, dict) and "question_id" not in r and "id" in r and ("outputs" in r or "error" in r):
            # a `socratic run --dataset` line: {"id": <question_id>, "outputs": {"answer": ...}} or {"id", "error"}
            outs = r.get("outputs") if isinstance(r.get("outputs"), dict) else {}
            r = {"question_id": r["id"], **({"answer": outs["answer"]} if "answer" in outs else {"error": "-"})}
        qid = _qid(r, where, str(p))
        if "answer" not in r and "error" in r:
            latest[qid] = r
            continue
        if not isinstance(r.get("answer"), str):
            raise SocraticError(f"{where} (question {qid}): 'answer' must be a text", file=str(p))
        latest[qid] = r
        answered[qid] = answered.get(qid, 0) + 1
    out = {q: r["answer"] for q, r in latest.items() if "answer" in r}
    failed = len(latest) - len(out)
    dups = sum(n - 1 for n in answered.values())
    warnings = []
    if failed:
        warnings.append(f"{failed} question(s) whose latest record is a failure (no answer) skipped")
    if dups:
        warnings.append(f"{dups} duplicate prediction(s): the later record of a question wins")
    return out, warnings


def load_predictions(path: str | Path) -> dict[str, str]:
    return read_predictions(path)[0]


# ---------------------------------------------------------------- evaluation

@dataclass
class VQAResult:
    overall: float  # percent, two decimals
    per_answer_type: dict[str, float]
    per_question_type: dict[str, float]
    per_question: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scorer: str = "current"
    missing: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"Overall accuracy: {self.overall:.2f}  (scorer: {self.scorer})", "Per answer type:"]
        lines += [f"  {t}: {v:.2f}" for t, v in sorted(self.per_answer_type.items())]
        lines.append("Per question type:")
        lines += [f"  {t}: {v:.2f}" for t, v in sorted(self.per_question_type.items())]
        return "\n".join(lines)


def _pct(values: list[float]) -> float:
    return round(100 * sum(values) / len(values), 2)


def _some(ids: Sequence[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def evaluate(annotations: dict[str, Annotation], predictions: dict[str, str], *,
             question_ids: Sequence[str] | None = None, allow_missing: bool = False,
             scorer: str = "current") -> VQAResult:
    """Accuracy over `question_ids` (default: every annotated question)."""
    if scorer not in SCORERS:
        raise SocraticError(f"unknown scorer {scorer!r} (current or 2017)", field="--scorer")
    qids = list(question_ids) if question_ids is not None else list(annotations)
    if not qids:
        raise SocraticError("no questions to evaluate")
    warnings = []
    unannotated = [q for q in qids if q not in annotations]
    if unannotated:
        raise SocraticError(f"{len(unannotated)} question(s) have no annotation, e.g. {unannotated[0]}")
    missing = [q for q in qids if q not in predictions]
    if missing and not allow_missing:
        raise SocraticError(f"{len(missing)} of {len(qids)} questions have no prediction: {_some(missing)} "
                            f"(--allow-missing scores them 0)")
    if missing:
        warnings.append(f"{len(missing)} question(s) without a prediction scored 0: {_some(missing)}")
    known = set(qids)
    extra = [q for q in predictions if q not in known]
    if extra:
        warnings.append(f"{len(extra)} prediction(s) for unknown question ids ignored: {_some(extra)}")
    accs, by_atype, by_qtype, rows = [], defaultdict(list), defaultdict(list), []
    for q in qids:
        ann = annotations[q]
        pred = predictions.get(q)
        acc = 0.0 if pred is None else question_accuracy(pred, ann.answers, scorer)
        accs.append(acc)
        by_atype[ann.answer_type].append(acc)
        by_qtype[ann.question_type].append(acc)
        rows.append({"question_id": q, "prediction": pred,
                     "normalised": None if pred is None else compared_forms(pred, ann.answers, scorer)[0],
                     "accuracy": round(100 * acc, 2), "answer_type": ann.answer_type,
                     "question_type": ann.question_type})
    return VQAResult(_pct(accs), {t: _pct(v) for t, v in by_atype.items()},
                     {t: _pct(v) for t, v in by_qtype.items()}, rows, warnings, scorer, missing)


def evaluate_files(annotations: str | Path, questions: str | Path, predictions: str | Path, *,
                   allow_missing: bool = False, scorer: str = "current") -> VQAResult:
    anns = load_annotations(annotations)
    qs = load_questions(questions)
    preds, notes = read_predictions(predictions)
    res = evaluate(anns, preds, question_ids=list(qs), allow_missing=allow_missing, scorer=scorer)
    res.warnings[:0] = notes
    return res
