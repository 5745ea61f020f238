"""JSON Lines: read with line-numbered errors, append durably, and find what a killed run already finished."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import SocraticError


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
    with path.open(encoding="utf-8") as f:
        yield from jsonl_records(f, str(path))


class JsonlWriter:
    """Appends one record per line and makes it durable before the next item starts."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def finished_ids(out: Path, *, key: str = "id", done: Callable[[dict[str, Any]], bool] = lambda rec: True
                 ) -> set[str]:
    """Values of `key` in records of `out` that count as `done`; a torn last line (a kill mid-write) is cut."""
    if not out.exists():
        return set()
    ids: set[str] = set()
    good_bytes = 0
    with out.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                rec = json.loads(raw)
            except ValueError:
                break
            good_bytes += len(raw)
            if isinstance(rec, dict) and done(rec):
                ids.add(str(rec.get(key)))
    if good_bytes != out.stat().st_size:
        with out.open("r+b") as f:
            f.truncate(good_bytes)
    return ids
