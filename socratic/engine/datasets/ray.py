"""Dataset mode on Ray: the dataset executor's Ray subclass. Each actor holds the pipeline and its models and
runs whole batches (one batched pipeline run per call); the driver owns, locks and appends to the output.

Records are written as batches finish, so a killed driver loses at most the batches in flight, and a re-run
resumes as in local mode (same rows, output checks, lock and retries). A dead actor is replaced and its
unfinished items resubmitted one by one; an item that kills its worker `max_attempts` times gets an error
record instead of sinking the run.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
from collections import deque
from pathlib import Path
from typing import Any

from ...errors import SocraticError
from .executor import DatasetExecutor, Emit
from .job import PipelineJob, run_items
from .rows import Row

# Resources one actor needs for a node type, beyond what its models imply: {"num_cpus": 2, "num_gpus": 0.5}.
# Plugins declare theirs with `declare_resources`; an actor gets the maximum over its pipeline's nodes.
NODE_RESOURCES: dict[str, dict[str, float]] = {}

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
# Backends that call a remote service: their models need no GPU on the worker.
REMOTE_BACKENDS = {("lm", "openai")}
# Environment the workers must share with the driver (cache locations, offline switches); never secrets.
FORWARDED_ENV = ("SOCRATIC_CACHE", "SOCRATIC_NODE_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
                 "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME")
QUEUE_DEPTH = 2  # calls queued per actor, so it never idles between batches
RAY_OPTIONS = ("address", "workers", "resources", "max_attempts")


def declare_resources(node_type: str, **resources: float) -> None:
    """Declare what one actor needs to run `node_type`, e.g. `declare_resources("my_ocr", num_gpus=0.25)`."""
    bad = set(resources) - set(RESOURCE_KEYS)
    if bad:
        raise SocraticError(f"unknown resource(s) {', '.join(sorted(bad))} (one of {', '.join(RESOURCE_KEYS)})",
                            node=node_type)
    NODE_RESOURCES[node_type] = dict(resources)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SocraticError("engine 'ray' needs Ray: pip install 'socratic[ray]'", field="engine") from None
    return ray


# -- what travels to the workers ------------------------------------------------------------------------


def _module_root(module_name: str) -> str | None:
    """The sys.path entry a module was imported from."""
    mod = sys.modules.get(module_name)
    file = getattr(mod, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    depth = module_name.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth])


def _by_value(fn) -> bool:
    """Defined in a script, a notebook or a module run by path: no module a worker could import."""
    mod = sys.modules.get(fn.__module__)
    return fn.__module__ == "__main__" or mod is None or not getattr(mod, "__file__", None)


def worker_code(plan) -> tuple[list[tuple[str, str | None]], list, list]:
    """Modules the workers import to register the pipeline's node types and model backends, plus the node
    types and backends defined in `__main__` (a script or notebook), which travel by value."""
    from ...models.loader import _BACKENDS

    modules: dict[str, str | None] = {}
    node_types, backends = [], []
    for nt in plan.types.values():
        if _by_value(nt.fn):
            node_types.append(nt)
        else:
            modules[nt.fn.__module__] = _module_root(nt.fn.__module__)
    for spec in plan.specs.values():
        fn = _BACKENDS.get((spec.family, spec.backend))
        if fn is None:
            continue
        if _by_value(fn):
            backends.append((spec.family, spec.backend, fn))
        else:
            modules[fn.__module__] = _module_root(fn.__module__)
    return sorted(modules.items()), node_types, backends


def _import_on_worker(modules: list[tuple[str, str | None]]) -> None:
    for name, root in modules:
        try:
            try:
                importlib.import_module(name)
            except ImportError:
                if not root or not os.path.isdir(root):
                    raise
                sys.path.insert(0, root)
                importlib.import_module(name)
        except ImportError as exc:
            raise SocraticError(f"a Ray worker cannot import '{name}', which defines node types or model backends "
                                f"of this pipeline ({exc}); install it on the cluster", field="engine") from None


# -- resources -------------------------------------------------------------------------------------------


def _wants_gpu(spec, cluster_gpus: float) -> bool:
    if (spec.family, spec.backend) in REMOTE_BACKENDS:
        return False
    device = str(spec.options.get("device") or "auto")
    if device.startswith("cuda"):
        return True
    return device == "auto" and cluster_gpus > 0


def actor_resources(plan, cluster: dict[str, float], override: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """One actor's Ray options: 1 CPU; 1 GPU when a local model would run on CUDA; raised by NODE_RESOURCES;
    `override` (the `resources` run option) has the last word."""
    res: dict[str, Any] = {"num_cpus": 1.0, "num_gpus": 0.0}
    for name, nt in plan.types.items():
        for key in nt.model_params:
            if _wants_gpu(plan.specs[plan.params[name][key]], cluster.get("GPU", 0.0)):
                res["num_gpus"] = max(res["num_gpus"], 1.0)
        for key, value in NODE_RESOURCES.get(nt.name, {}).items():
            if isinstance(value, (int, float)) and isinstance(res.get(key, 0), (int, float)):
                res[key] = max(res.get(key, 0), value)
            else:
                res[key] = value
    bad = set(override or {}) - set(RESOURCE_KEYS)
    if bad:
        raise SocraticError(f"unknown resource(s) {', '.join(sorted(bad))} (one of {', '.join(RESOURCE_KEYS)})",
                            field="resources")
    res.update(override or {})
    return res


def default_workers(res: dict[str, Any], cluster: dict[str, float]) -> int:
    """As many actors as the cluster fits at once."""
    fits = []
    if res.get("num_cpus"):
        fits.append(cluster.get("CPU", 0.0) / res["num_cpus"])
    if res.get("num_gpus"):
        fits.append(cluster.get("GPU", 0.0) / res["num_gpus"])
    return max(1, int(min(fits))) if fits else max(1, int(cluster.get("CPU", 1.0)))


def _check_fits(res: dict[str, Any], cluster: dict[str, float]) -> None:
    for key, label in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        if res.get(key) and cluster.get(label, 0.0) < res[key]:
            raise SocraticError(f"a worker needs {key}={res[key]:g} but the Ray cluster has {cluster.get(label, 0):g}"
                                f" {label} (set resources={{'{key}': ...}} or models' device: cpu)",
                                field="resources")


# -- the worker ------------------------------------------------------------------------------------------


class PipelineWorker:
    """A Ray actor: holds the driver's compiled plan (not compiled again); models load on first use and stay for
    the actor's life. The plan arrives pickled and is read once the modules that define its node types are
    imported."""

    def __init__(self, plan: bytes, modules, node_types, backends, batch_opts: dict[str, Any], cwd: str):
        self.error: BaseException | None = None
        try:
            if os.path.isdir(cwd):  # relative paths in a dataset mean what they meant to the driver
                os.chdir(cwd)
            _import_on_worker(modules)
            import pickle

            from ...models.loader import _BACKENDS
            from ...registry import get_node_type, register

            for nt in node_types:
                if get_node_type(nt.name) is None:
                    register(nt)
            for family, name, fn in backends:
                _BACKENDS.setdefault((family, name), fn)
            self.plan = pickle.loads(plan)
            self.opts = batch_opts
        except BaseException as exc:  # reported by the first call, as the driver's error
            self.error = exc

    def pid(self) -> int:
        """The first call: answers once the actor is up, or raises what went wrong building it."""
        if self.error is not None:
            raise self.error
        return os.getpid()

    def run(self, items: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One batch: (id, inputs) pairs → records, in one batched pipeline run."""
        if self.error is not None:
            raise self.error
        return run_items(self.plan, items, **self.opts)


