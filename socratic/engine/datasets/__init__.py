"""Dataset runs: rows (rows.py, checks.py), an owned output (output.py), what runs per item (job.py), and the
executor (executor.py) with two engines: local.py and ray.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ...errors import SocraticError
from ..compile import Plan
from ..runner import BATCH_OPTIONS
from .executor import DatasetExecutor
from .job import PipelineJob
from .local import LocalExecutor
from .output import latest_records  # the documented reader of results (docs/datasets.md)

EXECUTOR_OPTIONS = ("batch_size", "skip_failed", "resume_anyway", "restart")


def run_dataset(plan: Plan, data: str | Path | Iterable[dict[str, Any]], out: str | Path | None, *,
                engine: str = "local", input_name: str | None = None, progress: bool = False, **opts: Any
                ) -> dict[str, int]:
    """Run every item not finished in `out`; returns counts of done, skipped, failed and retried items.
    Options: batch_size, skip_failed, resume_anyway, restart; Ray: address, workers, resources, max_attempts;
    the rest are batch options (seed, cache, ...); the model options are the plan's (`Plan.options`)."""
    ex_opts = {k: opts.pop(k) for k in EXECUTOR_OPTIONS if k in opts}
    if engine == "ray":
        from .ray import RayExecutor, RAY_OPTIONS

        ray_opts = {k: opts.pop(k) for k in RAY_OPTIONS if k in opts}
    elif engine != "local":
        raise SocraticError(f"unknown engine '{engine}' (local or ray)", field="engine")
    unknown = set(opts) - set(BATCH_OPTIONS)
    if unknown:
        raise SocraticError(f"unknown option(s) {', '.join(sorted(unknown))}", field="engine")
    opts.pop("progress", None)
    job = PipelineJob(plan, opts, input_name=input_name)
    if engine == "ray":
        executor: DatasetExecutor = RayExecutor(job, progress=progress, **ex_opts, **ray_opts)
    else:
        executor = LocalExecutor(job, progress=progress, **ex_opts)
    return executor.run(data, out)
