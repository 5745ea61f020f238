"""Pipeline DAG as Mermaid or DOT text."""

from __future__ import annotations

from .spec import PipelineSpec, parse_ref


def _elements(p: PipelineSpec):
    """(id, label, kind) for inputs, nodes and outputs; (src, dst, label) for every edge."""
    def source(ref: str) -> str:
        head, tail = parse_ref(ref)
        return f"inputs.{tail}" if head == "inputs" else head

    boxes = [(f"inputs.{n}", n, "input") for n in p.inputs]
    boxes += [(n, f"{n} ({ns.type}{', map' if ns.map else ''})", "node") for n, ns in p.nodes.items()]
    boxes += [(f"outputs.{n}", n, "output") for n in p.outputs]
    edges = [(source(ref), name, port) for name, ns in p.nodes.items() for port, ref in ns.inputs.items()]
    edges += [(source(ref), f"outputs.{name}", "") for name, ref in p.outputs.items()]
    return boxes, edges


def _id(name: str) -> str:
    return name.replace(".", "__").replace("-", "_")


def to_mermaid(p: PipelineSpec) -> str:
    shape = {"input": '(["{}"])', "node": '["{}"]', "output": '[/"{}"/]'}
    boxes, edges = _elements(p)
    lines = ["flowchart TD"] + [f"  {_id(i)}{shape[k].format(label)}" for i, label, k in boxes]
    lines += [f'  {_id(s)} -->|"{lab}"| {_id(d)}' if lab else f"  {_id(s)} --> {_id(d)}" for s, d, lab in edges]
    return "\n".join(lines)


def to_dot(p: PipelineSpec) -> str:
    shape = {"input": "ellipse", "node": "box", "output": "parallelogram"}
    boxes, edges = _elements(p)
    lines = [f'digraph "{p.name or "pipeline"}" {{', "  rankdir=TB;"]
    lines += [f'  "{_id(i)}" [label="{label}", shape={shape[k]}];' for i, label, k in boxes]
    lines += [f'  "{_id(s)}" -> "{_id(d)}"' + (f' [label="{lab}"];' if lab else ";") for s, d, lab in edges]
    return "\n".join(lines + ["}"])
