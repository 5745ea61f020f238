"""Node records of a trace, normalised: every field present with a sane type, nested sub-pipeline records
(`"nodes": {...}` or `[...]` inside a record, or names like `outer/inner`) flattened with their depth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return self.name.rsplit("/", 1)[-1]


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
    name = str(raw.get("node") or raw.get("name") or f"#{index}")
    full = f"{prefix}{name}"
    inner = raw.get("nodes")
    warnings = raw.get("warnings")
    node = Node(
        name=full, type=str(raw.get("type") or "?"),
        inputs=_dict(raw.get("inputs"), "inputs", problems), outputs=_dict(raw.get("outputs"), "outputs", problems),
        params=_dict(raw.get("params"), "params", problems),
        models={str(k): str(v) for k, v in _dict(raw.get("models"), "models", problems).items()},
        seconds=_number(raw.get("seconds")), cached=raw.get("cached") if isinstance(raw.get("cached"), bool) else None,
        items=raw.get("items") if isinstance(raw.get("items"), int) else None,
        warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
        sources={str(k): str(v) for k, v in _dict(raw.get("sources"), "sources", problems).items()},
        depth=depth or full.count("/"), parent=parent or (full.rsplit("/", 1)[0] if "/" in full else None),
        problems=problems, file=raw.get("file") if isinstance(raw.get("file"), str) else None)
    out = [node]
    if isinstance(inner, dict):
        inner = [{"node": k, **v} if isinstance(v, dict) else v for k, v in inner.items()]
    if isinstance(inner, list):
        for k, sub in enumerate(inner):
            out += normalise(sub, k, prefix=f"{full}/", depth=node.depth + 1, parent=full)
    return out


def flatten(raw_nodes: Any, problems: list[str]) -> list[Node]:
    """The trace's `nodes` (a list, or an object keyed by name) as a flat list in run order."""
    if isinstance(raw_nodes, dict):
        raw_nodes = [{"node": k, **v} if isinstance(v, dict) else v for k, v in raw_nodes.items()]
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
