"""Prediction files as scorers read them: a JSON list (the official results format) or JSONL lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import SocraticError
from ..json_lines import jsonl_lines


def read_records(path: str | Path) -> list[tuple[str, Any]]:
    """(where, record) pairs: "entry k" of a JSON list, or "line k" of a JSONL file (blank lines skipped).
    A missing or empty file is an error."""
    p = Path(path)
    if not p.is_file():
        raise SocraticError("predictions file not found", file=str(p))
    records = _parse(p)
    if not records:
        raise SocraticError("no predictions in the file", file=str(p))
    return records


def _parse(p: Path) -> list[tuple[str, Any]]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SocraticError(f"not UTF-8 text ({exc.reason})", file=str(p)) from None
    if text.lstrip().startswith("["):
        try:
            return [(f"entry {k}", r) for k, r in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise SocraticError(f"not valid JSON ({exc})", file=str(p)) from None
    return [(f"line {line.number}", line.value) for line in jsonl_lines(text, str(p), objects=False)]
