"""The one JSON Lines reader: UTF-8 (a byte-order mark allowed), blank lines skipped, every error naming file and
line. A line that is not a JSON object (not UTF-8, not JSON, or another JSON value) is met in one of three modes:
STRICT raises a one-line SocraticError; PER_ROW yields the line with its error and reads on; LENIENT is STRICT
but skips a torn last line (no newline after it, as a killed writer leaves it). A leaf module: no heavy imports."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import SocraticError

STRICT, PER_ROW, LENIENT = "strict", "per_row", "lenient"
NOT_OBJECT = "each line must be a JSON object"


@dataclass
class Line:
    """A non-blank line: its JSON value, or (PER_ROW) why it is not a record."""
    number: int
    value: Any = None
    error: str | None = None


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"


def decode_utf8(path: Path) -> str:
    """The file's text; anything but UTF-8 (a BOM allowed) is an error naming file:line."""
    raw = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SocraticError(_not_utf8(raw, exc), file=str(path), line=raw.count(b"\n", 0, exc.start) + 1) from None


def _parse(line: str | bytes, objects: bool) -> Line:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Line(0, error=_not_utf8(line, exc))
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return Line(0, error=f"invalid JSON: {exc.msg}")
    return Line(0, value, NOT_OBJECT if objects and not isinstance(value, dict) else None)


def jsonl_lines(source: str | bytes, file: str, mode: str = STRICT, *, objects: bool = True) -> Iterator[Line]:
    """Each non-blank line of `source` (text, or bytes decoded line by line) in `mode`. `objects=False`: any
    JSON value is a record, not only an object."""
    if mode not in (STRICT, PER_ROW, LENIENT):
        raise ValueError(f"unknown JSON Lines mode {mode!r}")
    if isinstance(source, bytes):
        pieces: list[Any] = source.removeprefix(codecs.BOM_UTF8).split(b"\n")
    else:
        pieces = source.removeprefix("\ufeff").split("\n")
    for number, piece in enumerate(pieces, 1):
        if not piece.strip():
            continue
        line = _parse(piece, objects)
        line.number = number
        if line.error is not None and mode != PER_ROW:
            if mode == LENIENT and number == len(pieces):
                return
            raise SocraticError(line.error, file=file, line=number)
        yield line


def read_jsonl(path: str | Path, mode: str = STRICT, *, objects: bool = True) -> Iterator[Line]:
    """`jsonl_lines` of a file, named by its path in errors."""
    yield from jsonl_lines(Path(path).read_bytes(), str(path), mode, objects=objects)
