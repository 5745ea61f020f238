"""Questions about a long video, answered from the relevant part of its log only, and checked against it.

Evidence comes from two retrievers. Text: the question's sentence embedding against each entry's speech ("heard",
whole and sentence by sentence), its scene text and its scene (place, objects, activity), the best of these.
Vision: the LM names the question's entities, CLIP scores every key frame against them, and frames standing out
from the rest (z-score) count. The sentences said or read that best match the question are ranked too.

The answer prompt puts the best-matching sentence first, then the evidence lines. The reply is cleaned by rule
(wording.clean_reply) and is *grounded* when it brings content words beyond the question and the prompt's own
instructions and every one of them occurs in the evidence (the matching sentences when there are any, else the
evidence lines). An answer that is not grounded is replaced by the best-matching sentence, with a note; with no
such sentence, or no evidence at all, the answer is the fixed "no evidence" one.
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
from .egocentric import UNKNOWN_ACTIVITY, format_line, grounded, parse_entities
from .quotes import entry_quotes
from .wording import RULES, clean_reply, content_words


def scene_text(entry: dict[str, Any]) -> str:
    objects = ", ".join(entry.get("objects") or [])
    activity = entry.get("activity", "")
    doing = f" I am {activity}." if activity and activity != UNKNOWN_ACTIVITY else ""
    return f"I am in {entry.get('place', '')}. I see {objects}.{doing}"


def _entities(question: str, lm: LM, template: str, chat: bool, ctx: Context) -> tuple[list[str], list[str]]:
    """The question's entities named by the LM, and the proposals dropped (not made of the question's words)."""
    reply = lm.generate([fill(template, {"question": question})], max_new_tokens=24, temperature=0.0, stop=["\n"],
                        seed=ctx.node_seed(), chat=chat)[0][0].text
    proposed = parse_entities(reply)
    kept = grounded(proposed, question)
    return kept, [p for p in proposed if p not in kept]




@node("log_evidence", outputs={"evidence": list[Any], "lines": str, "entities": list[str], "sentences": list[Any],
                               "dropped_entities": list[str]}, version=RULES)
def log_evidence(question: str, log: list[Any], frames: list[Image | KeyFrame], segments: list[Any] | None = None, *,
                 embedder: TextEmbedder,
                 lm: LM, vlm: VLM, entity_template: Prompt, top_k: int = 5, min_score: float = 0.35,
                 clip_template: str = "Photo of a {}.", clip_min_z: float = 2.5, clip_k: int = 2,
                 chat: str | bool = "auto", ctx: Context) -> dict:
    """The log entries relevant to `question`, in time order: `evidence` items {t, last, line, by, score}; and the
    `sentences` said or read that match it best ({t, last, by, text, score}, best first, at most `top_k`; speech is
    also cut where the transcript's `segments` meet, when given).

    Text: an entry's score is the cosine (sentence embeddings) of the question with its speech (whole, or its best
    sentence), its scene text, or its scene (`scene_text`), whichever is highest (`by`: speech / text / scene);
    entries scoring ≥ `min_score` qualify, the best `top_k` are kept. Vision: the LM lists the question's entities
    (`entity_template` with {question}; only entities made of the question's own words are kept, the others are
    listed in `dropped_entities`), each frame's score is its best entity's CLIP cosine (`clip_template`), and the
    `clip_k` frames whose score is ≥ `clip_min_z` standard deviations above the mean over frames are added (`by`:
    clip; score = z). Unrelated questions give no evidence."""
    if len(frames) != len(log):
        raise SocraticError(f"{len(frames)} frames but {len(log)} log entries", field="frames")
    if top_k < 1:
        raise SocraticError(f"top_k must be ≥ 1, got {top_k}", field="top_k")
    if not log:
        return {"evidence": [], "lines": "", "entities": [], "sentences": [], "dropped_entities": []}
    q = embedder.encode([question])[0]
    scene = embedder.encode([scene_text(e) for e in log]) @ q
    said = torch.full_like(scene, -1.0)
    kind = ["scene"] * len(log)
    heard = [i for i, e in enumerate(log) if (e.get("heard") or "").strip()]
    if heard:
        said[heard] = embedder.encode([log[i]["heard"] for i in heard]) @ q
        for i in heard:
            kind[i] = "speech"
    quotes = [(i, x) for i, e in enumerate(log) for x in entry_quotes(e, segments)]
    ranked_quotes = []
    if quotes:
        cos = embedder.encode([x["text"] for _, x in quotes]) @ q
        for (i, x), c in zip(quotes, cos.tolist()):
            if c > float(said[i]):
                said[i], kind[i] = c, x["by"]
            ranked_quotes.append({"t": x["t"], "last": x["last"], "by": x["by"], "text": x["text"],
                                  "score": round(c, 4)})
    ranked_quotes.sort(key=lambda x: -x["score"])
    best = torch.maximum(scene, said)
    ranked = sorted((i for i in range(len(log)) if float(best[i]) >= min_score), key=lambda i: -float(best[i]))
    chosen = {i: (kind[i] if said[i] >= scene[i] else "scene", float(best[i])) for i in ranked[:top_k]}

    entities, dropped = _entities(question, lm, entity_template, use_chat(chat, lm), ctx)
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
    return {"evidence": evidence, "lines": "\n".join(e["line"] for e in evidence), "entities": entities,
            "sentences": ranked_quotes[:top_k], "dropped_entities": dropped}


def said_block(sentence: dict[str, Any] | None) -> str:
    """The answer prompt's `{said}`: the best-matching sentence quoted with its time, or a line saying there is none."""
    if sentence is None:
        return "Nothing I said or read matches the question."
    verb = "read" if sentence.get("by") == "text" else "said"
    return f'At {clock(sentence["t"])} I {verb}: "{sentence["text"]}"'


