"""Image captioning (Socratic Models) and MAGiC: the image, the labels with scores that filled the prompt,
the prompt, every candidate with its rerank score, the winner marked."""

from __future__ import annotations

from ..load import RunDoc
from ..page import section
from ..records import Node
from ..values import Media, esc, render as render_value, text_block

VIEW_ID = "view-caption"


def _rerank(doc: RunDoc) -> Node | None:
    return next((n for n in doc.nodes if n.type == "clip_rerank" and n.items is None), None)


def _magic(doc: RunDoc) -> list[Node]:
    return [n for n in doc.nodes if n.type.startswith("magic")]


def applies(doc: RunDoc) -> bool:
    return _rerank(doc) is not None or bool(_magic(doc))


def _labels(doc: RunDoc, media: Media) -> str:
    rows = []
    for n in doc.nodes:
        if n.items is not None:
            continue
        if n.type == "clip_classify":
            labels, scores = n.outputs.get("labels") or [], n.outputs.get("scores") or []
            cells = []
            for k, lab in enumerate(labels if isinstance(labels, list) else []):
                sc = scores[k] if isinstance(scores, list) and k < len(scores) else None
                score = f'<span class="score">{sc:.4f}</span>' if isinstance(sc, (int, float)) else ""
                cells.append(f"<li>{score}{esc(lab)}</li>")
            rows.append(f'<tr><th>{esc(n.name)}</th><td><ol class="list labels">{"".join(cells)}</ol></td></tr>')
        elif n.type == "clip_people":
            rows.append(f"<tr><th>{esc(n.name)}</th><td>{render_value(n.outputs.get('people'), media)}</td></tr>")
    if not rows:
        return ""
    return f'<h3>What CLIP said (labels and scores)</h3><table class="kv labels">{"".join(rows)}</table>'


def _prompt(doc: RunDoc, rerank: Node) -> str:
    """The prompt of the LM node whose candidates were reranked (the last lm_generate before the rerank)."""
    lm = None
    for n in doc.nodes:
        if n is rerank:
            break
        if n.type == "lm_generate" and n.items is None:
            lm = n
    if lm is None:
        return ""
    model = ", ".join(lm.models.values())
    return f'<h3>Prompt given to the LM ({esc(model)})</h3>{text_block(str(lm.inputs.get("prompt", "")), "prompt")}'


def _candidates(rerank: Node) -> str:
    ranked = rerank.outputs.get("ranked")
    texts = rerank.inputs.get("texts")
    scores = rerank.outputs.get("scores")
    best = rerank.outputs.get("best")
    ranked = ranked if isinstance(ranked, list) else (texts if isinstance(texts, list) else [])
    scores = scores if isinstance(scores, list) and len(scores) == len(ranked) else [None] * len(ranked)
    top = max((s for s in scores if isinstance(s, (int, float))), default=None)
    items = []
    for k, (text, sc) in enumerate(zip(ranked, scores)):
        win = text == best and not any(text == best for text in ranked[:k])
        bar = (f'<span class="bar" style="width:{max(2, int(80 * sc / top)) if top and sc and sc > 0 else 2}px"></span>'
               if isinstance(sc, (int, float)) else "")
        score = f'<span class="score">{sc:.4f}</span>' if isinstance(sc, (int, float)) else ""
        items.append(f'<li class="candidate{" winner" if win else ""}">{bar}{score}{text_block(str(text))}</li>')
    note = "" if any(isinstance(s, (int, float)) for s in scores) else \
        '<p class="meta">Rerank scores were not recorded; candidates in ranked order.</p>'
    return (f"<h3>{len(ranked)} candidates, CLIP rerank scores (★ the chosen one)</h3>{note}"
            f'<ol class="list candidates">{"".join(items)}</ol>')


def _magic_block(node: Node, media: Media) -> str:
    params = {k: node.params[k] for k in ("k", "alpha", "beta", "decoding_len") if k in node.params}
    setting = ", ".join(f"{k}={v}" for k, v in params.items())
    outs = dict(node.outputs)
    caption = outs.pop("caption", None)
    out = (f'<h3>MAGiC {esc(node.name)} ({esc(setting)}; {esc(", ".join(node.models.values()))})</h3>'
           f'<div class="summary winner magic-caption">{esc(caption if caption is not None else "(no caption)")}</div>')
    if outs:  # candidates / steps, when the node records them
        out += render_value(outs, media)
    return out


def render(doc: RunDoc, media: Media) -> tuple[str, str, str]:
    rerank = _rerank(doc)
    magic = _magic(doc)
    image = (rerank.inputs.get("image") if rerank else None) or next(
        (n.inputs.get("image") for n in magic if "image" in n.inputs), None)
    hero = (media.thumb(image, "hero") or "") if image is not None else ""
    body = f'<div class="cols"><div>{hero}{_labels(doc, media)}</div><div>'
    if rerank:
        body += _prompt(doc, rerank) + _candidates(rerank)
    body += "".join(_magic_block(n, media) for n in magic) + "</div></div>"
    return VIEW_ID, "Caption", section(VIEW_ID, "Image captioning", body)
