"""`socratic egoschema items|export`, `socratic nextqa items`, and `socratic eval egoschema|nextqa`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_errors import cli_errors

egoschema_app = typer.Typer(help="EgoSchema files: questions.json -> dataset; choices -> submission CSV.",
                            no_args_is_help=True)
nextqa_app = typer.Typer(help="NExT-QA multiple choice files: val.csv / test.csv -> dataset.", no_args_is_help=True)


def _warn(lines: list[str]) -> None:
    for w in lines:
        typer.echo(f"warning: {w}", err=True)


@egoschema_app.callback()
def _egoschema() -> None:
    """EgoSchema files end to end."""


@nextqa_app.callback()
def _nextqa() -> None:
    """NExT-QA multiple choice files end to end."""


@egoschema_app.command("items")
@cli_errors
def egoschema_items_cmd(
    questions: Path = typer.Option(..., "--questions", help="questions.json"),
    videos: Path = typer.Option(..., "--videos", help="folder of <q_uid>.mp4"),
    out: Path = typer.Option(..., "--out", help="dataset JSONL to write (must not exist)"),
) -> None:
    """One dataset row per question: {id: q_uid, video, question, options}."""
    from .egoschema import write_items

    rep = write_items(questions, videos, out)
    _warn(rep.warnings())
    typer.echo(f"wrote {rep.written} question(s) -> {out}", err=True)


@egoschema_app.command("export")
@cli_errors
def egoschema_export_cmd(
    predictions: Path = typer.Option(..., "--predictions", help="JSONL of a multiple-choice dataset run"),
    out: Path = typer.Option(..., "--out", help="submission CSV to write (must not exist)"),
    questions: Optional[Path] = typer.Option(None, "--questions", help="questions.json: one row for each of its "
                                             "questions (default: each item of the predictions)"),
) -> None:
    """The `q_uid,answer` CSV for the full set's server; invalid or missing choices written as -1 (counted)."""
    from .egoschema import export_csv

    rep = export_csv(predictions, out, questions)
    _warn(rep.warnings())
    typer.echo(f"wrote {rep.written} row(s) -> {out}", err=True)


@nextqa_app.command("items")
@cli_errors
def nextqa_items_cmd(
    csv_file: Path = typer.Option(..., "--csv", help="val.csv or test.csv"),
    videos: Path = typer.Option(..., "--videos", help="video folder (NExTVideo/)"),
    video_map: Optional[Path] = typer.Option(None, "--map", help="map_vid_vidorID.json (without it: "
                                             "<videos>/<video>.mp4)"),
    out: Path = typer.Option(..., "--out", help="dataset JSONL to write (must not exist)"),
) -> None:
    """One dataset row per question: {id: <video>_<qid>, video, question, options [a0..a4]}."""
    from .nextqa import write_items

    rep = write_items(csv_file, videos, out, video_map)
    _warn(rep.warnings())
    typer.echo(f"wrote {rep.written} question(s) -> {out}", err=True)


@cli_errors
def egoschema_eval_cmd(
    predictions: Path = typer.Option(..., "--predictions", help="JSONL of a multiple-choice dataset run"),
    answers: Path = typer.Option(..., "--answers", help="subset_answers.json"),
) -> None:
    """EgoSchema accuracy over the questions subset_answers.json answers (invalid or missing: wrong)."""
    from .egoschema import evaluate

    typer.echo(evaluate(predictions, answers).report())


@cli_errors
def nextqa_eval_cmd(
    predictions: Path = typer.Option(..., "--predictions", help="JSONL of a multiple-choice dataset run"),
    csv_file: Path = typer.Option(..., "--csv", help="val.csv or test.csv (with answers)"),
) -> None:
    """NExT-QA accuracy per question type as eval_mc.py counts it (invalid or missing: wrong)."""
    from .nextqa import evaluate

    typer.echo(evaluate(predictions, csv_file).report())
