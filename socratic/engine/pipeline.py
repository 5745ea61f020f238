"""`Pipeline`: the definition (spec.py) with the entry points that compile and run it. The engine's top module:
it imports compile, runner and datasets; none of them imports it, and below it everything takes a Plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import SocraticError, ValidationError
from .compose import expand
from .compile import MODEL_OPTIONS, Plan, compile
from .datasets import run_dataset
from .runner import RunResult, run_pipeline
from .spec import PipelineSpec


class Pipeline(PipelineSpec):
    """Build in Python or load from YAML; `validate()` lists every problem; `run(inputs, *, options)` executes."""

    def expanded(self) -> "Pipeline":
        """This pipeline with every `pipeline` node inlined as namespaced nodes (`caption/places`), whose params
        can then be edited by name; itself when it includes nothing. A bad include raises ValidationError."""
        flat, problems = expand(self)
        if problems:
            raise ValidationError(problems)
        return flat  # type: ignore[return-value]

    def validate(self, *, raise_on_error: bool = True, files: bool = True, **model_options: Any) -> Plan:
        """Every problem at once (ValidationError), else the compiled Plan the runner executes. `files=False`
        accepts data files named in params that do not exist yet (e.g. a PICa memory still to be built). Model
        options: profile, random_vlm, random_atm, random_captioner, models (overrides)."""
        return compile(self, raise_on_error=raise_on_error, files=files, **model_options)

    def run(self, inputs: dict[str, Any] | None = None, /, *, profile: str | None = None, random_vlm: bool | str = False,
            random_atm: bool = False, random_captioner: bool | str = False, cache: bool = True,
            cache_dir: Any = None, seed: int = 0, progress: bool = False, max_workers: int = 4,
            models: dict[str, dict[str, Any]] | None = None, **named_inputs: Any) -> RunResult:
        """Run once. Inputs as a dict (any name, `seed` too), or as keywords when the name is not a run option
        (profile, random_vlm, random_atm, random_captioner, cache, cache_dir, seed, progress, max_workers, models)."""
        both = set(inputs or {}) & set(named_inputs)
        if both:
            raise SocraticError(f"input(s) {', '.join(sorted(both))} given twice: in the dict and as keywords")
        plan = compile(self, profile=profile, random_vlm=random_vlm, random_atm=random_atm,
                       random_captioner=random_captioner, models=models)
        return run_pipeline(plan, {**(inputs or {}), **named_inputs}, cache=cache, cache_dir=cache_dir, seed=seed,
                            progress=progress, max_workers=max_workers)

    def run_dataset(self, data: str | Path | Iterable[dict[str, Any]], out: str | Path, *, engine: str = "local",
                    **opts: Any) -> dict[str, int]:
        """Map the pipeline over a dataset; one JSONL line per item; resumes where a killed run stopped."""
        plan = compile(self, **{k: opts.pop(k) for k in MODEL_OPTIONS if k in opts})
        return run_dataset(plan, data, out, engine=engine, **opts)
