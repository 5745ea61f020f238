"""`socratic eval ...` commands (the lead mounts `eval_app` under the main CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ..cli_errors import cli_errors
from ..errors import SocraticError

eval_app = typer.Typer(help="Evaluate predictions against annotations.", no_args_is_help=True)


@eval_app.callback()
def _group() -> None:
    """Evaluate predictions against annotations."""  # keeps `vqa` a named sub-command


@eval_app.command("vqa")
@cli_errors
def vqa(
    annotations: Path = typer.Option(..., "--annotations", help="OK-VQA/VQAv2 annotations JSON"),
    questions: Path = typer.Option(..., "--questions", help="OK-VQA/VQAv2 questions JSON"),
    predictions: Path = typer.Option(..., "--predictions", help="JSONL lines or a JSON list of "
                                     "{question_id, answer}"),
    per_question: Path | None = typer.Option(None, "--per-question", help="write per-question results (JSONL)"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="score questions without a prediction 0"),
    scorer: str = typer.Option("current", "--scorer", help="current (official head, a013f00) or 2017 "
                               "(legacy a4f1afd rule)"),
) -> None:
    """Official VQA accuracy: overall, per answer type and per question type, in percent."""
    from .vqa import evaluate_files

    if per_question is not None and per_question.exists():
        raise SocraticError("exists; choose a new name (existing files are never overwritten)", file=str(per_question))
    res = evaluate_files(annotations, questions, predictions, allow_missing=allow_missing, scorer=scorer)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(res.report())
    if per_question:
        per_question.parent.mkdir(parents=True, exist_ok=True)
        with open(per_question, "w", encoding="utf-8") as f:
            for row in res.per_question:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


from .retrieval import retrieval_cmd, retrieval_items_cmd  # noqa: E402

eval_app.command("retrieval")(retrieval_cmd)
eval_app.command("retrieval-items")(retrieval_items_cmd)

from .captions_cli import captions_cmd  # noqa: E402

eval_app.command("captions")(captions_cmd)

from .mc_cli import egoschema_eval_cmd, nextqa_eval_cmd  # noqa: E402

eval_app.command("egoschema")(egoschema_eval_cmd)
eval_app.command("nextqa")(nextqa_eval_cmd)

from .faithfulness_cli import faithfulness_cmd  # noqa: E402

eval_app.command("faithfulness")(faithfulness_cmd)