# -- the driver ------------------------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    """One line at once when host:port (or ray://host:port) does not answer, not minutes of Ray retries."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # auto, local, ...: Ray resolves these itself
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise SocraticError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
                            field="address") from None


def _connect(ray, address: str | None) -> bool:
    """Join a running Ray (already initialised, or at `address`), else start a local one. True if started."""
    if ray.is_initialized():
        return False
    if address:
        _check_reachable(address)
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
    if not address and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address or None, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        msg = " ".join(str(exc).split())[:300]
        raise SocraticError(f"cannot reach the Ray cluster at {address or 'a new local cluster'}: {msg}",
                            field="address") from None
    return True


class _Scheduler:
    """Feeds every started actor; replaces dead ones; runs items suspected of killing a worker alone.

    An actor gets work only once it has answered a first call: items are never queued on an actor still
    starting (or waiting for a node), while the others could run them.
    """

    def __init__(self, ray, make_actor, n_actors: int, batches: list[list], max_attempts: int):
        self.ray, self.make_actor, self.max_attempts = ray, make_actor, max_attempts
        self.actors: list = []
        self.probes: dict[Any, Any] = {}  # ref of a first call -> actor still starting
        self.started: set = set()
        self.fresh = deque(batches)
        self.suspects: deque = deque()  # single items that were in flight on a worker that died
        self.attempts: dict[str, int] = {}
        self.inflight: dict[Any, tuple[Any, list]] = {}  # ref -> (actor, items)
        self.busy: dict[Any, int] = {}
        self.failed_starts = 0
        for _ in range(n_actors):
            self._add()

    def _add(self) -> None:
        actor = self.make_actor()
        self.actors.append(actor)
        self.probes[actor.pid.remote()] = actor

    def refs(self) -> list:
        """What to wait on: calls in flight, and actors starting while there is work left for them."""
        return list(self.inflight) + (list(self.probes) if self.fresh or self.suspects else [])

    def running(self) -> bool:
        return bool(self.refs())

    def fill(self) -> None:
        for actor in self.actors:
            if actor not in self.started:
                continue
            while True:
                n = self.busy.get(actor, 0)
                if self.suspects:
                    if n:
                        break
                    self._submit(actor, [self.suspects.popleft()])
                    self.busy[actor] = QUEUE_DEPTH  # alone on this actor
                    break
                if n >= QUEUE_DEPTH or not self.fresh:
                    break
                self._submit(actor, self.fresh.popleft())

    def _submit(self, actor, items: list) -> None:
        self.inflight[actor.run.remote(items)] = (actor, items)
        self.busy[actor] = self.busy.get(actor, 0) + 1

    def probe_done(self, ref, alive: bool) -> None:
        actor = self.probes.pop(ref)
        if alive:
            self.started.add(actor)
            return
        self.failed_starts += 1
        if self.failed_starts > 3 * len(self.actors):
            raise SocraticError(f"Ray workers died {self.failed_starts} times while starting (out of memory? "
                                "see the Ray logs)", field="engine")
        self._replace(actor)

    def done(self, ref) -> tuple[Any, list]:
        actor, items = self.inflight.pop(ref)
        self.busy[actor] = sum(1 for a, _ in self.inflight.values() if a is actor)
        return actor, items

    def _replace(self, actor) -> None:
        if actor not in self.actors:
            return  # already replaced
        self.actors.remove(actor)
        self.started.discard(actor)
        self.busy.pop(actor, None)
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass
        self._add()

    def worker_died(self, actor, items: list) -> list[tuple[str, str]]:
        """Replace the actor (once) and requeue its items; returns (id, error) for items out of attempts."""
        self._replace(actor)
        failed = []
        for item_id, row in items:
            self.attempts[item_id] = self.attempts.get(item_id, 0) + 1
            if self.attempts[item_id] >= self.max_attempts:
                failed.append((item_id, f"the worker died {self.attempts[item_id]} times while running this item"))
            else:
                self.suspects.append((item_id, row))
        return failed

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:
                pass


