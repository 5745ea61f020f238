"""`socratic okvqa ...`: from the official OK-VQA / COCO files to the official results JSON.

    build-memory  train questions + annotations + COCO captions + images (or .npy features) -> memory folder
    questions     val questions (+ caption / tag TSVs) -> a dataset JSONL
    answer        PICa over that dataset -> predictions JSONL (resumable)
    export        predictions -> [{"question_id", "answer"}] for every question ("" when missing, counted)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli_errors import cli_errors
from ..errors import SocraticError

okvqa_app = typer.Typer(help="OK-VQA files end to end: PICa memory, questions, answers, official results JSON.",
                        no_args_is_help=True)
DEFAULT_PIPELINE = "pipelines/pica_okvqa.yaml"

def _pipeline_path(pipeline: Optional[Path]) -> Path:
    if pipeline is not None:
        return pipeline
    from ..paths import REPO_DIR

    return REPO_DIR / DEFAULT_PIPELINE


def selection_vlm(pipeline: Path, *, profile: Optional[str], random_vlm: bool):
    """The CLIP model the pipeline's pica_select node uses, resolved as a run would resolve it."""
    from ..models.loader import load_model
    from ..engine.pipeline import Pipeline
    from ..engine.runner import resolve_models

    plan = Pipeline.from_yaml(pipeline).validate()
    names = [ns.params.get("vlm") for ns in plan.pipeline.nodes.values() if ns.type == "pica_select"]
    if not names or not isinstance(names[0], str):
        raise SocraticError("no pica_select node with a vlm: not a PICa pipeline", file=str(pipeline))
    specs = resolve_models(plan, profile=profile, random_vlm=random_vlm)
    return load_model(specs[names[0]])


@okvqa_app.callback()
def _group() -> None:
    """OK-VQA files end to end."""


@okvqa_app.command("build-memory")
@cli_errors
def build_memory_cmd(
    questions: Path = typer.Option(..., help="OpenEnded_mscoco_train2014_questions.json"),
    annotations: Path = typer.Option(..., help="mscoco_train2014_annotations.json"),
    captions: Path = typer.Option(..., help="COCO captions_train2014.json (every caption used as is)"),
    out: Path = typer.Option(..., help="the memory folder to create (pica_select's memory:)"),
    images: Optional[Path] = typer.Option(None, help="train2014/ image folder"),
    image_pattern: str = typer.Option("COCO_train2014_{image_id:012d}.jpg", help="image file name"),
    features: Optional[Path] = typer.Option(None, help="precomputed image features (.npy, one row per image)"),
    feature_ids: Optional[Path] = typer.Option(None, help="image ids of the feature rows (JSON list or lines)"),
    tags: Optional[Path] = typer.Option(None, help="tags TSV of the training images (kept for example_tags)"),
    pipeline: Optional[Path] = typer.Option(None, help=f"PICa pipeline whose CLIP embeds ({DEFAULT_PIPELINE})"),
    profile: Optional[str] = typer.Option(None, help="model profile, e.g. offline"),
    random_vlm: bool = typer.Option(False, "--random-vlm", help="random-init CLIP stand-in (tests only)"),
) -> None:
    """The PICa example memory from the official training files."""
    from .okvqa import build_okvqa_memory, read_tags_tsv

    vlm = selection_vlm(_pipeline_path(pipeline), profile=profile, random_vlm=random_vlm)
    mem = build_okvqa_memory(questions, annotations, captions, out, vlm, image_dir=images,
                             image_pattern=image_pattern, features=features, feature_ids=feature_ids,
                             tags=read_tags_tsv(tags) if tags else None)
    typer.echo(f"{len(mem)} examples ({int(mem.valid.sum())} with a question and an answer) -> {out}")


@okvqa_app.command("questions")
@cli_errors
def questions_cmd(
    questions: Path = typer.Option(..., help="OpenEnded_mscoco_val2014_questions.json"),
    out: Path = typer.Option(..., help="dataset JSONL to create"),
    images: Path = typer.Option(Path("val2014"), help="val2014/ image folder"),
    image_pattern: str = typer.Option("COCO_val2014_{image_id:012d}.jpg", help="image file name"),
    captions: Optional[Path] = typer.Option(None, help="caption TSV: image_id<TAB>caption (e.g. VinVL's)"),
    tags: Optional[Path] = typer.Option(None, help="tags TSV: image_id<TAB>tags"),
) -> None:
    """The questions to answer as a dataset, with `caption` / `tags` columns from TSV files."""
    from .okvqa import okvqa_questions, read_caption_tsv, read_tags_tsv

    n = okvqa_questions(questions, images, out, image_pattern=image_pattern,
                        captions=read_caption_tsv(captions) if captions else None,
                        tags=read_tags_tsv(tags) if tags else None)
    typer.echo(f"{n} questions -> {out}")


@okvqa_app.command("answer")
@cli_errors
def answer_cmd(
    dataset: Path = typer.Option(..., help="dataset JSONL from `socratic okvqa questions`"),
    memory: Path = typer.Option(..., help="memory folder from build-memory (or a training JSONL)"),
    out: Path = typer.Option(..., help="predictions JSONL (a killed run resumes)"),
    pipeline: Optional[Path] = typer.Option(None, help=f"PICa pipeline ({DEFAULT_PIPELINE})"),
    profile: Optional[str] = typer.Option(None, help="model profile, e.g. offline"),
    random_vlm: bool = typer.Option(False, "--random-vlm", help="random-init CLIP stand-in (tests only)"),
    batch_size: int = typer.Option(8, help="questions per LM call"),
    progress: bool = typer.Option(True, help="progress bar"),
) -> None:
    """PICa over every question; one JSONL record per question."""
    from .api import PICa

    pica = PICa.from_yaml(_pipeline_path(pipeline), memory=memory, profile=profile, random_vlm=random_vlm)
    recs = pica.answer_many(dataset, out, batch_size=batch_size, progress=progress)
    failed = sum("error" in r for r in recs)
    typer.echo(f"{len(recs) - failed} answered, {failed} failed -> {out}", err=True)


@okvqa_app.command("export")
@cli_errors
def export_cmd(
    questions: Path = typer.Option(..., help="the questions JSON the results must cover"),
    predictions: Path = typer.Option(..., help="predictions JSONL (answer / dataset runs) or a JSON list"),
    out: Path = typer.Option(..., help="results JSON to create"),
) -> None:
    """The official results JSON: every question, "" for a missing or failed one (counted)."""
    from .okvqa import export_results

    info = export_results(questions, predictions, out)
    for w in info["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(json.dumps({k: info[k] for k in ("written", "answered", "empty")}) + f" -> {out}")
