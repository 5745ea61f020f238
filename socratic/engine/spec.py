"""A pipeline definition as data: named models, typed inputs, nodes wired output→input, named outputs.
Round-trips to YAML; knows nothing of validation or running (those live in validate.py and runner.py).
A node of type `pipeline` includes another pipeline (compose.py inlines it before validation)."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import SocraticError
from ..trace_schema import INCLUDE_TYPE
from .yaml_io import dump_yaml, line_of, load_yaml, load_yaml_file

SECTIONS = ("name", "description", "models", "inputs", "nodes", "outputs")
NODE_KEYS = ("type", "params", "inputs", "map", "cache")
PIPELINE = INCLUDE_TYPE  # the node type that includes another pipeline


@dataclass
class InputSpec:
    type: str = "any"
    default: Any = None
    required: bool = True
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if not self.required:
            d["default"] = self.default
        if self.description:
            d["description"] = self.description
        return d


@dataclass
class NodeSpec:
    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # port -> "node.output" | "inputs.name"
    map: list[str] = field(default_factory=list)
    cache: bool = True
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.map:
            d["map"] = list(self.map)
        if self.params:
            d["params"] = dict(self.params)
        if self.inputs:
            d["inputs"] = dict(self.inputs)
        if not self.cache:
            d["cache"] = False
        return d


_INDEX = re.compile(r"^(.*)\[(-?\d+)\]$")


def split_index(ref: str) -> tuple[str, int | None]:
    """'node.out[2]' -> ('node.out', 2): an element of a list output."""
    ref = str(ref).strip()
    m = _INDEX.match(ref) if ref.endswith("]") else None
    return (m.group(1), int(m.group(2))) if m else (ref, None)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """'inputs.x' -> ('inputs', 'x'); 'node.out[0]' -> ('node', 'out'); 'node' -> ('node', None)."""
    head, _, tail = split_index(ref)[0].partition(".")
    return head, (tail or None)


def _relative(path: str, base: str | Path | None) -> str:
    """`path` relative to `base` (absolute without one)."""
    p = Path(path).resolve()
    return Path(os.path.relpath(p, Path(base).resolve())).as_posix() if base is not None else str(p)


class PipelineSpec:
    """Build in Python or load from YAML. `socratic.Pipeline` adds validate/run/run_dataset."""

    def __init__(self, name: str = "", description: str = "", *, source: str | Path | None = None):
        self.name, self.description = name, description
        self.source = str(source) if source else None
        self.models: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, InputSpec] = {}
        self.nodes: dict[str, NodeSpec] = {}
        self.outputs: dict[str, str] = {}
        self.lines: dict[str, int | None] = {}  # "nodes.x", "models.m", ... -> line in source
        self.files: dict[str, str] = {}  # the same keys -> the file they were written in, where not `source`
        self.written: dict[str, Any] = {}  # params, input defaults, models as the YAML wrote them (docs/trust.md)
        self.groups: dict[str, Any] = {}  # after compose.expand: included pipeline node -> compose.Group
        self.load_problems: list[SocraticError] = []  # structural problems found while loading

    # -- building -------------------------------------------------------------------------------
    def add_model(self, name: str, family: str, backend: str, /, **options: Any) -> "PipelineSpec":
        """`add_model("clip", "vlm", "open_clip", name="ViT-B-32", pretrained="openai")`: the options as in YAML."""
        self.models[name] = {"family": family, "backend": backend, **options}
        return self

    def add_input(self, name: str, type: str = "any", *, default: Any = None, required: bool | None = None,
                  description: str = "") -> "PipelineSpec":
        req = default is None if required is None else required
        self.inputs[name] = InputSpec(type, default, req, description)
        return self

    def add_node(self, name: str, type: str, *, params: dict[str, Any] | None = None,
                 inputs: dict[str, str] | None = None, map: Iterable[str] | str | None = None,
                 cache: bool = True) -> "PipelineSpec":
        if name in self.nodes:
            raise SocraticError("duplicate node name", node=name)
        maps = [map] if isinstance(map, str) else list(map or [])
        self.nodes[name] = NodeSpec(name, type, dict(params or {}), dict(inputs or {}), maps, cache)
        return self

    def add_output(self, name: str, ref: str) -> "PipelineSpec":
        self.outputs[name] = ref
        return self

    def add_pipeline(self, name: str, pipeline: "PipelineSpec | str | Path", *,
                     inputs: dict[str, str] | None = None, map: Iterable[str] | str | None = None,
                     models: dict[str, str] | None = None, cache: bool = True) -> "PipelineSpec":
        """A node running another pipeline (an object or a file); its outputs are this node's outputs."""
        params: dict[str, Any] = ({"pipeline": pipeline} if isinstance(pipeline, PipelineSpec)
                                  else {"file": str(pipeline)})
        if models:
            params["models"] = dict(models)
        return self.add_node(name, PIPELINE, params=params, inputs=inputs, map=map, cache=cache)

    def file_of(self, key: str) -> str | None:
        """The file where `key` ("nodes.x", "models.m", ...) was written."""
        return self.files.get(key) or self.source

    # -- YAML -----------------------------------------------------------------------------------
    def to_dict(self, base: str | Path | None = None) -> dict[str, Any]:
        """Plain data. An included Pipeline object is written as `file:` (relative to `base`, default this
        pipeline's folder) when it has a source file, else as an inline `pipeline:` mapping."""
        d: dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        if self.models:
            d["models"] = {k: dict(v) for k, v in self.models.items()}
        d["inputs"] = {k: v.to_dict() for k, v in self.inputs.items()}
        origin = Path(self.source).resolve().parent if self.source else Path.cwd()  # where `file:` paths start
        if base is None and self.source:
            base = origin
        d["nodes"] = {k: v.to_dict() for k, v in self.nodes.items()}
        for k, v in self.nodes.items():
            inner = v.params.get("pipeline") if v.type == PIPELINE else None
            file = v.params.get("file") if v.type == PIPELINE else None
            if isinstance(file, str) and base is not None and not Path(file).is_absolute() \
                    and (origin / file).is_file():  # still naming the same file from `base`
                d["nodes"][k]["params"]["file"] = _relative(str(origin / file), base)
            if isinstance(inner, PipelineSpec):
                params = {key: val for key, val in v.params.items() if key != "pipeline"}
                if inner.source:
                    d["nodes"][k]["params"] = {"file": _relative(inner.source, base), **params}
                else:
                    d["nodes"][k]["params"] = {"pipeline": inner.to_dict(base), **params}
        d["outputs"] = dict(self.outputs)
        return d

    def to_yaml(self, base: str | Path | None = None) -> str:
        return dump_yaml(self.to_dict(base))

    def save(self, path: str | Path) -> None:
        """Write YAML; included files are named relative to `path`'s folder."""
        Path(path).write_text(self.to_yaml(Path(path).resolve().parent), encoding="utf-8")

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> "PipelineSpec":
        """A path to a .yaml file, or YAML text."""
        s = str(path_or_text)
        if isinstance(path_or_text, Path) or ("\n" not in s and s.endswith((".yaml", ".yml"))):
            return cls.from_dict(load_yaml_file(s), source=s)
        return cls.from_dict(load_yaml(s, "<string>"), source=None)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> "PipelineSpec":
        file = source or "<pipeline>"
        if not isinstance(data, dict):
            raise SocraticError("a pipeline must be a mapping with models/inputs/nodes/outputs", file=file)
        p = cls(str(data.get("name") or ""), str(data.get("description") or ""), source=source)
        problems = p.load_problems

        def problem(msg: str, line: int | None, node: str | None = None, fld: str | None = None) -> None:
            problems.append(SocraticError(msg, file=file, line=line, node=node, field=fld))

        def check_dupes(mapping: Any, where: str) -> None:
            for key, line in getattr(mapping, "duplicates", []):
                problem(f"duplicate name '{key}' in {where}", line)

        check_dupes(data, "the pipeline")
        if data and not any(key in SECTIONS for key in data):  # some other file: never echo what it holds
            raise SocraticError(f"not a pipeline file: none of its keys is a section ({', '.join(SECTIONS)})",
                                file=file)
        for key in data:
            if key not in SECTIONS:
                shown = str(key) if len(str(key)) <= 40 else str(key)[:40] + "…"
                problem(f"unknown section '{shown}' (expected one of {', '.join(SECTIONS)})", line_of(data, key))

        def section(key: str) -> dict[str, Any]:
            val = data.get(key) or {}
            if not isinstance(val, dict):
                problem(f"'{key}' must be a mapping", line_of(data, key))
                return {}
            check_dupes(val, key)
            return val

        for name, spec in section("models").items():
            p.lines[f"models.{name}"] = line_of(section("models"), name)
            if not isinstance(spec, dict):
                problem("a model must be a mapping with family and backend", p.lines[f"models.{name}"],
                        fld=f"models.{name}")
                continue
            p.models[name] = dict(spec)
            p.written[f"models.{name}"] = copy.deepcopy(p.models[name])

        inputs = section("inputs")
        for name, spec in inputs.items():
            p.lines[f"inputs.{name}"] = line_of(inputs, name)
            if isinstance(spec, str) or spec is None:
                spec = {"type": spec or "any"}
            if not isinstance(spec, dict):
                problem("an input must be a type name or a mapping", line_of(inputs, name), fld=f"inputs.{name}")
                continue
            has_default = "default" in spec
            p.inputs[name] = InputSpec(str(spec.get("type", "any")), spec.get("default"),
                                       bool(spec.get("required", not has_default)), str(spec.get("description", "")))
            if has_default:
                p.written[f"inputs.{name}"] = copy.deepcopy(spec.get("default"))

        nodes = section("nodes")
        for name, spec in nodes.items():
            line = line_of(nodes, name)
            p.lines[f"nodes.{name}"] = line
            if not isinstance(spec, dict) or "type" not in spec:
                problem("a node must be a mapping with a 'type'", line, node=name)
                continue
            check_dupes(spec, f"node '{name}'")
            for key in spec:
                if key not in NODE_KEYS:
                    problem(f"unknown key '{key}' (expected one of {', '.join(NODE_KEYS)})", line_of(spec, key),
                            node=name)
            params, wiring, maps = spec.get("params") or {}, spec.get("inputs") or {}, spec.get("map") or []
            if not isinstance(params, dict):
                problem("'params' must be a mapping", line_of(spec, "params"), node=name)
                params = {}
            if not isinstance(wiring, dict):
                problem("'inputs' must be a mapping of port: source", line_of(spec, "inputs"), node=name)
                wiring = {}
            for port, src in wiring.items():
                p.lines[f"nodes.{name}.inputs.{port}"] = line_of(wiring, port)
            for key in params:
                p.lines[f"nodes.{name}.params.{key}"] = line_of(params, key)
                p.written[f"nodes.{name}.params.{key}"] = copy.deepcopy(params[key])
            maps = [maps] if isinstance(maps, str) else list(maps)
            p.nodes[name] = NodeSpec(name, str(spec["type"]), dict(params), {k: str(v) for k, v in wiring.items()},
                                     maps, bool(spec.get("cache", True)), line)

        outputs = section("outputs")
        for name, ref in outputs.items():
            p.lines[f"outputs.{name}"] = line_of(outputs, name)
            p.outputs[name] = str(ref)
        return p

    def graph(self):
        """The DAG as a networkx.DiGraph (nodes plus 'inputs.x' sources)."""
        import networkx as nx

        g = nx.DiGraph()
        for name in self.inputs:
            g.add_node(f"inputs.{name}", kind="input")
        for name, spec in self.nodes.items():
            g.add_node(name, kind="node", type=spec.type)
        for name, spec in self.nodes.items():
            for port, ref in spec.inputs.items():
                head, tail = parse_ref(ref)
                src = f"inputs.{tail}" if head == "inputs" else head
                if src in g:
                    g.add_edge(src, name, port=port, output=tail)
        return g

    def __repr__(self) -> str:
        return f"Pipeline({self.name or self.source or '<unnamed>'}: {len(self.nodes)} nodes)"
