"""Pipeline DAG as Mermaid or DOT text."""

from __future__ import annotations

from .pipeline import Pipeline, parse_ref


def _edges(p: Pipeline):
    for name, ns in p.nodes.items():
        for port, ref in ns.inputs.items():
            head, tail = parse_ref(ref)
            src = f"inputs.{tail}" if head == "inputs" else head
            yield src, name, (tail if head != "inputs" else "") + (f" → {port}" if port != tail else "")


def _id(name: str) -> str:
    return name.replace(".", "__").replace("-", "_")


def to_mermaid(p: Pipeline) -> str:
    lines = ["flowchart TD"]
    for name in p.inputs:
        lines.append(f'  {_id("inputs." + name)}(["{name}"])')
    for name, ns in p.nodes.items():
        lines.append(f'  {_id(name)}["{name}<br/><i>{ns.type}</i>{" (map)" if ns.map else ""}"]')
    for name in p.outputs:
        lines.append(f'  {_id("outputs." + name)}[/"{name}"/]')
    for src, dst, label in _edges(p):
        lines.append(f'  {_id(src)} -->|"{label}"| {_id(dst)}' if label else f"  {_id(src)} --> {_id(dst)}")
    for name, ref in p.outputs.items():
        head, tail = parse_ref(ref)
        src = f"inputs.{tail}" if head == "inputs" else head
        lines.append(f"  {_id(src)} --> {_id('outputs.' + name)}")
    return "\n".join(lines)


def to_dot(p: Pipeline) -> str:
    lines = [f'digraph "{p.name or "pipeline"}" {{', "  rankdir=TB;"]
    for name in p.inputs:
        lines.append(f'  "{_id("inputs." + name)}" [label="{name}", shape=ellipse];')
    for name, ns in p.nodes.items():
        lines.append(f'  "{_id(name)}" [label="{name}\\n({ns.type})", shape=box];')
    for name in p.outputs:
        lines.append(f'  "{_id("outputs." + name)}" [label="{name}", shape=parallelogram];')
    for src, dst, label in _edges(p):
        lines.append(f'  "{_id(src)}" -> "{_id(dst)}" [label="{label}"];')
    for name, ref in p.outputs.items():
        head, tail = parse_ref(ref)
        src = f"inputs.{tail}" if head == "inputs" else head
        lines.append(f'  "{_id(src)}" -> "{_id("outputs." + name)}";')
    lines.append("}")
    return "\n".join(lines)
