"""`socratic okvqa ...`: from the official OK-VQA / COCO files to the official results JSON.

    build-memory  train questions + annotations + COCO captions + images (or .npy features) -> memory folder
    questions     val questions (+ captions in any format build-memory takes, tags TSV) -> a dataset JSONL
    answer        PICa over that dataset -> predictions JSONL (resumable; `socratic report` reads it)
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
    from ..engine.compile import compile
    from ..engine.spec import PipelineSpec
    from ..models.loader import load_model

    # files=False: the memory it names is what is being built
    plan = compile(PipelineSpec.from_yaml(pipeline), profile=profile, random_vlm=random_vlm, files=False)
    names = [ns.params.get("vlm") for ns in plan.pipeline.nodes.values() if ns.type == "pica_select"]
    if not names or not isinstance(names[0], str):
        raise SocraticError("no pica_select node with a vlm: not a PICa pipeline", file=str(pipeline))
    return load_model(plan.specs[names[0]])


def _warn(warnings) -> None:
    """Each warning once on stderr, as `socratic run` prints them (a random stand-in's above all)."""
    for w in dict.fromkeys(warnings):
        typer.secho(f"warning: {w}", err=True, fg="yellow")


RANDOM_VLM_HELP = "Let a random-init CLIP stand in (its labels and example ranking are meaningless; said on stderr)."


@okvqa_app.callback()
def _group() -> None:
    """OK-VQA files end to end."""


@okvqa_app.command("build-memory")
@cli_errors
def build_memory_cmd(
    questions: Path = typer.Option(..., help="OpenEnded_mscoco_train2014_questions.json"),
    annotations: Path = typer.Option(..., help="mscoco_train2014_annotations.json"),
    captions: Path = typer.Option(..., help="COCO captions_train2014.json, a [{image_id, caption}] JSON or an "
                                  "image_id<TAB>caption TSV (every caption used as is)"),
    out: Path = typer.Option(..., help="the memory folder to create (pica_select's memory:)"),
    images: Optional[Path] = typer.Option(None, help="train2014/ image folder"),
    image_pattern: str = typer.Option("COCO_train2014_{image_id:012d}.jpg", help="image file name"),
    features: Optional[Path] = typer.Option(None, help="precomputed image features (.npy, one row per image)"),
    feature_ids: Optional[Path] = typer.Option(None, help="image ids of the feature rows (JSON list or lines)"),
    tags: Optional[Path] = typer.Option(None, help="tags TSV of the training images (kept for example_tags)"),
    pipeline: Optional[Path] = typer.Option(None, help=f"PICa pipeline whose CLIP embeds ({DEFAULT_PIPELINE})"),
    profile: Optional[str] = typer.Option(None, help="model profile, e.g. offline"),
    random_vlm: bool = typer.Option(False, "--random-vlm", help=RANDOM_VLM_HELP),
) -> None:
    """The PICa example memory from the official training files."""
    from .okvqa import build_okvqa_memory, image_file, read_tags_tsv

    if images is not None:
        image_file(images, image_pattern, 0)  # a bad pattern fails here, before the model loads
    vlm = selection_vlm(_pipeline_path(pipeline), profile=profile, random_vlm=random_vlm)
    _warn(vlm.warnings)
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
    captions: Optional[Path] = typer.Option(None, help="captions as build-memory takes them: image_id<TAB>caption "
                                            "TSV (e.g. VinVL's), COCO captions JSON or [{image_id, caption}] (the "
                                            "first caption of an image)"),
    tags: Optional[Path] = typer.Option(None, help="tags TSV: image_id<TAB>tags"),
) -> None:
    """The questions to answer as a dataset, with `caption` / `tags` columns from caption and tag files."""
    from .okvqa import okvqa_questions, read_captions, read_tags_tsv

    n = okvqa_questions(questions, images, out, image_pattern=image_pattern,
                        captions={k: v[0] for k, v in read_captions(captions).items()} if captions else None,
                        tags=read_tags_tsv(tags) if tags else None)
    typer.echo(f"{n} questions -> {out}")


