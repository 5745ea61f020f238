"""What multiple-choice benchmarks share: the `choice` of each item in a dataset run's output, and dataset files
written once (never over an existing file)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import SocraticError
from ..paths import write_atomic
from .records import read_records


@dataclass
class Choices:
    """The latest record of each item: `picked[id]` is the option index, or None when the item failed or its
    choice is null or not an option (`invalid` lists those ids, `why` says what each was)."""

    picked: dict[str, int | None] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    repeated: int = 0  # records superseded by a later record of the same item

    @property
    def invalid(self) -> list[str]:
        return [i for i, c in self.picked.items() if c is None]


def read_choices(path: str | Path, n_options: int = 5) -> Choices:
    """A dataset run's JSONL (`{"id", "outputs": {"choice", ...}}` or `{"id", "error"}`; a JSON list of such
    records also works). The latest record of an id wins, as on resume. An error record, a null choice, or a
    choice that is not a whole number from 0 to n_options-1 makes the item invalid (scored wrong)."""
    p = Path(path)
    out = Choices()
    for where, rec in read_records(p):
        if not isinstance(rec, dict) or "id" not in rec or not ("outputs" in rec or "error" in rec):
            raise SocraticError(f"{where}: not a dataset-run record (needs 'id' and 'outputs' or 'error')",
                                file=str(p))
        item = str(rec["id"])
        out.repeated += item in out.picked
        out.picked.pop(item, None)
        out.why.pop(item, None)
        if "error" in rec:
            out.picked[item], out.why[item] = None, "failed item"
            continue
        outputs = rec["outputs"]
        if not isinstance(outputs, dict) or "choice" not in outputs:
            raise SocraticError(f"{where}: outputs carry no 'choice' (run a multiple-choice pipeline)",
                                file=str(p), field="choice")
        choice = outputs["choice"]
        if choice is None:
            out.picked[item], out.why[item] = None, "choice null"
        elif isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < n_options:
            out.picked[item], out.why[item] = None, f"choice {choice!r} is not an option"
        else:
            out.picked[item] = choice
    return out


def invalid_summary(ids: Iterable[str], choices: Choices, limit: int = 5) -> str:
    """"3 invalid (failed item: q1, q2; choice null: q3)" for the ids given, by reason."""
    by: dict[str, list[str]] = {}
    for i in ids:
        by.setdefault(choices.why.get(i, "invalid"), []).append(i)
    parts = [f"{why}: {', '.join(v[:limit])}{' …' if len(v) > limit else ''}" for why, v in by.items()]
    return f"{sum(map(len, by.values()))} invalid ({'; '.join(parts)})"


def shortfall_lines(invalid: list[str], missing: list[str], ignored: int, choices: Choices,
                    ignored_what: str) -> list[str]:
    """The report's lines for invalid, missing and ignored predictions (the first two are scored wrong)."""
    lines = []
    if invalid:
        lines.append(f"  {invalid_summary(invalid, choices)}: scored wrong")
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        lines.append(f"  {len(missing)} without a prediction ({shown}): scored wrong")
    if ignored:
        lines.append(f"  {ignored} prediction(s) of {ignored_what}: ignored")
    return lines


def refuse_existing(out: str | Path) -> Path:
    out = Path(out)
    if out.exists():
        raise SocraticError("already exists; choose a new path (an existing file is never overwritten)",
                            file=str(out))
    return out


def write_jsonl(out: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Rows as a new JSONL file (refused when `out` exists); the number of lines."""
    out = refuse_existing(out)
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
    write_atomic(out, "".join(lines))
    return len(lines)


def load_json(path: str | Path, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise SocraticError(f"{what} not found", file=str(p))
    try:
        return json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SocraticError(f"not UTF-8 text ({exc.reason})", file=str(p)) from None
    except json.JSONDecodeError as exc:
        raise SocraticError(f"invalid JSON: {exc.msg}", file=str(p), line=exc.lineno) from None
