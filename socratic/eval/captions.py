"""COCO caption metrics through the official `pycocoevalcap` (PTB tokenizer, BLEU-1..4, METEOR, ROUGE-L, CIDEr,
and SPICE when its Stanford CoreNLP models are present locally; it never downloads them).

References: the COCO captions annotation format ({"images": [{id, file_name}], "annotations": [{image_id,
caption}]}). Predictions: the COCO results format (a JSON list of {image_id, caption}) or the JSONL of a
`socratic run --dataset` ({"id", "outputs": {"caption"}}); an id matches an image id or an image's file name.
As COCOEvalCap does, the images scored are those with a prediction.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SocraticError
from .records import read_records

METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE")


def _some(ids: list[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


# ---------------------------------------------------------------- files

def load_references(path: str | Path) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """Captions per image id, file name -> image id, and counted warnings."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("references file not found", file=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SocraticError(f"not valid JSON ({exc})", file=str(p)) from None
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(anns, list) or not anns:
        raise SocraticError("expected a COCO captions object with a non-empty 'annotations' list", file=str(p))
    refs: dict[str, list[str]] = {}
    empty = 0
    for k, a in enumerate(anns):
        if not isinstance(a, dict) or "image_id" not in a or not isinstance(a.get("caption"), str):
            raise SocraticError(f"annotations[{k}]: needs 'image_id' and a text 'caption'", file=str(p))
        if not a["caption"].strip():
            empty += 1
            continue
        refs.setdefault(str(a["image_id"]), []).append(a["caption"])
    names: dict[str, str] = {}
    for img in data.get("images") or []:
        if isinstance(img, dict) and "id" in img and isinstance(img.get("file_name"), str):
            names[Path(img["file_name"]).name] = str(img["id"])
    warnings = [f"{empty} empty reference caption(s) ignored"] if empty else []
    return refs, names, warnings


def load_predictions(path: str | Path, names: dict[str, str], refs: dict[str, list[str]],
                     output: str = "caption") -> tuple[dict[str, str], list[str]]:
    """Caption per image id (the latest record of an image wins) and counted warnings."""
    p = Path(path)
    recs = read_records(p)
    latest: dict[str, str | None] = {}
    seen: dict[str, int] = {}
    unknown: list[str] = []
    for where, r in recs:
        if not isinstance(r, dict):
            raise SocraticError(f"{where}: expected a JSON object", file=str(p))
        if "image_id" in r:
            key, cap = r["image_id"], r.get("caption")
        elif "id" in r:
            key = r["id"]
            outs = r.get("outputs")
            cap = outs.get(output) if isinstance(outs, dict) else None
            if cap is None and "error" not in r:
                raise SocraticError(f"{where}: no '{output}' in 'outputs' (--output names the caption field)",
                                    file=str(p))
        else:
            raise SocraticError(f"{where}: needs 'image_id' (COCO results) or 'id' (a dataset run)", file=str(p))
        if cap is not None and not isinstance(cap, str):
            raise SocraticError(f"{where}: the caption must be a text", file=str(p))
        key = str(key)
        img = key if key in refs else names.get(Path(key).name)
        if img is None:
            unknown.append(key)
            continue
        seen[img] = seen.get(img, 0) + (cap is not None)
        latest[img] = cap
    preds = {k: v for k, v in latest.items() if v is not None}
    warnings = []
    failed = len(latest) - len(preds)
    if failed:
        warnings.append(f"{failed} image(s) whose latest record is a failure (no caption) skipped")
    dups = sum(max(0, n - 1) for n in seen.values())
    if dups:
        warnings.append(f"{dups} duplicate prediction(s): the later record of an image wins")
    if unknown:
        warnings.append(f"{len(unknown)} prediction(s) for images not in the references ignored: {_some(unknown)}")
    empty = [k for k, v in preds.items() if not v.strip()]
    if empty:
        warnings.append(f"{len(empty)} empty caption(s) scored as empty: {_some(empty)}")
    return preds, warnings


# ---------------------------------------------------------------- scoring

@dataclass
class CaptionScores:
    scores: dict[str, float]
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_images: int = 0

    def report(self) -> str:
        lines = [f"{self.n_images} images"]
        lines += [f"{m}: {self.scores[m]:.3f}" for m in METRICS if m in self.scores]
        return "\n".join(lines)


def spice_missing() -> str | None:
    """Why SPICE cannot run here without a download, or None when it can."""
    import pycocoevalcap

    root = Path(list(pycocoevalcap.__path__)[0]) / "spice"
    need = [root / "spice-1.0.jar", root / "lib" / "stanford-corenlp-3.6.0.jar",
            root / "lib" / "stanford-corenlp-3.6.0-models.jar"]
    gone = [str(x.relative_to(root.parent)) for x in need if not x.is_file()]
    return f"its Stanford CoreNLP files are not present locally ({', '.join(gone)})" if gone else None


def check_tools() -> None:
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError:
        raise SocraticError("caption metrics need pycocoevalcap: pip install 'pycocoevalcap==1.2'") from None
    if shutil.which("java") is None:
        raise SocraticError("caption metrics need Java (the PTB tokenizer and METEOR are Java programs): "
                            "apt-get install default-jre-headless, or run scripts/setup.sh")


def score(refs: dict[str, list[str]], preds: dict[str, str], *, spice: bool = True) -> CaptionScores:
    """The official metrics over the images in `preds`."""
    check_tools()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    ids = sorted(preds)
    if not ids:
        raise SocraticError("no image has both a prediction and a reference caption")
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs[i]] for i in ids})
    res = tok.tokenize({i: [{"caption": preds[i]}] for i in ids})
    scorers: list[tuple[Any, tuple[str, ...]]] = [(Bleu(4), METRICS[:4]), (Meteor(), ("METEOR",)),
                                                   (Rouge(), ("ROUGE_L",)), (Cider(), ("CIDEr",))]
    out = CaptionScores({}, {i: {} for i in ids}, n_images=len(ids))
    why = spice_missing() if spice else "not asked for (--no-spice)"
    if why is None:
        from pycocoevalcap.spice.spice import Spice

        scorers.append((Spice(), ("SPICE",)))
    else:
        out.notes.append(f"SPICE skipped: {why}")
    for scorer, names in scorers:
        with contextlib.redirect_stdout(io.StringIO()):  # BLEU prints its counts
            total, each = scorer.compute_score(gts, res)
        if len(names) == 1:
            total, each = [total], [each]
        for name, t, e in zip(names, total, each):
            out.scores[name] = float(t)
            for i, v in zip(ids, e):
                out.per_image[i][name] = float(v["All"]["f"]) if isinstance(v, dict) else float(v)
    return out


def evaluate_files(references: str | Path, predictions: str | Path, *, allow_missing: bool = False,
                   output: str = "caption", spice: bool = True) -> CaptionScores:
    refs, names, warnings = load_references(references)
    preds, more = load_predictions(predictions, names, refs, output)
    warnings += more
    missing = [i for i in refs if i not in preds]
    if missing and not allow_missing:
        raise SocraticError(f"{len(missing)} of {len(refs)} reference images have no caption: {_some(missing)} "
                            f"(--allow-missing scores only the captioned ones, as COCOEvalCap does)")
    if missing:
        warnings.append(f"{len(missing)} reference image(s) without a caption left out: {_some(missing)}")
    check_tools()
    res = score(refs, preds, spice=spice)
    res.warnings = warnings + res.warnings
    return res
