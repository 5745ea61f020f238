"""`socratic run | validate | graph | models | nodes | eval`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .cli_errors import cli_errors
from .errors import SocraticError
from .paths import write_atomic

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Zero-training pipelines over pretrained vision, audio and language models.")


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SocraticError(f"--input takes NAME=VALUE, got {pair!r}")
        values[name.strip()] = value
    return values


def _check_utf8(**args: Any) -> None:
    """Arguments the OS could not decode as UTF-8: one line naming the option, not a UnicodeEncodeError later."""
    for name, value in args.items():
        for v in value if isinstance(value, list) else [value]:
            text = str(v) if v is not None else ""
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise SocraticError(f"not valid UTF-8: {shown}", field=f"--{name.replace('_', '-')}") from None


def _load(pipeline: Path):
    from .engine.pipeline import Pipeline

    return Pipeline.from_yaml(pipeline)


@app.command()
@cli_errors
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
    input: list[str] = typer.Option([], "--input", "-i", help="NAME=VALUE, repeatable."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the result JSON (or JSONL in dataset mode)."),
    profile: Optional[str] = typer.Option(None, help="Model profile, e.g. 'offline' (packaged SmolLM2 + Whisper)."),
    random_vlm: bool = typer.Option(False, "--random-vlm", help="Let a random-init CLIP stand in (labels meaningless)."),
    random_atm: bool = typer.Option(False, "--random-atm",
                                    help="Let a random-init CLAP stand in (sound labels meaningless)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every node."),
    seed: int = typer.Option(0, help="Run seed (sampling is reproducible per seed)."),
    trace: Optional[Path] = typer.Option(None, help="Write the full trace as JSON."),
    transcript: bool = typer.Option(False, help="Print the Socratic transcript (the language that led to the answer)."),
    report: Optional[Path] = typer.Option(None, help="Write a self-contained HTML report of the run (or dataset)."),
    dataset: Optional[Path] = typer.Option(None, help="JSONL / JSON array / CSV / folder: one run per item."),
    dataset_input: Optional[str] = typer.Option(None, help="Input fed by each file of a folder dataset."),
    engine: str = typer.Option("local", help="Dataset engine: local or ray."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Items per pipeline run in dataset mode "
                                             "(default: 8 when a node takes batches, else 1)."),
    skip_failed: bool = typer.Option(False, "--skip-failed", help="Keep earlier error records instead of retrying."),
    resume_anyway: bool = typer.Option(False, "--resume-anyway",
                                       help="Add to an output written by another pipeline version or options."),
    restart: bool = typer.Option(False, "--restart", help="Start an existing output over (its records are lost)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (engine ray)."),
    workers: Optional[int] = typer.Option(None, help="Ray actors (engine ray; default: what the cluster fits)."),
    ray_batch_size: Optional[int] = typer.Option(None, hidden=True, help="Old name of --batch-size."),
    progress: bool = typer.Option(True, help="Progress bars."),
):
    """Run a pipeline once, or over a dataset."""
    _check_utf8(pipeline=pipeline, out=out, trace=trace, dataset=dataset, dataset_input=dataset_input,
                input=input, address=address)
    if report is not None:
        from .report import check_report_path

        check_report_path(report)
    p = _load(pipeline)
    opts = {"profile": profile, "random_vlm": random_vlm, "random_atm": random_atm, "cache": not no_cache,
            "seed": seed}
    if dataset is not None:
        from .engine.datasets.executor import summary_line

        if out is None:
            raise SocraticError("dataset mode needs --out FILE.jsonl", field="--out")
        extra = {"address": address, "workers": workers} if engine == "ray" else {}
        counts = p.run_dataset(dataset, out, engine=engine, input_name=dataset_input, progress=progress,
                               batch_size=batch_size or ray_batch_size, skip_failed=skip_failed,
                               resume_anyway=resume_anyway, restart=restart, **extra, **opts)
        typer.echo(summary_line(counts, out), err=True)
        if report is not None:
            from .report import write_report

            typer.echo(f"wrote {write_report(out, report)}", err=True)
        if counts["failed"]:
            raise typer.Exit(3)
        return
    result = p.run(_parse_inputs(input), progress=progress, **opts)
    for w in result.warnings:
        typer.secho(f"warning: {w}", err=True, fg="yellow")
    if trace is not None:
        write_atomic(trace, result.trace.to_json())
    if transcript:
        typer.echo(result.trace.transcript_text())
        typer.echo("")
    doc = result.to_dict(trace=False)
    full = result.to_dict(trace=True) if out is not None or report is not None else None
    if out is not None:
        write_atomic(out, json.dumps(full, indent=2, ensure_ascii=False))
        typer.echo(f"wrote {out}", err=True)
    if report is not None:
        from .report import write_result_report

        typer.echo(f"wrote {write_result_report(full, report, str(out or pipeline))}", err=True)
    if out is None or transcript:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@app.command("report")
@cli_errors
def report_cmd(source: Path = typer.Argument(..., help="A result JSON (run --out), trace JSON (--trace) or dataset "
                                                     "JSONL."),
               out: Optional[Path] = typer.Option(None, "--out", "-o", help="The HTML file (default: SOURCE.html).")):
    """Write a self-contained HTML report of a run or a dataset run (no network needed to open it)."""
    from .report import write_report

    _check_utf8(source=source, out=out)
    typer.echo(f"wrote {write_report(source, out or source.with_suffix('.html'))}", err=True)


@app.command()
@cli_errors
def validate(pipeline: Path = typer.Argument(..., help="Pipeline YAML file.")):
    """Check a pipeline; list every problem with file, line and node."""
    plan = _load(pipeline).validate()
    typer.echo(f"ok: {pipeline} ({len(plan.order)} nodes)")


@app.command()
@cli_errors
def graph(pipeline: Path = typer.Argument(...),
          format: str = typer.Option("mermaid", "--format", "-f", help="mermaid or dot")):
    """Print the pipeline's DAG as Mermaid or DOT."""
    from .engine.graph import to_dot, to_mermaid

    p = _load(pipeline)
    p.validate()
    if format not in ("mermaid", "dot"):
        raise SocraticError(f"unknown format '{format}' (mermaid or dot)", field="--format")
    typer.echo(to_mermaid(p) if format == "mermaid" else to_dot(p))