class RayExecutor(DatasetExecutor):
    """Batches on Ray actors. address: a Ray cluster (`auto`, `ray://host:10001`, `host:6379`); none starts a
    local one for this run. workers: actors (default: as many as the cluster fits). resources: one actor's Ray
    resources (num_cpus, num_gpus, memory, resources, accelerator_type)."""

    def __init__(self, job, *, address: str | None = None, workers: int | None = None,
                 resources: dict[str, Any] | None = None, max_attempts: int = 3, **options: Any):
        super().__init__(job, **options)
        if (workers is not None and workers < 1) or max_attempts < 1:
            raise SocraticError("workers and max_attempts must be at least 1", field="engine")
        if not isinstance(job, PipelineJob):
            raise SocraticError("the Ray engine runs plain pipelines", field="engine")
        self.address, self.workers, self.resources, self.max_attempts = address, workers, resources, max_attempts

    def execute(self, batches: list[list[Row]], emit: Emit) -> None:
        bad = [b for b in batches if b[0].error is not None]
        for b in bad:
            emit(self.records_for(b))
        todo = [[(r.id, r.inputs) for r in b] for b in batches if b[0].error is None]
        if todo:
            _run_on_ray(self.job, todo, emit, address=self.address, workers=self.workers,
                        resources=self.resources, max_attempts=self.max_attempts)


def _run_on_ray(job, batches: list[list[tuple[str, dict[str, Any]]]], emit: Emit, *, address: str | None,
                workers: int | None, resources: dict[str, Any] | None, max_attempts: int) -> None:
    plan = job.plan
    batch_opts = {k: v for k, v in job.batch_opts.items() if k != "progress"}  # per-node bars would interleave
    if batch_opts.get("cache_dir") is not None:
        batch_opts["cache_dir"] = str(Path(batch_opts["cache_dir"]).resolve())
    ray = _import_ray()
    started = _connect(ray, address)
    sched = None
    try:
        cluster = ray.cluster_resources()
        res = actor_resources(plan, cluster, resources)
        _check_fits(res, cluster)
        n_actors = min(workers or default_workers(res, cluster), len(batches))
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        modules, node_types, backends = worker_code(plan)
        if env:
            res["runtime_env"] = {"env_vars": env}
        actor_cls = ray.remote(PipelineWorker).options(max_restarts=0, **res)
        args = (ray.cloudpickle.dumps(plan), modules, node_types, backends, batch_opts, os.getcwd())
        sched = _Scheduler(ray, lambda: actor_cls.remote(*args), n_actors, batches, max_attempts)
        while sched.running():
            ready, _ = ray.wait(sched.refs(), num_returns=1)
            ref = ready[0]
            try:
                if ref in sched.probes:
                    ray.get(ref)
                    sched.probe_done(ref, alive=True)
                else:
                    actor, items = sched.done(ref)
                    emit(ray.get(ref))
            except ray.exceptions.RayActorError:
                if ref in sched.probes:
                    sched.probe_done(ref, alive=False)
                else:
                    emit([{"id": item_id, "error": error} for item_id, error in sched.worker_died(actor, items)])
            except ray.exceptions.RayTaskError as exc:  # fatal on the worker (e.g. ModelNotFound): as locally
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, BaseException) else exc) from None
            sched.fill()
    finally:
        if sched is not None:
            sched.close()
        if started:
            ray.shutdown()
