"""Offline stand-ins for MAGiC's models: the real GPT-2 tokenizer and randomly initialised LM/CLIP.

No hub is needed. The GPT-2 BPE ranks ship with openai-whisper (`whisper/assets/gpt2.tiktoken`); they are turned
into a `tokenizers` byte-level BPE once and cached. The added tokens follow the MAGiC COCO LM's tokenizer:
`<|endoftext|>` (end of text), `<-start_of_text->` (start token) and `<_PAD_>` (padding).
Random-init models are for tests and benchmarks only (their captions mean nothing).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..paths import cache_dir

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
MAGIC_SPECIALS = ("<|endoftext|>", "<-start_of_text->", "<_PAD_>")


def gpt2_tokenizer() -> Any:
    """GPT-2's tokenizer (50257 ids) plus MAGiC's start and pad tokens, built offline and cached."""
    from transformers import PreTrainedTokenizerFast

    path = cache_dir("magic") / "gpt2-magic-tokenizer.json"
    if not path.exists():
        import whisper
        from transformers.convert_slow_tokenizer import TikTokenConverter

        ranks = os.path.join(os.path.dirname(whisper.__file__), "assets", "gpt2.tiktoken")
        tk = TikTokenConverter(vocab_file=ranks, pattern=GPT2_PATTERN).converted()
        tk.add_special_tokens(list(MAGIC_SPECIALS))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tk.save(str(tmp))
        os.replace(tmp, path)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=MAGIC_SPECIALS[0],
                                  bos_token=MAGIC_SPECIALS[0], pad_token=MAGIC_SPECIALS[2],
                                  clean_up_tokenization_spaces=False)
    return tok


def random_lm(tokenizer: Any, *, n_layer: int = 2, n_embd: int = 64, n_head: int = 4, n_positions: int = 256,
              seed: int = 0, dtype: torch.dtype = torch.float32, attn: str = "sdpa") -> Any:
    """A randomly initialised GPT-2 over `tokenizer`'s ids (12/768/12 is GPT-2 small)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                     n_head=n_head, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id)
    cfg._attn_implementation = attn
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg).to(dtype).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


CLIP_SIZES = {
    # ViT-B/32's shapes
    "b32": dict(embed_dim=512, vision_cfg=dict(image_size=224, layers=12, width=768, patch_size=32),
                text_cfg=dict(context_length=77, vocab_size=49408, width=512, heads=8, layers=12)),
    "tiny": dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=16, head_width=32),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=4, layers=2)),
}


def random_clip(size: str = "tiny", *, seed: int = 0, dtype: torch.dtype = torch.float32):
    """(model, preprocess, tokenizer): a random-init open_clip CLIP and the real CLIP tokenizer."""
    from open_clip.model import CLIP
    from open_clip.tokenizer import SimpleTokenizer
    from open_clip.transform import image_transform

    cfg = CLIP_SIZES[size]
    torch.manual_seed(seed)
    model = CLIP(**cfg).to(dtype).eval()
    preprocess = image_transform(cfg["vision_cfg"]["image_size"], is_train=False)
    return model, preprocess, SimpleTokenizer()
