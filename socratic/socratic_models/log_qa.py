"""Questions about a long video, answered from the relevant part of its log only.

Evidence comes from two retrievers. Text: the question's sentence embedding against each entry's speech ("heard")
and against its scene (place, objects, activity), the better of the two. Vision: the LM names the question's
entities, CLIP scores every key frame against them, and frames standing out from the rest (z-score) count.
The answer is generated from the evidence lines alone and returned with their timestamps; no evidence gives a
fixed "no evidence" answer without calling the LM.
"""

from __future__ import annotations

from typing import Any

import torch

from ..context import Context
from ..errors import SocraticError
from ..media.keyframe import KeyFrame, clock
from ..models.base import LM, VLM, TextEmbedder
from ..node import node
from ..nodes.lm_budget import budget, context_of, shorten
from ..nodes.text import fill, use_chat
from ..types import Image, Prompt
from .egocentric import format_line, grounded, parse_entities

def scene_text(entry: dict[str, Any]) -> str:
    objects = ", ".join(entry.get("objects") or [])
    return f"I am in {entry.get('place', '')}. I see {objects}. I am {entry.get('activity', '')}."


def _entities(question: str, lm: LM, template: str, chat: bool, ctx: Context) -> list[str]:
    reply = lm.generate([fill(template, {"question": question})], max_new_tokens=24, temperature=0.0, stop=["\n"],
                        seed=ctx.node_seed(), chat=chat)[0][0].text
    return grounded(parse_entities(reply), question)


@node("log_evidence", outputs={"evidence": list[Any], "lines": str, "entities": list[str]})
def log_evidence(question: str, log: list[Any], frames: list[Image | KeyFrame], *, embedder: TextEmbedder,
                 lm: LM, vlm: VLM, entity_template: Prompt, top_k: int = 5, min_score: float = 0.35,
                 clip_template: str = "Photo of a {}.", clip_min_z: float = 2.5, clip_k: int = 2,
                 chat: str | bool = "auto", ctx: Context) -> dict:
    """The log entries relevant to `question`, in time order: `evidence` items {t, last, line, by, score}.

    Text: an entry's score is the cosine (sentence embeddings) of the question with its speech or with its scene
    (`scene_text`), whichever is higher (`by`: speech / scene); entries scoring ≥ `min_score` qualify, the best
    `top_k` are kept. Vision: the LM lists the question's entities (`entity_template` with {question}; only
    entities made of the question's own words are kept), each frame's score is its best entity's CLIP cosine
    (`clip_template`), and the `clip_k` frames whose score is ≥ `clip_min_z` standard deviations above the
    mean over frames are added (`by`: clip; score = z). Unrelated questions give no evidence."""
    if len(frames) != len(log):
        raise SocraticError(f"{len(frames)} frames but {len(log)} log entries", field="frames")
    if top_k < 1:
        raise SocraticError(f"top_k must be ≥ 1, got {top_k}", field="top_k")
    if not log:
        return {"evidence": [], "lines": "", "entities": []}
    q = embedder.encode([question])[0]
    heard = [i for i, e in enumerate(log) if (e.get("heard") or "").strip()]
    scene = embedder.encode([scene_text(e) for e in log]) @ q
    speech = torch.full_like(scene, -1.0)
    if heard:
        speech[heard] = embedder.encode([log[i]["heard"] for i in heard]) @ q
    best = torch.maximum(scene, speech)
    ranked = sorted((i for i in range(len(log)) if float(best[i]) >= min_score), key=lambda i: -float(best[i]))
    chosen = {i: ("speech" if speech[i] >= scene[i] else "scene", float(best[i])) for i in ranked[:top_k]}

    entities = _entities(question, lm, entity_template, use_chat(chat, lm), ctx)
    if entities and len(frames) >= 3:
        cos = (vlm.encode_images(frames) @ vlm.encode_texts([clip_template.format(e) for e in entities]).T)
        score = cos.max(dim=1).values.float().cpu()
        z = (score - score.mean()) / score.std().clamp(min=1e-6)
        standouts = [i for i in z.argsort(descending=True).tolist() if float(z[i]) >= clip_min_z]
        for i in [i for i in standouts if i not in chosen][:clip_k]:
            chosen[i] = ("clip", round(float(z[i]), 4))
    evidence = [{"t": float(log[i]["t"]), "last": float(log[i].get("last", log[i]["t"])),
                 "line": format_line(log[i]), "by": by, "score": round(sc, 4)}
                for i, (by, sc) in sorted(chosen.items())]
    return {"evidence": evidence, "lines": "\n".join(e["line"] for e in evidence), "entities": entities}


@node("answer_from_evidence", outputs={"answer": str, "evidence": list[Any]})
def answer_from_evidence(question: str, evidence: list[Any], *, lm: LM, template: Prompt, max_new_tokens: int = 48,
                         chat: str | bool = "auto", no_evidence: str = "No evidence found in the video.",
                         context_length: int | None = None, ctx: Context) -> dict:
    """The LM's one-line answer from the evidence lines (`template` with {lines} and {question}; generation stops
    at the end of the line), with the evidence it used. No evidence: `no_evidence`, and the LM is not asked.
    When the evidence does not fit the context, the lowest-scoring lines are left out, with a warning."""
    if not evidence:
        return {"answer": no_evidence, "evidence": []}
    chat = use_chat(chat, lm)
    room = budget(lm, lm.count_tokens(fill(template, {"lines": "", "question": question}), chat=chat),
                  context_of(lm, context_length, ctx.warn), max_new_tokens)
    kept = list(evidence)
    while len(kept) > 1 and lm.count_tokens("\n".join(e["line"] for e in kept), chat=False) > room:
        kept.remove(min(kept, key=lambda e: e["score"] if e["by"] != "clip" else -1.0))
    size = lm.count_tokens(kept[0]["line"], chat=False)
    if len(kept) == 1 and size > room:  # one enormous entry (e.g. a long speech segment)
        kept = [{**kept[0], "line": shorten(kept[0]["line"], size, room)}]
        ctx.warn(f"answer_from_evidence: the evidence line at {clock(kept[0]['t'])} takes {size} tokens, more than "
                 f"the {room} that fit in lm '{lm.model_id}''s context; it was truncated")
    if len(kept) < len(evidence):
        ctx.warn(f"answer_from_evidence: {len(evidence) - len(kept)} of {len(evidence)} evidence lines left out "
                 f"to fit lm '{lm.model_id}''s context")
    prompt = fill(template, {"lines": "\n".join(e["line"] for e in kept), "question": question})
    out = lm.generate([prompt], max_new_tokens=max_new_tokens, temperature=0.0, stop=["\n"], seed=ctx.node_seed(),
                      chat=chat)[0][0].text
    answer = " ".join(out.split())
    if not answer:
        ctx.warn(f"answer_from_evidence: lm '{lm.model_id}' gave an empty answer")
    return {"answer": answer, "evidence": kept}
