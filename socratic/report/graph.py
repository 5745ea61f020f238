"""The run's DAG from its node records: edges from the recorded wiring (`sources`), or, for traces without
it, inferred from equal values (an input equal to an earlier node's output came from it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..trace_schema import SEP
from .records import Node

REF = re.compile(r"^([^.\[\]]+(?:/[^.\[\]]+)*)\.([^.\[\]]+)(\[\d+\])?$")


@dataclass(frozen=True)
class Edge:
    src: str  # a node's full name, or `inputs.NAME`
    dst: str
    label: str  # `output → port`


def anchor(name: str) -> str:
    return "node-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _resolve(ref: str, node: Node, names: set[str]) -> tuple[str, str] | None:
    """A source ref → (node or `inputs.NAME`, output). Names are the run's full names (`world/frames`);
    a name relative to the node's own include is accepted too."""
    m = REF.match(ref.strip())
    if not m:
        return None
    src, port = m.group(1), m.group(2) + (m.group(3) or "")
    if src == "inputs":
        return f"inputs.{port}", ""
    scope = node.name.rsplit(SEP, 1)[0] + SEP if SEP in node.name else ""
    for cand in (src, scope + src):
        if cand in names:
            return cand, port
    return None


def edges(nodes: list[Node]) -> tuple[list[Edge], bool]:
    """The edges, and whether they were inferred (no wiring recorded)."""
    names = {n.name for n in nodes}
    if any(n.sources for n in nodes):
        out = []
        for n in nodes:
            for port, ref in n.sources.items():
                hit = _resolve(ref, n, names)
                if hit:
                    src, out_port = hit
                    out.append(Edge(src, n.name, f"{out_port} → {port}" if out_port else port))
        return out, False
    return _inferred(nodes), True


def _key(value) -> str | None:
    if value is None or isinstance(value, (bool, int, float)) or value == "" or value == [] or value == {}:
        return None  # too common to say where it came from
    return json.dumps(value, sort_keys=True)


def _inferred(nodes: list[Node]) -> list[Edge]:
    out, seen = [], {}
    for n in nodes:
        for port, value in n.inputs.items():
            k = _key(value)
            if k is not None and k in seen:
                src, out_port = seen[k]
                out.append(Edge(src, n.name, f"{out_port} → {port}"))
        for port, value in n.outputs.items():
            k = _key(value)
            if k is not None:
                seen[k] = (n.name, port)
    return out
