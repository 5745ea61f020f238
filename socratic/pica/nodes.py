"""PICa nodes (methods.md §2): select in-context examples, build the m prompts, ensemble the answers.

    select:  {type: pica_select,  params: {vlm: clip, memory: train.jsonl, n_shot: 16, n_ensemble: 5},
              inputs: {question: inputs.question, image: inputs.image}}
    prompts: {type: pica_prompts, inputs: {examples: select.examples, question: inputs.question,
              caption: <any captioner>.caption}}
    answer:  {type: pica_answer,  params: {lm: lm}, inputs: {prompts: prompts.prompts}}
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import SocraticError
from ..models.base import LM, VLM
from ..node import node
from ..types import FilePath, Image, Prompt
from .core import PICaSettings, check_question, embed_queries, select_scored_shots
from .ensemble import generate_answers
from .memory import ExampleMemory, _model_key, build_memory
from .prompt import TEMPLATE_FILES, PromptFormat, image_context, read_template

_MEMORIES: dict[tuple, ExampleMemory] = {}
_LOCK = threading.Lock()


def load_memory(path: str, vlm: Any, *, image_root: str | None = None) -> ExampleMemory:
    """A training-set JSONL (embedded once, stored under its content hash) or a built memory folder;
    kept open for the rest of the process."""
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise SocraticError(f"PICa memory not found: {p}", field="memory")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, _model_key(vlm), image_root)
    with _LOCK:
        if key not in _MEMORIES:
            if p.is_dir():
                _MEMORIES[key] = ExampleMemory(p)
            else:
                _MEMORIES[key] = build_memory(p, vlm, image_root=image_root or None)
        return _MEMORIES[key]


def _check_select(params: dict[str, Any], ports: set[str]) -> list[str]:
    """Before any model loads: a memory too small for n_shot·n_ensemble ranked examples."""
    from .memory import memory_size

    n, m, mode = params.get("n_shot"), params.get("n_ensemble"), params.get("mode")
    if not isinstance(n, int) or not isinstance(m, int) or mode == "random" or not params.get("memory"):
        return []
    size = memory_size(params["memory"])
    if size is not None and size < n * m:
        return [f"the memory {params['memory']} holds {size} examples, fewer than n_shot·n_ensemble = {n}·{m} = "
                f"{n * m}: lower n_shot or n_ensemble"]
    return []


@node("pica_select", outputs={"examples": list[Any], "similarities": list[Any]}, batched=True,
      cacheable=False, check=_check_select)
def pica_select(question: str, image: Image = None, *, vlm: VLM, memory: FilePath, n_shot: int = 16,
                n_ensemble: int = 5, mode: str = "question_image", caption_choice: str = "random",
                example_tags: bool = False, tag_join: str = "faithful", image_root: FilePath = "",
                invalid_example: str = "replace", ctx: Context) -> dict[str, list]:
    """Per question, n_ensemble lists of n_shot [caption, question, answer] examples from the memory,
    ranked by CLIP question + image similarity (mode question_image, the paper's Full), question, image,
    or drawn at random (random, the paper's Base). `memory`: training JSONL or a built memory folder.
    `similarities`: per question, m lists of the n examples' similarities (empty when drawn at random).
    invalid_example: replace (an example without question or answer is swapped whole) or reference (its
    caption is kept beside the replacement's question and answer, the reference code's quirk)."""
    s = PICaSettings(n_shot=n_shot, n_ensemble=n_ensemble, mode=mode, caption_choice=caption_choice,
                     example_tags=example_tags, tag_join=tag_join, invalid_example=invalid_example,
                     seed=ctx.seed)
    s.check()
    questions = [check_question(q) for q in question]
    images = image if isinstance(image, list) else None
    mem = load_memory(memory, vlm, image_root=image_root)
    q_emb, i_emb = embed_queries(vlm, questions, images, s.mode)
    shots, sims = select_scored_shots(mem, q_emb, i_emb, questions, s)
    return {"examples": [[[list(t) for t in group] for group in item] for item in shots],
            "similarities": [sim or [] for sim in sims]}


def _template(value: str | None, which: str) -> str:
    return read_template(TEMPLATE_FILES[which]) if value is None else value


@node("pica_prompts", outputs={"prompts": list[str], "context": str})
def pica_prompts(examples: list[Any], question: str, caption: str, tags: list[str] = None, *,
                 header: Prompt = None, example: Prompt = None, query: Prompt = None,
                 tag_join: str = "faithful") -> dict[str, Any]:
    """The m PICa prompts, byte for byte (prompts/pica_header.txt, pica_example.txt, pica_query.txt unless
    overridden). The image context is the caption, then ". " and the tags when there are tags."""
    check_question(question)
    if not isinstance(caption, str):
        raise SocraticError(f"caption must be text, got {type(caption).__name__}", field="caption")
    fmt = PromptFormat(_template(header, "header"), _template(example, "example"), _template(query, "query"))
    context = image_context(caption, tags, tag_join=tag_join)
    prompts = [fmt.build([tuple(t) for t in group], context, question) for group in examples]
    return {"prompts": prompts, "context": context}


@node("pica_answer", outputs={"answer": str, "raw": str, "score": float, "candidates": list[Any]},
      batched=True)
def pica_answer(prompts: list[str], *, lm: LM, max_new_tokens: int = 5, skip_empty: bool = False,
                postprocess: bool = True) -> dict[str, list]:
    """Greedy answers to every prompt in one LM call (≤ max_new_tokens, stop at newline, log-probs); per
    question the prompt with the highest summed log-prob wins (first wins ties)."""
    results = generate_answers(lm, prompts, max_new_tokens=max_new_tokens, skip_empty=skip_empty,
                               postprocess=postprocess)
    return {"answer": [r.answer for r in results],
            "raw": [r.candidates[r.best].text for r in results],
            "score": [r.score for r in results],
            "candidates": [[{"text": c.text, "answer": c.answer, "score": c.score, "scored": c.scored}
                            for c in r.candidates]
                           for r in results]}
