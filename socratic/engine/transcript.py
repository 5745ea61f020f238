"""The compact Socratic transcript: each node's language once. An input that an earlier node produced is named
(`= places.labels[2]`), not repeated; a mapped node is shown item by item; long lists are folded."""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..trace_schema import INCLUDE_TYPE, SEP

FOLD = 8  # list elements shown before "… N more"
# How trace.summarise describes media and tensors: not language, left out of transcripts.
MEDIA_PREFIXES = ("<image ", "<tensor ", "<array ", "<keyframe ")


def _is_media(text: str) -> bool:
    return text.startswith(MEDIA_PREFIXES)


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


def _printable(value: Any) -> bool:
    """Language or a number: what the transcript shows (media descriptions and empty values are left out)."""
    if isinstance(value, (bool, int, float)):
        return True
    return _has_text(value) or (isinstance(value, (list, dict)) and any(
        _printable(v) for v in (value.values() if isinstance(value, dict) else value)))


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
        lines = []
        for k, v in enumerate(shown):  # one element per bullet, its own lines indented under it
            sub = _show(v)
            if sub:
                lines += [f"[{k}] {sub[0]}"] + [f"    {line}" for line in sub[1:]]
        return lines + ([rest.strip()] if rest else [])
    if isinstance(value, dict):
        parts = [(k, _show(v)) for k, v in value.items() if _has_text(v) or isinstance(v, (int, float))]
        if all(len(lines) <= 1 for _, lines in parts):
            return ["; ".join(f"{k}: {lines[0] if lines else ''}" for k, lines in parts)]
        return [f"{k}: {line}" for k, lines in parts for line in lines]
    return [] if value is None else [str(value)]


def _emit(out: list[str], arrow: str, port: str, value: Any, seen: dict[str, list[str]], pad: str = "  ",
          index: int | None = None, source: str | None = None) -> None:
    key = _key(value)
    lines = _show(value)
    long = len(lines) > 1 or any(len(line) > 60 for line in lines)  # as printed: short values read better as is
    if source is not None and key is not None:  # an input named by the wire it came by, never by a lookalike
        if source in seen.get(key, []) or (key in seen and not source.startswith("inputs.")):
            out.append(f"{pad}{arrow} {port}: = {source}")
            return
        if source.startswith("inputs."):  # a pipeline input, shown where first used, then named
            _remember(seen, value, source, 0)
    elif key is not None and key in seen and (arrow == "←" or long):  # an output repeating a long value too
        wheres = seen[key]
        aligned = [w for w in wheres if index is not None and w.endswith(f"[{index}]")]
        out.append(f"{pad}{arrow} {port}: = {(aligned or wheres)[0]}")
        return
    refs = _element_refs(value, seen) if long else None
    if refs:
        out.append(f"{pad}{arrow} {port}: = {refs}")
        return
    if not lines:
        return
    if len(lines) == 1:
        out.append(f"{pad}{arrow} {port}: {lines[0]}")
    else:
        out.append(f"{pad}{arrow} {port}:")
        out.extend(f"{pad}    {line}" for line in lines)


def _element_refs(value: Any, seen: dict[str, list[str]]) -> str | None:
    """A list whose long elements were all seen before (a reranked list): `node.port[3, 0, 1]`, else None."""
    if not isinstance(value, list) or not value:
        return None
    wheres = []
    for v in value:
        key = _key(v)
        if key is None or key not in seen or not (isinstance(v, str) and ("\n" in v or len(v) > 60)):
            return None
        wheres.append(seen[key][0])
    bases = {w.rsplit("[", 1)[0] for w in wheres}
    if len(bases) == 1 and all(w.endswith("]") for w in wheres):
        return f"{bases.pop()}[{', '.join(w.rsplit('[', 1)[1][:-1] for w in wheres)}]"
    return " | ".join(wheres)


def _remember(seen: dict[str, list[str]], value: Any, where: str, depth: int = 2) -> None:
    """The value and its list elements (two levels: a mapped node's lists of lists) as coming from `where`."""
    key = _key(value)
    if key is not None and where not in seen.get(key, []):
        seen.setdefault(key, []).append(where)
    if isinstance(value, list) and depth:
        for i, v in enumerate(value):
            _remember(seen, v, f"{where}[{i}]", depth - 1)


def compact_transcript(records: Iterable[Any]) -> str:
    """Records: NodeRecords (or objects with node, type, inputs, outputs, models, cached, items)."""
    out: list[str] = []
    seen: dict[str, list[str]] = {}
    headed: set[str] = set()
    outputs_of: dict[str, list[str]] = {}  # node -> its output names, to name a wire `node` by its one output
    for r in records:
        n = r.items
        start = len(out)
        wires = {port: _wire(ref, outputs_of) for port, ref in (getattr(r, "sources", None) or {}).items()}
        outputs_of[r.node] = list(r.outputs)
        if any(_printable(v) for v in r.outputs.values()):
            model = f" ({', '.join(r.models.values())})" if r.models else ""
            count = f" · {n} items" if n is not None else ""
            out.append(f"── {r.node} [{r.type}]{model}{count}{' (cached)' if r.cached else ''}")
            per_item = {p: v for p, v in r.inputs.items() if n is not None and isinstance(v, list) and len(v) == n}
            for port, v in r.inputs.items():
                if port not in per_item and _has_text(v):
                    _emit(out, "←", port, v, seen, source=wires.get(port))
            # its language; a node without any (a count) by its numbers
            outs = ({p: v for p, v in r.outputs.items() if _has_text(v)}
                    or {p: v for p, v in r.outputs.items() if _printable(v)})
            if n is None:
                for port, v in outs.items():
                    _emit(out, "→", port, v, seen)
                    _remember(seen, v, f"{r.node}.{port}")
            else:
                for i in range(n):
                    item: list[str] = []
                    for port, v in per_item.items():
                        if _has_text(v[i]):
                            wire = wires.get(port)
                            _emit(item, "←", port, v[i], seen, "      ", i, f"{wire}[{i}]" if wire else None)
                    for port, v in outs.items():
                        if isinstance(v, list) and i < len(v):
                            _emit(item, "→", port, v[i], seen, "      ", i)
                            _remember(seen, v[i], f"{r.node}.{port}[{i}]", 1)
                    if item:
                        out.append(f"  [{i}] " + item[0].lstrip())
                        out.extend(item[1:])
        parts = r.node.split(SEP)
        if len(out) > start and len(parts) > 1:  # a node of an included pipeline: under its heading, indented
            heads = []
            for d in range(1, len(parts)):
                include = SEP.join(parts[:d])
                if include not in headed:
                    headed.add(include)
                    heads.append(f"{'  ' * (d - 1)}── {include} [{INCLUDE_TYPE}]")
            out[start:] = heads + ["  " * (len(parts) - 1) + line for line in out[start:]]
        for port, v in r.outputs.items():
            _remember(seen, v, f"{r.node}.{port}")
    return "\n".join(out)


def _wire(ref: str, outputs_of: dict[str, list[str]]) -> str | None:
    """How an input's source is named: `node.output` (an index kept) or `inputs.name`."""
    ref = str(ref).strip()
    if ref.startswith("inputs."):
        return ref
    if "." in ref:
        return ref
    name, bracket, index = ref.partition("[")
    outs = outputs_of.get(name) or []
    return f"{name}.{outs[0]}{bracket}{index}" if len(outs) == 1 else ref
