"""What `socratic nodes` prints: one line per node type, or one type's full reference (ports, params with
types and defaults, model slots, docstring)."""

from __future__ import annotations

import re
from typing import Any

from .node import NodeType
from .types import FilePath, Prompt, Vocab, takes, type_name

INCLUDE = "pipeline"  # the include type: compose.py inlines it, so it has no NodeType
INCLUDE_SIGNATURE = "pipeline(<the included pipeline's inputs>) -> <its outputs>"
INCLUDE_DOC = ("Run another pipeline as one node: its inputs are the wired ports, its outputs this node's outputs.\n"
               "params:\n"
               "  file: path        the pipeline YAML, relative to this file (a bare name: also the shipped "
               "pipelines/)\n"
               "  pipeline: mapping the included pipeline inline instead of file\n"
               "  models: mapping   {inner name: this file's model name} renames shared models\n"
               "Details: docs/pipelines.md.")


def signature(nt: NodeType) -> str:
    """`name(port: type, ...) -> output: type, ...`"""
    ins = ", ".join(f"{k}: {type_name(v.type)}" for k, v in nt.inputs.items())
    if nt.dynamic_inputs:
        ins = ", ".join(x for x in (ins, "**fields") if x)
    outs = ", ".join(f"{k}: {type_name(v)}" for k, v in nt.outputs.items())
    return f"{nt.name}({ins}) -> {outs}"


def first_sentence(doc: str) -> str:
    """The docstring's first sentence, whole (it may span lines), for the one-line listing."""
    text = " ".join(doc.split("\n\n")[0].split())
    m = re.search(r"(?<!e\.g\.)(?<!i\.e\.)(?<! al\.)(?<=[.!?])\s+", text)
    return text[:m.start()] if m else text


def param_type(ann: Any) -> str:
    if takes(ann, Vocab):
        return "vocabulary (built-in name or file)" + (" | list[text]" if ann is not Vocab else "")
    if ann is FilePath:
        return "path (relative to the YAML file)"
    if ann is Prompt:
        return "prompt (text or {file: path})"
    return type_name(ann)


def describe(nt: NodeType) -> str:
    """The full reference of one node type."""
    lines = [signature(nt), ""]
    if nt.doc:
        lines += [nt.doc, ""]
    lines.append("inputs (wired: NODE.OUTPUT or inputs.NAME):")
    for k, p in nt.inputs.items():
        lines.append(f"  {k}: {type_name(p.type)}" + ("" if p.required else f" = {p.default!r} (optional)"))
    if nt.dynamic_inputs:
        lines.append("  **fields: any names (each wired port is a field)")
    if not nt.inputs and not nt.dynamic_inputs:
        lines.append("  (none)")
    models = nt.model_params
    if models:
        lines.append("models (params naming an entry of `models:`):")
        lines += [f"  {k}: {p.model_family} model" + ("" if p.required else " (optional)")
                  for k, p in models.items()]
    plain = {k: p for k, p in nt.params.items() if k not in models}
    lines.append("params:")
    for k, p in plain.items():
        lines.append(f"  {k}: {param_type(p.type)}" + (" (required)" if p.required else f" = {p.default!r}"))
    if not plain:
        lines.append("  (none)")
    lines.append("outputs:")
    lines += [f"  {k}: {type_name(v)}" for k, v in nt.outputs.items()]
    if nt.batched:
        lines.append("batched: one call for every item of a batch or mapped list (port types are per item)")
    return "\n".join(lines)
