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
from .trace_schema import SEP

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Zero-training pipelines over pretrained vision, audio and language models.")


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"socratic {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Zero-training pipelines over pretrained vision, audio and language models."""


def _parse_inputs(pairs: list[str], pipeline: Any = None) -> dict[str, Any]:
    """NAME=VALUE pairs. Lists take JSON (`tags=["a","b"]`), numbers and booleans their text; a list or json
    input also takes NAME=@FILE.json (the value read from that file). The engine checks each against its type."""
    values: dict[str, Any] = {}
    declared = dict(pipeline.inputs) if pipeline is not None else {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SocraticError(f"--input takes NAME=VALUE, got {pair!r}")
        name = name.strip()
        if name not in declared and SEP in name and pipeline is not None:
            declared = dict(pipeline.expanded().inputs)  # an included pipeline's input, `node/input`
        values[name] = _typed_value(name, value, declared[name].type if name in declared else None)
    return values


def _typed_value(name: str, value: str, type_name: str | None) -> Any:
    from .types import parse_type, parsed_from_text

    try:
        t = parse_type(type_name) if type_name else None
    except KeyError:  # validation reports the unknown type
        return value
    takes_file = type_name == "json" or (t is not None and parsed_from_text(t) and t not in (int, float, bool))
    if takes_file and value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SocraticError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                                field=f"--input {name}") from None
    if type_name == "json":
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SocraticError(f"expected JSON ({exc.msg} at column {exc.colno}), got {value[:60]!r}",
                                field=f"inputs.{name}") from None
    return value


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


ALLOW_READ_HELP = "Let the pipeline read files in this folder too (repeatable; docs/trust.md)."
ALLOW_ENV_HELP = "Let the pipeline send this environment variable as an API key (repeatable; docs/trust.md)."


def _allow(read: list[Path], env: list[str]) -> None:
    from .trust import allow

    allow(read=read, key_env=env)


def _load(pipeline: Path):
    from .engine.pipeline import Pipeline

    return Pipeline.from_yaml(pipeline)


@app.command()
@cli_errors
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
    input: list[str] = typer.Option([], "--input", "-i", help="NAME=VALUE, repeatable; a list input takes JSON "
                                    "(tags='[\"a\",\"b\"]') or NAME=@FILE.json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the result JSON (or JSONL in dataset mode)."),
    profile: Optional[str] = typer.Option(None, help="Model profile, e.g. 'offline' (packaged SmolLM2 + Whisper)."),
    random_vlm: bool = typer.Option(False, "--random-vlm", help="Let a random-init CLIP stand in (labels meaningless)."),
    random_vlm_arch: bool = typer.Option(False, "--random-vlm-arch",
                                         help="Random weights in the pipeline's own CLIP architecture (ViT-L-14, "
                                              "...): what the real model costs in time and memory; labels "
                                              "meaningless."),
    random_atm: bool = typer.Option(False, "--random-atm",
                                    help="Let a random-init CLAP stand in (sound labels meaningless)."),
    random_captioner: bool = typer.Option(False, "--random-captioner",
                                          help="Let a tiny random captioner stand in (captions meaningless)."),
    random_captioner_arch: bool = typer.Option(False, "--random-captioner-arch",
                                               help="Random weights in the pipeline's own captioner architecture "
                                                    "(SmolVLM-256M, ...): what it costs; captions meaningless."),
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
    allow_read: list[Path] = typer.Option([], "--allow-read", help=ALLOW_READ_HELP),
    allow_env: list[str] = typer.Option([], "--allow-env", help=ALLOW_ENV_HELP),
):
    """Run a pipeline once, or over a dataset."""
    _check_utf8(pipeline=pipeline, out=out, trace=trace, dataset=dataset, dataset_input=dataset_input,
                input=input, address=address)
    _allow(allow_read, allow_env)
    if report is not None:
        from .report import check_report_path

        check_report_path(report)
    if dataset is None:
        from .engine.run_output import check_run_files

        check_run_files({"--out": out, "--trace": trace, "--report": report})
    p = _load(pipeline)
    if random_vlm and random_vlm_arch:
        raise SocraticError("--random-vlm and --random-vlm-arch exclude each other", field="--random-vlm-arch")
    if random_captioner and random_captioner_arch:
        raise SocraticError("--random-captioner and --random-captioner-arch exclude each other",
                            field="--random-captioner-arch")
    opts = {"profile": profile, "random_vlm": "arch" if random_vlm_arch else random_vlm, "random_atm": random_atm,
            "random_captioner": "arch" if random_captioner_arch else random_captioner, "cache": not no_cache,
            "seed": seed}
    if dataset is not None:
        from .engine.datasets.executor import summary_line

        if out is None:
            raise SocraticError("dataset mode needs --out FILE.jsonl", field="--out")
        if trace is not None or transcript:
            raise SocraticError("--trace and --transcript are for a single run: a dataset's --out keeps each item's "
                                "outputs and warnings; for one item's trace, run it alone (socratic run PIPELINE "
                                "--input NAME=VALUE --trace FILE)",
                                field="--trace" if trace is not None else "--transcript")
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
    result = p.run(_parse_inputs(input, p), progress=progress, **opts)
    for w in result.warnings:
        typer.secho(f"warning: {w}", err=True, fg="yellow")
    if trace is not None:
        from .engine.run_output import write_run_json

        write_run_json(trace, result.trace.to_json(), "--trace")
    if transcript:
        typer.echo(result.trace.transcript_text())
        typer.echo("")
    doc = result.to_dict(trace=False)
    full = result.to_dict(trace=True) if out is not None or report is not None else None
    if out is not None:
        from .engine.run_output import write_run_json

        if warning := write_run_json(out, full, "--out"):
            typer.secho(f"warning: {warning}", err=True, fg="yellow")
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
def validate(pipeline: Path = typer.Argument(..., help="Pipeline YAML file."),
             allow_read: list[Path] = typer.Option([], "--allow-read", help=ALLOW_READ_HELP),
             allow_env: list[str] = typer.Option([], "--allow-env", help=ALLOW_ENV_HELP)):
    """Check a pipeline; list every problem with file, line and node, then the files, environment variables and
    hosts it touches (docs/trust.md)."""
    _allow(allow_read, allow_env)
    plan = _load(pipeline).validate()
    typer.echo(f"ok: {pipeline} ({len(plan.order)} nodes)")
    for line in plan.access.lines():
        typer.echo(f"  {line}")


