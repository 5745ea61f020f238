"""Node records of a trace, normalised: every field present with a sane type, nested sub-pipeline records
(`"nodes": {...}` or `[...]` inside a record, or names like `outer/inner`) flattened with their depth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trace_schema import (CACHED, FILE, INPUTS, ITEMS, MODELS, NODE, NODES, OUTPUTS, PARAMS, SECONDS, SEP, SOURCES,
                            TYPE, WARNINGS)


@dataclass
class Node:
    name: str  # full name: outer/inner for nested records
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    params: dict[str, Any]
    models: dict[str, str]
    seconds: float | None
    cached: bool | None
    items: int | None
    warnings: list[str]
    sources: dict[str, str]  # port -> ref (`node.output`, `inputs.x`); empty when the trace has no wiring
    depth: int = 0
    parent: str | None = None
    problems: list[str] = field(default_factory=list)
    file: str | None = None  # an included pipeline's file

    @property
    def short(self) -> str:
        return self.name.rsplit(SEP, 1)[-1]


def _dict(value: Any, what: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    problems.append(f"{what} is not an object")
    return {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def normalise(raw: Any, index: int, prefix: str = "", depth: int = 0, parent: str | None = None) -> list[Node]:
    """One raw record (and its nested records) as Nodes; a record that is not an object becomes a stub."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return [Node(f"{prefix}#{index}", "?", {}, {}, {}, {}, None, None, None, [], {}, depth, parent,
                     [f"record {index} is not an object"])]
    name = str(raw.get(NODE) or raw.get("name") or f"#{index}")  # `name`: accepted, never written
    full = f"{prefix}{name}"
    inner = raw.get(NODES)
    warnings = raw.get(WARNINGS)
    node = Node(
        name=full, type=str(raw.get(TYPE) or "?"),
        inputs=_dict(raw.get(INPUTS), INPUTS, problems), outputs=_dict(raw.get(OUTPUTS), OUTPUTS, problems),
        params=_dict(raw.get(PARAMS), PARAMS, problems),
        models={str(k): str(v) for k, v in _dict(raw.get(MODELS), MODELS, problems).items()},
        seconds=_number(raw.get(SECONDS)), cached=raw.get(CACHED) if isinstance(raw.get(CACHED), bool) else None,
        items=raw.get(ITEMS) if isinstance(raw.get(ITEMS), int) else None,
        warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
        sources={str(k): str(v) for k, v in _dict(raw.get(SOURCES), SOURCES, problems).items()},
        depth=depth or full.count(SEP), parent=parent or (full.rsplit(SEP, 1)[0] if SEP in full else None),
        problems=problems, file=raw.get(FILE) if isinstance(raw.get(FILE), str) else None)
    out = [node]
    if isinstance(inner, dict):
        inner = [{NODE: k, **v} if isinstance(v, dict) else v for k, v in inner.items()]
    if isinstance(inner, list):
        for k, sub in enumerate(inner):
            out += normalise(sub, k, prefix=full + SEP, depth=node.depth + 1, parent=full)
    return out


def flatten(raw_nodes: Any, problems: list[str]) -> list[Node]:
    """The trace's `nodes` (a list, or an object keyed by name) as a flat list in run order."""
    if isinstance(raw_nodes, dict):
        raw_nodes = [{NODE: k, **v} if isinstance(v, dict) else v for k, v in raw_nodes.items()]
    if raw_nodes is None:
        problems.append("the trace has no node records")
        return []
    if not isinstance(raw_nodes, list):
        problems.append("the trace's `nodes` is neither a list nor an object")
        return []
    out: list[Node] = []
    for i, raw in enumerate(raw_nodes):
        out += normalise(raw, i)
    for n in out:
        problems += [f"node {n.name}: {p}" for p in n.problems]
    return out
