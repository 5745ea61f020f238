"""Execute a compiled plan over a batch of items: nodes in topological order, independent branches concurrently,
each node called once for the whole batch when it is batched (per item otherwise)."""

from __future__ import annotations

import pickle
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..context import Context
from ..errors import ModelNotFound, SocraticError
from ..models.loader import ModelSpec, is_loaded, load_model
from ..node import NodeType, normalise_outputs
from ..trace_schema import FILE, INPUTS, ITEMS, OUTPUTS, PIPELINE, TRACE, WARNINGS
from ..types import coerce_input
from .cache import NodeCache, node_key
from .spec import parse_ref, split_index
from .progress import NodeLines, on_terminal
from .trace import NodeRecord, Trace, summarise
from .compile import MODEL_OPTIONS, Plan

BATCH_OPTIONS = ("cache", "cache_dir", "seed", "progress", "max_workers")
RUN_OPTIONS = MODEL_OPTIONS + BATCH_OPTIONS  # compile's, then run_batch's


@dataclass
class RunResult:
    outputs: dict[str, Any]
    trace: Trace
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.outputs[key]

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        d = {OUTPUTS: summarise(self.outputs), WARNINGS: list(self.warnings)}
        if trace:
            d[TRACE] = self.trace.to_dict()
        return d


