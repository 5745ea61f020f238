"""OK-VQA / VQAv2 files -> PICa JSONL: the training memory and the questions to answer.

    okvqa_training_set("OpenEnded_mscoco_train2014_questions.json", "mscoco_train2014_annotations.json",
                       "captions_train2014.json", "train2014/", "pica_train.jsonl")
    okvqa_questions("OpenEnded_mscoco_val2014_questions.json", "val2014/", "val.jsonl",
                    image_pattern="COCO_val2014_{image_id:012d}.jpg")
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..errors import SocraticError


def _load(path: str | Path, key: str) -> list[dict]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SocraticError(f"cannot read JSON: {exc}", file=str(p)) from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SocraticError(f"expected an object with a '{key}' list", file=str(p))
    return data[key]


def _write(rows: list[dict], out: str | Path) -> int:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows)


def okvqa_training_set(questions: str | Path, annotations: str | Path, coco_captions: str | Path,
                       image_dir: str | Path, out: str | Path, *,
                       image_pattern: str = "COCO_train2014_{image_id:012d}.jpg", tags: dict | None = None) -> int:
    """One line per training question: image, question, answers (annotator order; the first is the
    example answer), every COCO caption of the image (one is drawn per use), optional tags per image id."""
    qs = {q["question_id"]: q for q in _load(questions, "questions")}
    caps: dict[int, list[str]] = defaultdict(list)
    for c in _load(coco_captions, "annotations"):
        caps[c["image_id"]].append(c["caption"])  # as is: the reference did not strip (methods.md §2)
    rows = []
    for a in _load(annotations, "annotations"):
        q = qs.get(a["question_id"])
        if q is None:
            raise SocraticError(f"annotation for question {a['question_id']} has no question", file=str(questions))
        img = a.get("image_id", q.get("image_id"))
        if not caps.get(img):
            raise SocraticError(f"image {img} has no COCO caption", file=str(coco_captions))
        row = {"question_id": a["question_id"], "image": str(Path(image_dir) / image_pattern.format(image_id=img)),
               "question": q["question"], "answers": [x["answer"] for x in a["answers"]], "caption": caps[img]}
        if tags is not None:
            row["tags"] = list(tags.get(img, []))
        rows.append(row)
    return _write(rows, out)


def okvqa_questions(questions: str | Path, image_dir: str | Path, out: str | Path, *,
                    image_pattern: str = "COCO_val2014_{image_id:012d}.jpg", captions: dict | None = None,
                    tags: dict | None = None) -> int:
    """The questions to answer, for PICa.answer_many(); optional captions/tags per image id (e.g. VinVL)."""
    rows = []
    for q in _load(questions, "questions"):
        row = {"question_id": q["question_id"], "question": q["question"],
               "image": str(Path(image_dir) / image_pattern.format(image_id=q["image_id"]))}
        if captions is not None:
            row["caption"] = captions[q["image_id"]]
        if tags is not None:
            row["tags"] = list(tags.get(q["image_id"], []))
        rows.append(row)
    return _write(rows, out)
