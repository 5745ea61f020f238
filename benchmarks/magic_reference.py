"""MAGiC with the cost structure of the authors' code (yxuansu/MAGIC), written for the benchmark.

Batch 1. Per step: the key/value cache is copied k times, the k candidates go through the LM in one forward
pass (the LM head over the whole vocabulary for every candidate), the chosen row of the cache is copied back;
every candidate's text (the last `window` generated ids plus the candidate) is decoded, re-tokenised by CLIP
and re-encoded from scratch, rows padded to the longest of the step (as a tokenizer called with padding=True).
"""

from __future__ import annotations

import torch


def clip_text_padded(clip, ctok, texts: list[str]) -> tuple[torch.Tensor, int]:
    """L2-normalised CLIP text embeddings of `texts`, rows cut to the longest; also that width."""
    full = ctok(texts)                                  # (n, 77), zero-padded
    width = int((full != 0).sum(-1).max())
    ids = full[:, :width].to(clip.positional_embedding.device)
    x = clip.token_embedding(ids) + clip.positional_embedding[:width]
    x = clip.transformer(x, attn_mask=clip.attn_mask[:width, :width])
    x = clip.ln_final(x)[torch.arange(len(texts)), ids.argmax(-1)] @ clip.text_projection
    return x / x.norm(dim=-1, keepdim=True), width


@torch.no_grad()
def reference_decode(lm, tok, clip, ctok, image, prompt, steps, k, alpha, beta, window=60, stats=None):
    """Generated ids; `stats["clip_positions"]` counts the CLIP text positions run (k x width per step)."""
    from transformers import DynamicCache

    from socratic.models.hf_forward import cache_arg

    dev = image.device
    scale = clip.logit_scale.exp()
    cache = DynamicCache(config=lm.config)
    kw = {cache_arg(lm): cache}
    out = lm(torch.tensor([prompt], device=dev), use_cache=True, output_hidden_states=True, **kw)
    context = out.hidden_states[-1][0]                  # (L, E)
    logits = out.logits[0, -1]
    gen: list[int] = []
    positions = 0
    for _ in range(steps):
        probs = logits.softmax(-1)
        top_p, top = probs.topk(k)
        cache.batch_repeat_interleave(k)                # the k-fold copy of the cache
        n = context.shape[0]
        out = lm(top[:, None], use_cache=True, output_hidden_states=True,
                 position_ids=torch.full((k, 1), n, device=dev), **kw)
        h = out.hidden_states[-1][:, -1]                # (k, E)
        ids = top.tolist()
        texts = [tok.decode((gen + [v])[-window:]) for v in ids]
        emb, width = clip_text_padded(clip, ctok, texts)
        positions += k * width
        f = (scale * emb @ image).softmax(0)
        cn = context / context.norm(dim=-1, keepdim=True)
        hn = h / h.norm(dim=-1, keepdim=True)
        penalty = (hn @ cn.T).max(-1).values
        score = (1 - alpha) * top_p - alpha * penalty + beta * f
        sel = int(score.argmax())
        cache.batch_select_indices(torch.tensor([sel], device=dev))
        context = torch.cat([context, h[sel:sel + 1]])
        logits = out.logits[sel, -1]
        gen.append(ids[sel])
    if stats is not None:
        stats["clip_positions"] = positions
    return gen
