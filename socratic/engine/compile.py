"""Compile a pipeline spec into a Plan before anything runs: includes inlined, node types and params checked,
wiring typed, models resolved (profile, overrides, stand-ins), the portable payload and its digest built once.
Every problem is reported with file, line and node."""

from __future__ import annotations

import copy
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import SocraticError, ValidationError
from ..models.loader import ModelSpec
from ..models.profiles import resolve_models
from ..node import NodeType, port_type
from ..paths import pipeline_path
from ..registry import get_node_type, node_types
from ..types import FilePath, Prompt, Vocab, compatible, item_type, list_of, parse_type, takes, type_name
from .access import Access, check_access, prompt_file
from .compose import SEP, expand
from .payload import payload_digest, portable_spec
from .spec import PipelineSpec, parse_ref, split_index


MODEL_OPTIONS = ("profile", "random_vlm", "random_atm", "random_captioner", "models")


@dataclass(frozen=True)
class Plan:
    """A compiled pipeline, the one value every runner takes. `pipeline` is the expanded spec (included pipelines
    inlined as namespaced nodes); `models` are the specs as written, `specs` what runs (profile, overrides and
    stand-ins applied); `payload` is the spec as plain data with includes and prompt texts inline (what a
    worker needs), `digest` the sha256 of what decides results. Both are None when there are problems."""

    pipeline: PipelineSpec
    order: list[str]
    types: dict[str, NodeType]
    params: dict[str, dict[str, Any]]
    input_types: dict[str, Any]
    models: dict[str, ModelSpec]
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    access: Access | None = None  # the files it reads, the variables it sends and where (docs/trust.md)
    payload: dict[str, Any] | None = None
    digest: str | None = None
    problems: tuple[SocraticError, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # the model options it was compiled with

    def output_type(self, node: str, output: str) -> Any:
        t = self.types[node].outputs[output]
        return list_of(t) if self.pipeline.nodes[node].map else t


def load_prompt(value: Any, base: Path | None) -> str:
    """Inline text, or the text of the `{file: path}` that `prompt_file` finds."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"file"}:
        found = prompt_file(value, base)
        if found is None:
            raise SocraticError(f"prompt file not found: {value['file']}")
        return found.read_text(encoding="utf-8")
    raise SocraticError("a prompt is inline text or {file: path}")


_SIMPLE = (int, float, bool, str)


def named_file(value: Any, ann: Any, base: Path | None) -> str:
    """A FilePath / Vocab param's value with a relative path resolved against the YAML file's folder `base`
    (a built-in vocabulary name as is); a one-line error when there is no such file."""
    from ..vocab import BUILTIN

    if not isinstance(value, str) or not value or (takes(ann, Vocab) and value in BUILTIN):
        return value
    found = pipeline_path(value, base)
    if found is not None:
        return str(found.resolve())
    where = f"relative to {base}" if base is not None and not Path(value).expanduser().is_absolute() else ""
    if takes(ann, Vocab):
        raise SocraticError(f"unknown vocabulary '{value}': no such file{' ' + where if where else ''}, nor a "
                            f"built-in name ({', '.join(sorted(BUILTIN))})")
    raise SocraticError(f"file not found: {value}{' (' + where + ')' if where else ''}")


def _param_ok(value: Any, ann: Any) -> bool:
    if ann in _SIMPLE:
        if ann is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if ann is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, ann)
    if typing.get_origin(ann) is list:
        return isinstance(value, list)
    return True


def compile(spec: PipelineSpec, *, profile: str | None = None, random_vlm: bool | str = False, random_atm: bool = False,
            random_captioner: bool | str = False, models: dict[str, dict[str, Any]] | None = None,
            raise_on_error: bool = True, files: bool = True) -> Plan:
    """The Plan of `spec`, or ValidationError listing every problem. `files=False`: data files named in params
    (FilePath, Vocab) need not exist yet (graph, models). Model options: see `models.profiles.resolve_models`."""
    c = _Checks(spec, files=files)
    c.models()
    c.inputs()
    for name, ns in c.p.nodes.items():
        c.node(name, ns)
    for name, ns in c.p.nodes.items():
        c.wiring(name, ns)
    c.outputs()
    order = c.order()
    p = c.p
    access = check_access(p, c.types, c.params, c.input_types, c.problem)
    if c.problems and raise_on_error:
        raise ValidationError(c.problems)
    specs = resolve_models(c.declared, profile=profile, random_vlm=random_vlm, random_atm=random_atm,
                           random_captioner=random_captioner, overrides=models)
    payload = digest = None
    if not c.problems:
        payload = portable_spec(spec, p, c.types, c.params)
        digest = payload_digest(payload)
    options = {"profile": profile, "random_vlm": random_vlm, "random_atm": random_atm,
               "random_captioner": random_captioner, "models": models}
    return Plan(p, order, c.types, c.params, c.input_types, c.declared, specs, access, payload, digest,
                tuple(c.problems), options)


class _Checks:
    """The rules a pipeline must keep, one method each; `problem` records a break with its file and line."""

    def __init__(self, spec: PipelineSpec, *, files: bool):
        self.problems: list[SocraticError] = list(spec.load_problems)
        self.p, included = expand(spec)
        if self.p is spec:  # the plan owns its spec: later edits of `spec` do not change it
            self.p = copy.deepcopy(spec)
        self.problems += included
        self.files = files
        self.declared: dict[str, ModelSpec] = {}
        self.input_types: dict[str, Any] = {}
        self.types: dict[str, NodeType] = {}
        self.params: dict[str, dict[str, Any]] = {}

    def locate(self, key: str | None, node: str | None) -> tuple[str, int | None]:
        p = self.p
        keys = [k for k in (key, f"nodes.{node}" if node else None) if k]
        for k in keys:
            if p.lines.get(k) is not None:
                return p.file_of(k) or "<pipeline>", p.lines[k]
        return (p.file_of(keys[0]) if keys else p.source) or "<pipeline>", None

    def problem(self, msg: str, key: str | None = None, node: str | None = None, fld: str | None = None) -> None:
        file, line = self.locate(key, node)
        group = self.p.groups.get(node.rsplit(SEP, 1)[0]) if node and SEP in node else None
        if group is not None:
            msg += f" (included by node '{group.name}' at {group.site})"
        self.problems.append(SocraticError(msg, file=file, line=line, node=node, field=fld))

    def prompt_base(self, node: str) -> Path | None:
        file = self.p.file_of(f"nodes.{node}")
        return Path(file).resolve().parent if file else None

    def models(self) -> None:
        """Every model spec parses."""
        for name, spec in self.p.models.items():
            try:
                self.declared[name] = ModelSpec.from_dict(name, spec)
            except SocraticError as exc:
                self.problem(exc.message, f"models.{name}", fld=exc.field or f"models.{name}")

    def inputs(self) -> None:
        """Every pipeline input has a known type."""
        for name, spec in self.p.inputs.items():
            try:
                self.input_types[name] = parse_type(spec.type)
            except KeyError:
                self.problem(f"unknown type '{spec.type}'", f"inputs.{name}", fld=f"inputs.{name}")
                self.input_types[name] = Any

    def node(self, name: str, ns: Any) -> None:
        """A node has a known type, known and well-typed params, the required ones, and maps its own inputs."""
        if name == "inputs":
            self.problem("'inputs' is reserved and cannot name a node", node=name)
        nt = get_node_type(ns.type)
        if nt is None:
            close = difflib.get_close_matches(ns.type, node_types(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "`socratic nodes` lists them"
            self.problem(f"unknown node type '{ns.type}' ({hint})", node=name)
            return
        self.types[name] = nt
        resolved: dict[str, Any] = {}
        for key, value in ns.params.items():
            where = f"nodes.{name}.params.{key}"
            if key not in nt.params:
                self.problem(f"unknown param '{key}' for {ns.type} (has: {', '.join(nt.params) or 'none'})", where,
                             node=name, fld=key)
                continue
            resolved[key] = self.param(name, nt.params[key], value, where, key)
        for key, param in nt.params.items():
            if param.required and key not in ns.params:
                self.problem(f"missing required param '{key}'", f"nodes.{name}", node=name, fld=key)
            elif key not in resolved and not param.required:
                resolved[key] = param.default
        self.params[name] = resolved
        for m in ns.map:
            if port_type(nt, m) is None or m not in ns.inputs:
                self.problem(f"map names '{m}', which is not an input of {ns.type}", f"nodes.{name}", node=name,
                             fld=m)

    def param(self, name: str, param: Any, value: Any, where: str, key: str) -> Any:
        """One param's value as the node gets it: a model name that exists and is of the right family, a prompt's
        text, a data file's resolved path, or a value of the declared type."""
        if param.model_family:
            models = self.declared
            if value not in self.p.models:
                self.problem(f"unknown model reference '{value}' (models: {', '.join(self.p.models) or 'none'})",
                             where, node=name, fld=key)
            elif value in models and models[value].family != param.model_family:
                self.problem(f"model '{value}' is a {models[value].family}, this param needs a "
                             f"{param.model_family}", where, node=name, fld=key)
        elif param.type is Prompt:
            try:
                value = load_prompt(value, self.prompt_base(name))
            except SocraticError as exc:
                self.problem(exc.message, where, node=name, fld=key)
        elif takes(param.type, FilePath) or takes(param.type, Vocab):
            if takes(param.type, FilePath) and not isinstance(value, str):
                self.problem(f"expected a file path, got {type(value).__name__} {value!r}", where, node=name,
                             fld=key)
            try:
                value = named_file(value, param.type, self.prompt_base(name))
            except SocraticError as exc:
                if self.files:
                    self.problem(exc.message, where, node=name, fld=key)
        elif not _param_ok(value, param.type):
            self.problem(f"expected {type_name(param.type)}, got {type(value).__name__} {value!r}", where,
                         node=name, fld=key)
        return value

    def source_type(self, ref: str, key: str, node: str | None, fld: str | None) -> Any:
        """The type a ref gives (an element's type when it is indexed), or None after reporting why not."""
        t = self._ref_type(ref, key, node, fld)
        if t is not None and split_index(ref)[1] is not None:
            inner = item_type(t)
            if inner is None:
                self.problem(f"'{ref}' indexes {type_name(t)}, which is not a list", key, node=node, fld=fld)
                return None
            return inner
        return t

    def _ref_type(self, ref: str, key: str, node: str | None, fld: str | None) -> Any:
        p = self.p
        head, tail = parse_ref(ref)
        if head == "inputs":
            if tail not in p.inputs:
                self.problem(f"unknown pipeline input '{tail}' in '{ref}'", key, node=node, fld=fld)
                return None
            return self.input_types.get(tail, Any)
        if head not in p.nodes:
            if head not in p.groups:  # a bad ref to an include's output was reported by expand
                self.problem(f"'{ref}' names no node or pipeline input", key, node=node, fld=fld)
            return None
        if head not in self.types:
            return None
        outs = self.types[head].outputs
        if tail is None:
            if len(outs) != 1:
                self.problem(f"'{ref}': node '{head}' has several outputs ({', '.join(outs)}); name one", key,
                             node=node, fld=fld)
                return None
            tail = next(iter(outs))
        if tail not in outs:
            self.problem(f"node '{head}' has no output '{tail}' (has: {', '.join(outs)})", key, node=node, fld=fld)
            return None
        t = outs[tail]
        return list_of(t) if p.nodes[head].map else t

    def wiring(self, name: str, ns: Any) -> None:
        """Each input is a port of the node, fed a compatible type (an element of a list when mapped); required
        ports are connected; the node type's own check passes."""
        nt = self.types.get(name)
        if nt is None:
            return
        for port, ref in ns.inputs.items():
            key = f"nodes.{name}.inputs.{port}"
            want = port_type(nt, port)
            if want is None:
                self.problem(f"unknown input '{port}' for {ns.type} (has: {', '.join(nt.inputs) or 'none'})", key,
                             node=name, fld=port)
                continue
            src = self.source_type(ref, key, name, port)
            if src is None:
                continue
            if port in ns.map:
                inner = item_type(src)
                if inner is None:
                    self.problem(f"mapped input '{port}' needs a list, '{ref}' gives {type_name(src)}", key,
                                 node=name, fld=port)
                    continue
                src = inner
            if not compatible(src, want):
                self.problem(f"type mismatch: '{ref}' gives {type_name(src)}, input '{port}' takes "
                             f"{type_name(want)}", key, node=name, fld=port)
        for port, spec in nt.inputs.items():
            if spec.required and port not in ns.inputs:
                self.problem(f"required input '{port}' is not connected", f"nodes.{name}", node=name, fld=port)
        if nt.check:
            for msg in nt.check(self.params.get(name, {}), set(ns.inputs)):
                self.problem(msg, f"nodes.{name}", node=name)

    def outputs(self) -> None:
        """The pipeline declares outputs, each a ref that resolves."""
        for name, ref in self.p.outputs.items():
            self.source_type(ref, f"outputs.{name}", None, f"outputs.{name}")
        if not self.p.outputs:
            self.problem("the pipeline declares no outputs", None, fld="outputs")

    def order(self) -> list[str]:
        """The graph has no cycle: its nodes in topological order (empty after a cycle is reported)."""
        g = self.p.graph()
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return [n for n in nx.topological_sort(g) if n in self.p.nodes]
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        self.problem(f"cycle: {path}", f"nodes.{cycle[0][0]}", node=cycle[0][0])
        return []
