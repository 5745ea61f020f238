"""PICa end to end on already-loaded models: embed the test items, select examples, build the m prompts,
ensemble. Nodes and the PICa class both call these functions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from ..errors import SocraticError
from .ensemble import EnsembleResult, generate_answers
from .memory import MODES, ExampleMemory, _to_numpy
from .prompt import PromptFormat, image_context


@dataclass
class PICaSettings:
    """Defaults are the paper's "Full" setting (methods.md §2); every deviation is a named option."""

    n_shot: int = 16
    n_ensemble: int = 5
    mode: str = "question_image"  # question_image (Full) | question | image | random (Base: use n_ensemble=1)
    tag_join: str = "faithful"  # faithful: caption + ". " + tags (".." possible) | clean
    caption_choice: str = "random"  # which ground-truth caption of an example: random (reference) | first
    example_tags: bool = False  # append an example's tags to its caption (the reference did not)
    max_new_tokens: int = 5
    skip_empty: bool = False  # let an empty answer lose even with the best score (not the reference)
    invalid_example: str = "replace"  # replace | reference (keep the invalid example's caption, a quirk)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PICaSettings":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise SocraticError(f"unknown PICa setting(s) {bad} (known: {sorted(known)})", field="params")
        s = cls(**d)
        s.check()
        return s

    def check(self) -> None:
        if self.mode not in MODES:
            raise SocraticError(f"unknown selection mode {self.mode!r} (one of {sorted(MODES)})", field="mode")
        if self.invalid_example not in ("replace", "reference"):
            raise SocraticError(f"unknown invalid_example {self.invalid_example!r} (replace or reference)",
                                field="invalid_example")
        if self.n_shot < 0 or self.n_ensemble < 1:
            raise SocraticError(f"need n_shot >= 0 and n_ensemble >= 1, got {self.n_shot}, {self.n_ensemble}",
                                field="n_shot")


def item_rng(seed: int, key: Any) -> np.random.Generator:
    """The random stream of one test item: fixed by the seed and the item (not by its position in a run)."""
    h = hashlib.sha256(repr((int(seed), str(key))).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def check_question(question: Any, where: str = "question") -> str:
    if not isinstance(question, str) or not question.strip():
        raise SocraticError("the question is empty", field=where)
    return question


def embed_queries(vlm: Any, questions: Sequence[str], images: Sequence[Any] | None, mode: str
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """CLIP features the selection mode needs (None for the ones it ignores)."""
    if mode == "random":
        return None, None
    q = _to_numpy(vlm.encode_texts(list(questions))) if mode in ("question_image", "question") else None
    i = None
    if mode in ("question_image", "image"):
        if images is None or any(im is None for im in images):
            raise SocraticError(f"selection mode {mode!r} needs the test image", field="image")
        i = _to_numpy(vlm.encode_images(list(images)))
    return q, i


def select_shots(memory: ExampleMemory, q_emb, i_emb, keys: Sequence[Any], s: PICaSettings
                 ) -> list[list[list[tuple[str, str, str]]]]:
    """Per test item: m lists of n (caption, question, answer) examples."""
    return select_scored_shots(memory, q_emb, i_emb, keys, s)[0]


def select_scored_shots(memory: ExampleMemory, q_emb, i_emb, keys: Sequence[Any], s: PICaSettings
                        ) -> tuple[list[list[list[tuple[str, str, str]]]], list[list[list[float]] | None]]:
    """The shots of `select_shots` and, per item, the m×n similarities of the ranked memory rows they came
    from (None when drawn at random; an invalid example's replacement keeps its ranked row's similarity)."""
    if s.n_shot == 0:
        return [[[] for _ in range(s.n_ensemble)] for _ in keys], [None for _ in keys]
    rngs = [item_rng(s.seed, k) for k in keys]
    k = s.n_shot * s.n_ensemble
    if s.mode == "random":  # "Base": every shot uniformly at random, with replacement
        idx, sims = memory.select(None, None, k, mode="random", rng=rngs), None
    else:
        idx, sims = memory.ranked(q_emb, i_emb, k, mode=s.mode)
    shots = [memory.shots(row, s.n_shot, s.n_ensemble, r, caption_choice=s.caption_choice,
                          example_tags=s.example_tags, tag_join=s.tag_join, invalid_example=s.invalid_example)
             for row, r in zip(idx, rngs)]
    grouped = [None if sims is None else sims[b].reshape(s.n_ensemble, s.n_shot).round(6).tolist()
               for b in range(len(keys))]
    return shots, grouped


def build_prompts(shots: Sequence[Sequence[tuple[str, str, str]]], caption: str, question: str,
                  tags: Sequence[str] | None = None, *, fmt: PromptFormat | None = None,
                  tag_join: str = "faithful") -> list[str]:
    """The m prompts of one test item."""
    fmt = fmt or PromptFormat.default()
    context = image_context(caption, tags, tag_join=tag_join)
    return [fmt.build(group, context, question) for group in shots]


def answer_batch(memory: ExampleMemory, vlm: Any, lm: Any, questions: Sequence[str], captions: Sequence[str],
                 images: Sequence[Any] | None = None, tags: Sequence[Sequence[str] | None] | None = None,
                 keys: Sequence[Any] | None = None, *, settings: PICaSettings | None = None,
                 fmt: PromptFormat | None = None, batched: bool = True) -> list[tuple[list[str], EnsembleResult]]:
    """(prompts, result) per question; one selection matrix product and one LM call for the whole batch."""
    s = settings or PICaSettings()
    questions = [check_question(q) for q in questions]
    keys = list(keys) if keys is not None else list(questions)
    tags = list(tags) if tags is not None else [None] * len(questions)
    q_emb, i_emb = embed_queries(vlm, questions, images, s.mode)
    shots = select_shots(memory, q_emb, i_emb, keys, s)
    fmt = fmt or PromptFormat.default()
    prompts = [build_prompts(sh, c, q, t, fmt=fmt, tag_join=s.tag_join)
               for sh, c, q, t in zip(shots, captions, questions, tags)]
    results = generate_answers(lm, prompts, max_new_tokens=s.max_new_tokens, skip_empty=s.skip_empty,
                               batched=batched)
    return list(zip(prompts, results))
