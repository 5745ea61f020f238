"""Python API over a PICa pipeline YAML:

    pica = PICa.from_yaml("pipelines/pica_okvqa.yaml", memory="train.jsonl", profile="offline")
    pica.answer(image, "What country is this dish from?")                 # captioner inside the pipeline
    pica.answer(image, "What country ...?", caption="A bowl of ramen.")   # caption given: captioner skipped
    pica.answer_many("val.jsonl", out="pred.jsonl")                       # resumable; batched LM calls

A given caption (argument or dataset column) rewires the `caption` input of every pica_prompts node to a
pipeline input and drops the nodes only the captioner needed. The pipeline is used expanded: an included
captioner (`type: pipeline`) is nodes named `caption/...` here. answer_many() is the dataset executor
(socratic/engine/datasets/) with a PICa job: `batch_size` questions per pipeline run (one CLIP selection product and
one LM call for all their prompts), one owned JSONL line per question, answered question_ids skipped and
failed ones retried.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Hashable, Iterable, Sequence

from ..engine.datasets.local import LocalExecutor
from ..engine.compile import Plan, compile
from ..engine.datasets.job import result_options
from ..engine.datasets.output import latest_records
from ..engine.datasets.rows import Row, check_unique, read_rows
from ..errors import ModelNotFound, SocraticError
from ..engine.pipeline import Pipeline
from ..engine.runner import run_batch, run_pipeline
from ..engine.spec import parse_ref

PROMPT_NODE, SELECT_NODE = "pica_prompts", "pica_select"
PICA_NODES = ("pica_select", "pica_prompts", "pica_answer")


class PICa:
    def __init__(self, pipeline: Pipeline, *, profile: str | None = None, random_vlm: bool = False,
                 seed: int = 0, cache: bool = True, cache_dir: Any = None, progress: bool = False):
        self.pipeline = pipeline = pipeline.expanded()  # an included captioner's nodes as `caption/...`
        self.model_options = {"profile": profile, "random_vlm": random_vlm}
        self.batch_options = {"seed": seed, "cache": cache, "cache_dir": cache_dir, "progress": progress}
        self.run_options = {**self.model_options, **self.batch_options}
        if not any(ns.type == PROMPT_NODE for ns in pipeline.nodes.values()):
            raise SocraticError(f"pipeline has no {PROMPT_NODE} node: not a PICa pipeline", file=pipeline.source)
        self._variants: dict[tuple[bool, bool], Plan] = {}
        self._variant(False, False)  # every problem now
        self.counts: dict[str, int] = {}  # the latest answer_many's {done, skipped, failed, retried}
        self.warnings: list[str] = []  # the latest call's warnings (a random stand-in's, an empty LM answer, ...)

    @classmethod
    def from_yaml(cls, path: str | Path, *, memory: str | Path | None = None,
                  models: dict[str, dict[str, Any]] | None = None,
                  params: dict[str, dict[str, Any]] | None = None, **options: Any) -> "PICa":
        """Load a pipeline; `memory` replaces every pica_select's memory, `models` replaces whole model specs,
        `params` updates node params ({node: {param: value}}; an included pipeline's nodes by path, e.g.
        `caption/captions`). Options: profile, random_vlm, seed, cache."""
        p = Pipeline.from_yaml(Path(path)).expanded()
        for name, spec in (models or {}).items():
            p.models[name] = dict(spec)
        for node, kv in (params or {}).items():
            if node not in p.nodes:
                raise SocraticError(f"params for unknown node '{node}'", file=str(path))
            p.nodes[node].params.update(kv)
        for ns in p.nodes.values():  # a memory named in the YAML is relative to it (validation resolves it)
            if ns.type == SELECT_NODE and memory is not None:
                ns.params["memory"] = str(Path(memory).expanduser().resolve())
        return cls(p, **options)

    # ---------------------------------------------------------------- single questions

    def run(self, image: Any, question: str, *, caption: str | None = None,
            tags: list[str] | None = None) -> dict[str, Any]:
        """Every output of the pipeline (answer, caption/context, candidates, ...) for one question."""
        plan = self._variant(caption is not None, tags is not None)
        inputs = {"image": image, "question": question}
        if caption is not None:
            inputs["caption"] = caption
        if tags is not None:
            inputs["tags"] = list(tags)
        inputs = {k: v for k, v in inputs.items() if k in plan.pipeline.inputs}
        result = run_pipeline(plan, inputs, **self.batch_options)
        self.warnings = list(result.warnings)
        return dict(result.outputs)

    def answer(self, image: Any, question: str, *, caption: str | None = None,
               tags: list[str] | None = None) -> str:
        return self.run(image, question, caption=caption, tags=tags)["answer"]

    # ---------------------------------------------------------------- datasets

    def answer_many(self, data: str | Path | Iterable[dict[str, Any]], out: str | Path | None = None, *,
                    batch_size: int = 8, progress: bool = False, skip_failed: bool = False,
                    resume_anyway: bool = False, restart: bool = False, trace: bool = False
                    ) -> list[dict[str, Any]]:
        """Answer every row ({question_id, question, image, caption?, tags?}) of a JSONL / JSON / CSV file or an
        iterable. Returns this call's records: {question_id, answer, ...outputs} or {question_id, error}
        (`trace`: each with its run's full trace). With `out` (an owned output, as in dataset mode), answered
        questions are skipped and failed ones retried. `self.counts`: {done, skipped, failed, retried}."""
        ex = LocalExecutor(_PICaJob(self, trace=trace), batch_size=batch_size, progress=progress,
                           skip_failed=skip_failed, resume_anyway=resume_anyway, restart=restart)
        self.counts = ex.run(data, out)
        self.warnings = list(dict.fromkeys(w for r in ex.records for w in r.get("warnings", [])))
        return ex.records

    # ---------------------------------------------------------------- pipeline variants

    def _variant(self, caption_given: bool, tags_given: bool) -> Plan:
        """The compiled pipeline for rows with (or without) their own caption and tags."""
        key = (caption_given, tags_given)
        if key not in self._variants:
            p = copy.deepcopy(self.pipeline)
            if caption_given or tags_given:
                p = _with_inputs(p, caption_given, tags_given)
            self._variants[key] = compile(p, **self.model_options)
        return self._variants[key]


# -------------------------------------------------------------------- pipeline rewriting

def _with_inputs(p: Pipeline, caption: bool, tags: bool) -> Pipeline:
    """Feed pica_prompts' caption (and tags) from pipeline inputs; drop what only the captioner needed."""
    old_refs = set()
    for ns in p.nodes.values():
        if ns.type != PROMPT_NODE:
            continue
        if caption:
            old_refs.add(ns.inputs.get("caption"))
            ns.inputs["caption"] = "inputs.caption"
        if tags:
            ns.inputs["tags"] = "inputs.tags"
    if caption:
        p.add_input("caption", "text", required=True)
    if tags and "tags" not in p.inputs:
        p.add_input("tags", "texts", default=[], required=False)
    for name, ref in list(p.outputs.items()):
        if ref in old_refs:
            p.outputs[name] = "inputs.caption"
    g = p.graph()
    keep: set[str] = set()
    for name, ns in p.nodes.items():
        if ns.type in PICA_NODES:
            keep |= {name} | {a for a in _ancestors(g, name) if a in p.nodes}
    for name in [n for n in p.nodes if n not in keep]:
        del p.nodes[name]
    for name, ref in list(p.outputs.items()):
        head = parse_ref(ref)[0]
        if head != "inputs" and head not in p.nodes:
            del p.outputs[name]
    used_inputs = {parse_ref(r)[1] for ns in p.nodes.values() for r in ns.inputs.values()
                   if parse_ref(r)[0] == "inputs"} | {parse_ref(r)[1] for r in p.outputs.values()
                                                      if parse_ref(r)[0] == "inputs"}
    for name in [n for n in p.inputs if n not in used_inputs]:
        del p.inputs[name]
    used_models = {v for ns in p.nodes.values() for v in ns.params.values() if isinstance(v, str)}
    for name in [m for m in p.models if m not in used_models]:
        del p.models[name]
    return p


def _ancestors(g, node: str) -> set[str]:
    import networkx as nx

    return nx.ancestors(g, node)


# -------------------------------------------------------------------- rows and records

def _row_problem(row: dict[str, Any]) -> str | None:
    """A one-line reason when a row cannot be answered at all."""
    q = row.get("question")
    if not isinstance(q, str) or not q.strip():
        return f"question {row['question_id']}: the question is empty"
    img = row.get("image")
    if img is None:
        return f"question {row['question_id']}: no image"
    if isinstance(img, (str, Path)) and not Path(img).is_file():
        return f"question {row['question_id']}: image not found: {img}"
    if "caption" in row and not isinstance(row["caption"], str):
        return f"question {row['question_id']}: caption must be text"
    return None


class _PICaJob:
    """answer_many's job for the dataset executor: rows keyed by question_id, grouped by shape (caption column
    or not, tags or not), each group run on its pipeline variant."""

    id_key = "question_id"

    def __init__(self, pica: PICa, *, trace: bool = False):
        self.pica, self.trace = pica, trace

    def describe(self) -> dict[str, Any]:
        return {"pipeline": self.pica.pipeline.name or self.pica.pipeline.source or "<pica>", "method": "pica"}

    def digest(self) -> str:
        return self.pica._variant(False, False).digest

    def options(self) -> dict[str, Any]:
        return result_options(self.pica.run_options)

    def default_batch_size(self) -> int:
        return 8

    def rows(self, data: Any) -> list[Row]:
        rows = read_rows(data, id_key="question_id", unique=False)
        base = Path(data).parent if isinstance(data, (str, Path)) else None
        for row in rows:
            v = row.values
            if row.error is None and "question_id" not in v and v.get("id") is not None:
                row.id = str(v["id"])
            img = v.get("image")
            if base is not None and isinstance(img, str) and not Path(img).is_absolute():
                v["image"] = str(base / img)
            if row.error is None:
                v["question_id"] = v.get("question_id", v.get("id", row.id))
                problem = _row_problem(v)
                if problem:
                    row.fail(problem)
            row.inputs = v
        check_unique(rows, data)
        return rows

    def group(self, row: Row) -> Hashable:
        return "caption" in row.inputs, "tags" in row.inputs

    def error_record(self, row: Row) -> dict[str, Any]:
        return {"question_id": row.values.get("question_id", row.id), "error": row.error}

    def run(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        has_cap, has_tags = self.group(rows[0])
        plan = self.pica._variant(has_cap, has_tags)
        batch = []
        for r in rows:
            inputs = {"image": r.inputs["image"], "question": r.inputs["question"]}
            if has_cap:
                inputs["caption"] = r.inputs["caption"]
            if has_tags:
                inputs["tags"] = list(r.inputs["tags"] or [])
            batch.append({k: v for k, v in inputs.items() if k in plan.pipeline.inputs})
        try:
            results = run_batch(plan, batch, **self.pica.batch_options)
        except ModelNotFound:
            raise
        except SocraticError as exc:
            results = [exc] * len(rows)
        recs = []
        for r, res in zip(rows, results):
            qid = r.inputs["question_id"]
            if isinstance(res, SocraticError):
                recs.append({"question_id": qid, "error": str(res)})
                continue
            rec = {"question_id": qid, "question": r.inputs["question"]}
            rec.update({name: _jsonable(v) for name, v in res.outputs.items()})
            if res.warnings:
                rec["warnings"] = list(res.warnings)
            if self.trace:
                rec["trace"] = res.trace.to_dict()
            recs.append(rec)
        return recs


def answered_ids(out: Path) -> set[str]:
    """question_ids with an answer as their latest record in `out` (read only)."""
    return {k for k, rec in latest_records(out, "question_id").items() if "answer" in rec}


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)
