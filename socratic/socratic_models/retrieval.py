"""Video-to-text retrieval nodes (methods.md §1c), each usable alone; wired in pipelines/video_text_retrieval.yaml.

One pipeline item is one video. The model nodes are batched: a dataset run (`--batch-size`) hands them every
video of a batch in one call (one CLIP pass over all frames, one LM call for all summaries, one embedding pass).
Gallery caption embeddings come from the models' vocabulary cache: encoded once per process, kept on disk.
"""

from __future__ import annotations

from pathlib import Path
import torch

from ..context import Context
from ..errors import SocraticError
from ..models.base import LM, VLM, TextEmbedder
from ..node import node
from ..nodes.text import fill
from ..nodes.vision import vocab_embeddings
from ..types import Image, Prompt, Video
from . import retrieval_scoring as scoring


def _one_gallery(ids: list, captions: list) -> tuple[list[str], list[list[str]]]:
    """A batched call repeats the unmapped gallery per video; it must be one gallery."""
    for i, c in zip(ids[1:], captions[1:]):
        if (i is not ids[0] and i != ids[0]) or (c is not captions[0] and c != captions[0]):
            raise SocraticError("every video of a batch must be scored against the same gallery")
    g_ids, g_caps = list(ids[0]), [list(c) for c in captions[0]]
    if len(g_ids) != len(g_caps):
        raise SocraticError(f"gallery has {len(g_ids)} ids but {len(g_caps)} caption sets", field="captions")
    if not g_ids:
        raise SocraticError("the gallery is empty", field="ids")
    empty = [i for i, c in zip(g_ids, g_caps) if not c]
    if empty:
        raise SocraticError(f"video {empty[0]!r} has an empty caption set", field="captions")
    return g_ids, g_caps


@node("video_id", outputs={"id": str})
def video_id(video: Video) -> str:
    """A video's id: its file name without extension (MSR-VTT names its files `video7010.mp4`)."""
    return Path(str(video)).stem


@node("caption_gallery", outputs={"ids": list[str], "captions": list[list[str]]})
def caption_gallery(annotations: Path, *, split: str = "test", ctx: Context) -> dict:
    """Every video's caption set from MSR-VTT's `test_videodatainfo.json` (videos of `split`) or the 1k-A CSV.
    Caption sets of uneven size are kept as they are (scores take the max over each set), with a warning."""
    from ..eval.msrvtt import load_gallery

    g = load_gallery(annotations, split=split)
    lo, hi = g.sizes
    if lo != hi:
        ctx.warn(f"caption_gallery: caption sets have {lo} to {hi} captions; each is scored as it is (max)")
    return {"ids": g.ids, "captions": g.captions}


@node("video_clip_feature", outputs={"feature": torch.Tensor}, batched=True)
def video_clip_feature(frames: list[Image] | torch.Tensor, *, vlm: VLM) -> list[torch.Tensor]:
    """A video's CLIP feature: the L2-normalised mean of its frames' normalised CLIP image embeddings. `frames`
    are images, or already computed embeddings (n_frames, dim). All images of the batch go through CLIP at once."""
    images = [im for f in frames if not isinstance(f, torch.Tensor) for im in f]
    if any(not isinstance(f, torch.Tensor) and len(f) == 0 for f in frames):
        raise SocraticError("a video has no frames", field="frames")
    encoded = vlm.encode_images(images).float().cpu() if images else None
    embs, pos = [], 0
    for f in frames:
        if isinstance(f, torch.Tensor):
            embs.append(torch.nn.functional.normalize(f.float().cpu(), dim=-1))
        else:
            embs.append(encoded[pos:pos + len(f)])
            pos += len(f)
    return list(scoring.video_features(embs))


@node("caption_set_scores", outputs={"scores": torch.Tensor}, batched=True)
def caption_set_scores(feature: torch.Tensor, ids: list[str], captions: list[list[str]], *, vlm: VLM
                       ) -> list[torch.Tensor]:
    """CLIP score of the video against every caption set of the gallery: the max over the set of the cosine
    between the video feature and each caption's CLIP text embedding (no template)."""
    g_ids, g_caps = _one_gallery(ids, captions)
    flat, index = scoring.flatten_sets(g_caps)
    text = vocab_embeddings(vlm, flat).float().cpu()
    feats = torch.stack([f.float().cpu() for f in feature])
    if feats.shape[1] != text.shape[1]:
        raise SocraticError(f"video features have {feats.shape[1]} dims, the CLIP text embeddings "
                            f"{text.shape[1]}: compute both with one model", field="feature")
    return list(scoring.caption_set_scores(feats, text, index, len(g_ids)))


