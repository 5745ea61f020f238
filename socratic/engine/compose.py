"""Sub-pipelines. A node of type `pipeline` runs another pipeline (`params: {file: x.yaml}` or `{pipeline: ...}`);
`expand()` inlines it before validation as namespaced nodes (`caption/places`): the inner inputs become the refs the
node was wired to, and refs to the node's outputs become refs to the inner nodes. Validation, the runner, the cache,
datasets and Ray then see one plain DAG; `groups` remembers which nodes came from which include (for the trace)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import SocraticError
from ..paths import REPO_DIR, pipeline_path
from ..registry import get_node_type
from ..trace_schema import SEP
from .spec import PIPELINE, NodeSpec, PipelineSpec, parse_ref, split_index

PARAMS = ("file", "pipeline", "models")
SHIPPED = REPO_DIR / "pipelines"  # a bare file name is also looked up here


@dataclass
class Group:
    """One included pipeline inside an expanded spec (refs are the expanded spec's)."""

    name: str  # the pipeline node's path, e.g. "caption" or "world/caption"
    file: str | None  # the included file; None for an inline mapping or an object without a file
    title: str  # the included pipeline's name
    site: str  # where it is included: "file:line"
    inputs: dict[str, str] = field(default_factory=dict)  # inner input -> ref
    outputs: dict[str, str] | None = field(default_factory=dict)  # inner output -> ref; None: the include failed
    map: list[str] = field(default_factory=list)
    spec: PipelineSpec | None = field(default=None, repr=False, compare=False)  # as loaded, not expanded


Chain = tuple[Any, ...]  # the includes above: resolved file paths or object ids


def expand(spec: PipelineSpec, _chain: Chain | None = None) -> tuple[PipelineSpec, list[SocraticError]]:
    """`spec` with every pipeline node inlined (a new spec of the same class; `spec` itself when it includes
    nothing), and the problems found on the way, each with the file and line where it was written."""
    if _chain is None:
        _chain = (_ident(spec.source),) if spec.source else ()
    if not any(ns.type == PIPELINE for ns in spec.nodes.values()):
        return spec, []
    out = type(spec)(spec.name, spec.description, source=spec.source)
    out.models = copy.deepcopy(spec.models)
    out.inputs = {k: copy.copy(v) for k, v in spec.inputs.items()}
    out.outputs = dict(spec.outputs)
    out.lines, out.files, out.groups = dict(spec.lines), dict(spec.files), dict(spec.groups)
    out.written = dict(spec.written)
    out.load_problems = list(spec.load_problems)
    problems: list[SocraticError] = []
    owners: dict[str, str] = {}  # model name -> the file whose definition was taken
    links: dict[str, str] = {}  # "include.output" -> ref in `out`
    for name, ns in spec.nodes.items():
        if ns.type != PIPELINE:
            out.nodes[name] = NodeSpec(name, ns.type, copy.deepcopy(ns.params), dict(ns.inputs), list(ns.map),
                                       ns.cache, ns.line)
            continue
        inc = _Include(spec, out, name, ns, problems)
        out.groups[name] = inc.run(_chain, owners, links)
    _link_all(out, links, problems)
    return out, problems


def _ident(source: str | None) -> str:
    return str(Path(source).resolve()) if source else ""


class _Include:
    """Inlines one pipeline node of `spec` into `out`."""

    def __init__(self, spec: PipelineSpec, out: PipelineSpec, name: str, ns: NodeSpec,
                 problems: list[SocraticError]):
        self.spec, self.out, self.name, self.ns, self.problems = spec, out, name, ns, problems
        self.where = f"nodes.{name}"
        self.prefix = name + SEP

    def problem(self, msg: str, key: str | None = None, fld: str | None = None) -> None:
        key = key if key and self.spec.lines.get(key) is not None else self.where
        self.problems.append(SocraticError(msg, file=self.spec.file_of(key), line=self.spec.lines.get(key),
                                           node=self.name, field=fld))

    def run(self, chain: Chain, owners: dict[str, str], links: dict[str, str]) -> Group:
        site = f"{self.spec.file_of(self.where) or '<pipeline>'}:{self.spec.lines.get(self.where)}"
        group = Group(self.name, None, "", site, outputs=None, map=list(self.ns.map))
        for key in self.ns.params:
            if key not in PARAMS:
                self.problem(f"unknown param '{key}' for a pipeline node (has: {', '.join(PARAMS)})",
                             f"{self.where}.params.{key}", key)
        loaded = self._load(chain)
        if loaded is None:
            return group
        inner, ident = loaded
        group.spec = inner
        flat, more = expand(inner, chain + (ident,) if ident else chain)
        self.problems.extend(self._named(p) for p in [*flat.load_problems, *more])
        group.file, group.title = inner.source if ident and not isinstance(ident, int) else None, inner.name
        renames = self._renames(flat)
        targets = self._targets(flat)
        varying = _varying(flat, {m for m in self.ns.map if m in targets})
        for iname, ins in flat.nodes.items():
            self._node(flat, iname, ins, targets, renames, iname in varying, varying)
        self._lines(flat)
        self._models(flat, renames, owners)
        def local(refs: dict[str, str]) -> dict[str, str]:
            return {k: self._local(r, targets)[0] for k, r in refs.items()}

        for gname, g in flat.groups.items():  # includes inside the included pipeline
            self.out.groups[self.prefix + gname] = Group(self.prefix + gname, g.file, g.title, g.site, local(g.inputs),
                                                         None if g.outputs is None else local(g.outputs), g.map,
                                                         g.spec)
        group.inputs = {x: t for x, (t, _) in targets.items()}
        group.outputs = local(flat.outputs)
        for o, ref in group.outputs.items():
            links[f"{self.name}.{o}"] = ref
        return group

    def _named(self, p: SocraticError) -> SocraticError:
        """An inner problem, its node named by path and the include named."""
        node = self.prefix + p.node if p.node else self.name
        return SocraticError(f"{p.message} (included by node '{self.name}')", file=p.file, line=p.line, node=node,
                             field=p.field)

    def _load(self, chain: Chain) -> tuple[PipelineSpec, Any] | None:
        """The included pipeline and what identifies it in `chain` (a resolved path, an object id, or None)."""
        params = self.ns.params
        if ("file" in params) == ("pipeline" in params):
            self.problem("a pipeline node needs 'file' (a YAML path) or 'pipeline' (a mapping or a Pipeline)",
                         fld="file")
            return None
        if "pipeline" in params:
            value = params["pipeline"]
            if isinstance(value, PipelineSpec):
                ident: Any = _ident(value.source) if value.source else id(value)
                if ident in chain:
                    self.problem("include cycle: the pipeline includes itself", f"{self.where}.params.pipeline",
                                 "pipeline")
                    return None
                return value, ident
            if isinstance(value, dict):
                return PipelineSpec.from_dict(value, source=self.spec.source), None
            self.problem("'pipeline' must be a mapping (an inline pipeline) or a Pipeline",
                         f"{self.where}.params.pipeline", "pipeline")
            return None
        value, key = params["file"], f"{self.where}.params.file"
        if not isinstance(value, (str, Path)) or not str(value).strip():
            self.problem("'file' must be a path to a pipeline YAML file", key, "file")
            return None
        path = _find(str(value), self.spec.source)
        if path is None:
            self.problem(f"pipeline file not found: {value}", key, "file")
            return None
        ident = _ident(str(path))
        if ident in chain:
            names = [Path(c).name for c in chain[chain.index(ident):] if isinstance(c, str)] + [path.name]
            self.problem(f"include cycle: {' -> '.join(names)}", key, "file")
            return None
        try:
            return PipelineSpec.from_yaml(path), ident
        except SocraticError as exc:  # unreadable or invalid YAML: the error names the inner file
            self.problems.append(self._named(exc))
            return None

    def _renames(self, flat: PipelineSpec) -> dict[str, str]:
        renames = self.ns.params.get("models") or {}
        key = f"{self.where}.params.models"
        if not isinstance(renames, dict) or not all(isinstance(v, str) for v in renames.values()):
            self.problem("'models' must map the included pipeline's model names to this pipeline's", key, "models")
            return {}
        for inner_name in renames:
            if inner_name not in flat.models:
                self.problem(f"models: '{inner_name}' is not a model of the included pipeline (has: "
                             f"{', '.join(flat.models) or 'none'})", key, "models")
        return {str(k): v for k, v in renames.items()}

    def _targets(self, flat: PipelineSpec) -> dict[str, tuple[str, str | None]]:
        """Inner input -> (the ref feeding it here, the key where that ref was written in `spec`)."""
        for port in self.ns.inputs:
            if port not in flat.inputs:
                self.problem(f"unknown input '{port}' for the included pipeline (has: {', '.join(flat.inputs)})",
                             f"{self.where}.inputs.{port}", port)
        targets: dict[str, tuple[str, str | None]] = {}
        for x, spec_in in flat.inputs.items():
            if x in self.ns.inputs:
                targets[x] = (self.ns.inputs[x], f"{self.where}.inputs.{x}")
            elif not spec_in.required:  # its default, as an input of the including pipeline
                hidden = self.prefix + x
                self.out.inputs[hidden] = copy.copy(spec_in)
                self.out.lines[f"inputs.{hidden}"] = flat.lines.get(f"inputs.{x}")
                if f"inputs.{x}" in flat.written:
                    self.out.written[f"inputs.{hidden}"] = flat.written[f"inputs.{x}"]
                self.out.files[f"inputs.{hidden}"] = flat.file_of(f"inputs.{x}") or ""
                targets[x] = (f"inputs.{hidden}", None)
            else:
                self.problem(f"required input '{x}' of the included pipeline is not wired", fld=x)
        for m in self.ns.map:
            if m not in self.ns.inputs:
                self.problem(f"map names '{m}', which is not a wired input of the included pipeline", fld=m)
        return targets

    def _local(self, ref: str, targets: dict[str, tuple[str, str | None]]) -> tuple[str, str | None]:
        """An inner ref as a ref of `out` (and the `spec` key of the wiring it came through, if any)."""
        base, index = split_index(ref)
        head, tail = parse_ref(base)
        if head != "inputs":
            return self.prefix + ref, None
        if tail not in targets:  # unknown or unwired: validation names it
            return f"inputs.{self.prefix}{tail}" + (f"[{index}]" if index is not None else ""), None
        target, key = targets[tail]
        if index is not None:
            if split_index(target)[1] is not None:
                self.problem(f"'{ref}' indexes '{target}', which is already one element", key)
            target = f"{target}[{index}]"
        return target, key

    def _node(self, flat: PipelineSpec, iname: str, ins: NodeSpec, targets: dict, renames: dict[str, str],
              mapped: bool, varying: set[str]) -> None:
        new = self.prefix + iname
        if new in self.spec.nodes or new in self.out.nodes:
            self.problem(f"the included node '{new}' has the name of another node")
            return
        n2 = NodeSpec(new, ins.type, copy.deepcopy(ins.params), {}, list(ins.map), ins.cache and self.ns.cache,
                      ins.line)
        self.out.files[f"nodes.{new}"] = flat.file_of(f"nodes.{iname}") or ""  # its prompt files start there
        nt = get_node_type(ins.type)
        for k, v in n2.params.items():
            if nt is not None and k in nt.params and nt.params[k].model_family and isinstance(v, str):
                n2.params[k] = renames.get(v, v)
        for port, ref in ins.inputs.items():
            n2.inputs[port], key = self._local(ref, targets)
            ikey = f"nodes.{new}.inputs.{port}"
            src_key = key if key and self.spec.lines.get(key) is not None else None
            if src_key:  # wired here: problems with it are this file's
                self.out.lines[ikey], self.out.files[ikey] = self.spec.lines[src_key], self.spec.file_of(src_key) or ""
            else:
                self.out.lines[ikey] = flat.lines.get(f"nodes.{iname}.inputs.{port}")
                self.out.files[ikey] = flat.file_of(f"nodes.{iname}.inputs.{port}") or ""
        if mapped:
            if ins.map:
                self.problem(f"cannot map over the included pipeline: its node '{iname}' maps over "
                             f"{', '.join(ins.map)} itself (nested maps are not supported)", fld=self.ns.map[0])
            n2.map = [port for port, ref in ins.inputs.items() if _from(ref, set(self.ns.map), varying)]
            for port in n2.map:
                if split_index(ins.inputs[port])[1] is not None:
                    self.problem(f"cannot map over the included pipeline: '{ins.inputs[port]}' (node '{iname}') "
                                 "takes one element of a value that becomes a list per item", fld=self.ns.map[0])
        self.out.nodes[new] = n2

    def _lines(self, flat: PipelineSpec) -> None:
        """Where each inner node, param and output was written."""
        for key, line in flat.lines.items():
            if key.startswith("nodes.") and ".inputs." not in key:
                new = "nodes." + self.prefix + key[len("nodes."):]
                self.out.lines[new], self.out.files[new] = line, flat.file_of(key) or ""
                if key in flat.written:
                    self.out.written[new] = flat.written[key]

    def _models(self, flat: PipelineSpec, renames: dict[str, str], owners: dict[str, str]) -> None:
        """Shared by name; the including file's definition wins; two inner files must agree."""
        for m, d in flat.models.items():
            target = renames.get(m, m)
            if target in self.spec.models:
                continue
            src = flat.file_of(f"models.{m}") or "<pipeline>"
            if target in self.out.models:
                if self.out.models[target] != d:
                    self.problem(f"model '{target}' is defined differently in {owners.get(target)} and {src}; "
                                 f"define it in {self.spec.source or 'the including pipeline'}", fld=f"models.{target}")
                continue
            self.out.models[target] = copy.deepcopy(d)
            owners[target] = src
            self.out.lines[f"models.{target}"], self.out.files[f"models.{target}"] = flat.lines.get(f"models.{m}"), src
            if f"models.{m}" in flat.written:
                self.out.written[f"models.{target}"] = flat.written[f"models.{m}"]


def _find(value: str, source: str | None) -> Path | None:
    """Beside the including file (the working dir without one); a bare name also in the shipped pipelines/."""
    base = Path(source).resolve().parent if source else None
    found = pipeline_path(value, base, (SHIPPED,) if len(Path(value).parts) == 1 else ())
    if found is None or not found.is_file():
        return None
    if found.is_relative_to(Path.cwd()):  # shorter in errors and traces
        return found.relative_to(Path.cwd())
    return found


def _from(ref: str, mapped: set[str], varying: set[str]) -> bool:
    head, tail = parse_ref(ref)
    return tail in mapped if head == "inputs" else head in varying


def _varying(flat: PipelineSpec, mapped: set[str]) -> set[str]:
    """Inner nodes that depend, directly or not, on the mapped inputs."""
    vary: set[str] = set()
    changed = bool(mapped)
    while changed:
        changed = False
        for n, ns in flat.nodes.items():
            if n not in vary and any(_from(r, mapped, vary) for r in ns.inputs.values()):
                vary.add(n)
                changed = True
    return vary


def _link_all(out: PipelineSpec, links: dict[str, str], problems: list[SocraticError]) -> None:
    """Refs to an include's outputs (`caption.caption`) become refs to its inner nodes, everywhere in `out`."""
    outs: dict[str, list[str] | None] = {}
    for g in out.groups.values():
        if SEP not in g.name:
            outs[g.name] = None if g.outputs is None else list(g.outputs)

    def link(ref: str, report: Callable[[str], None] | None) -> str:
        for _ in range(len(outs) + 1):  # an output may pass on another include's output
            base, index = split_index(ref)
            head, tail = parse_ref(base)
            if head not in outs or outs[head] is None:
                return ref  # a plain ref, or a failed include (already reported)
            names = outs[head] or []
            if tail is None and len(names) == 1:
                tail = names[0]
            target = links.get(f"{head}.{tail}")
            if target is None:
                if report:
                    report(f"'{ref}': the included pipeline '{head}' has several outputs ({', '.join(names)}); name one"
                           if tail is None else
                           f"the included pipeline '{head}' has no output '{tail}' (has: {', '.join(names)})")
                return ref
            if index is not None:
                if split_index(target)[1] is not None:
                    if report:
                        report(f"'{ref}' indexes '{target}', which is already one element")
                    return ref
                target = f"{target}[{index}]"
            ref = target
        return ref

    def reporter(key: str, node: str | None, fld: str) -> Callable[[str], None]:
        def report(msg: str) -> None:
            problems.append(SocraticError(msg, file=out.file_of(key), line=out.lines.get(key), node=node, field=fld))
        return report

    for name, ns in out.nodes.items():
        for port, ref in ns.inputs.items():
            ns.inputs[port] = link(ref, reporter(f"nodes.{name}.inputs.{port}", name, port))
    for name, ref in out.outputs.items():
        out.outputs[name] = link(ref, reporter(f"outputs.{name}", None, f"outputs.{name}"))
    for g in out.groups.values():
        g.inputs = {k: link(r, None) for k, r in g.inputs.items()}
        if g.outputs is not None:
            g.outputs = {k: link(r, None) for k, r in g.outputs.items()}


def inlined(spec: PipelineSpec, prompts: dict[str, dict[str, Any]], groups: dict[str, Group],
            prefix: str = "") -> dict[str, Any]:
    """`spec` as plain data with every include inline (`pipeline:` mappings, the specs `expand` loaded into
    `groups`) and the given resolved params (flat node name -> {param: value}, e.g. prompt texts) in place: a
    worker needs none of the driver's files."""
    d = spec.to_dict()
    for name, ns in spec.nodes.items():
        params = d["nodes"][name].setdefault("params", {})
        if ns.type != PIPELINE:
            params.update(prompts.get(prefix + name, {}))
            if not params:
                del d["nodes"][name]["params"]
            continue
        group = groups.get(prefix + name)
        if group is not None and group.spec is not None:
            params.pop("file", None)
            params["pipeline"] = inlined(group.spec, prompts, groups, prefix + name + SEP)
    return d
