"""MAGiC captioning node (methods.md §3): CLIP-guided decoding of a local LM, every mapped image in one batch."""

from __future__ import annotations

from typing import Any

import torch

from ..context import Context
from ..errors import SocraticError
from ..models.base import LM, VLM
from ..node import node
from ..types import Image
from .decode import START_TEXT, magic_decode


def _raw(obj: Any, field: str, need: str) -> tuple[Any, Any]:
    """The backend's torch model and tokenizer (a hybrid LM's transformers half)."""
    obj = getattr(obj, "exact", obj)
    model, tokenizer = getattr(obj, "model", None), getattr(obj, "tokenizer", None)
    if not isinstance(model, torch.nn.Module) or tokenizer is None:
        raise SocraticError(f"MAGiC needs {need}; got {type(obj).__name__} {getattr(obj, 'model_id', '')!r}",
                            field=field)
    return model, tokenizer


@node("magic_caption", outputs={"caption": str}, batched=True)
def magic_caption(image: Image, *, lm: LM, vlm: VLM, k: int = 45, alpha: float = 0.1, beta: float = 2.0,
                  decoding_len: int = 16, start_text: str = START_TEXT, prompt: str | None = None,
                  max_new_tokens: int | None = None, clip_window: int = 60, stop_at_eos: bool = False,
                  batch_size: int = 32, ctx: Context) -> list[str]:
    """Caption each image by MAGiC decoding (Su et al. 2022); defaults are the paper's COCO setting.

    `lm` must be a local transformers LM (its hidden states are read), `vlm` an open_clip CLIP. The LM starts
    from `start_text` (the MAGiC COCO/Flickr LMs' start token), or from `prompt` when given. `decoding_len`
    counts that prefix (16 = one start token + 15 new tokens); `max_new_tokens` overrides it. The caption is
    cut at the first end-of-text token; `stop_at_eos` ends the loop once every image's caption has ended
    (same captions, less work). Images are decoded `batch_size` at a time.
    """
    images = list(image)
    if not images:
        raise SocraticError("no images to caption (an empty image list)", field="image")
    if batch_size < 1:
        raise SocraticError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    model, tokenizer = _raw(lm, "lm", "a local LM whose hidden states it can read (backend: transformers)")
    clip_model, clip_tokenizer = _raw(vlm, "vlm", "an open_clip CLIP (backend: open_clip)")
    emb = vlm.encode_images(images)  # each image embedded once
    scale = getattr(vlm, "logit_scale", None)
    captions: list[str] = []
    for i in ctx.progress(range(0, len(images), batch_size), desc="magic", total=-(-len(images) // batch_size)):
        out = magic_decode(model, tokenizer, clip_model, clip_tokenizer, image_embeds=emb[i:i + batch_size],
                           prompts=prompt, start_text=start_text, k=k, alpha=alpha, beta=beta,
                           decoding_len=decoding_len, max_new_tokens=max_new_tokens, clip_window=clip_window,
                           stop_at_eos=stop_at_eos, logit_scale=scale)
        captions.extend(out.captions)
    return captions
