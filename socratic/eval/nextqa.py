"""NExT-QA multiple choice (doc-doc/NExT-QA) from its official files: `val.csv` / `test.csv` (video, frame_count,
width, height, question, answer, qid, type, a0..a4) and `map_vid_vidorID.json` (video → "<folder>/<video>"
without extension) → a dataset JSONL (item id `<video>_<qid>`); a run's choices → accuracy per question type as
its eval_mc.py counts it: TP merged into TN, groups C (CW, CH), T (TN, TC), D (DC, DL, DO), overall; percent with
two decimals."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SocraticError
from ..json_lines import decode_utf8
from .choices import Choices, load_json, read_choices, refuse_existing, shortfall_lines, write_jsonl

N_OPTIONS = 5
OPTION_COLUMNS = tuple(f"a{k}" for k in range(N_OPTIONS))
TYPES = ("CW", "CH", "TN", "TC", "DC", "DL", "DO")
MERGED = {"TP": "TN"}  # eval_mc.py counts "before" questions (TP) with "after" ones (TN)
GROUPS = ("C", "T", "D")  # the first letter of a type
NAMES = {"CW": "Why", "CH": "How", "TN": "Bef&Aft", "TC": "When", "DC": "Cnt", "DL": "Loc", "DO": "Other",
         "C": "Acc_C", "T": "Acc_T", "D": "Acc_D"}  # eval_mc.py's column names


@dataclass
class Row:
    line: int
    video: str
    qid: str
    type: str
    question: str
    answer: str
    options: list[str]

    @property
    def id(self) -> str:
        return f"{self.video}_{self.qid}"


def read_csv(path: str | Path, needed: tuple[str, ...]) -> list[Row]:
    """Every row of the CSV; `needed` columns must be in the header. Ids (`<video>_<qid>`) must not repeat."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("NExT-QA CSV not found", file=str(p))
    reader = csv.DictReader(io.StringIO(decode_utf8(p), newline=""))
    absent = [c for c in needed if c not in (reader.fieldnames or [])]
    if absent:
        raise SocraticError(f"missing column(s) {', '.join(absent)} (a NExT-QA val.csv / test.csv has video, qid, "
                            f"type, question, answer, a0..a4)", file=str(p), line=1)
    rows, seen = [], {}
    for rec in reader:
        line = reader.line_num
        row = Row(line, (rec.get("video") or "").strip(), (rec.get("qid") or "").strip(),
                  (rec.get("type") or "").strip(), rec.get("question") or "", (rec.get("answer") or "").strip(),
                  [rec.get(c) or "" for c in OPTION_COLUMNS])
        for col in ("video", "qid"):
            if not getattr(row, col):
                raise SocraticError(f"empty '{col}'", file=str(p), line=line, field=col)
        if row.id in seen:
            raise SocraticError(f"question {row.id} repeats line {seen[row.id]}", file=str(p), line=line,
                                field="qid")
        seen[row.id] = line
        rows.append(row)
    if not rows:
        raise SocraticError("no questions in the file", file=str(p))
    return rows


def read_map(path: str | Path) -> dict[str, str]:
    p = Path(path)
    data = load_json(p, "video map")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SocraticError("map_vid_vidorID.json is a JSON object {video: \"folder/video\"}", file=str(p))
    return {str(k): v for k, v in data.items()}


@dataclass
class ItemsReport:
    written: int
    missing_videos: list[str] = field(default_factory=list)
    not_in_map: list[str] = field(default_factory=list)
    empty_options: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        for ids, what in ((self.not_in_map, "have a video the map does not list (looked for <videos>/<video>.mp4)"),
                          (self.missing_videos, "have no video file (their runs fail as item errors, scored "
                                                "wrong)"),
                          (self.empty_options, "have an empty option (lm_choose fails them as item errors)")):
            if ids:
                shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
                out.append(f"{len(ids)} question(s) {what}: {shown}")
        return out


def write_items(csv_path: str | Path, videos: str | Path, out: str | Path, video_map: str | Path | None = None
                ) -> ItemsReport:
    """One dataset row per question: {id: <video>_<qid>, video, question, options [a0..a4]}, absolute video paths
    (`<videos>/<map[video]>.mp4`, or `<videos>/<video>.mp4` without a map). Questions whose video is missing are
    kept (the run records each as that item's error) and listed in the report."""
    refuse_existing(out)
    folder = Path(videos)
    if not folder.is_dir():
        raise SocraticError("videos folder not found", file=str(folder))
    mapping = read_map(video_map) if video_map is not None else None
    rows, rep = [], ItemsReport(0)
    for r in read_csv(csv_path, ("video", "qid", "question", *OPTION_COLUMNS)):
        rel = r.video
        if mapping is not None:
            if r.video in mapping:
                rel = mapping[r.video]
            else:
                rep.not_in_map.append(r.id)
        video = (folder / f"{rel}.mp4").resolve()
        if not video.is_file():
            rep.missing_videos.append(r.id)
        if any(not o.strip() for o in r.options):
            rep.empty_options.append(r.id)
        rows.append({"id": r.id, "video": str(video), "question": r.question, "options": r.options})
    rep.written = write_jsonl(out, rows)
    return rep


@dataclass
class TypeAccuracy:
    correct: dict[str, int]  # per type and group, as eval_mc.py keys them
    count: dict[str, int]
    invalid: list[str]
    missing: list[str]
    choices: Choices
    ignored: int

    def percent(self, key: str) -> float | None:
        return 100.0 * self.correct[key] / self.count[key] if self.count[key] else None

    @property
    def overall(self) -> float:
        return 100.0 * sum(self.correct[t] for t in TYPES) / sum(self.count[t] for t in TYPES)

    def report(self) -> str:
        keys = (*TYPES, *GROUPS)
        shown = [f"{v:.2f}" if (v := self.percent(k)) is not None else "-" for k in keys]
        lines = ["\t".join(f"{NAMES[k]}({k})" for k in keys), "\t".join(shown), f"Acc: {self.overall:.2f}",
                 f"  {sum(self.count[t] for t in TYPES)} questions"]
        lines += shortfall_lines(self.invalid, self.missing, self.ignored, self.choices, "questions not in the CSV")
        return "\n".join(lines)


def evaluate(predictions: str | Path, csv_path: str | Path) -> TypeAccuracy:
    """Accuracy per type over every question of the CSV; invalid and missing predictions count as wrong."""
    p = Path(csv_path)
    rows = read_csv(p, ("video", "qid", "type", "answer"))
    ch = read_choices(predictions, N_OPTIONS)
    correct = dict.fromkeys((*TYPES, *GROUPS), 0)
    count = dict.fromkeys((*TYPES, *GROUPS), 0)
    for r in rows:
        t = MERGED.get(r.type, r.type)
        if t not in TYPES:
            raise SocraticError(f"unknown question type {r.type!r} (one of {', '.join(TYPES)}, TP)", file=str(p),
                                line=r.line, field="type")
        if not r.answer.isdigit() or not 0 <= int(r.answer) < N_OPTIONS:
            raise SocraticError(f"answer must be a whole number from 0 to {N_OPTIONS - 1}, got {r.answer!r}",
                                file=str(p), line=r.line, field="answer")
        hit = ch.picked.get(r.id) == int(r.answer)
        for key in (t, t[0]):
            count[key] += 1
            correct[key] += hit
    ids = {r.id for r in rows}
    return TypeAccuracy(correct, count, [r.id for r in rows if r.id in ch.picked and ch.picked[r.id] is None],
                        [r.id for r in rows if r.id not in ch.picked], ch, sum(i not in ids for i in ch.picked))
