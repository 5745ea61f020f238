"""Dataset rows: JSONL, CSV, a JSON array, a folder of files or an iterable of dicts, read as UTF-8 (with or
without a byte-order mark), each row with its id and where it came from. Rows that cannot run carry an error."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ...errors import SocraticError
from ...json_lines import PER_ROW, decode_utf8, jsonl_lines


@dataclass
class Row:
    id: str
    values: dict[str, Any]
    file: str | None = None  # where the row came from, for messages
    line: int | None = None
    error: str | None = None  # a row that cannot run: this becomes its error record
    inputs: dict[str, Any] | None = None  # what the job feeds the pipeline, once checked

    def fail(self, message: str, field: str | None = None) -> None:
        if self.error is None:
            self.error = SocraticError(message, file=self.file, line=self.line, field=field).format()


def _safe(text: str) -> str:
    """A name the OS gave us with undecodable bytes, made printable."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _jsonl(path: Path, id_key: str) -> list[Row]:
    rows = []
    for line in jsonl_lines(decode_utf8(path), str(path), PER_ROW):
        row = Row(str(line.number), {}, str(path), line.number)
        if line.error is not None:
            row.fail(line.error)
        else:
            row.values = line.value
            if line.value.get(id_key) is not None:
                row.id = str(line.value[id_key])
        rows.append(row)
    return rows


def _json_array(path: Path, id_key: str) -> list[Row]:
    text = decode_utf8(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SocraticError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    if not isinstance(data, list):
        raise SocraticError("a .json dataset is an array of objects (or use .jsonl, one object per line)",
                            file=str(path))
    return _from_dicts(data, id_key, file=f"{path} item")


def _csv(path: Path, id_key: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(decode_utf8(path), newline=""))
    rows = []
    for i, rec in enumerate(reader):
        rows.append(Row(str(rec.get(id_key) or i), dict(rec), str(path), reader.line_num))
    return rows


def _from_dicts(data: Iterable[Any], id_key: str, file: str = "row") -> list[Row]:
    rows = []
    for k, rec in enumerate(data):
        row = Row(str(k), {}, f"{file} {k}", None)
        if not isinstance(rec, dict):
            row.fail(f"a row must be a mapping, got {type(rec).__name__}")
        else:
            row.values = dict(rec)
            if rec.get(id_key) is not None:
                row.id = str(rec[id_key])
        rows.append(row)
    return rows


def _folder(path: Path, input_name: str) -> list[Row]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [Row(_safe(str(f.relative_to(path))), {input_name: str(f)}, _safe(str(f))) for f in files]


def read_rows(data: str | Path | Iterable[Any], *, id_key: str = "id", folder_input: str | None = None,
              unique: bool = True) -> list[Row]:
    """Every row with its id. Ids that repeat (an explicit id equal to another row's line number included) are
    one error listing them, raised before any work."""
    if not isinstance(data, (str, Path)):
        rows = _from_dicts(data, id_key)
    else:
        path = Path(data)
        if path.is_dir():
            if folder_input is None:
                raise SocraticError("a folder dataset needs the input its files feed (--dataset-input NAME)",
                                    file=_safe(str(path)))
            rows = _folder(path, folder_input)
        elif not path.exists():
            raise SocraticError("dataset not found", file=_safe(str(path)))
        elif path.suffix == ".csv":
            rows = _csv(path, id_key)
        elif path.suffix == ".jsonl":
            rows = _jsonl(path, id_key)
        elif path.suffix == ".json":
            rows = _json_array(path, id_key)
        else:
            raise SocraticError("a dataset is a .jsonl, .json (an array) or .csv file, or a folder",
                                file=_safe(str(path)))
    if unique:
        check_unique(rows, data)
    return rows


def check_unique(rows: list[Row], data: Any) -> None:
    seen: dict[str, list[Row]] = {}
    for r in rows:
        seen.setdefault(r.id, []).append(r)
    dupes = {k: v for k, v in seen.items() if len(v) > 1}
    if not dupes:
        return
    shown = "; ".join(f"'{k}' ({', '.join(_place(r) for r in v)})" for k, v in list(dupes.items())[:10])
    more = f" and {len(dupes) - 10} more" if len(dupes) > 10 else ""
    file = _safe(str(data)) if isinstance(data, (str, Path)) else None
    raise SocraticError(f"{len(dupes)} item id(s) used by more than one row (a row without an id is known by its "
                        f"line number): {shown}{more}; give every row a distinct id", file=file)


def _place(row: Row) -> str:
    return f"line {row.line}" if row.line else (row.file or "?")
