"""The one way text becomes bytes, for a cache key, a file or a request. JSON allows a lone surrogate
(`"\\ud83d"`, half of an emoji), UTF-8 does not: such text is carried escaped instead of stopping a run.
A leaf module: everything that writes, hashes or sends text imports it."""

from __future__ import annotations

import json
import math
from typing import Any


def utf8(text: str, *, exact: bool = False) -> bytes:
    """UTF-8 bytes of `text`. A lone surrogate becomes its escape `\\udXXX` (in a JSON string that escape reads
    back as the same character); `exact=True` (hashing only) keeps it as its own 3 bytes, so that no two texts
    share bytes."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass" if exact else "backslashreplace")


def safe_text(text: str) -> str:
    """`text` with every lone surrogate replaced by its escape `\\udXXX`: text any encoder accepts (a request
    body, a tokenizer). Other text comes back unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def finite(value: Any, where: str = "") -> tuple[Any, list[str]]:
    """`value` with every NaN or infinite float replaced by None (JSON has no such numbers), and where they
    were (`outputs.score[2]`), for a warning."""
    found: list[str] = []

    def walk(v: Any, at: str) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            found.append(at or "value")
            return None
        if isinstance(v, dict):
            return {k: walk(x, f"{at}.{k}" if at else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, f"{at}[{i}]") for i, x in enumerate(v)]
        return v

    return walk(value, where), found


def nonfinite_warning(places: list[str]) -> str:
    shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
    return f"not a finite number (NaN or infinity), written as null: {shown}"


def json_document(doc: dict[str, Any], *, indent: int | None = None) -> tuple[str, str | None]:
    """JSON text of a record, result or trace for a file, and the warning it needed: a NaN or infinite number
    becomes null and `doc`'s `warnings` list says where. Lone surrogates stay as they are here; `utf8()`
    escapes them when the text is written."""
    clean, bad = finite(doc)
    warning = nonfinite_warning(bad) if bad else None
    if warning:
        clean["warnings"] = [*(clean.get("warnings") or []), warning]
    return json.dumps(clean, indent=indent, ensure_ascii=False, allow_nan=False), warning
