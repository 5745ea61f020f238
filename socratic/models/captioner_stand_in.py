"""What `--random-captioner` builds: a tiny LLaVA-style model (CLIP vision tower, Llama text model) with random
weights, its processor and a word-level tokenizer over COCO's object words, all made in code (no download).

Its captions are strings of real words that mean nothing; they exist to run caption pipelines end to end
offline (and the transformers captioner's loading, chat-template and generation code in tests). Weights are drawn
from `seed`; a wide initialisation lets the image change the words. Generation stops at `</s>` after at least
two words; padding, unknown and image tokens are never generated.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

from ..vocab import VOCAB_DIR

SPECIAL = ("<pad>", "<unk>", "<s>", "</s>", "<image>")
EXTRA_WORDS = ("a", "an", "the", "on", "in", "with", "near", "holding", "walking", "sitting", "looking", "at")
IMAGE_SIDE, PATCH = 32, 8
# one user message: its images as <image>, then the text; the assistant's turn starts after <s>
CHAT_TEMPLATE = ("{% for m in messages %}{% if m['content'] is string %}{{ m['content'] }} {% else %}"
                 "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} "
                 "{% endif %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}<s>{% endif %}")


def stand_in_id(seed: int) -> str:
    return f"random/tiny-llava-captioner-seed{seed}"


def vocabulary() -> list[str]:
    words = dict.fromkeys(EXTRA_WORDS)
    for line in (VOCAB_DIR / "coco80.txt").read_text(encoding="utf-8").splitlines():
        for w in line.lower().split():
            words.setdefault(w)
    return list(SPECIAL) + list(words)


def _configs(vocab_size: int) -> dict[str, Any]:
    return {"vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=IMAGE_SIDE, patch_size=PATCH, projection_dim=32, initializer_range=1.0,
                           initializer_factor=50.0),
            "text": dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         initializer_range=1.0, pad_token_id=0, bos_token_id=2, eos_token_id=3)}


def build_stand_in(seed: int = 0) -> tuple[Any, Any, str]:
    """(model, processor, digest of the architecture and vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    words = vocabulary()
    ids = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(ids, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="<s>", eos_token="</s>",
                                        extra_special_tokens={"image_token": "<image>"})
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIDE},
                                         crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                               num_additional_image_tokens=1)
    cfgs = _configs(len(words))
    config = LlavaConfig(vision_config=CLIPVisionConfig(**cfgs["vision"]), text_config=LlamaConfig(**cfgs["text"]),
                         image_token_index=ids["<image>"], vision_feature_select_strategy="default",
                         vision_feature_layer=-1, initializer_range=1.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = ids["<s>"], ids["</s>"], ids["<pad>"]
    gen.min_new_tokens = 2
    gen.suppress_tokens = [ids[t] for t in ("<pad>", "<unk>", "<s>", "<image>")]
    digest = hashlib.sha256(json.dumps([cfgs, words, CHAT_TEMPLATE], sort_keys=True).encode()).hexdigest()[:16]
    return model, processor, digest