class BatchCallFailed(Exception):
    """A node call shared by several items failed: the caller retries each item alone."""


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
    """One batch: per-item values, records and errors. An item that fails drops out of later nodes."""

    def __init__(self, plan: Plan, n: int, *, cache: bool, cache_dir: Any, seed: int, progress: bool,
                 lines: NodeLines | None = None):
        self.plan, self.specs, self.seed, self.progress, self.lines = plan, plan.specs, seed, progress, lines
        self.cache = NodeCache(cache_dir) if cache else None
        self.values: list[dict[str, dict[str, Any]]] = [{} for _ in range(n)]
        self.records: list[dict[str, NodeRecord]] = [{} for _ in range(n)]
        self.errors: dict[int, SocraticError] = {}

    def live(self) -> list[int]:
        return [i for i in range(len(self.values)) if i not in self.errors]

    def ref_value(self, i: int, ref: str) -> Any:
        head, tail = parse_ref(ref)
        if head == "inputs":
            value = self.values[i]["inputs"][tail]
        else:
            outs = self.values[i][head]
            value = outs[tail] if tail else next(iter(outs.values()))
        index = split_index(ref)[1]
        if index is None:
            return value
        if not -len(value) <= index < len(value):
            raise SocraticError(f"'{ref}': index {index} out of range ({len(value)} items)")
        return value[index]

    def _models(self, name: str, nt: NodeType, specs: dict[str, ModelSpec], params: dict[str, Any],
                model_ids: dict[str, str], warns: list[str]) -> None:
        for k, spec in specs.items():  # models load only when the node really runs
            since = None
            if self.lines is not None and not is_loaded(spec):
                since = self.lines.loading(spec.name, f"{spec.backend} {model_ids[k]}")
            try:
                model = load_model(spec)
            except SocraticError as exc:
                p, key = self.plan.pipeline, f"models.{spec.name}"
                raise exc.locate(file=p.file_of(key), line=p.lines.get(key)) from None
            if since is not None:
                self.lines.loaded(spec.name, since)
            params[k], model_ids[k] = model, model.model_id
            warns.extend(w for w in model.warnings if w not in warns)

    def run_node(self, name: str) -> None:
        ns = self.plan.pipeline.nodes[name]
        nt = self.plan.types[name]
        inputs: dict[int, dict[str, Any]] = {}
        for i in self.live():
            try:
                inputs[i] = {port: self.ref_value(i, ref) for port, ref in ns.inputs.items()}
            except SocraticError as exc:
                self.errors[i] = exc.locate(node=name)
        if not inputs:
            return
        params = dict(self.plan.params[name])
        specs = {key: self.specs[params[key]] for key in nt.model_params}
        model_ids = {key: spec.options.get("id") or spec.options.get("name") or spec.options.get("packaged")
                     or spec.options.get("model") or spec.name for key, spec in specs.items()}
        seed = Context(node=name, seed=self.seed).node_seed()
        outputs: dict[int, dict[str, Any]] = {}
        warns: dict[int, list[str]] = {}
        seconds: dict[int, float] = {}
        keys: dict[int, str] = {}
        started = time.perf_counter()
        if self.cache is not None and nt.cacheable and ns.cache:
            plain = {k: v for k, v in params.items() if k not in specs}
            models = {k: s.key for k, s in specs.items()}
            for i, ins in inputs.items():
                keys[i] = node_key(nt.name, f"{nt.version}:{nt.code}", plain, models, ins, seed)
                hit, cached = self.cache.get(keys[i])
                if hit:
                    outputs[i], warns[i] = cached[0], list(cached[1])
                    seconds[i] = time.perf_counter() - started
        hits = set(outputs)
        todo = [i for i in inputs if i not in outputs]
        twins: dict[int, int] = {}  # items with another item's key (two questions on one video): computed once
        first: dict[str, int] = {}
        for i in todo:
            if i in keys:
                twins.update({i: first[keys[i]]} if keys[i] in first else {})
                first.setdefault(keys[i], i)
        todo = [i for i in todo if i not in twins]
        if todo:
            load_warns: list[str] = []
            self._models(name, nt, specs, params, model_ids, load_warns)
            if nt.batched:
                self._call_batched(nt, ns.name, todo, inputs, params, ns.map, load_warns, outputs, warns, seconds)
            else:
                for i in todo:
                    t0 = time.perf_counter()
                    ctx = Context(node=name, seed=self.seed, progress_enabled=self.progress, cache=self.cache)
                    for w in load_warns:
                        ctx.warn(w)
                    try:
                        outputs[i] = _call(nt, name, inputs[i], params, ns.map, ctx)
                    except SocraticError as exc:
                        self.errors[i] = exc
                        continue
                    warns[i], seconds[i] = list(ctx.warnings), time.perf_counter() - t0
            for i in todo:
                if i in keys and i in outputs:
                    self.cache.put(keys[i], (outputs[i], warns[i]))
        for i, j in twins.items():  # a twin gets its own copy, as from the cache
            if j in outputs:
                outputs[i], warns[i], seconds[i] = pickle.loads(pickle.dumps(outputs[j])), list(warns[j]), 0.0
                hits.add(i)
            elif j in self.errors:
                self.errors[i] = self.errors[j]
        for i in inputs:
            if i not in outputs:
                continue
            self.values[i][name] = outputs[i]
            self.records[i][name] = NodeRecord(
                node=name, type=nt.name, inputs=summarise(inputs[i]), outputs=summarise(outputs[i]),
                params=summarise(dict(self.plan.params[name])), models=model_ids,
                seconds=round(seconds[i], 4), cached=i in hits,
                items=len(inputs[i][ns.map[0]]) if ns.map else None, warnings=warns[i], sources=dict(ns.inputs))
        if self.lines is not None and outputs:
            self.lines.finished(name, nt.name, max(seconds.values(), default=0.0), cached=not todo)

    def _call_batched(self, nt: NodeType, name: str, todo: list[int], inputs: dict[int, dict[str, Any]],
                      params: dict[str, Any], mapped: list[str], load_warns: list[str], outputs: dict, warns: dict,
                      seconds: dict) -> None:
        """One call for every item of the batch (mapped lists concatenated); split back per item."""
        t0 = time.perf_counter()
        ctx = Context(node=name, seed=self.seed, progress_enabled=self.progress, cache=self.cache)
        for w in load_warns:
            ctx.warn(w)
        sizes: dict[int, int] = {}
        for i in todo:
            if mapped:
                lengths = {len(inputs[i][m]) for m in mapped}
                if len(lengths) > 1:
                    self.errors[i] = SocraticError(f"mapped inputs have different lengths {sorted(lengths)}",
                                                   node=name)
                    continue
                sizes[i] = lengths.pop()
            else:
                sizes[i] = 1
        ok = list(sizes)
        if not ok:
            return
        batch = {port: [x for i in ok for x in (inputs[i][port] if port in mapped else [inputs[i][port]] * sizes[i])]
                 for port in inputs[ok[0]]}
        total = sum(sizes.values())
        extra = {"ctx": ctx} if nt.takes_ctx else {}
        try:
            out = (normalise_outputs(nt, nt.fn(**batch, **params, **extra), name) if total
                   else {k: [] for k in nt.outputs})
            for k, v in out.items():
                if len(v) != total:
                    raise SocraticError(f"batched output '{k}' has {len(v)} items for {total} inputs", node=name)
        except Exception as exc:
            err = _named(exc, nt, name)
            if isinstance(err, ModelNotFound):
                raise err from None
            if len(ok) > 1:
                raise BatchCallFailed(err) from exc
            self.errors[ok[0]] = err
            return
        share = (time.perf_counter() - t0) / len(ok)
        start = 0
        for i in ok:
            n = sizes[i]
            part = {k: v[start:start + n] for k, v in out.items()}
            outputs[i] = part if mapped else {k: v[0] for k, v in part.items()}
            warns[i], seconds[i] = list(ctx.warnings), share
            start += n


