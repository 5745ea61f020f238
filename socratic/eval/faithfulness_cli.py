"""`socratic eval faithfulness`: a video with known facts through the summary and Q&A pipelines, scored
(faithfulness.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..cli_errors import cli_errors
from ..errors import SocraticError
from ..paths import SHIPPED_PIPELINES


@cli_errors
def faithfulness_cmd(
    video: Path = typer.Option(..., "--video", help="the video the facts are said or shown in"),
    facts: Path = typer.Option(..., "--facts", help="JSONL, one {t, sentence, keywords, question} a line"),
    summary_pipeline: Path = typer.Option(SHIPPED_PIPELINES / "egocentric_summary.yaml", "--summary-pipeline"),
    qa_pipeline: Path = typer.Option(SHIPPED_PIPELINES / "video_qa.yaml", "--qa-pipeline"),
    scene_threshold: float | None = typer.Option(None, "--scene-threshold", help="default: the pipelines'"),
    profile: str | None = typer.Option(None, "--profile", help="e.g. offline: packaged models only"),
    random_vlm: bool = typer.Option(False, "--random-vlm", help="Let a random-init CLIP stand in."),
    out: Path | None = typer.Option(None, "--out", help="write the scores and per-fact rows (JSON, a new file)"),
) -> None:
    """Fact recall of the top and window summaries, answer accuracy, evidence recall and grounded rate."""
    from ..engine.pipeline import Pipeline
    from ..paths import write_atomic
    from .faithfulness import last_line, load_facts, score

    if out is not None and out.exists():
        raise SocraticError("exists; choose a new name (existing files are never overwritten)", file=str(out))
    if not video.is_file():
        raise SocraticError("no such video file", file=str(video))
    known = load_facts(facts)
    if not known:
        raise SocraticError("no facts in the file", file=str(facts))
    inputs = {"video": str(video)}
    if scene_threshold is not None:
        inputs["scene_threshold"] = scene_threshold
    opts = {"profile": profile, "random_vlm": random_vlm}
    summary = Pipeline.from_yaml(summary_pipeline).run(inputs, **opts)
    qa = Pipeline.from_yaml(qa_pipeline)
    answers = []
    for f in known:
        a = qa.run({**inputs, "question": f.question}, **opts)
        answers.append({k: a[k] for k in ("answer", "grounded", "evidence")})
    s = score(known, summary["summary"], summary["summaries"], answers)
    for row in s["rows"]:
        typer.echo(f"{row['t']:8.1f} s  summary {int(row['in_summary'])} window {int(row['in_window'])} evidence "
                   f"{int(row['in_evidence'])} grounded {int(row['grounded'])}  {'/'.join(row['keywords'])}: "
                   f"{row['answer']!r}")
    typer.echo(last_line(s))
    if out is not None:
        write_atomic(out, json.dumps({"scores": s, "summary": summary["summary"]}, indent=1, default=str))
