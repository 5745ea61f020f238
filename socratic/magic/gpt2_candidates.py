"""MAGiC's candidate pass for GPT-2 models, layer by layer, on the shared key/value cache.

The same computation as `model(input_ids=candidates, attention_mask=tree mask, ...)` (each candidate sees the
context and itself), returning the last hidden states (after `ln_f`), but with the weight matmuls through
`packed_linear` (reordered once for oneDNN on CPU) and without the model's per-call bookkeeping. The candidates'
keys/values are appended to the cache exactly as the model would (`layer.update`). Other models, or GPT-2s with
options this does not run (cross-attention, eager attention with reordered upcasting, training mode), return
a reason from `unsupported` and go through the model itself.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .packed_linear import linear


def unsupported(model: Any) -> str:
    """Why this pass cannot stand in for `model`'s forward ('' when it can)."""
    try:
        from transformers import GPT2LMHeadModel
    except ImportError:  # pragma: no cover - transformers is a dependency
        return "transformers missing"
    if type(model) is not GPT2LMHeadModel:
        return f"not a GPT-2 LM ({type(model).__name__})"
    cfg = model.config
    if model.training:
        return "the model is in training mode"
    if getattr(cfg, "add_cross_attention", False):
        return "cross-attention"
    if getattr(cfg, "_attn_implementation", None) not in ("sdpa", "eager"):
        return f"attention {cfg._attn_implementation}"
    if cfg._attn_implementation == "eager" and getattr(cfg, "reorder_and_upcast_attn", False):
        return "reordered upcast attention"
    if not all(hasattr(b.attn, "scaling") for b in model.transformer.h):
        return "unknown GPT-2 attention layout"
    return ""


class Gpt2Candidates:
    """h = ln_f(blocks(wte[ids] + wpe[pos])) over the candidates, attending to the cache under `mask`."""

    def __init__(self, model: Any, packed: bool | str = "auto"):
        tr = model.transformer
        self.tr, self.blocks = tr, list(tr.h)
        self.heads = self.blocks[0].attn.num_heads
        self.width = tr.embed_dim
        self.layers = []
        for b in self.blocks:
            a, m = b.attn, b.mlp
            self.layers.append(tuple(linear(mod, "w", mod.weight, mod.bias, transposed=True, act=act, mode=packed)
                                     for mod, act in ((a.c_attn, None), (a.c_proj, None), (m.c_fc, m.act),
                                                      (m.c_proj, None))))

    def __call__(self, ids: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
        """`ids`, `pos` (B, k); `mask` additive (B, 1, k, past + k). Returns (B, k, E)."""
        tr = self.tr
        B, k = ids.shape
        E, H = self.width, self.heads
        x = tr.wte(ids) + tr.wpe(pos)
        for blk, (qkv_f, proj_f, fc_f, out_f), layer in zip(self.blocks, self.layers, cache.layers):
            q, kk, vv = qkv_f(blk.ln_1(x)).split(E, dim=2)
            q, kk, vv = (t.view(B, k, H, -1).transpose(1, 2) for t in (q, kk, vv))
            kk, vv = layer.update(kk, vv)
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, scale=blk.attn.scaling)
            x = proj_f(o.transpose(1, 2).reshape(B, k, E)) + x
            x = x + out_f(fc_f(blk.ln_2(x)))  # fc_f applies the MLP's activation
        return tr.ln_f(x)
