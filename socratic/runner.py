"""Execute a validated plan: nodes in topological order, independent branches concurrently."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .cache import NodeCache, node_key
from .context import Context
from .errors import SocraticError
from .models.loader import ModelSpec, load_model
from .node import NodeType, normalise_outputs
from .pipeline import Pipeline, parse_ref, split_index
from .trace import NodeRecord, Trace, summarise
from .types import coerce_input
from .validate import Plan

RUN_OPTIONS = ("profile", "random_vlm", "random_atm", "cache", "cache_dir", "seed", "progress", "max_workers", "models")


@dataclass
class RunResult:
    outputs: dict[str, Any]
    trace: Trace
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.outputs[key]

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        d = {"outputs": summarise(self.outputs), "warnings": list(self.warnings)}
        if trace:
            d["trace"] = self.trace.to_dict()
        return d


def resolve_models(plan: Plan, *, profile: str | None = None, random_vlm: bool = False, random_atm: bool = False,
                   overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, ModelSpec]:
    """The pipeline's model specs after a profile, explicit overrides, and the random stand-ins (CLIP, CLAP)."""
    specs = dict(plan.models)
    if profile:
        from .models.profiles import apply_profile

        specs = apply_profile(specs, profile)
    for name, opts in (overrides or {}).items():
        if name not in specs:
            raise SocraticError(f"override for unknown model '{name}'", field=f"models.{name}")
        specs[name] = ModelSpec.from_dict(name, {**specs[name].to_dict(), **opts})
    # Explicit requests only: small random-init models stand in, and their outputs carry a warning.
    stand_ins = {}
    if random_vlm:
        from .models.vlm_open_clip import STAND_IN_CONFIG

        stand_ins["vlm"] = ("open_clip", {"config": STAND_IN_CONFIG})
    if random_atm:
        stand_ins["atm"] = ("clap", {})  # the backend's tiny default config
    for name, s in specs.items():
        if s.family in stand_ins:
            backend_name, extra = stand_ins[s.family]
            keep = {k: v for k, v in s.options.items() if k in ("device", "dtype", "batch_size", "seed")}
            specs[name] = ModelSpec(name, s.family, backend_name, {**keep, **extra, "random_init": True})
    return specs


def _bind_inputs(plan: Plan, given: dict[str, Any]) -> dict[str, Any]:
    p = plan.pipeline
    unknown = set(given) - set(p.inputs)
    if unknown:
        raise SocraticError(f"unknown input(s) {', '.join(sorted(unknown))} (pipeline takes: "
                            f"{', '.join(p.inputs) or 'none'})", file=p.source)
    values: dict[str, Any] = {}
    for name, spec in p.inputs.items():
        if name in given and given[name] is not None:
            values[name] = coerce_input(given[name], plan.input_types[name], field=f"inputs.{name}")
        elif spec.required:
            raise SocraticError(f"missing input '{name}' ({spec.type})", file=p.source, field=f"inputs.{name}")
        else:
            values[name] = coerce_input(spec.default, plan.input_types[name], field=f"inputs.{name}")
    return values


class _Run:
    def __init__(self, plan: Plan, specs: dict[str, ModelSpec], *, cache: bool, cache_dir: Any, seed: int,
                 progress: bool):
        self.plan, self.specs, self.seed, self.progress = plan, specs, seed, progress
        self.cache = NodeCache(cache_dir) if cache else None
        self.values: dict[str, dict[str, Any]] = {}
        self.records: dict[str, NodeRecord] = {}

    def ref_value(self, ref: str) -> Any:
        head, tail = parse_ref(ref)
        if head == "inputs":
            value = self.values["inputs"][tail]
        else:
            outs = self.values[head]
            value = outs[tail] if tail else next(iter(outs.values()))
        index = split_index(ref)[1]
        if index is None:
            return value
        if not -len(value) <= index < len(value):
            raise SocraticError(f"'{ref}': index {index} out of range ({len(value)} items)")
        return value[index]

    def run_node(self, name: str) -> None:
        ns = self.plan.pipeline.nodes[name]
        nt = self.plan.types[name]
        ctx = Context(node=name, seed=self.seed, progress_enabled=self.progress)
        inputs = {port: self.ref_value(ref) for port, ref in ns.inputs.items()}
        params = dict(self.plan.params[name])
        specs = {key: self.specs[params[key]] for key in nt.model_params}
        model_ids = {key: spec.options.get("id") or spec.options.get("name") or spec.options.get("packaged")
                     or spec.options.get("model") or spec.name for key, spec in specs.items()}
        started = time.perf_counter()
        hit, outputs, key = False, None, None
        if self.cache is not None and nt.cacheable and ns.cache:
            plain = {k: v for k, v in params.items() if k not in specs}
            key = node_key(nt.name, f"{nt.version}:{nt.code}", plain, {k: s.key for k, s in specs.items()}, inputs,
                           ctx.node_seed())
            hit, cached = self.cache.get(key)
            if hit:
                outputs, warns = cached
                for w in warns:
                    ctx.warn(w)
        if not hit:
            for k, spec in specs.items():  # models load only when the node really runs
                try:
                    model = load_model(spec)
                except SocraticError as exc:
                    p = self.plan.pipeline
                    raise exc.locate(file=p.source, line=p.lines.get(f"models.{spec.name}")) from None
                params[k], model_ids[k] = model, model.model_id
                for w in model.warnings:
                    ctx.warn(w)
            try:
                outputs = call_node(nt, ns.name, inputs, params, ns.map, ctx)
            except SocraticError as exc:
                raise exc.locate(node=name)
            except Exception as exc:  # a node's own failure, named
                raise SocraticError(f"{nt.name} failed: {type(exc).__name__}: {exc}", node=name) from exc
            if key is not None:
                self.cache.put(key, (outputs, list(ctx.warnings)))
        self.values[name] = outputs
        self.records[name] = NodeRecord(
            node=name, type=nt.name, inputs=summarise(inputs), outputs=summarise(outputs),
            params=summarise({k: v for k, v in self.plan.params[name].items()}), models=model_ids,
            seconds=round(time.perf_counter() - started, 4), cached=hit,
            items=len(inputs[ns.map[0]]) if ns.map else None, warnings=list(ctx.warnings))