@app.command()
@cli_errors
def models(pipeline: Optional[Path] = typer.Argument(None, help="Also check this pipeline's models."),
           profile: Optional[str] = typer.Option(None)):
    """What resolves offline: packaged weights, and each model of a pipeline."""
    from .models.report import offline_report

    p = _load(pipeline) if pipeline else None
    typer.echo(offline_report(p, profile=profile))


@app.command()
@cli_errors
def nodes():
    """List the node types: built-ins and installed plugins."""
    from .registry import node_types
    from .types import type_name

    for name, nt in sorted(node_types().items()):
        ins = ", ".join(f"{k}: {type_name(v.type)}" for k, v in nt.inputs.items()) or ("**fields" if nt.dynamic_inputs
                                                                                      else "")
        outs = ", ".join(f"{k}: {type_name(v)}" for k, v in nt.outputs.items())
        typer.echo(f"{name}({ins}) -> {outs}")
        if nt.doc:
            typer.echo(f"    {nt.doc.splitlines()[0]}")
    typer.echo("pipeline(<the included pipeline's inputs>) -> <its outputs>")
    typer.echo("    Include another pipeline: params {file: x.yaml} or {pipeline: {...}}, optional models: "
               "{inner: outer} (docs/pipelines.md).")


def _mount_subapps() -> None:
    try:
        from .eval.cli import eval_app
    except ImportError:
        return
    app.add_typer(eval_app, name="eval", help="Evaluate predictions (VQA accuracy).")
    from .pica.okvqa_cli import okvqa_app

    app.add_typer(okvqa_app, name="okvqa", help="OK-VQA files end to end (PICa memory, questions, results JSON).")


_mount_subapps()


def _quiet_libraries() -> None:
    """Our own warnings reach the user; libraries' load-time chatter does not (SOCRATIC_DEBUG=1 keeps it)."""
    if os.environ.get("SOCRATIC_DEBUG"):
        return
    import logging

    # Libraries log failures we report ourselves, in one line; some set their own logger levels.
    for name in ("", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    app(args=argv, prog_name="socratic")


if __name__ == "__main__":
    main(sys.argv[1:])
