"""What a dataset run computes per item: a plain pipeline's job (rows checked against its input types, one
record per item). Methods with their own rows and records (PICa) bring another job with the same methods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Hashable, Sequence

from ...errors import ModelNotFound, SocraticError
from ..compile import Plan
from ..runner import run_batch
from ..trace import summarise
from .checks import check_row
from .rows import Row, read_rows

# Options that change results; an output records them and refuses a run with others.
RESULT_OPTIONS = ("profile", "random_vlm", "random_atm", "seed", "models")


def result_options(run_opts: dict[str, Any]) -> dict[str, Any]:
    opts = {k: run_opts.get(k) for k in RESULT_OPTIONS}
    vlm = opts["random_vlm"]
    opts["random_vlm"] = vlm if vlm == "arch" else bool(vlm)  # recorded as before unless the real architecture
    opts["random_atm"] = bool(opts["random_atm"])
    opts["seed"] = int(opts["seed"] or 0)
    cap = run_opts.get("random_captioner")
    if cap:  # recorded only when set: outputs written before it existed still resume
        opts["random_captioner"] = "arch" if cap == "arch" else True
    return json.loads(json.dumps(opts, default=str))


def item_record(item_id: str, result: Any) -> dict[str, Any]:
    if isinstance(result, BaseException):
        return {"id": item_id, "error": str(result)}
    return {"id": item_id, "outputs": summarise(result.outputs), "warnings": result.warnings}


def run_items(plan: Plan, items: Sequence[tuple[str, dict[str, Any]]], **batch_opts: Any) -> list[dict[str, Any]]:
    """One batched pipeline run over (id, inputs) pairs; a record per item. Missing weights stop everything."""
    try:
        results = run_batch(plan, [inputs for _, inputs in items], **batch_opts)
    except ModelNotFound:
        raise
    except SocraticError as exc:  # e.g. a model that fails to load: every item of the batch says so
        results = [exc] * len(items)
    return [item_record(item_id, r) for (item_id, _), r in zip(items, results)]


class PipelineJob:
    """Rows of a pipeline's inputs (`id` column), records {id, outputs, warnings} or {id, error}. `batch_opts`:
    run_batch's options (cache, seed, ...); the output records them with the plan's model options."""

    id_key = "id"

    def __init__(self, plan: Plan, batch_opts: dict[str, Any], *, input_name: str | None = None):
        self.plan, self.batch_opts, self.input_name = plan, dict(batch_opts), input_name
        self.pipeline = plan.pipeline

    def describe(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline.name or self.pipeline.source or "<pipeline>"}

    def digest(self) -> str:
        return self.plan.digest

    def options(self) -> dict[str, Any]:
        return {**result_options({**self.plan.options, **self.batch_opts}), "dataset_input": self.input_name}

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
        return run_items(self.plan, [(r.id, r.inputs) for r in rows], **self.batch_opts)

    def error_record(self, row: Row) -> dict[str, Any]:
        return {"id": row.id, "error": row.error}
