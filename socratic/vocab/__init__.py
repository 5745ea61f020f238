"""Shipped label vocabularies (see SOURCES.md) and the helpers that format them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import SocraticError

VOCAB_DIR = Path(__file__).resolve().parent

# Built-in name -> file in this folder.
BUILTIN: dict[str, str] = {
    "places365": "places365_sm_order.txt",
    "objects": "objects_tencent_synonyms_filtered.txt",
    "openimages": "openimages600.txt",
    "coco": "coco80.txt",
    "audioset": "audioset527.txt",
    "audioset_short": "audioset527_short.txt",
    "kinetics": "kinetics400.txt",
}
BUILTIN["places"] = BUILTIN["places365"]


def format_place_name(raw: str) -> str:
    """`/b/bow_window/indoor` -> `indoor bow window`: qualifier first, underscores to spaces."""
    parts = raw.split()[0].strip("/").split("/")[1:]  # drop the leading letter (and a trailing index)
    if not parts or not all(parts):
        raise SocraticError(f"not a Places365 category path: {raw!r}")
    if len(parts) == 2:
        parts = [parts[1], parts[0]]
    return " ".join(parts).replace("_", " ")


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a UTF-8 text file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SocraticError(f"cannot read vocabulary {path}: {exc}") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s]


@lru_cache(maxsize=64)
def _load(path: str, stamp: tuple[int, int]) -> tuple[str, ...]:
    labels = read_lines(Path(path))
    if not labels:
        raise SocraticError(f"vocabulary {path} is empty")
    return tuple(labels)


def vocab_path(name_or_path: str | Path) -> Path:
    """The file behind a built-in name or a path."""
    key = str(name_or_path)
    if key in BUILTIN:
        return VOCAB_DIR / BUILTIN[key]
    p = Path(key).expanduser()
    if p.is_file():
        return p.resolve()
    raise SocraticError(f"unknown vocabulary {key!r}: not a file, nor one of {sorted(BUILTIN)}")


def load_vocab(name_or_path: str | Path) -> list[str]:
    """Labels of a built-in vocabulary (`places365`, `objects`, ...) or of a text file, one label a line."""
    path = vocab_path(name_or_path)
    st = path.stat()
    return list(_load(str(path), (st.st_size, st.st_mtime_ns)))


def place_names() -> list[str]:
    """The 365 formatted Places365 names, in the dataset's order."""
    return load_vocab("places365")
