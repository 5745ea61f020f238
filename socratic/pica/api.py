"""Python API over a PICa pipeline YAML:

    pica = PICa.from_yaml("pipelines/pica_okvqa.yaml", memory="train.jsonl", profile="offline")
    pica.answer(image, "What country is this dish from?")                 # captioner inside the pipeline
    pica.answer(image, "What country ...?", caption="A bowl of ramen.")   # caption given: captioner skipped
    pica.answer_many("val.jsonl", out="pred.jsonl")                       # resumable; batched LM calls

A given caption (argument or dataset column) rewires the `caption` input of every pica_prompts node to a
pipeline input and drops the nodes only the captioner needed. answer_many() runs `batch_size` questions per
engine run (every node mapped over the batch: one CLIP selection product and one LM call for all their
prompts) and appends one JSONL line per question (flush + fsync), skipping question_ids already answered.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import ModelNotFound, SocraticError
from ..jsonl import JsonlWriter, finished_ids, iter_jsonl
from ..pipeline import Pipeline, parse_ref

PROMPT_NODE, SELECT_NODE = "pica_prompts", "pica_select"
PICA_NODES = ("pica_select", "pica_prompts", "pica_answer")


class PICa:
    def __init__(self, pipeline: Pipeline, *, profile: str | None = None, random_vlm: bool = False,
                 seed: int = 0, cache: bool = True, cache_dir: Any = None, progress: bool = False):
        self.pipeline = pipeline
        self.run_options = {"profile": profile, "random_vlm": random_vlm, "seed": seed, "cache": cache,
                            "cache_dir": cache_dir, "progress": progress}
        if not any(ns.type == PROMPT_NODE for ns in pipeline.nodes.values()):
            raise SocraticError(f"pipeline has no {PROMPT_NODE} node: not a PICa pipeline", file=pipeline.source)
        pipeline.validate()
        self._variants: dict[tuple[bool, bool, bool], Pipeline] = {}

    @classmethod
    def from_yaml(cls, path: str | Path, *, memory: str | Path | None = None,
                  models: dict[str, dict[str, Any]] | None = None,
                  params: dict[str, dict[str, Any]] | None = None, **options: Any) -> "PICa":
        """Load a pipeline; `memory` replaces every pica_select's memory, `models` replaces whole model specs,
        `params` updates node params ({node: {param: value}}). Options: profile, random_vlm, seed, cache."""
        p = Pipeline.from_yaml(Path(path))
        for name, spec in (models or {}).items():
            p.models[name] = dict(spec)
        for node, kv in (params or {}).items():
            if node not in p.nodes:
                raise SocraticError(f"params for unknown node '{node}'", file=str(path))
            p.nodes[node].params.update(kv)
        base = Path(path).resolve().parent
        for ns in p.nodes.values():
            if ns.type == SELECT_NODE:
                if memory is not None:
                    ns.params["memory"] = str(Path(memory).expanduser().resolve())
                elif "memory" in ns.params:
                    ns.params["memory"] = _resolve_beside(ns.params["memory"], base)
        return cls(p, **options)

    # ---------------------------------------------------------------- single questions

    def run(self, image: Any, question: str, *, caption: str | None = None,
            tags: list[str] | None = None) -> dict[str, Any]:
        """Every output of the pipeline (answer, caption/context, candidates, ...) for one question."""
        p = self._variant(caption is not None, tags is not None, batch=False)
        inputs = {"image": image, "question": question}
        if caption is not None:
            inputs["caption"] = caption
        if tags is not None:
            inputs["tags"] = list(tags)
        inputs = {k: v for k, v in inputs.items() if k in p.inputs}
        return dict(p.run(inputs, **self.run_options).outputs)

    def answer(self, image: Any, question: str, *, caption: str | None = None,
               tags: list[str] | None = None) -> str:
        return self.run(image, question, caption=caption, tags=tags)["answer"]

    # ---------------------------------------------------------------- datasets

    def answer_many(self, data: str | Path | Iterable[dict[str, Any]], out: str | Path | None = None, *,
                    batch_size: int = 8, progress: bool = False) -> list[dict[str, Any]]:
        """Answer every row ({question_id, question, image, caption?, tags?}) of a JSONL file or an iterable.

        Returns this call's records: {question_id, answer, ...outputs} or {question_id, error} (one line).
        With `out`, each record is appended durably and rows already answered there are skipped."""
        if batch_size < 1:
            raise SocraticError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        done = answered_ids(Path(out)) if out else set()
        rows = [r for r in _read_rows(data) if str(r["question_id"]) not in done]
        writer = JsonlWriter(Path(out)) if out else None
        records: list[dict[str, Any]] = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(rows), desc="questions", unit="q")
        try:
            for batch in _batches(rows, batch_size):
                for rec in self._answer_batch(batch):
                    records.append(rec)
                    if writer:
                        writer.write(rec)
                if bar:
                    bar.update(len(batch))
        finally:
            if writer:
                writer.close()
            if bar:
                bar.close()
        return records

    def _answer_batch(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ok, out = [], {}
        for r in rows:
            err = _row_problem(r)
            if err:
                out[id(r)] = {"question_id": r["question_id"], "error": err}
            else:
                ok.append(r)
        if ok:
            try:
                for r, rec in zip(ok, self._run_rows(ok)):
                    out[id(r)] = rec
            except ModelNotFound:
                raise
            except SocraticError:
                # one bad item (or a failing API) must not sink the others: retry them one at a time
                for r in ok:
                    try:
                        out[id(r)] = self._run_rows([r])[0]
                    except ModelNotFound:
                        raise
                    except SocraticError as exc:
                        out[id(r)] = {"question_id": r["question_id"], "error": exc.format()}
        return [out[id(r)] for r in rows]

    def _run_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        has_cap, has_tags = "caption" in rows[0], "tags" in rows[0]
        p = self._variant(has_cap, has_tags, batch=True)
        inputs: dict[str, list] = {"image": [r["image"] for r in rows], "question": [r["question"] for r in rows]}
        if has_cap:
            inputs["caption"] = [r["caption"] for r in rows]
        if has_tags:
            inputs["tags"] = [list(r["tags"] or []) for r in rows]
        for name, spec in p.inputs.items():  # defaults of other inputs, one per row
            if name not in inputs:
                inputs[name] = [copy.deepcopy(spec.default) for _ in rows]
        inputs = {k: v for k, v in inputs.items() if k in p.inputs}
        res = p.run(inputs, **self.run_options)
        recs = []
        for k, r in enumerate(rows):
            rec = {"question_id": r["question_id"], "question": r["question"]}
            rec.update({name: _jsonable(v[k]) for name, v in res.outputs.items()})
            if res.warnings:
                rec["warnings"] = list(res.warnings)
            recs.append(rec)
        return recs

    # ---------------------------------------------------------------- pipeline variants

    def _variant(self, caption_given: bool, tags_given: bool, *, batch: bool) -> Pipeline:
        key = (caption_given, tags_given, batch)
        if key not in self._variants:
            p = copy.deepcopy(self.pipeline)
            if caption_given or tags_given:
                p = _with_inputs(p, caption_given, tags_given)
            if batch:
                p = _mapped(p)
            p.validate()
            self._variants[key] = p
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


def _mapped(p: Pipeline) -> Pipeline:
    """The same pipeline over lists: every input becomes list[T], every node maps over all its inputs."""
    for spec in p.inputs.values():
        spec.type = f"list[{spec.type}]"
        spec.required, spec.default = True, None
    for ns in p.nodes.values():
        ns.map = list(ns.inputs)
    return p


def _resolve_beside(value: Any, base: Path) -> Any:
    """A relative memory path: the working dir first, then beside the YAML."""
    if not isinstance(value, str) or Path(value).is_absolute() or Path(value).exists():
        return value
    beside = base / value
    return str(beside) if beside.exists() else value


# -------------------------------------------------------------------- rows and records

def _read_rows(data: str | Path | Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    base = None
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise SocraticError("dataset not found", file=str(path))
        base = path.parent
        items = list(iter_jsonl(path))
    else:
        items = list(enumerate(data))
    seen = set()
    for k, rec in items:
        row = dict(rec)
        qid = row.get("question_id", row.get("id", k))
        row["question_id"] = qid
        if str(qid) in seen:
            raise SocraticError(f"question_id {qid} appears twice in the dataset", field="question_id")
        seen.add(str(qid))
        img = row.get("image")
        if base is not None and isinstance(img, str) and not Path(img).is_absolute():
            row["image"] = str(base / img)
        yield row


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


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive rows of the same shape (caption column or not, tags or not), at most `size` each."""
    batch: list[dict[str, Any]] = []
    for r in rows:
        if batch and (len(batch) == size or ("caption" in r, "tags" in r) != ("caption" in batch[0],
                                                                              "tags" in batch[0])):
            yield batch
            batch = []
        batch.append(r)
    if batch:
        yield batch


def answered_ids(out: Path) -> set[str]:
    """question_ids with an answer in `out` (error records are retried); a torn last line is cut off."""
    return finished_ids(out, key="question_id", done=lambda rec: "answer" in rec)


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)
