"""What `--random-captioner-arch` builds: random weights in the real architecture of the captioner a pipeline names,
so time and memory are what that model costs (no captioning weights exist offline; the captions mean nothing).

Only architectures written out here can be built (no hub is reachable to read a config). Each entry is the model's
published configuration as far as cost goes: the vision tower, the connector, the text model, and the image
processor's resizing and splitting (how many sub-images, so how many vision passes and image tokens, a frame
costs). The tokenizer is the real one where the package ships it: SmolVLM's text model is SmolLM2, whose tokenizer
comes with the packaged SmolLM2 weights, plus Idefics3's image tokens.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

import torch

from ..errors import SocraticError

# SmolVLM-256M-Instruct: SigLIP base patch-16/512 vision tower, pixel shuffle x4 (64 tokens a 512 px image),
# SmolLM2-135M text model; frames resized to a 2048 px longest edge and split into 512 px tiles plus a global view.
SMOLVLM_256M = {
    "vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   image_size=512, patch_size=16),
    "text": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3, vocab_size=49280, max_position_embeddings=8192, rope_theta=100000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=True),
    "scale_factor": 4,
    "image_seq_len": 64,
    "processor": dict(size={"longest_edge": 2048}, max_image_size={"longest_edge": 512}, do_image_splitting=True),
}

# One user turn in SmolVLM's chat layout: images, then the text; the assistant's turn is left open.
SMOLVLM_TEMPLATE = ("<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% if m['content'] is string %}"
                    "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
                    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
                    "{% if add_generation_prompt %}Assistant:{% endif %}")


def stand_in_id(arch: str, seed: int) -> str:
    return f"random/{arch}-architecture-seed{seed}"


def _smolvlm(seed: int) -> tuple[Any, Any, dict]:
    from transformers import (AutoTokenizer, Idefics3Config, Idefics3ForConditionalGeneration,
                              Idefics3ImageProcessor, Idefics3Processor, Idefics3VisionConfig, LlamaConfig)

    from .lm_transformers import converted_gguf
    from .packaged import resolve_packaged

    cfg = SMOLVLM_256M
    tokenizer = AutoTokenizer.from_pretrained(converted_gguf(resolve_packaged("smollm2-135m-instruct")))
    tags = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
            *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))]
    tokenizer.add_special_tokens({"additional_special_tokens": tags})
    processor = Idefics3Processor(image_processor=Idefics3ImageProcessor(**cfg["processor"]), tokenizer=tokenizer,
                                  image_seq_len=cfg["image_seq_len"], chat_template=SMOLVLM_TEMPLATE)
    ids, pad = tokenizer.convert_tokens_to_ids, tokenizer.pad_token_id or 0
    if len(tokenizer) > cfg["text"]["vocab_size"]:
        raise SocraticError(f"the SmolLM2 tokenizer has {len(tokenizer)} tokens, more than SmolVLM's "
                            f"{cfg['text']['vocab_size']}", field="random_captioner")
    text = LlamaConfig(**cfg["text"], pad_token_id=pad,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=ids("<end_of_utterance>"))
    config = Idefics3Config(vision_config=Idefics3VisionConfig(**cfg["vision"]).to_dict(), text_config=text.to_dict(),
                            scale_factor=cfg["scale_factor"], image_token_id=ids("<image>"),
                            tie_word_embeddings=cfg["text"]["tie_word_embeddings"],
                            pad_token_id=pad)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Idefics3ForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id = ids("<end_of_utterance>"), pad
    return model, processor, {**cfg, "template": SMOLVLM_TEMPLATE, "tokens": len(tokenizer)}


ARCHITECTURES: dict[str, Callable[[int], tuple[Any, Any, dict]]] = {
    "HuggingFaceTB/SmolVLM-256M-Instruct": _smolvlm,
}


def build_arch_stand_in(arch: str, seed: int = 0) -> tuple[Any, Any, str]:
    """(model, processor, digest of the architecture) for the captioner named `arch`."""
    build = ARCHITECTURES.get(arch)
    if build is None:
        raise SocraticError(f"no architecture written out for captioner {arch!r} (known: {sorted(ARCHITECTURES)}); "
                            f"use --random-captioner for the tiny stand-in", field="random_captioner")
    model, processor, described = build(seed)
    digest = hashlib.sha256(json.dumps([arch, described], sort_keys=True).encode()).hexdigest()[:16]
    return model, processor, digest
