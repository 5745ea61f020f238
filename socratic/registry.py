"""The one registry of node types: built-ins plus plugins from the `socratic.nodes` entry-point group."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # node.py's @node registers here at run time, so this module never imports it
    from .node import NodeType

# Generic nodes, then each method's own.
BUILTIN_NODE_MODULES = ("socratic.nodes", "socratic.socratic_models.egocentric", "socratic.socratic_models.log_summary",
                        "socratic.socratic_models.log_qa", "socratic.socratic_models.retrieval", "socratic.pica.nodes",
                        "socratic.magic.nodes", "socratic.longvideo.timeline", "socratic.longvideo.videotree")
_NODE_TYPES: dict[str, NodeType] = {}
_loaded = False


def register(nt: NodeType) -> None:
    if nt.name in _NODE_TYPES and _NODE_TYPES[nt.name].fn is not nt.fn:
        raise ValueError(f"node type '{nt.name}' is registered twice")
    _NODE_TYPES[nt.name] = nt


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_NODE_MODULES:
        importlib.import_module(module)  # registers its node types

    for ep in entry_points(group="socratic.nodes"):
        ep.load()  # an installed package's module that registers its node types


def node_types() -> dict[str, NodeType]:
    _load()
    return dict(_NODE_TYPES)


def get_node_type(name: str) -> NodeType | None:
    _load()
    return _NODE_TYPES.get(name)
