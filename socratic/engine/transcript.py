"""The compact Socratic transcript: each node's language once. An input that an earlier node produced is named
(`= places.labels[2]`), not repeated; a mapped node is shown item by item; long lists are folded."""

from __future__ import annotations

import json
from typing import Any, Iterable

FOLD = 8  # list elements shown before "… N more"
_MEDIA = ("<image ", "<tensor ", "<array ", "<keyframe ", "<audio ", "<video ")


def _is_media(text: str) -> bool:
    return text.startswith(_MEDIA)


def _key(value: Any) -> str | None:
    """What identifies a value for de-duplication; None for values too plain to point back to."""
    if value is None or isinstance(value, (bool, int, float)) or value in ("", [], {}):
        return None
    if isinstance(value, str) and (len(value) < 3 or _is_media(value)):
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return not _is_media(value)
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    return False


def _show(value: Any) -> list[str]:
    """A value as text lines: a string as is, a flat list joined with ' | ' (folded), objects as k: v."""
    if isinstance(value, str):
        return [] if _is_media(value) else value.splitlines() or [""]
    if isinstance(value, list):
        shown = value[:FOLD]
        rest = f" … {len(value) - FOLD} more" if len(value) > FOLD else ""
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            texts = [(v or '""') if isinstance(v, str) else str(v) for v in shown
                     if not (isinstance(v, str) and _is_media(v))]
            if all("\n" not in t for t in texts):
                return [" | ".join(texts) + rest] if texts or rest else []
        lines = [line for v in shown for line in _show(v)]
        return lines + ([rest.strip()] if rest else [])
    if isinstance(value, dict):
        parts = [(k, _show(v)) for k, v in value.items() if _has_text(v) or isinstance(v, (int, float))]
        if all(len(lines) <= 1 for _, lines in parts):
            return ["; ".join(f"{k}: {lines[0] if lines else ''}" for k, lines in parts)]
        return [f"{k}: {line}" for k, lines in parts for line in lines]
    return [] if value is None else [str(value)]


def _emit(out: list[str], arrow: str, port: str, value: Any, seen: dict[str, list[str]], pad: str = "  ",
          index: int | None = None) -> None:
    key = _key(value)
    if arrow == "←" and key is not None and key in seen:
        wheres = seen[key]
        aligned = [w for w in wheres if index is not None and w.endswith(f"[{index}]")]
        out.append(f"{pad}{arrow} {port}: = {(aligned or wheres)[0]}")
        return
    lines = _show(value)
    if not lines:
        return
    if len(lines) == 1:
        out.append(f"{pad}{arrow} {port}: {lines[0]}")
    else:
        out.append(f"{pad}{arrow} {port}:")
        out.extend(f"{pad}    {line}" for line in lines)


def _remember(seen: dict[str, list[str]], value: Any, where: str) -> None:
    key = _key(value)
    if key is not None:
        seen.setdefault(key, []).append(where)
    if isinstance(value, list):
        for i, v in enumerate(value):
            k = _key(v)
            if k is not None:
                seen.setdefault(k, []).append(f"{where}[{i}]")


def compact_transcript(records: Iterable[Any]) -> str:
    """Records: NodeRecords (or objects with node, type, inputs, outputs, models, cached, items)."""
    out: list[str] = []
    seen: dict[str, list[str]] = {}
    headed: set[str] = set()
    for r in records:
        n = r.items
        start = len(out)
        if any(_has_text(v) for v in r.outputs.values()):
            model = f" ({', '.join(r.models.values())})" if r.models else ""
            count = f" · {n} items" if n is not None else ""
            out.append(f"── {r.node} [{r.type}]{model}{count}{' (cached)' if r.cached else ''}")
            per_item = {p: v for p, v in r.inputs.items() if n is not None and isinstance(v, list) and len(v) == n}
            for port, v in r.inputs.items():
                if port not in per_item and _has_text(v):
                    _emit(out, "←", port, v, seen)
            outs = {p: v for p, v in r.outputs.items() if _has_text(v)}
            if n is None:
                for port, v in outs.items():
                    _emit(out, "→", port, v, seen)
            else:
                for i in range(n):
                    item: list[str] = []
                    for port, v in per_item.items():
                        if _has_text(v[i]):
                            _emit(item, "←", port, v[i], seen, "      ", i)
                    for port, v in outs.items():
                        if isinstance(v, list) and i < len(v):
                            _emit(item, "→", port, v[i], seen, "      ", i)
                    if item:
                        out.append(f"  [{i}] " + item[0].lstrip())
                        out.extend(item[1:])
        parts = r.node.split("/")
        if len(out) > start and len(parts) > 1:  # a node of an included pipeline: under its heading, indented
            heads = []
            for d in range(1, len(parts)):
                if "/".join(parts[:d]) not in headed:
                    headed.add("/".join(parts[:d]))
                    heads.append(f"{'  ' * (d - 1)}── {'/'.join(parts[:d])} [pipeline]")
            out[start:] = heads + ["  " * (len(parts) - 1) + line for line in out[start:]]
        for port, v in r.outputs.items():
            _remember(seen, v, f"{r.node}.{port}")
    return "\n".join(out)
