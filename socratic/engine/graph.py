"""Pipeline DAG as Mermaid or DOT text. Names are pipeline data: every one is quoted and escaped, so no name can
add a node, an attribute or a link to the graph."""

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


def _dot(text: str) -> str:
    """A DOT quoted string: any name stays one label (quotes and backslashes escaped, lines kept)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "") + '"'


_MERMAID_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:/()+=")


def _mermaid(text: str) -> str:
    """A Mermaid quoted label: every other character as its entity code (`#34;`), so none ends the label."""
    return '"' + "".join(c if c in _MERMAID_SAFE else f"#{ord(c)};" for c in text) + '"'


def to_mermaid(p: PipelineSpec) -> str:
    shape = {"input": "([{}])", "node": "[{}]", "output": "[/{}/]"}
    boxes, edges = _elements(p)
    ids = {box: f"n{k}" for k, (box, _, _) in enumerate(boxes)}
    ids.update({x: f"n{len(ids) + k}" for k, x in enumerate(dict.fromkeys(
        e for s, d, _ in edges for e in (s, d) if e not in ids))})
    lines = ["flowchart TD"] + [f"  {ids[i]}{shape[k].format(_mermaid(label))}" for i, label, k in boxes]
    lines += [f"  {ids[s]} -->|{_mermaid(lab)}| {ids[d]}" if lab else f"  {ids[s]} --> {ids[d]}"
              for s, d, lab in edges]
    return "\n".join(lines)


def to_dot(p: PipelineSpec) -> str:
    shape = {"input": "ellipse", "node": "box", "output": "parallelogram"}
    boxes, edges = _elements(p)
    lines = [f"digraph {_dot(p.name or 'pipeline')} {{", "  rankdir=TB;"]
    lines += [f"  {_dot(_id(i))} [label={_dot(label)}, shape={shape[k]}];" for i, label, k in boxes]
    lines += [f"  {_dot(_id(s))} -> {_dot(_id(d))}" + (f" [label={_dot(lab)}];" if lab else ";")
              for s, d, lab in edges]
    return "\n".join(lines + ["}"])
