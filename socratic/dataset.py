"""Dataset mode: one pipeline run per item, one JSONL line per item, resumable after a kill."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import ModelNotFound, SocraticError
from .jsonl import JsonlWriter, finished_ids, iter_jsonl  # noqa: F401  (re-exported)
from .trace import summarise
from .types import Audio, Image, Video

_FILE_TYPES = (Image, Video, Audio, Path)


def _default_input(pipeline) -> str:
    required = [n for n, s in pipeline.inputs.items() if s.required]
    if len(required) != 1:
        raise SocraticError(f"a folder dataset feeds one input; this pipeline needs {', '.join(required) or 'none'}"
                            " — use --dataset-input NAME", file=pipeline.source)
    return required[0]


def iter_rows(pipeline, data: str | Path | Iterable[dict[str, Any]], *, input_name: str | None = None
              ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(item id, row) pairs from JSONL, CSV, a folder of files, or an iterable of dicts."""
    if not isinstance(data, (str, Path)):
        for i, row in enumerate(data):
            yield str(row.get("id", i)), dict(row)
        return
    path = Path(data)
    if path.is_dir():
        name = input_name or _default_input(pipeline)
        for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            yield str(f.relative_to(path)), {name: str(f)}
        return
    if not path.exists():
        raise SocraticError("dataset not found", file=str(path))
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                yield str(row.get("id") or i), _relative_to(row, path.parent, pipeline)
        return
    if path.suffix not in (".jsonl", ".json"):
        raise SocraticError("a dataset is a .jsonl or .csv file, or a folder", file=str(path))
    for lineno, row in iter_jsonl(path):
        yield str(row.get("id", lineno)), _relative_to(row, path.parent, pipeline)


def _relative_to(row: dict[str, Any], base: Path, pipeline) -> dict[str, Any]:
    """File paths in a dataset are relative to the dataset file."""
    from .types import parse_type

    out = dict(row)
    for name, spec in pipeline.inputs.items():
        value = out.get(name)
        try:
            is_file = parse_type(spec.type) in _FILE_TYPES
        except KeyError:
            is_file = False
        if is_file and isinstance(value, str) and not Path(value).is_absolute() and not Path(value).exists():
            out[name] = str(base / value)
    return out


def item_record(item_id: str, result=None, error: str | None = None) -> dict[str, Any]:
    if error is not None:
        return {"id": item_id, "error": error}
    return {"id": item_id, "outputs": summarise(result.outputs), "warnings": result.warnings}


def pipeline_inputs(pipeline, row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in pipeline.inputs}


def run_item(pipeline, item_id: str, row: dict[str, Any], **run_opts: Any) -> dict[str, Any]:
    """One item's record: its outputs, or its error. Missing weights stop the whole run instead."""
    try:
        return item_record(item_id, pipeline.run(pipeline_inputs(pipeline, row), **run_opts))
    except ModelNotFound:
        raise
    except SocraticError as exc:
        return item_record(item_id, error=str(exc))


def run_dataset(pipeline, data, out: str | Path, *, engine: str = "local", input_name: str | None = None,
                progress: bool = False, **run_opts: Any) -> dict[str, int]:
    """Run every item not already in `out`; returns counts of done, skipped and failed items."""
    pipeline.validate()
    out = Path(out)
    done = finished_ids(out)
    todo = [(i, r) for i, r in iter_rows(pipeline, data, input_name=input_name) if i not in done]
    if engine == "ray":
        from .ray_engine import run_dataset_ray

        return run_dataset_ray(pipeline, todo, out, skipped=len(done), progress=progress, **run_opts)
    if engine != "local":
        raise SocraticError(f"unknown engine '{engine}' (local or ray)", field="engine")
    counts = {"done": 0, "skipped": len(done), "failed": 0}
    writer = JsonlWriter(out)
    items: Iterable = todo
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(todo, desc="items", unit="item")
    try:
        for item_id, row in items:
            record = run_item(pipeline, item_id, row, **run_opts)
            writer.write(record)
            counts["failed" if "error" in record else "done"] += 1
    finally:
        writer.close()
    return counts
