"""PICa: the question and image, the context, the in-context examples of each of the m prompts, each prompt's
answer and summed log-prob, the winner marked."""

from __future__ import annotations

from typing import Any

from ..load import RunDoc
from ..page import section
from ..values import Media, esc, text_block

VIEW_ID = "view-pica"


def _node(doc: RunDoc, type_: str):
    return next((n for n in doc.nodes if n.type == type_), None)


def applies(doc: RunDoc) -> bool:
    return any(n.type in ("pica_prompts", "pica_answer") for n in doc.nodes)


def _example(ex: Any, sim: Any = None) -> str:
    """[caption, question, answer] with the selector's similarity when recorded, or an object."""
    if isinstance(ex, dict):
        sim = ex.get("similarity", sim)
        cap, q, a = ex.get("caption", ""), ex.get("question", ""), ex.get("answer", "")
    elif isinstance(ex, list) and len(ex) >= 3:
        cap, q, a = ex[:3]
    else:
        return f"<li>{esc(ex)}</li>"
    sim_txt = f'<span class="score">sim {sim:.3f}</span>' if isinstance(sim, (int, float)) else ""
    return (f'<li class="prompt-example">{sim_txt}<b>Context:</b> {esc(cap)} <b>Q:</b> {esc(q)} '
            f"<b>A:</b> {esc(a)}</li>")


def _fmt(score: Any) -> str:
    return f"{score:.3f}" if isinstance(score, (int, float)) else "not scored"


def _winner(cands: list[dict]) -> int | None:
    scores = [c.get("score") if isinstance(c.get("score"), (int, float)) else None for c in cands]
    best = None
    for i, s in enumerate(scores):
        if s is not None and (best is None or s > scores[best]):
            best = i  # first wins ties
    return best


def render(doc: RunDoc, media: Media) -> tuple[str, str, str]:
    select, prompts, answer = _node(doc, "pica_select"), _node(doc, "pica_prompts"), _node(doc, "pica_answer")
    question = (prompts.inputs.get("question") if prompts else None) or (select.inputs.get("question")
                                                                         if select else None)
    image = select.inputs.get("image") if select else None
    head = ""
    if image is not None:
        head += media.thumb(image, "hero") or ""
    head += f'<h3>Question</h3>{text_block(str(question or "(not recorded)"), "question")}'
    if prompts:
        head += f'<h3>Context (caption, then tags)</h3>{text_block(str(prompts.outputs.get("context", "")))}'
    examples = (select.outputs.get("examples") if select else None) or (prompts.inputs.get("examples")
                                                                        if prompts else None) or []
    sims = select.outputs.get("similarities") if select else None
    sims = sims if isinstance(sims, list) else []
    texts = prompts.outputs.get("prompts") if prompts else None
    cands = answer.outputs.get("candidates") if answer else None
    cands = [c for c in cands if isinstance(c, dict)] if isinstance(cands, list) else []
    win = _winner(cands)
    m = max(len(examples) if isinstance(examples, list) else 0, len(texts) if isinstance(texts, list) else 0,
            len(cands))
    blocks = []
    for i in range(m):
        group = examples[i] if isinstance(examples, list) and i < len(examples) else []
        group_sims = sims[i] if i < len(sims) and isinstance(sims[i], list) else []
        exs = "".join(_example(e, group_sims[j] if j < len(group_sims) else None)
                      for j, e in enumerate(group if isinstance(group, list) else []))
        cand = cands[i] if i < len(cands) else None
        if cand is not None:
            score_txt = _fmt(cand.get("score"))
            ans = (f'<div class="pica-answer{" winner" if i == win else ""}">answer: {esc(cand.get("answer", ""))} '
                   f'<span class="score">log-prob {score_txt}</span> raw: {esc(repr(cand.get("text", "")))}</div>')
        else:
            ans = '<div class="meta">no answer recorded</div>'
        prompt_txt = texts[i] if isinstance(texts, list) and i < len(texts) else None
        full = (f"<details><summary>the prompt as sent</summary>{text_block(str(prompt_txt))}</details>"
                if prompt_txt is not None else "")
        blocks.append(f'<div class="pica-prompt" id="pica-prompt-{i}"><h3>Prompt {i + 1} of {m}</h3>'
                      f'<ol class="examples">{exs}</ol>{ans}{full}</div>')
    note = ""
    if examples and not sims and not any(isinstance(e, dict) and "similarity" in e
                                         for g in examples if isinstance(g, list) for e in g):
        note = '<p class="meta">The selector did not record example similarities.</p>'
    final = ""
    if answer:
        final = (f'<h3>Answer</h3><div class="summary" id="pica-final">{esc(answer.outputs.get("answer", ""))} '
                 f'<span class="score">(prompt {win + 1 if win is not None else "?"}, summed log-prob '
                 f'{_fmt(answer.outputs.get("score"))})</span></div>')
    return VIEW_ID, "PICa", section(VIEW_ID, "PICa: in-context examples and answers",
                                    head + final + note + "".join(blocks))
