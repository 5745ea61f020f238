"""Video-to-text retrieval metrics (methods.md §1c) over the JSONL of pipelines/video_text_retrieval.yaml.

A video's rank is the 1-based position of its own id in its ranked list; a video absent from its top-k list counts
`absent_rank` (100, as the reference). R@k = % of videos with rank <= k; MdR / MnR = median / mean rank.
Each prediction line is a dataset record `{"id", "outputs": {video_id, ranking, clip_ranking, reranked, ...}}`,
or `{"id", "error"}` for a video that failed (it then counts as missing).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import typer

from ..cli_errors import cli_errors
from ..errors import SocraticError
from ..json_lines import read_jsonl
from ..paths import write_atomic
from .msrvtt import load_gallery

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov")


@dataclass
class Prediction:
    video_id: str
    ranking: list[str]
    clip_ranking: list[str]
    reranked: bool
    line: int


@dataclass
class RetrievalReport:
    rows: list[tuple[str, int, dict[str, float]]]
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        out = [f"{'':<24}{'n':>6}{'R@1':>8}{'R@5':>8}{'R@10':>8}{'MdR':>7}{'MnR':>8}"]
        for name, n, m in self.rows:
            out.append(f"{name:<24}{n:>6}{m['R@1']:>8.1f}{m['R@5']:>8.1f}{m['R@10']:>8.1f}{m['MdR']:>7.1f}"
                       f"{m['MnR']:>8.1f}")
        return "\n".join(out)


def rank_of(video_id: str, ranking: list[str], absent_rank: int = 100) -> int:
    return ranking.index(video_id) + 1 if video_id in ranking else absent_rank


def metrics(ranks: Iterable[int]) -> dict[str, float]:
    r = list(ranks)
    if not r:
        raise SocraticError("no videos to score")
    pct = {f"R@{k}": 100.0 * sum(x <= k for x in r) / len(r) for k in (1, 5, 10)}
    return {**pct, "MdR": float(statistics.median(r)), "MnR": float(statistics.fmean(r))}


def _records(p: Path):
    """(line, record) from JSONL, or the one record of a `socratic run --out result.json`."""
    if p.suffix.lower() == ".json":
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SocraticError(f"not valid JSON ({exc})", file=str(p)) from None
        yield 1, rec if isinstance(rec, dict) else {}
        return
    yield from ((line.number, line.value) for line in read_jsonl(p))


def read_predictions(path: str | Path) -> tuple[list[Prediction], list[str]]:
    """Per-video predictions and the ids of failed lines. Duplicate video ids or a malformed line are errors."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("predictions file not found", file=str(p))
    preds: list[Prediction] = []
    failed: list[str] = []
    first: dict[str, int] = {}
    for lineno, rec in _records(p):
        if "error" in rec:
            failed.append(str(rec.get("id", lineno)))
            continue
        out = rec.get("outputs")
        if not isinstance(out, dict) or not isinstance(out.get("video_id"), str) \
                or not isinstance(out.get("ranking"), list):
            raise SocraticError("expected a record with outputs.video_id (text) and outputs.ranking (a list of ids): "
                                "the output of pipelines/video_text_retrieval.yaml", file=str(p), line=lineno)
        vid, rk = out["video_id"], out["ranking"]
        ck = out.get("clip_ranking", rk)
        if not isinstance(ck, list):
            raise SocraticError("outputs.clip_ranking must be a list of ids", file=str(p), line=lineno)
        if vid in first:
            raise SocraticError(f"duplicate video id {vid!r} (first on line {first[vid]})", file=str(p), line=lineno)
        first[vid] = lineno
        preds.append(Prediction(vid, [str(x) for x in rk], [str(x) for x in ck], bool(out.get("reranked")), lineno))
    return preds, failed


