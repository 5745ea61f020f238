"""The files a single run writes: the result JSON (`run --out`) and the trace JSON (`--trace`). The rule of dataset
outputs and reports holds here too: checked before any work, and never written over a file that is not one of ours
(a result or a trace an earlier run wrote)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..encoding import json_document
from ..errors import SocraticError
from ..paths import write_atomic
from ..trace_schema import NODES, OUTPUTS, PIPELINE, VERSION, WARNINGS
from .datasets.output import check_out_path

_OURS_START = re.compile(rb'^\s*\{\s*"(' + "|".join((OUTPUTS, VERSION, PIPELINE)).encode() + rb')"\s*:')
_SHAPES = ({OUTPUTS, WARNINGS}, {PIPELINE, WARNINGS, NODES})  # a result; a trace (docs/trace.md)


def is_run_json(path: Path) -> bool:
    """Whether `path` holds a result or a trace JSON that socratic wrote (read only when it starts like one)."""
    try:
        with open(path, "rb") as f:
            if not _OURS_START.match(f.read(256)):
                return False
            f.seek(0)
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and any(shape <= set(doc) for shape in _SHAPES)


def check_run_file(path: Path, flag: str) -> None:
    """`path` may take a result or trace: a new file, an empty one, or one of ours."""
    check_out_path(path, flag=flag, example="result.json")
    if path.exists() and not path.is_file():
        raise SocraticError(f"{flag} is not a regular file (a device, FIFO or socket); choose a file such as "
                            "result.json", file=str(path))
    if path.exists() and path.stat().st_size and not is_run_json(path):
        raise SocraticError(f"{flag}: exists and is not a socratic result or trace: not overwritten (remove it or "
                            "choose another file)", file=str(path))


def check_run_files(files: dict[str, Path | None]) -> None:
    """Before any work: each given output (flag -> path) may be written, and no two are the same file."""
    given = {flag: Path(p) for flag, p in files.items() if p is not None}
    seen: dict[Path, str] = {}
    for flag, path in given.items():
        key = path.resolve()
        if key in seen:
            raise SocraticError(f"{seen[key]} and {flag} name the same file; give each its own", file=str(path))
        seen[key] = flag
    for flag, path in given.items():
        if flag != "--report":  # the report checks its own file
            check_run_file(path, flag)


def write_run_json(path: Path, doc: dict[str, Any] | str, flag: str) -> str | None:
    """Write a result / trace (a dict, or JSON text already made) after checking `path` again (a file may have
    appeared while the run worked); returns the warning a NaN or infinity needed, if any."""
    check_run_file(Path(path), flag)
    text, warning = (doc, None) if isinstance(doc, str) else json_document(doc, indent=2)
    write_atomic(Path(path), text)
    return warning