@app.command()
@cli_errors
def graph(pipeline: Path = typer.Argument(..., help="Pipeline YAML file (validated first)."),
          format: str = typer.Option("mermaid", "--format", "-f", help="mermaid or dot"),
          allow_read: list[Path] = typer.Option([], "--allow-read", help=ALLOW_READ_HELP),
          allow_env: list[str] = typer.Option([], "--allow-env", help=ALLOW_ENV_HELP)):
    """Print the pipeline's DAG as Mermaid or DOT."""
    from .engine.graph import to_dot, to_mermaid

    _allow(allow_read, allow_env)
    p = _load(pipeline)
    p.validate(files=False)  # the DAG, even before the data files it names exist
    if format not in ("mermaid", "dot"):
        raise SocraticError(f"unknown format '{format}' (mermaid or dot)", field="--format")
    typer.echo(to_mermaid(p) if format == "mermaid" else to_dot(p))


@app.command()
@cli_errors
def models(pipeline: Optional[Path] = typer.Argument(None, help="Also check this pipeline's models."),
           profile: Optional[str] = typer.Option(None, help="Check as this profile would run, e.g. 'offline' "
                                                   "(packaged SmolLM2, Whisper base, MiniLM).")):
    """What resolves offline: packaged weights, and each model of a pipeline."""
    from .models.report import offline_report

    # files=False: its data files are not models
    plan = _load(pipeline).validate(files=False, profile=profile) if pipeline else None
    typer.echo(offline_report(plan))


@app.command()
@cli_errors
def doctor(profile: Optional[str] = typer.Option(None, help="Also require what this profile needs, e.g. 'offline'.")):
    """Each backend's and tool's health on this machine, one line each; exit 1 when something needed is broken."""
    from .doctor import run as run_checks

    found, code = run_checks(profile)
    for c in found:
        typer.echo(c.line())
    raise typer.Exit(code)


@app.command()
@cli_errors
def nodes(name: Optional[str] = typer.Argument(None, help="A node type: print its ports, params (types and "
                                                               "defaults), model slots and full description.")):
    """List the node types (built-ins and installed plugins), or describe one: `socratic nodes lm_generate`."""
    import difflib

    from .node_doc import INCLUDE, INCLUDE_DOC, INCLUDE_SIGNATURE, describe, first_sentence, signature
    from .registry import node_types

    types = node_types()
    if name == INCLUDE:
        typer.echo(f"{INCLUDE_SIGNATURE}\n\n{INCLUDE_DOC}")
        return
    if name is not None:
        if name not in types:
            close = difflib.get_close_matches(name, [*types, INCLUDE], n=1)
            hint = f"did you mean '{close[0]}'?" if close else "`socratic nodes` lists them"
            raise SocraticError(f"unknown node type '{name}' ({hint})")
        typer.echo(describe(types[name]))
        return
    for key, nt in sorted(types.items()):
        typer.echo(signature(nt))
        if nt.doc:
            typer.echo(f"    {first_sentence(nt.doc)}")
    typer.echo(INCLUDE_SIGNATURE)
    typer.echo(f"    {INCLUDE_DOC.splitlines()[0]}")
    typer.echo("`socratic nodes NAME` describes one type: its ports, params with types and defaults, model slots.")


def _mount_subapps() -> None:
    try:
        from .eval.cli import eval_app
    except ImportError:
        return
    app.add_typer(eval_app, name="eval", help="Evaluate predictions: VQA accuracy, caption metrics, "
                     "video-text retrieval.")
    from .pica.okvqa_cli import okvqa_app

    app.add_typer(okvqa_app, name="okvqa", help="OK-VQA files end to end (PICa memory, questions, results JSON).")
    from .eval.mc_cli import egoschema_app, nextqa_app

    app.add_typer(egoschema_app, name="egoschema", help="EgoSchema files end to end (dataset, submission CSV).")
    app.add_typer(nextqa_app, name="nextqa", help="NExT-QA multiple choice files end to end (dataset).")


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