def is_grounded(answer: str, question: str, instructions: str, evidence_text: str) -> bool:
    """Whether `answer` brings content words beyond the question's and the instructions', all found in the
    evidence."""
    known = set(content_words(question)) | set(content_words(instructions))
    new = [w for w in content_words(answer) if w not in known]
    have = set(content_words(evidence_text))
    return bool(new) and all(w in have for w in new)


@node("answer_from_evidence", outputs={"answer": str, "evidence": list[Any], "grounded": bool, "note": str,
                                       "said": Any, "reply": str}, version=RULES)
def answer_from_evidence(question: str, evidence: list[Any], sentences: list[Any] | None = None, *, lm: LM,
                         template: Prompt, max_new_tokens: int = 48, min_score: float = 0.35,
                         chat: str | bool = "auto", no_evidence: str = "No evidence found in the video.",
                         context_length: int | None = None, ctx: Context) -> dict:
    """A short answer from the evidence, checked against it (see the module docstring).

    `template` has {said} (the best-matching sentence of `sentences` scoring ≥ `min_score`, quoted with its time),
    {lines} (the evidence lines) and {question}; generation is greedy and stops at the end of the line. Outputs:
    the `answer`; the `evidence` lines it used; `grounded`; a `note` saying why the answer is not the LM's (empty
    when it is); `said`, the best-matching sentence (null when none); `reply`, the LM's raw reply. No evidence and
    no matching sentence: `no_evidence`, and the LM is not asked. When the evidence does not fit the context, the
    lowest-scoring lines are left out, with a warning."""
    relevant = [x for x in sentences or [] if x["score"] >= min_score]
    best = max(relevant, key=lambda x: x["score"]) if relevant else None
    if not evidence and best is None:
        return {"answer": no_evidence, "evidence": [], "grounded": False, "said": None, "reply": "",
                "note": "nothing said, read or seen in the video matches the question"}
    chat = use_chat(chat, lm)
    said = said_block(best)
    instructions = fill(template, {"lines": "", "question": "", "said": ""})
    room = budget(lm, lm.count_tokens(fill(template, {"lines": "", "question": question, "said": said}), chat=chat),
                  context_of(lm, context_length, ctx.warn), max_new_tokens)
    kept = list(evidence)
    while len(kept) > 1 and lm.count_tokens("\n".join(e["line"] for e in kept), chat=False) > room:
        kept.remove(min(kept, key=lambda e: e["score"] if e["by"] != "clip" else -1.0))
    size = lm.count_tokens(kept[0]["line"], chat=False) if kept else 0
    if len(kept) == 1 and size > room:  # one enormous entry (e.g. a long speech segment)
        kept = [{**kept[0], "line": shorten(kept[0]["line"], size, room)}]
        ctx.warn(f"answer_from_evidence: the evidence line at {clock(kept[0]['t'])} takes {size} tokens, more than "
                 f"the {room} that fit in lm '{lm.model_id}''s context; it was truncated")
    if len(kept) < len(evidence):
        ctx.warn(f"answer_from_evidence: {len(evidence) - len(kept)} of {len(evidence)} evidence lines left out "
                 f"to fit lm '{lm.model_id}''s context")
    lines = "\n".join(e["line"] for e in kept)
    prompt = fill(template, {"lines": lines, "question": question, "said": said})
    reply = lm.generate([prompt], max_new_tokens=max_new_tokens, temperature=0.0, stop=["\n"], seed=ctx.node_seed(),
                        chat=chat)[0][0].text
    echo = set(content_words(instructions)) | set(content_words(question))
    answer, _ = clean_reply(reply, echo)
    ground = "\n".join(said_block(x) for x in relevant) if relevant else lines
    out = {"evidence": kept, "said": best, "reply": reply}
    if is_grounded(answer, question, instructions, ground):
        return {**out, "answer": answer, "grounded": True, "note": ""}
    why = f"the LM's reply {' '.join(reply.split())!r} is not grounded in the evidence"
    if best is not None:
        verb = "read" if best["by"] == "text" else "said"
        return {**out, "answer": best["text"], "grounded": False,
                "note": f"{why}; the sentence {verb} at {clock(best['t'])} that best matches the question is given"}
    return {**out, "answer": no_evidence, "grounded": False, "note": f"{why}, and nothing said or read matches the "
            "question"}
