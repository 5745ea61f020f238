"""`Pipeline`: the definition (spec.py) with the entry points that check and run it. The engine's top module:
it imports validate, runner and datasets; none of them imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import SocraticError, ValidationError
from .compose import expand
from .datasets import run_dataset
from .runner import RunResult, run_pipeline
from .spec import PipelineSpec
from .validate import Plan, validate


class Pipeline(PipelineSpec):
    """Build in Python or load from YAML; `validate()` lists every problem; `run(inputs, *, options)` executes."""

    def expanded(self) -> "Pipeline":
        """This pipeline with every `pipeline` node inlined as namespaced nodes (`caption/places`), whose params
        can then be edited by name; itself when it includes nothing. A bad include raises ValidationError."""
        flat, problems = expand(self)
        if problems:
            raise ValidationError(problems)
        return flat  # type: ignore[return-value]

    def validate(self, *, raise_on_error: bool = True, files: bool = True) -> Plan:
        """Every problem at once (ValidationError), else the checked plan the runner executes. `files=False`
        accepts data files named in params that do not exist yet (e.g. a PICa memory still to be built)."""
        return validate(self, raise_on_error=raise_on_error, files=files)

    def run(self, inputs: dict[str, Any] | None = None, /, *, profile: str | None = None, random_vlm: bool = False,
            random_atm: bool = False, random_captioner: bool = False, cache: bool = True, cache_dir: Any = None,
            seed: int = 0, progress: bool = False, max_workers: int = 4,
            models: dict[str, dict[str, Any]] | None = None, **named_inputs: Any) -> RunResult:
        """Run once. Inputs as a dict (any name, `seed` too), or as keywords when the name is not a run option
        (profile, random_vlm, random_atm, random_captioner, cache, cache_dir, seed, progress, max_workers, models)."""
        both = set(inputs or {}) & set(named_inputs)
        if both:
            raise SocraticError(f"input(s) {', '.join(sorted(both))} given twice: in the dict and as keywords")
        return run_pipeline(self, {**(inputs or {}), **named_inputs}, profile=profile, random_vlm=random_vlm,
                            random_atm=random_atm, random_captioner=random_captioner, cache=cache, cache_dir=cache_dir,
                            seed=seed, progress=progress, max_workers=max_workers, models=models)

    def run_dataset(self, data: str | Path | Iterable[dict[str, Any]], out: str | Path, *, engine: str = "local",
                    **opts: Any) -> dict[str, int]:
        """Map the pipeline over a dataset; one JSONL line per item; resumes where a killed run stopped."""
        return run_dataset(self, data, out, engine=engine, **opts)
