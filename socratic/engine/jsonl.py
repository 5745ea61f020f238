"""A dataset output read without taking it over (resume checks, evaluation): the latest record of each item, the
items finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..json_lines import PER_ROW, read_jsonl


def latest_records(out: str | Path, id_key: str = "id") -> dict[str, dict[str, Any]]:
    """Read-only: the latest record of each item in a dataset output; lines that are no record (a torn last one)
    are passed over."""
    path = Path(out)
    if not path.exists():
        return {}
    latest: dict[str, dict[str, Any]] = {}
    for line in read_jsonl(path, PER_ROW):
        if line.error is None and id_key in line.value:
            latest[str(line.value[id_key])] = line.value
    return latest


def finished_ids(out: Path, *, key: str = "id") -> set[str]:
    """Read-only: ids whose latest record in a dataset output is not an error."""
    return {k for k, rec in latest_records(out, key).items() if "error" not in rec}
