"""The result and trace JSON's field names (docs/trace.md), written once: the writer (engine/trace.py) and the
readers (report/, engine/run_output.py) take them from here. A leaf module: the report loads it without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2  # 2 added schema_version, media thumbnails and each record's sources
SEP = "/"  # an included pipeline's node is `include/name` (`world/caption/places`): in the engine, trace and report

# a result {outputs, warnings, trace}; a trace {schema_version, pipeline, warnings, nodes, media}
OUTPUTS, WARNINGS, TRACE = "outputs", "warnings", "trace"
VERSION, PIPELINE, NODES, MEDIA = "schema_version", "pipeline", "nodes", "media"
# a node record (NodeRecord.to_dict); an included pipeline's record is of TYPE INCLUDE_TYPE, with its FILE, its
# PIPELINE name and its nodes' records under NODES
NODE, TYPE, INPUTS, PARAMS, MODELS = "node", "type", "inputs", "params", "models"
SECONDS, CACHED, ITEMS, SOURCES, FILE = "seconds", "cached", "items", "sources", "file"
INCLUDE_TYPE = "pipeline"
HEADER_SUFFIX = ".socratic.json"  # a dataset output's header, beside it: out.jsonl.socratic.json


@dataclass
class NodeRecord:
    """One node run, as the runner records it."""
    node: str
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    params: dict[str, Any]
    models: dict[str, str]
    seconds: float
    cached: bool
    items: int | None = None  # set for mapped nodes
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # port -> "node.output" | "inputs.name"

    def to_dict(self) -> dict[str, Any]:
        """The record as the trace writes it."""
        return {NODE: self.node, TYPE: self.type, INPUTS: self.inputs, OUTPUTS: self.outputs, PARAMS: self.params,
                MODELS: self.models, SECONDS: self.seconds, CACHED: self.cached, ITEMS: self.items,
                WARNINGS: self.warnings, SOURCES: self.sources}
