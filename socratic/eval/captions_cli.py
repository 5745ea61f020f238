"""`socratic eval captions`: COCO caption metrics of a predictions file (see captions.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..cli_errors import cli_errors
from ..errors import SocraticError


@cli_errors
def captions_cmd(
    references: Path = typer.Option(..., "--references", help="COCO captions annotation JSON"),
    predictions: Path = typer.Option(..., "--predictions", help="COCO results JSON list or a dataset-run JSONL"),
    output: str = typer.Option("caption", "--output", help="the outputs field holding the caption (JSONL)"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="score only the images with a caption"),
    spice: bool = typer.Option(True, "--spice/--no-spice", help="SPICE, when its models are present locally"),
    out: Path | None = typer.Option(None, "--out", help="write the scores and per-image scores (JSON)"),
) -> None:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr (and SPICE) with the official pycocoevalcap and PTB tokenizer."""
    from ..paths import write_atomic
    from .captions import evaluate_files

    if out is not None and out.exists():
        raise SocraticError("exists; choose a new name (existing files are never overwritten)", file=str(out))
    res = evaluate_files(references, predictions, allow_missing=allow_missing, output=output, spice=spice)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    for n in res.notes:
        typer.echo(f"note: {n}", err=True)
    typer.echo(res.report())
    if out is not None:
        write_atomic(out, json.dumps({"scores": res.scores, "per_image": res.per_image, "warnings": res.warnings,
                                      "notes": res.notes}, indent=1))
