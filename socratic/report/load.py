"""Read a result JSON (`socratic run --out`), a trace JSON (`--trace`) or a dataset JSONL (`--dataset --out`)
into plain documents for the views. Reads only: nothing here imports torch or touches the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SocraticError
from ..json_lines import PER_ROW, jsonl_lines
from ..trace_schema import (HEADER_SUFFIX, MEDIA, NODES, OUTPUTS, PIPELINE, SCHEMA_VERSION, TRACE, VERSION,
                            WARNINGS)
from .records import Node, flatten



@dataclass
class RunDoc:
    source: str
    pipeline: str
    schema_version: int | None
    warnings: list[str]
    outputs: dict[str, Any]
    nodes: list[Node]
    media: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # what is missing or odd, said at the top of the report


@dataclass
class DatasetDoc:
    source: str
    header: dict[str, Any] | None
    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SocraticError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise SocraticError("is a folder; give a result .json or a dataset .jsonl", file=str(path)) from None
    except UnicodeDecodeError:
        raise SocraticError("not UTF-8 text: not a result JSON", file=str(path)) from None
    except OSError as exc:
        raise SocraticError(f"cannot read: {exc.strerror}", file=str(path)) from None


def load(path: str | Path) -> RunDoc | DatasetDoc:
    path = Path(path)
    text = _read(path)
    if not text.strip():
        raise SocraticError("empty file", file=str(path))
    if path.suffix == ".jsonl":
        return load_dataset(path, text)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.count("\n") > 1 and text.lstrip().startswith("{") and _first_line_is_object(text):
            return load_dataset(path, text)
        cut = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise SocraticError(f"not valid JSON{cut}: {exc.msg} at column {exc.colno}", file=str(path),
                            line=exc.lineno) from None
    return run_doc(doc, str(path))


def _first_line_is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text.lstrip().split("\n", 1)[0]), dict)
    except json.JSONDecodeError:
        return False


def run_doc(doc: Any, source: str) -> RunDoc:
    """A result ({outputs, warnings, trace}) or a bare trace ({pipeline, warnings, nodes, media})."""
    if not isinstance(doc, dict):
        raise SocraticError(f"a result JSON is an object, this is a {type(doc).__name__}", file=source)
    problems: list[str] = []
    trace = doc.get(TRACE) if TRACE in doc else (doc if NODES in doc else None)
    if trace is None and OUTPUTS not in doc:
        raise SocraticError(f"not a socratic result or trace: no `{OUTPUTS}`, `{TRACE}` or `{NODES}`", file=source)
    if trace is not None and not isinstance(trace, dict):
        problems.append(f"`{TRACE}` is not an object: only the outputs are shown")
        trace = None
    if trace is None:
        problems.append("written without its trace: no node records, prompts or timings to show")
        trace = {}
    version = trace.get(VERSION)
    if trace and not isinstance(version, int):
        version = None
        problems.append(f"no {VERSION}: written by an older socratic, without thumbnails or wiring "
                        "(the DAG's edges are inferred from equal values)")
    elif isinstance(version, int) and version > SCHEMA_VERSION:
        problems.append(f"{VERSION} {version} is newer than this report knows ({SCHEMA_VERSION}): "
                        "parts may be missing")
    nodes = flatten(trace.get(NODES), problems) if trace else []
    outputs = doc.get(OUTPUTS) if OUTPUTS in doc else None
    if outputs is None:
        outputs = {}
        if TRACE in doc or not trace:
            problems.append("the result has no outputs")
    elif not isinstance(outputs, dict):
        problems.append(f"`{OUTPUTS}` is not an object")
        outputs = {OUTPUTS: outputs}
    media = trace.get(MEDIA)
    if media is not None and not isinstance(media, dict):
        problems.append(f"`{MEDIA}` is not an object: no thumbnails")
        media = None
    warnings = _strings(doc.get(WARNINGS)) + _strings(trace.get(WARNINGS))
    for n in nodes:
        warnings += n.warnings
    pipeline = trace.get(PIPELINE) if isinstance(trace.get(PIPELINE), str) else None
    return RunDoc(source=source, pipeline=pipeline or Path(source).stem, schema_version=version,
                  warnings=list(dict.fromkeys(warnings)), outputs=outputs, nodes=nodes, media=media or {},
                  problems=problems)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


ID_KEYS = ("id", "question_id")  # a dataset run's records, then PICa's (`okvqa answer`, answer_many)
NOT_OUTPUTS = ("error", "warnings", "trace")


def load_dataset(path: Path, text: str) -> DatasetDoc:
    """One record per item (the latest line of an item wins); unreadable lines are reported, not fatal.
    Records keyed by `question_id` with their outputs at the top level (PICa's) read as {id, outputs, ...}."""
    problems: list[str] = []
    records: list[tuple[int, Any]] = []
    for line in jsonl_lines(text, str(path), PER_ROW, objects=False):
        if line.error is not None:
            problems.append(f"line {line.number}: not JSON (a torn write?), skipped")
        else:
            records.append((line.number, line.value))
    key = next((k for k in ID_KEYS if any(isinstance(r, dict) and k in r for _, r in records)), "id")
    rows: dict[str, dict[str, Any]] = {}
    for lineno, rec in records:
        if not isinstance(rec, dict) or key not in rec:
            problems.append(f"line {lineno}: not an item record (no `{key}`), skipped")
            continue
        if key != "id" and "outputs" not in rec:
            outputs = {k: v for k, v in rec.items() if k != key and k not in NOT_OUTPUTS}
            rec = {"id": rec[key], **({"outputs": outputs} if "error" not in rec else {}),
                   **{k: rec[k] for k in NOT_OUTPUTS if k in rec}}
        rows[str(rec["id"])] = rec
    if not rows:
        raise SocraticError("no item records (lines with an `id` or a `question_id`) in this JSONL", file=str(path))
    header = None
    head_path = path.with_name(path.name + HEADER_SUFFIX)
    if head_path.exists():
        try:
            header = json.loads(head_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            problems.append(f"{head_path.name}: unreadable header, pipeline and options unknown")
    return DatasetDoc(source=str(path), header=header if isinstance(header, dict) else None,
                      rows=list(rows.values()), problems=problems)