def evaluate(predictions: str | Path, annotations: str | Path | None = None, *, split: str = "test",
             absent_rank: int = 100, allow_missing: bool = False) -> RetrievalReport:
    if isinstance(absent_rank, bool) or not isinstance(absent_rank, int) or absent_rank < 1:
        raise SocraticError(f"absent_rank must be an integer ≥ 1, got {absent_rank!r}", field="--absent-rank")
    preds, failed = read_predictions(predictions)
    warnings: list[str] = []
    if failed:
        warnings.append(f"{len(failed)} failed line(s) in the predictions (first: {failed[0]})")
    if annotations is not None:
        gallery = set(load_gallery(annotations, split=split).ids)
        stray = [pr for pr in preds if pr.video_id not in gallery]
        if stray:
            raise SocraticError(f"video {stray[0].video_id!r} is not in the annotation's {split} split",
                                file=str(predictions), line=stray[0].line)
        missing = sorted(gallery - {pr.video_id for pr in preds})
        if missing and not allow_missing:
            raise SocraticError(f"{len(missing)} video(s) of the gallery have no prediction (first: "
                                f"{missing[0]}); finish the run, or --allow-missing to count them rank "
                                f"{absent_rank}", file=str(predictions))
        if missing:
            warnings.append(f"{len(missing)} video(s) without a prediction count rank {absent_rank}")
            preds += [Prediction(v, [], [], False, 0) for v in missing]
    if not preds:
        raise SocraticError("no predictions", file=str(predictions))
    rows = [("CLIP", len(preds), metrics(rank_of(p.video_id, p.clip_ranking, absent_rank) for p in preds)),
            ("Socratic", len(preds), metrics(rank_of(p.video_id, p.ranking, absent_rank) for p in preds))]
    speech = [p for p in preds if p.reranked]
    if speech:
        rows += [("CLIP, with speech", len(speech),
                  metrics(rank_of(p.video_id, p.clip_ranking, absent_rank) for p in speech)),
                 ("Socratic, with speech", len(speech),
                  metrics(rank_of(p.video_id, p.ranking, absent_rank) for p in speech))]
    return RetrievalReport(rows, failed, warnings)


def find_videos(ids: list[str], folder: Path) -> list[Path]:
    """The file of each video id in `folder` (`<id>.mp4`, .avi, .webm, .mkv or .mov)."""
    if not folder.is_dir():
        raise SocraticError("videos folder not found", file=str(folder))
    by_stem: dict[str, Path] = {}
    for f in folder.iterdir():
        if f.suffix.lower() in VIDEO_SUFFIXES:
            by_stem.setdefault(f.stem, f)
    missing = [i for i in ids if i not in by_stem]
    if missing:
        raise SocraticError(f"{len(missing)} of {len(ids)} videos have no file (first: {missing[0]}, looked for "
                            f"{missing[0]}{{{','.join(VIDEO_SUFFIXES)}}})", file=str(folder))
    return [by_stem[i].resolve() for i in ids]


def write_items(annotations: str | Path, videos: str | Path, out: str | Path, *, split: str = "test") -> int:
    """The dataset JSONL for the pipeline: one line per gallery video (`{id, video, gallery}`, absolute paths).
    Returns the line count; an existing `out` is never overwritten."""
    out = Path(out)
    if out.exists():
        raise SocraticError("already exists; choose a new path (an existing file is never overwritten)",
                            file=str(out))
    ids = load_gallery(annotations, split=split).ids
    files = find_videos(ids, Path(videos))
    ann = str(Path(annotations).resolve())
    write_atomic(out, "".join(json.dumps({"id": v, "video": str(f), "gallery": ann}) + "\n"
                              for v, f in zip(ids, files)))
    return len(ids)


@cli_errors
def retrieval_cmd(
    predictions: Path = typer.Option(..., "--predictions", help="JSONL of pipelines/video_text_retrieval.yaml"),
    annotations: Path | None = typer.Option(None, "--annotations",
                                            help="test_videodatainfo.json or the 1k-A CSV: checks coverage"),
    split: str = typer.Option("test", help="split of a videodatainfo file"),
    absent_rank: int = typer.Option(100, "--absent-rank", min=1, help="rank of a video absent from its top-k list "
                                    "(≥ 1)"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="count gallery videos without a prediction"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """Video-to-text retrieval: R@1/5/10, median and mean rank, CLIP-only and Socratic."""
    rep = evaluate(predictions, annotations, split=split, absent_rank=absent_rank, allow_missing=allow_missing)
    for w in rep.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        typer.echo(json.dumps({name: {"n": n, **m} for name, n, m in rep.rows}, indent=2))
    else:
        typer.echo(rep.table())


@cli_errors
def retrieval_items_cmd(
    annotations: Path = typer.Option(..., "--annotations", help="test_videodatainfo.json or the 1k-A CSV"),
    videos: Path = typer.Option(..., "--videos", help="folder of the videos (<video_id>.mp4)"),
    out: Path = typer.Option(..., "--out", help="dataset JSONL to write (must not exist)"),
    split: str = typer.Option("test", help="split of a videodatainfo file"),
) -> None:
    """Write the dataset JSONL that runs pipelines/video_text_retrieval.yaml over every video of a gallery."""
    n = write_items(annotations, videos, out, split=split)
    typer.echo(f"wrote {n} line(s) → {out}", err=True)
