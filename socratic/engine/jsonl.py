"""JSON Lines reading with line-numbered errors (UTF-8, a byte-order mark allowed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import SocraticError


def jsonl_records(lines: Iterable[str], file: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; bad JSON or a non-object names file and line."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SocraticError(f"invalid JSON: {exc.msg}", file=file, line=lineno) from None
        if not isinstance(rec, dict):
            raise SocraticError("each line must be a JSON object", file=file, line=lineno)
        yield lineno, rec


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from .datasets.rows import decode_utf8

    yield from jsonl_records(decode_utf8(Path(path)).split("\n"), str(path))


def finished_ids(out: Path, *, key: str = "id") -> set[str]:
    """Read-only: ids whose latest record in a dataset output is not an error."""
    from .datasets.output import latest_records

    return {k for k, rec in latest_records(out, key).items() if "error" not in rec}
