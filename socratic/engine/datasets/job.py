"""What a dataset run computes per item: a plain pipeline's job (rows checked against its input types, one
record per item). Methods with their own rows and records (PICa) bring another job with the same methods."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Hashable, Sequence

from ...errors import ModelNotFound, SocraticError
from ...types import Prompt
from ..compose import inlined
from ..runner import run_batch
from ..trace import summarise
from ..validate import validate
from .checks import check_row
from .rows import Row, read_rows

# Options that change results; an output records them and refuses a run with others.
RESULT_OPTIONS = ("profile", "random_vlm", "random_atm", "seed", "models")
# Model options that change where or how fast a model runs, not what it answers.
TRANSPORT_OPTIONS = {"device", "batch_size", "base_url", "timeout", "max_retries", "concurrency", "api_key_env"}


def portable_spec(pipeline, plan) -> dict[str, Any]:
    """The pipeline as a dict, with prompt files and included pipelines inlined (workers need not see the
    driver's files)."""
    flat = plan.pipeline
    prompts = {name: {k: plan.params[name][k] for k in flat.nodes[name].params if k in nt.params
                      and nt.params[k].type is Prompt} for name, nt in plan.types.items()}
    return inlined(pipeline, prompts)


def pipeline_digest(pipeline, plan) -> str:
    """sha256 of what decides the results: the pipeline with its prompts, models without transport options."""
    spec = portable_spec(pipeline, plan)
    spec.pop("name", None), spec.pop("description", None)
    for m in (spec.get("models") or {}).values():
        for key in TRANSPORT_OPTIONS:
            m.pop(key, None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def result_options(run_opts: dict[str, Any]) -> dict[str, Any]:
    opts = {k: run_opts.get(k) for k in RESULT_OPTIONS}
    opts["random_vlm"], opts["random_atm"] = bool(opts["random_vlm"]), bool(opts["random_atm"])
    opts["seed"] = int(opts["seed"] or 0)
    if run_opts.get("random_captioner"):  # recorded only when set: outputs written before it existed still resume
        opts["random_captioner"] = True
    return json.loads(json.dumps(opts, default=str))


def item_record(item_id: str, result: Any) -> dict[str, Any]:
    if isinstance(result, BaseException):
        return {"id": item_id, "error": str(result)}
    return {"id": item_id, "outputs": summarise(result.outputs), "warnings": result.warnings}


def run_items(pipeline, items: Sequence[tuple[str, dict[str, Any]]], *, plan=None, **run_opts: Any
              ) -> list[dict[str, Any]]:
    """One batched pipeline run over (id, inputs) pairs; a record per item. Missing weights stop everything."""

    try:
        results = run_batch(pipeline, [inputs for _, inputs in items], plan=plan, **run_opts)
    except ModelNotFound:
        raise
    except SocraticError as exc:  # e.g. a model that fails to load: every item of the batch says so
        results = [exc] * len(items)
    return [item_record(item_id, r) for (item_id, _), r in zip(items, results)]


class PipelineJob:
    """Rows of a pipeline's inputs (`id` column), records {id, outputs, warnings} or {id, error}."""

    id_key = "id"

    def __init__(self, pipeline, run_opts: dict[str, Any], *, input_name: str | None = None):
        self.pipeline, self.run_opts, self.input_name = pipeline, dict(run_opts), input_name
        self.plan = validate(pipeline)

    def describe(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline.name or self.pipeline.source or "<pipeline>"}

    def digest(self) -> str:
        return pipeline_digest(self.pipeline, self.plan)

    def options(self) -> dict[str, Any]:
        return {**result_options(self.run_opts), "dataset_input": self.input_name}

    def default_batch_size(self) -> int:
        """8 when a node takes batches (model calls gain from them), else 1 (each item written at once)."""
        return 8 if any(nt.batched for nt in self.plan.types.values()) else 1

    def _folder_input(self) -> str | None:
        if self.input_name:
            return self.input_name
        required = [n for n, s in self.pipeline.inputs.items() if s.required]
        return required[0] if len(required) == 1 else None

    def rows(self, data: Any) -> list[Row]:
        rows = read_rows(data, id_key=self.id_key, folder_input=self._folder_input())
        base = Path(data).parent if isinstance(data, (str, Path)) and not Path(data).is_dir() else None
        for row in rows:
            if row.error is None:
                row.inputs = check_row(self.plan, row, base)
        return rows

    def group(self, row: Row) -> Hashable:
        return None

    def run(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        return run_items(self.pipeline, [(r.id, r.inputs) for r in rows], plan=self.plan, **self.run_opts)

    def error_record(self, row: Row) -> dict[str, Any]:
        return {"id": row.id, "error": row.error}
