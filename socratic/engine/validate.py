"""Check a pipeline before anything runs; report every problem with file, line and node."""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import SocraticError, ValidationError
from ..models.loader import ModelSpec
from ..node import NodeType, port_type
from ..paths import pipeline_path
from ..registry import get_node_type, node_types
from ..types import FilePath, Prompt, Vocab, compatible, item_type, list_of, parse_type, takes, type_name
from .access import Access, check_access, prompt_file
from .compose import SEP, expand
from .spec import PipelineSpec, parse_ref, split_index


@dataclass
class Plan:
    """A validated pipeline: execution order, node types, resolved params and port types. `pipeline` is the
    expanded spec (included pipelines inlined as namespaced nodes)."""

    pipeline: PipelineSpec
    order: list[str]
    types: dict[str, NodeType]
    params: dict[str, dict[str, Any]]
    input_types: dict[str, Any]
    models: dict[str, ModelSpec]
    access: Access | None = None  # the files it reads, the variables it sends and where (docs/trust.md)

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


def validate(p: PipelineSpec, *, raise_on_error: bool = True, files: bool = True) -> Plan:
    """`files=False`: the data files named in params (FilePath, Vocab) need not exist yet (graph, models)."""
    problems: list[SocraticError] = list(p.load_problems)
    p, included = expand(p)
    problems += included

    def locate(key: str | None, node: str | None) -> tuple[str, int | None]:
        keys = [k for k in (key, f"nodes.{node}" if node else None) if k]
        for k in keys:
            if p.lines.get(k) is not None:
                return p.file_of(k) or "<pipeline>", p.lines[k]
        return (p.file_of(keys[0]) if keys else p.source) or "<pipeline>", None

    def problem(msg: str, key: str | None = None, node: str | None = None, fld: str | None = None) -> None:
        file, line = locate(key, node)
        group = p.groups.get(node.rsplit(SEP, 1)[0]) if node and SEP in node else None
        if group is not None:
            msg += f" (included by node '{group.name}' at {group.site})"
        problems.append(SocraticError(msg, file=file, line=line, node=node, field=fld))

    def prompt_base(node: str) -> Path | None:
        file = p.file_of(f"nodes.{node}")
        return Path(file).resolve().parent if file else None

    # models
    models: dict[str, ModelSpec] = {}
    for name, spec in p.models.items():
        try:
            models[name] = ModelSpec.from_dict(name, spec)
        except SocraticError as exc:
            problem(exc.message, f"models.{name}", fld=exc.field or f"models.{name}")

    # inputs
    input_types: dict[str, Any] = {}
    for name, spec in p.inputs.items():
        try:
            input_types[name] = parse_type(spec.type)
        except KeyError:
            problem(f"unknown type '{spec.type}'", f"inputs.{name}", fld=f"inputs.{name}")
            input_types[name] = Any

    # node types and params
    types: dict[str, NodeType] = {}
    params: dict[str, dict[str, Any]] = {}
    for name, ns in p.nodes.items():
        if name == "inputs":
            problem("'inputs' is reserved and cannot name a node", node=name)
        nt = get_node_type(ns.type)
        if nt is None:
            close = difflib.get_close_matches(ns.type, node_types(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "`socratic nodes` lists them"
            problem(f"unknown node type '{ns.type}' ({hint})", node=name)
            continue
        types[name] = nt
        resolved: dict[str, Any] = {}
        for key, value in ns.params.items():
            where = f"nodes.{name}.params.{key}"
            if key not in nt.params:
                problem(f"unknown param '{key}' for {ns.type} (has: {', '.join(nt.params) or 'none'})", where,
                        node=name, fld=key)
                continue
            param = nt.params[key]
            if param.model_family:
                if value not in p.models:
                    problem(f"unknown model reference '{value}' (models: {', '.join(p.models) or 'none'})", where,
                            node=name, fld=key)
                elif name in types and value in models and models[value].family != param.model_family:
                    problem(f"model '{value}' is a {models[value].family}, this param needs a {param.model_family}",
                            where, node=name, fld=key)
            elif param.type is Prompt:
                try:
                    value = load_prompt(value, prompt_base(name))
                except SocraticError as exc:
                    problem(exc.message, where, node=name, fld=key)
            elif takes(param.type, FilePath) or takes(param.type, Vocab):
                if takes(param.type, FilePath) and not isinstance(value, str):
                    problem(f"expected a file path, got {type(value).__name__} {value!r}", where, node=name, fld=key)
                try:
                    value = named_file(value, param.type, prompt_base(name))
                except SocraticError as exc:
                    if files:
                        problem(exc.message, where, node=name, fld=key)
            elif not _param_ok(value, param.type):
                problem(f"expected {type_name(param.type)}, got {type(value).__name__} {value!r}", where,
                        node=name, fld=key)
            resolved[key] = value
        for key, param in nt.params.items():
            if param.required and key not in ns.params:
                problem(f"missing required param '{key}'", f"nodes.{name}", node=name, fld=key)
            elif key not in resolved and not param.required:
                resolved[key] = param.default
        params[name] = resolved
        for m in ns.map:
            if port_type(nt, m) is None or m not in ns.inputs:
                problem(f"map names '{m}', which is not an input of {ns.type}", f"nodes.{name}", node=name, fld=m)

    # wiring and types
    def source_type(ref: str, key: str, node: str | None, fld: str | None) -> Any:
        t = _source_type(ref, key, node, fld)
        if t is not None and split_index(ref)[1] is not None:
            inner = item_type(t)
            if inner is None:
                problem(f"'{ref}' indexes {type_name(t)}, which is not a list", key, node=node, fld=fld)
                return None
            return inner
        return t

    def _source_type(ref: str, key: str, node: str | None, fld: str | None) -> Any:
        head, tail = parse_ref(ref)
        if head == "inputs":
            if tail not in p.inputs:
                problem(f"unknown pipeline input '{tail}' in '{ref}'", key, node=node, fld=fld)
                return None
            return input_types.get(tail, Any)
        if head not in p.nodes:
            if head not in p.groups:  # a bad ref to an include's output was reported by expand
                problem(f"'{ref}' names no node or pipeline input", key, node=node, fld=fld)
            return None
        if head not in types:
            return None
        outs = types[head].outputs
        if tail is None:
            if len(outs) != 1:
                problem(f"'{ref}': node '{head}' has several outputs ({', '.join(outs)}); name one", key, node=node,
                        fld=fld)
                return None
            tail = next(iter(outs))
        if tail not in outs:
            problem(f"node '{head}' has no output '{tail}' (has: {', '.join(outs)})", key, node=node, fld=fld)
            return None
        t = outs[tail]
        return list_of(t) if p.nodes[head].map else t

    for name, ns in p.nodes.items():
        nt = types.get(name)
        if nt is None:
            continue
        for port, ref in ns.inputs.items():
            key = f"nodes.{name}.inputs.{port}"
            want = port_type(nt, port)
            if want is None:
                problem(f"unknown input '{port}' for {ns.type} (has: {', '.join(nt.inputs) or 'none'})", key,
                        node=name, fld=port)
                continue
            src = source_type(ref, key, name, port)
            if src is None:
                continue
            if port in ns.map:
                inner = item_type(src)
                if inner is None:
                    problem(f"mapped input '{port}' needs a list, '{ref}' gives {type_name(src)}", key, node=name,
                            fld=port)
                    continue
                src = inner
            if not compatible(src, want):
                problem(f"type mismatch: '{ref}' gives {type_name(src)}, input '{port}' takes {type_name(want)}",
                        key, node=name, fld=port)
        for port, spec in nt.inputs.items():
            if spec.required and port not in ns.inputs:
                problem(f"required input '{port}' is not connected", f"nodes.{name}", node=name, fld=port)
        if nt.check:
            for msg in nt.check(params.get(name, {}), set(ns.inputs)):
                problem(msg, f"nodes.{name}", node=name)

    for name, ref in p.outputs.items():
        source_type(ref, f"outputs.{name}", None, f"outputs.{name}")
    if not p.outputs:
        problem("the pipeline declares no outputs", None, fld="outputs")

    # cycles
    g = p.graph()
    order: list[str] = []
    try:
        cycle = nx.find_cycle(g)
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        problem(f"cycle: {path}", f"nodes.{cycle[0][0]}", node=cycle[0][0])
    except nx.NetworkXNoCycle:
        order = [n for n in nx.topological_sort(g) if n in p.nodes]

    access = check_access(p, types, params, input_types, problem)
    if problems and raise_on_error:
        raise ValidationError(problems)
    plan = Plan(p, order, types, params, input_types, models, access)
    plan.problems = problems  # type: ignore[attr-defined]
    return plan