def call_node(nt: NodeType, name: str, inputs: dict[str, Any], params: dict[str, Any], mapped: list[str],
              ctx: Context) -> dict[str, Any]:
    """Call a node once, per mapped item, or once on the whole mapped list when it is batched."""
    extra = {"ctx": ctx} if nt.takes_ctx else {}
    if not mapped:
        if not nt.batched:
            return normalise_outputs(nt, nt.fn(**inputs, **params, **extra), name)
        out = normalise_outputs(nt, nt.fn(**{k: [v] for k, v in inputs.items()}, **params, **extra), name)
        return {k: v[0] for k, v in out.items()}
    lengths = {len(inputs[m]) for m in mapped}
    if len(lengths) > 1:
        raise SocraticError(f"mapped inputs have different lengths {sorted(lengths)}", node=name)
    n = lengths.pop()
    if nt.batched:
        batch = {k: (v if k in mapped else [v] * n) for k, v in inputs.items()}
        out = normalise_outputs(nt, nt.fn(**batch, **params, **extra), name) if n else {k: [] for k in nt.outputs}
        for k, v in out.items():
            if len(v) != n:
                raise SocraticError(f"batched output '{k}' has {len(v)} items for {n} inputs", node=name)
        return out
    results: dict[str, list[Any]] = {k: [] for k in nt.outputs}
    for i in ctx.progress(range(n), desc=name, total=n):
        item = {k: (v[i] if k in mapped else v) for k, v in inputs.items()}
        out = normalise_outputs(nt, nt.fn(**item, **params, **extra), name)
        for k in results:
            results[k].append(out[k])
    return results


def run_pipeline(pipeline: Pipeline, inputs: dict[str, Any], *, profile: str | None = None,
                 random_vlm: bool = False, random_atm: bool = False, cache: bool = True, cache_dir: Any = None,
                 seed: int = 0,
                 progress: bool = False, max_workers: int = 4,
                 models: dict[str, dict[str, Any]] | None = None) -> RunResult:
    plan = pipeline.validate()
    specs = resolve_models(plan, profile=profile, random_vlm=random_vlm, random_atm=random_atm, overrides=models)
    run = _Run(plan, specs, cache=cache, cache_dir=cache_dir, seed=seed, progress=progress)
    run.values["inputs"] = _bind_inputs(plan, inputs)
    deps = {n: {parse_ref(r)[0] for r in pipeline.nodes[n].inputs.values()} - {"inputs"} for n in plan.order}
    done: set[str] = set()
    pending = list(plan.order)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        running: dict[Future, str] = {}
        while pending or running:
            ready = [n for n in pending if deps[n] <= done]
            for n in ready:
                pending.remove(n)
            if len(ready) == 1 and not running:  # a chain: no thread hand-off
                run.run_node(ready[0])
                done.add(ready[0])
                continue
            for n in ready:
                running[pool.submit(run.run_node, n)] = n
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                n = running.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    for other in running:
                        other.cancel()
                    raise exc
                done.add(n)
    trace = Trace(pipeline.name or pipeline.source or "<pipeline>",
                  [run.records[n] for n in plan.order if n in run.records])
    for r in trace.records:
        for w in r.warnings:
            if w not in trace.warnings:
                trace.warnings.append(w)
    outputs = {name: run.ref_value(ref) for name, ref in pipeline.outputs.items()}
    return RunResult(outputs, trace, list(trace.warnings))