def _named(exc: BaseException, nt: NodeType, name: str) -> SocraticError:
    if isinstance(exc, SocraticError):
        return exc.locate(node=name)
    return SocraticError(f"{nt.name} failed: {type(exc).__name__}: {exc}", node=name)


def _call(nt: NodeType, name: str, inputs: dict[str, Any], params: dict[str, Any], mapped: list[str],
          ctx: Context) -> dict[str, Any]:
    try:
        return call_node(nt, name, inputs, params, mapped, ctx)
    except ModelNotFound:
        raise
    except Exception as exc:  # a node's own failure, named
        raise _named(exc, nt, name) from exc


def call_node(nt: NodeType, name: str, inputs: dict[str, Any], params: dict[str, Any], mapped: list[str],
              ctx: Context) -> dict[str, Any]:
    """Call a plain node once, or once per mapped item."""
    extra = {"ctx": ctx} if nt.takes_ctx else {}
    if not mapped:
        return normalise_outputs(nt, nt.fn(**inputs, **params, **extra), name)
    lengths = {len(inputs[m]) for m in mapped}
    if len(lengths) > 1:
        raise SocraticError(f"mapped inputs have different lengths {sorted(lengths)}", node=name)
    n = lengths.pop()
    results: dict[str, list[Any]] = {k: [] for k in nt.outputs}
    for i in ctx.progress(range(n), desc=name, total=n):
        item = {k: (v[i] if k in mapped else v) for k, v in inputs.items()}
        out = normalise_outputs(nt, nt.fn(**item, **params, **extra), name)
        for k in results:
            results[k].append(out[k])
    return results


def _schedule(plan: Plan, run: _Run, max_workers: int) -> None:
    """Nodes in dependency order; independent branches on threads."""
    pipeline = plan.pipeline
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


def _result(plan: Plan, run: _Run, i: int) -> RunResult | SocraticError:
    if i in run.errors:
        return run.errors[i]
    pipeline = plan.pipeline
    trace = Trace(pipeline.name or pipeline.source or "<pipeline>",
                  [run.records[i][n] for n in plan.order if n in run.records[i]], groups=_groups(plan, run, i))
    for r in trace.records:
        for w in r.warnings:
            if w not in trace.warnings:
                trace.warnings.append(w)
    try:
        outputs = {name: run.ref_value(i, ref) for name, ref in pipeline.outputs.items()}
    except SocraticError as exc:
        return exc
    return RunResult(outputs, trace, list(trace.warnings))


def _groups(plan: Plan, run: _Run, i: int) -> dict[str, dict[str, Any]]:
    """What the trace says of each included pipeline: its file, and the values at its inputs and outputs."""
    out = {}
    for name, g in plan.pipeline.groups.items():
        rec: dict[str, Any] = {PIPELINE: g.title, FILE: g.file}
        for part, refs in ((INPUTS, g.inputs), (OUTPUTS, g.outputs or {})):
            try:
                rec[part] = summarise({k: run.ref_value(i, r) for k, r in refs.items()})
            except (SocraticError, KeyError, TypeError):  # a value the run did not reach
                rec[part] = {}
        if g.map:
            rec[ITEMS] = len(rec[INPUTS].get(g.map[0]) or [])
        out[name] = rec
    return out


def run_batch(plan: Plan, items: Sequence[dict[str, Any]], *, cache: bool = True, cache_dir: Any = None,
              seed: int = 0, progress: bool = False, max_workers: int = 4) -> list[RunResult | SocraticError]:
    """Run the plan once over several items' inputs: batched nodes get every item in one call.
    Each item gets its own result or error; a failing shared call is retried item by item.
    Missing weights (ModelNotFound) stop the whole batch."""
    lines = NodeLines(len(plan.order)) if progress and len(items) == 1 and on_terminal() else None
    run = _Run(plan, len(items), cache=cache, cache_dir=cache_dir, seed=seed, progress=progress, lines=lines)
    for i, given in enumerate(items):
        try:
            run.values[i]["inputs"] = _bind_inputs(plan, given)
        except SocraticError as exc:
            run.errors[i] = exc
    try:
        _schedule(plan, run, max_workers)
    except BatchCallFailed:
        opts = dict(cache=cache, cache_dir=cache_dir, seed=seed, progress=progress, max_workers=max_workers)
        return [run.errors[i] if i in run.errors else run_batch(plan, [given], **opts)[0]
                for i, given in enumerate(items)]
    return [_result(plan, run, i) for i in range(len(items))]


def run_pipeline(plan: Plan, inputs: dict[str, Any], **opts: Any) -> RunResult:
    """One item: its result, or its error raised."""
    (result,) = run_batch(plan, [inputs], **opts)
    if isinstance(result, SocraticError):
        raise result
    return result