@node("top_k_prerank", outputs={"ranking": list[str], "scores": list[float]}, batched=True)
def top_k_prerank(scores: torch.Tensor, ids: list[str], *, k: int = 100) -> dict:
    """The k best caption sets by score (descending; ties keep gallery order): their ids and scores."""
    g_ids = list(ids[0])
    rows = torch.stack([torch.as_tensor(s, dtype=torch.float32) for s in scores])
    if rows.shape[1] != len(g_ids):
        raise SocraticError(f"{rows.shape[1]} scores for {len(g_ids)} gallery ids", field="scores")
    order, vals = scoring.top_k(rows, k)
    return {"ranking": [[g_ids[j] for j in r] for r in order.tolist()], "scores": vals.tolist()}


@node("transcript_summary", outputs={"summary": str, "note": str}, batched=True)
def transcript_summary(transcript: str, *, lm: LM, template: Prompt, max_new_tokens: int = 64,
                       stop: list[str] | None = None, ctx: Context) -> dict:
    """The LM's short caption of what is said: `template` filled with the stripped transcript, greedy, at most
    `max_new_tokens`, stopped at `stop` (default ["."]), stripped. No transcript → no LM call, an empty summary
    and a note; the caller then keeps the CLIP ranking."""
    stop = ["."] if stop is None else list(stop)
    texts = [(t or "").strip() for t in transcript]
    todo = [i for i, t in enumerate(texts) if t]
    summaries, notes = [""] * len(texts), ["no transcript (no audio track, silence or no speech)"] * len(texts)
    if todo:
        prompts = [fill(template, {"transcript": texts[i]}) for i in todo]
        outs = lm.generate(prompts, max_new_tokens=max_new_tokens, temperature=0.0, stop=stop,
                           seed=ctx.node_seed())
        for i, row in zip(todo, outs):
            summaries[i] = row[0].text.strip()
            notes[i] = "" if summaries[i] else "the LM's summary is empty"
    if any(notes[i] for i in todo):
        ctx.warn(f"transcript_summary: lm '{lm.model_id}' gave an empty summary for "
                 f"{sum(bool(notes[i]) for i in todo)} of {len(todo)} transcript(s); CLIP ranking kept there")
    return {"summary": summaries, "note": notes}


@node("text_set_scores", outputs={"scores": list[float]}, batched=True)
def text_set_scores(summary: str, ranking: list[str], ids: list[str], captions: list[list[str]], *,
                    embedder: TextEmbedder) -> list[list[float]]:
    """Text-text score of each ranked caption set: the max over its captions of the cosine between the sentence
    embeddings of the summary and of the caption. An empty summary gives no scores ([])."""
    g_ids, g_caps = _one_gallery(ids, captions)
    where = {v: j for j, v in enumerate(g_ids)}
    unknown = [r for rank in ranking for r in rank if r not in where]
    if unknown:
        raise SocraticError(f"ranked id {unknown[0]!r} is not in the gallery", field="ranking")
    todo = [i for i, s in enumerate(summary) if s and s.strip()]
    out: list[list[float]] = [[] for _ in summary]
    if not todo:
        return out
    flat, index = scoring.flatten_sets(g_caps)
    sets = scoring.set_max(embedder.encode([summary[i] for i in todo]).float().cpu()
                           @ embedder.encode_vocab(flat).float().cpu().T, index, len(g_ids))
    for row, i in zip(sets, todo):
        out[i] = row[[where[r] for r in ranking[i]]].tolist()
    return out


@node("product_rerank", outputs={"ranking": list[str], "scores": list[float], "reranked": bool}, batched=True)
def product_rerank(ranking: list[str], clip_scores: list[float], text_scores: list[float]) -> dict:
    """Re-rank by CLIP score × text score (descending, stable: ties keep the CLIP order). No text scores (no
    speech) keeps the CLIP ranking and scores, with `reranked: false`."""
    out = {"ranking": [], "scores": [], "reranked": []}
    for rank, clip, text in zip(ranking, clip_scores, text_scores):
        if len(rank) != len(clip) or (text and len(text) != len(rank)):
            raise SocraticError(f"ranking has {len(rank)} ids, {len(clip)} CLIP scores and {len(text)} text scores")
        if not text:
            out["ranking"].append(list(rank))
            out["scores"].append(list(clip))
            out["reranked"].append(False)
            continue
        c, t = torch.tensor(clip, dtype=torch.float64), torch.tensor(text, dtype=torch.float64)
        order = scoring.product_rerank(c[None], t[None])[0].tolist()
        out["ranking"].append([rank[j] for j in order])
        out["scores"].append([float(c[j] * t[j]) for j in order])
        out["reranked"].append(True)
    return out
