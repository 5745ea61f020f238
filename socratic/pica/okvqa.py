"""OK-VQA / VQAv2 files -> PICa inputs, and PICa answers -> the official results JSON.

    okvqa_training_set("OpenEnded_mscoco_train2014_questions.json", "mscoco_train2014_annotations.json",
                       "captions_train2014.json", "train2014/", "pica_train.jsonl")
    build_okvqa_memory(..., vlm, out="okvqa_memory/")            # the example memory, embedded once
    okvqa_questions("OpenEnded_mscoco_val2014_questions.json", "val2014/", "val.jsonl",
                    captions=read_caption_tsv("vinvl_val.tsv"), tags=read_tags_tsv("tags_val.tsv"))
    export_results("OpenEnded_mscoco_val2014_questions.json", "pred.jsonl", "results.json")
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import SocraticError

TRAIN_PATTERN = "COCO_train2014_{image_id:012d}.jpg"
VAL_PATTERN = "COCO_val2014_{image_id:012d}.jpg"


def _load(path: str | Path, key: str) -> list[dict]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SocraticError(f"cannot read JSON: {exc}", file=str(p)) from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SocraticError(f"expected an object with a '{key}' list", file=str(p))
    return data[key]


def image_file(image_dir: str | Path, pattern: str, image_id: Any) -> Path:
    """The file of an image: `pattern` with `{image_id}` filled in (`{image_id:012d}` pads it); a pattern that
    cannot be filled is one line naming --image-pattern."""
    try:
        return Path(image_dir) / pattern.format(image_id=image_id)
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise SocraticError(f"cannot fill {pattern!r} with an image id ({type(exc).__name__}: {exc}); name the id "
                            f"{{image_id}}, e.g. {TRAIN_PATTERN!r}", field="--image-pattern") from None


def _fields(rec: Any, keys: tuple[str, ...], where: str, path: str | Path) -> tuple:
    """The named fields of one entry of an official file, or a one-line error naming the entry."""
    if not isinstance(rec, dict) or any(k not in rec for k in keys):
        missing = [k for k in keys if not isinstance(rec, dict) or k not in rec]
        raise SocraticError(f"{where}: missing {', '.join(repr(k) for k in missing)}", file=str(path))
    return tuple(rec[k] for k in keys)


def _new_file(out: str | Path) -> Path:
    """An output path the program may write: never a file that is already there."""
    out = Path(out)
    if out.exists():
        raise SocraticError("exists; choose a new output name (existing files are never overwritten)", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _write(rows: list[dict], out: str | Path) -> int:
    out = _new_file(out)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(rows)


def _image_id(text: str) -> int:
    """A COCO image id from `42` or a file-name-like `COCO_val2014_000000000042(.jpg)`."""
    m = re.search(r"(\d+)(?:\.\w+)?$", text.strip())
    if not m:
        raise ValueError(f"no image id in {text!r}")
    return int(m.group(1))


# ---------------------------------------------------------------- VinVL-style TSV files

def _tsv_rows(path: str | Path) -> list[tuple[int, int, str]]:
    p = Path(path)
    if not p.is_file():
        raise SocraticError("TSV file not found", file=str(p))
    rows = []
    for k, line in enumerate(p.read_text(encoding="utf-8").split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        head, sep, rest = line.partition("\t")
        try:
            if not sep:
                raise ValueError("no tab")
            rows.append((k, _image_id(head), rest))
        except ValueError:
            raise SocraticError("expected 'image_id<TAB>value'", file=str(p), line=k) from None
    return rows


def read_captions(path: str | Path) -> dict[int, list[str]]:
    """Every caption per image id, from the COCO captions JSON ({"annotations": [{image_id, caption}]}), a
    COCO results JSON ([{image_id, caption}], e.g. a captioner's predictions) or a TSV (see read_caption_tsv).
    Captions are kept as they are, like the reference. The one caption reader of build-memory and questions."""
    p = Path(path)
    try:
        head = p.read_text(encoding="utf-8").lstrip()[:1]
    except (OSError, UnicodeDecodeError) as exc:
        raise SocraticError(f"cannot read captions: {exc}", file=str(p)) from None
    if head not in ("{", "["):
        return {img: [cap] for img, cap in read_caption_tsv(p).items()}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SocraticError(f"cannot read JSON: {exc}", file=str(p)) from None
    entries = data.get("annotations") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise SocraticError("expected the COCO captions JSON (an 'annotations' list) or a list of "
                            "{image_id, caption}", file=str(p))
    out: dict[int, list[str]] = defaultdict(list)
    where = "annotations" if isinstance(data, dict) else "entry"
    for k, c in enumerate(entries):
        img, cap = _fields(c, ("image_id", "caption"), f"{where}[{k}]", p)
        out[img].append(cap)  # as is: the reference did not strip (methods.md §2)
    return dict(out)


def read_caption_tsv(path: str | Path) -> dict[int, str]:
    """`image_id<TAB>caption` lines (or a JSON list of {"caption": ...}, VinVL's output: the first is taken).
    Captions are kept as they are, like the reference."""
    out = {}
    for k, img, value in _tsv_rows(path):
        if value.startswith("[") and value.rstrip().endswith("]"):
            try:
                items = json.loads(value)
                value = items[0]["caption"] if isinstance(items[0], dict) else str(items[0])
            except (ValueError, IndexError, KeyError, TypeError):
                raise SocraticError("a JSON caption list needs {'caption': ...} entries", file=str(path),
                                    line=k) from None
        out[img] = value
    return out


def read_tags_tsv(path: str | Path) -> dict[int, list[str]]:
    """`image_id<TAB>tags`: a JSON list of {"class": ...} (VinVL's detections) or of texts, or "a, b, c".
    Every tag, in file order (the reference used them all)."""
    out = {}
    for k, img, value in _tsv_rows(path):
        if value.lstrip().startswith("["):
            try:
                items = json.loads(value)
                tags = [x["class"] if isinstance(x, dict) else str(x) for x in items]
            except (ValueError, KeyError, TypeError):
                raise SocraticError("a JSON tag list needs texts or {'class': ...} entries", file=str(path),
                                    line=k) from None
        else:
            tags = [t.strip() for t in value.split(",") if t.strip()]
        out[img] = tags
    return out


# ---------------------------------------------------------------- training rows and the memory

def okvqa_rows(questions: str | Path, annotations: str | Path, coco_captions: str | Path, *,
               tags: dict | None = None) -> list[dict]:
    """One row per training question: image_id, question, answers (annotator order; the first is the
    example answer), every caption of the image as is (one is drawn per use; any format `read_captions`
    reads), optional tags."""
    qs = {}
    for k, q in enumerate(_load(questions, "questions")):
        qs[_fields(q, ("question_id", "question"), f"questions[{k}]", questions)[0]] = q
    caps = read_captions(coco_captions)
    rows = []
    for k, a in enumerate(_load(annotations, "annotations")):
        _, answers = _fields(a, ("question_id", "answers"), f"annotations[{k}]", annotations)
        if not isinstance(answers, list) or not all(isinstance(x, dict) and "answer" in x for x in answers):
            raise SocraticError(f"annotations[{k}]: 'answers' must be a list of {{'answer': ...}}",
                                file=str(annotations))
        q = qs.get(a["question_id"])
        if q is None:
            raise SocraticError(f"annotation for question {a['question_id']} has no question", file=str(questions))
        img = a.get("image_id", q.get("image_id"))
        if not caps.get(img):
            raise SocraticError(f"image {img} has no COCO caption", file=str(coco_captions))
        row = {"question_id": a["question_id"], "image_id": img, "question": q["question"],
               "answers": [x["answer"] for x in a["answers"]], "caption": caps[img]}
        if tags is not None:
            row["tags"] = list(tags.get(img, []))
        rows.append(row)
    return rows


def okvqa_training_set(questions: str | Path, annotations: str | Path, coco_captions: str | Path,
                       image_dir: str | Path, out: str | Path, *, image_pattern: str = TRAIN_PATTERN,
                       tags: dict | None = None) -> int:
    """The training set as JSONL (`memory:` of pica_select embeds it on first use)."""
    rows = okvqa_rows(questions, annotations, coco_captions, tags=tags)
    for r in rows:
        r["image"] = str(image_file(image_dir, image_pattern, r.pop("image_id")))
    return _write(rows, out)


def read_feature_ids(path: str | Path) -> list[int]:
    """Image ids of a features file's rows: a JSON list, or one id (or COCO file name) per line."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("feature id list not found", file=str(p))
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            return [_image_id(str(x)) for x in json.loads(text)]
        except ValueError as exc:
            raise SocraticError(f"bad id list ({exc})", file=str(p)) from None
    ids = []
    for k, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                ids.append(_image_id(line))
            except ValueError:
                raise SocraticError(f"no image id in {line!r}", file=str(p), line=k) from None
    return ids


def _image_features(rows: list[dict], features: str | Path, feature_ids: str | Path) -> np.ndarray:
    try:
        arr = np.load(features, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise SocraticError(f"cannot read features: {exc}", file=str(features)) from None
    ids = read_feature_ids(feature_ids)
    if arr.ndim != 2 or arr.shape[0] != len(ids):
        raise SocraticError(f"features {tuple(arr.shape)} do not match the {len(ids)} ids of {feature_ids}",
                            file=str(features))
    row_of = {img: k for k, img in enumerate(ids)}
    missing = sorted({r["image_id"] for r in rows if r["image_id"] not in row_of})
    if missing:
        raise SocraticError(f"{len(missing)} training image(s) have no feature row, e.g. {missing[:5]}",
                            file=str(feature_ids))
    return np.asarray(arr[[row_of[r["image_id"]] for r in rows]], dtype=np.float32)


def build_okvqa_memory(questions: str | Path, annotations: str | Path, coco_captions: str | Path,
                       out: str | Path, vlm: Any, *, image_dir: str | Path | None = None,
                       image_pattern: str = TRAIN_PATTERN, features: str | Path | None = None,
                       feature_ids: str | Path | None = None, tags: dict | None = None, batch_size: int = 64,
                       progress: Callable | None = None) -> Any:
    """The PICa example memory (a folder pica_select's `memory:` takes) from the official files: question
    features from `vlm`'s text encoder; image features from the images, or precomputed (.npy rows + ids)."""
    from .memory import ExampleMemory, Item, _embed_images, _embed_texts, _model_key, _Record

    if (features is None) == (image_dir is None) or (features is None) != (feature_ids is None):
        raise SocraticError("give --images DIR, or --features FILE.npy with --feature-ids FILE", field="--images")
    out = Path(out)
    if out.exists():
        raise SocraticError("exists; choose a new memory folder (existing files are never overwritten)",
                            file=str(out))
    rows = okvqa_rows(questions, annotations, coco_captions, tags=tags)
    items = [Item(r["question"] or "", r["answers"][0] if r["answers"] else "", list(r["caption"]),
                  [str(t) for t in r.get("tags", [])], r["question_id"]) for r in rows]
    q = _embed_texts(vlm, [it.question for it in items], batch_size, progress)
    if features is not None:
        im = _image_features(rows, features, feature_ids)
        if im.shape[1] != q.shape[1]:
            raise SocraticError(f"image features have {im.shape[1]} dims, the CLIP text features {q.shape[1]}: "
                                f"another model?", file=str(features))
    else:
        recs = []
        for r in rows:
            path = image_file(image_dir, image_pattern, r["image_id"])
            if not path.is_file():
                raise SocraticError(f"image of question {r['question_id']} not found: {path}", field="--images")
            recs.append(_Record(None, path, None, f"question {r['question_id']}"))
        im = _embed_images(vlm, recs, batch_size, progress, q.shape[1])
    meta = {"model": _model_key(vlm), "source": str(questions),
            "image_features": str(features) if features is not None else "images"}
    return ExampleMemory.write(out, items, q, im, meta)


# ---------------------------------------------------------------- questions to answer

def okvqa_questions(questions: str | Path, image_dir: str | Path, out: str | Path, *,
                    image_pattern: str = VAL_PATTERN, captions: dict | None = None,
                    tags: dict | None = None) -> int:
    """The questions to answer as a dataset (PICa.answer_many / `socratic okvqa answer`); optional captions
    and tags per image id (e.g. VinVL's) become `caption` / `tags` columns."""
    qs = _load(questions, "questions")
    for k, q in enumerate(qs):
        _fields(q, ("question_id", "image_id", "question"), f"questions[{k}]", questions)
    if captions is not None:
        missing = sorted({q["image_id"] for q in qs if q["image_id"] not in captions})
        if missing:
            raise SocraticError(f"{len(missing)} image(s) of the questions have no caption, e.g. {missing[:5]}",
                                field="--captions")
    if not Path(image_dir).is_dir():  # a missing image fails its question alone; a missing folder, all of them
        raise SocraticError("image folder not found", file=str(image_dir), field="--images")
    rows = []
    for q in qs:
        row = {"question_id": q["question_id"], "question": q["question"],
               "image": str(image_file(image_dir, image_pattern, q["image_id"]))}
        if captions is not None:
            row["caption"] = captions[q["image_id"]]
        if tags is not None:
            row["tags"] = list(tags.get(q["image_id"], []))
        rows.append(row)
    return _write(rows, out)


# ---------------------------------------------------------------- the official results JSON

def export_results(questions: str | Path, predictions: str | Path, out: str | Path) -> dict[str, Any]:
    """[{"question_id": int, "answer": str}] for every question of `questions`, in its order; a question
    without an answer (missing, or its latest record a failure) gets "" and is counted."""
    from ..eval.vqa import read_predictions

    qs = _load(questions, "questions")
    for k, q in enumerate(qs):
        _fields(q, ("question_id",), f"questions[{k}]", questions)
    preds, warnings = read_predictions(predictions)
    known = {str(q["question_id"]) for q in qs}
    results, empty = [], []
    for q in qs:
        ans = preds.get(str(q["question_id"]))
        if ans is None:
            empty.append(str(q["question_id"]))
        results.append({"question_id": q["question_id"], "answer": "" if ans is None else ans})
    unknown = [k for k in preds if k not in known]
    if unknown:
        warnings.append(f"{len(unknown)} prediction(s) for questions not in {Path(questions).name} left out")
    if empty:
        warnings.append(f"{len(empty)} of {len(qs)} question(s) without an answer written as \"\": "
                        + ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else ""))
    path = _new_file(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return {"written": len(results), "answered": len(results) - len(empty), "empty": len(empty),
            "warnings": warnings}