@okvqa_app.command("answer")
@cli_errors
def answer_cmd(
    dataset: Path = typer.Option(..., help="dataset JSONL from `socratic okvqa questions`"),
    memory: Path = typer.Option(..., help="memory folder from build-memory (or a training JSONL)"),
    out: Path = typer.Option(..., help="predictions JSONL (a killed run resumes)"),
    pipeline: Optional[Path] = typer.Option(None, help=f"PICa pipeline ({DEFAULT_PIPELINE})"),
    n_shot: Optional[int] = typer.Option(None, "--n-shot", help="n: in-context examples per prompt (default: the "
                                         "pipeline's, 16)"),
    n_ensemble: Optional[int] = typer.Option(None, "--n-ensemble", help="m: prompts per question, the answer with "
                                             "the best log-prob wins (default: the pipeline's, 5)"),
    profile: Optional[str] = typer.Option(None, help="model profile, e.g. offline"),
    random_vlm: bool = typer.Option(False, "--random-vlm", help=RANDOM_VLM_HELP),
    seed: int = typer.Option(0, help="Run seed (example captions and LM sampling are reproducible per seed)."),
    trace: bool = typer.Option(False, "--trace", help="Keep each question's full trace (prompts, examples, LM "
                               "candidates) in its record, for `socratic report`."),
    report: Optional[Path] = typer.Option(None, help="Write an HTML report of the predictions (a table of questions "
                                          "and answers)."),
    batch_size: int = typer.Option(8, help="questions per LM call"),
    skip_failed: bool = typer.Option(False, "--skip-failed", help="Keep earlier error records instead of retrying."),
    resume_anyway: bool = typer.Option(False, "--resume-anyway",
                                       help="Add to an output written with another pipeline version or options."),
    restart: bool = typer.Option(False, "--restart", help="Start an existing output over (its records are lost)."),
    progress: bool = typer.Option(True, help="progress bar"),
) -> None:
    """PICa over every question; one JSONL record per question. Exit 3 while any question has failed."""
    from ..engine.datasets.executor import summary_line
    from .api import PICa

    if report is not None:
        from ..report import check_report_path

        check_report_path(report)
    path = _pipeline_path(pipeline)
    settings = _select_settings(path, n_shot, n_ensemble)
    _check_memory_size(memory, settings)
    pica = PICa.from_yaml(path, memory=memory, params={name: kv for name, (kv, _) in settings.items()},
                          profile=profile, random_vlm=random_vlm, seed=seed)
    pica.answer_many(dataset, out, batch_size=batch_size, progress=progress, skip_failed=skip_failed,
                     resume_anyway=resume_anyway, restart=restart, trace=trace)
    typer.echo(summary_line(pica.counts, out), err=True)
    if report is not None:
        from ..report import write_report

        typer.echo(f"wrote {write_report(out, report)}", err=True)
    if pica.counts["failed"]:
        raise typer.Exit(3)


def _select_settings(path: Path, n_shot: Optional[int], n_ensemble: Optional[int]) -> dict[str, tuple[dict, tuple]]:
    """Per pica_select node: the params the flags set, and its (n, m, mode) after them."""
    from ..engine.pipeline import Pipeline
    from .core import PICaSettings

    flat = Pipeline.from_yaml(path).expanded()
    out = {}
    for name, ns in flat.nodes.items():
        if ns.type != "pica_select":
            continue
        kv = {k: v for k, v in (("n_shot", n_shot), ("n_ensemble", n_ensemble)) if v is not None}
        merged = {"n_shot": PICaSettings.n_shot, "n_ensemble": PICaSettings.n_ensemble,
                  "mode": PICaSettings.mode, **ns.params, **kv}
        out[name] = (kv, (merged["n_shot"], merged["n_ensemble"], merged["mode"]))
    return out


def _check_memory_size(memory: Path, settings: dict[str, tuple[dict, tuple]]) -> None:
    """Before any model loads: enough examples for n·m ranked ones, else advice naming the flags."""
    from .memory import memory_size

    if not memory.exists():
        raise SocraticError("PICa memory not found", file=str(memory))
    size = memory_size(memory)
    for _, (n, m, mode) in settings.values():
        if size is not None and mode != "random" and isinstance(n, int) and isinstance(m, int) and size < n * m:
            fit = max(1, size // max(1, m))
            hint = (f"e.g. --n-shot {fit}" if fit * m <= size else f"e.g. --n-shot {size} --n-ensemble 1")
            raise SocraticError(f"the memory holds {size} examples, fewer than n·m = {n}·{m} = {n * m} ranked "
                                f"examples per question: lower --n-shot or --n-ensemble ({hint})",
                                file=str(memory))


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
