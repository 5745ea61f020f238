"""A row's values against the pipeline's input types, before any work: the first problem becomes the row's error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...types import Audio, Image, Video, item_type
from .rows import Row

_FILES = (Image, Video, Audio, Path)


def _kind(value: Any) -> str:
    return "null" if value is None else {str: "text", bool: "a boolean", list: "a list", dict: "a mapping"}.get(
        type(value), f"a number ({value!r})" if isinstance(value, (int, float)) else type(value).__name__)


def _problem(value: Any, t: Any) -> str | None:
    if t is Any:
        return None
    if t is str:
        return None if isinstance(value, str) else f"expected text, got {_kind(value)}"
    if t in (int, float):
        if isinstance(value, bool):
            return f"expected a number, got {_kind(value)}"
        try:
            t(value)
        except (TypeError, ValueError):
            return f"expected a number, got {value!r}"
        return None
    if t is bool:
        return None if isinstance(value, (bool, str)) else f"expected true or false, got {_kind(value)}"
    if t in _FILES:
        if t is Image and isinstance(value, Image):
            return None
        if not isinstance(value, (str, Path)):
            return f"expected a file path, got {_kind(value)}"
        return None if Path(value).expanduser().exists() else f"file not found: {value}"
    inner = item_type(t)
    if inner is not None:
        if not isinstance(value, list):
            return f"expected a list, got {_kind(value)}"
        for v in value:
            p = _problem(v, inner)
            if p:
                return p
    return None


def check_row(plan, row: Row, base: Path | None) -> dict[str, Any]:
    """The pipeline's inputs of a row (file paths resolved beside the dataset file); problems go to row.error."""
    pipeline = plan.pipeline
    inputs: dict[str, Any] = {}
    for name, spec in pipeline.inputs.items():
        t = plan.input_types[name]
        value = row.values.get(name)
        if value is None or (value == "" and t is not str):  # an empty CSV cell: absent
            if spec.required:
                row.fail(f"missing input '{name}' ({spec.type})", field=name)
            continue
        if t in _FILES and base is not None and isinstance(value, str) and not Path(value).is_absolute() \
                and not Path(value).exists():
            value = str(base / value)  # paths in a dataset file are relative to it
        problem = _problem(value, t)
        if problem:
            row.fail(problem, field=name)
        inputs[name] = value
    return inputs
