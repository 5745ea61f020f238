"""`Pipeline`: the definition (spec.py) with the entry points that check and run it. The engine's top module:
it imports validate, runner and datasets; none of them imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import ValidationError
from .compose import expand
from .datasets import run_dataset
from .runner import RUN_OPTIONS, RunResult, run_pipeline
from .spec import PipelineSpec
from .validate import Plan, validate


class Pipeline(PipelineSpec):
    """Build in Python or load from YAML; `validate()` lists every problem; `run(**inputs)` executes."""

    def expanded(self) -> "Pipeline":
        """This pipeline with every `pipeline` node inlined as namespaced nodes (`caption/places`), whose params
        can then be edited by name; itself when it includes nothing. A bad include raises ValidationError."""
        flat, problems = expand(self)
        if problems:
            raise ValidationError(problems)
        return flat  # type: ignore[return-value]

    def validate(self, *, raise_on_error: bool = True) -> Plan:
        """Every problem at once (ValidationError), else the checked plan the runner executes."""
        return validate(self, raise_on_error=raise_on_error)

    def run(self, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Run once. Inputs as a dict or keywords; options: profile, random_vlm, random_atm, cache, seed, progress."""
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in RUN_OPTIONS}
        return run_pipeline(self, {**(inputs or {}), **kwargs}, **opts)

    def run_dataset(self, data: str | Path | Iterable[dict[str, Any]], out: str | Path, *, engine: str = "local",
                    **opts: Any) -> dict[str, int]:
        """Map the pipeline over a dataset; one JSONL line per item; resumes where a killed run stopped."""
        return run_dataset(self, data, out, engine=engine, **opts)
