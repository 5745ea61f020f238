"""A result, trace or dataset file → one self-contained HTML report (views chosen by what the run produced)."""

from __future__ import annotations

from pathlib import Path

from ..errors import SocraticError
from ..paths import write_atomic
from .load import DatasetDoc, RunDoc, load, run_doc
from .page import GENERATOR, document
from .values import Media, esc, media_aliases
from .views import caption, dag, dataset, outputs, pica, video

RUN_VIEWS = (video, pica, caption, outputs, dag)  # in page order; dag always applies


def run_html(doc: RunDoc) -> str:
    media = Media(doc.media, media_aliases([[n.inputs, n.outputs] for n in doc.nodes]))
    views = [view.render(doc, media) for view in RUN_VIEWS if view.applies(doc)]
    problems = doc.problems + media.problems()
    total = sum(n.seconds or 0.0 for n in doc.nodes if n.depth == 0)
    meta = (f"{esc(doc.source)} · {len(doc.nodes)} nodes · {total:.2f} s in nodes · schema "
            f"{doc.schema_version if doc.schema_version is not None else 'unversioned'}")
    return document(f"Run of {doc.pipeline}", meta, doc.warnings, problems, views, media.css())


def dataset_html(doc: DatasetDoc) -> str:
    view = dataset.render(doc)
    head = doc.header or {}
    meta = f"{esc(doc.source)} · {len(doc.rows)} items"
    if head.get("pipeline"):
        meta += f" · pipeline {esc(head['pipeline'])}"
    warnings = list(dict.fromkeys(w for r in doc.rows for w in (r.get("warnings") or []) if isinstance(w, str)))
    return document(f"Dataset run: {Path(doc.source).name}", meta, warnings, doc.problems, [view])


def report_html(source: str | Path) -> str:
    doc = load(source)
    return dataset_html(doc) if isinstance(doc, DatasetDoc) else run_html(doc)


def _ours(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return GENERATOR.encode() in f.read(4096)
    except OSError:
        return False


def check_report_path(out: Path, source: Path | None = None) -> None:
    """Before any work: `out` is an .html file we may write (a new file, or an earlier report)."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise SocraticError("the report is HTML: give a .html file", file=str(out))
    if out.is_dir():
        raise SocraticError("is a folder; give a file such as report.html", file=str(out))
    if source is not None and out.exists() and source.exists() and out.resolve() == source.resolve():
        raise SocraticError("the report would overwrite its own source; choose another file", file=str(out))
    if out.exists() and not _ours(out):
        raise SocraticError("exists and is not a socratic report: not overwritten (remove it or choose another "
                            "file)", file=str(out))


def write_report(source: str | Path, out: str | Path) -> Path:
    """Write the report of a result / trace / dataset file to `out` (atomically). A file at `out` that is
    not an earlier report is never overwritten."""
    source, out = Path(source), Path(out)
    check_report_path(out, source)
    html = report_html(source)
    write_atomic(out, html)
    return out


def write_result_report(result: dict, out: str | Path, source: str) -> Path:
    """The report of a run's result dict (`RunResult.to_dict(trace=True)`), written to `out`."""
    out = Path(out)
    check_report_path(out)
    write_atomic(out, run_html(run_doc(result, source)))
    return out
