"""CLAP (audio-text contrastive model) through transformers: hub ids from the local cache, local
directories, or seeded random weights for tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelNotFound, SocraticError
from .base import AudioText
from .embed_cache import cached_text_embeddings
from .loader import ModelSpec, pick_device, pick_dtype
from .resolve import check_options, resolve_weights, weight_option

OPTIONS = {"random_init", "seed", "config", "device", "dtype", "batch_size"}

# What `random_init: true` builds when no `config` is given: random weights mean nothing at any size.
TINY_CONFIG = {"projection_dim": 32,
               "text_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "intermediate_size": 64, "max_position_embeddings": 80},
               "audio_config": {"patch_embeds_hidden_size": 16, "depths": [1, 1], "num_attention_heads": [2, 2],
                                "hidden_size": 32, "window_size": 8, "spec_size": 256}}
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # RoBERTa's ids 0-3: CLAP's text model expects pad id 1
MAX_TOKENS = 64


def word_tokenizer(words: Sequence[str]):
    """A lower-case word-level tokenizer over `words` (RoBERTa-style specials, `<s> … </s>`), built offline.

    Random-init CLAP has no BPE vocabulary files; AudioSet label words give it a small, stable vocabulary
    (other words map to `<unk>`)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for text in words:
        for w, _ in pre.pre_tokenize_str(text.lower()):
            vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_max_length=MAX_TOKENS)


class ClapAudioText(AudioText):
    """CLAP via transformers' ClapModel + ClapProcessor. Weights: `id:` (a hub id such as
    laion/clap-htsat-unfused, found in the local Hugging Face cache, or a local directory), `path:` (a local
    save_pretrained directory) or `random_init: true` (+ `seed`, optional `config`: a ClapConfig mapping with
    text_config / audio_config / projection_dim; default a tiny one). Also device, dtype, batch_size (16)."""

    def __init__(self, spec: ModelSpec):
        from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

        check_options(spec, OPTIONS)
        o, where = spec.options, f"models.{spec.name}"
        random_init = bool(o.get("random_init"))
        self.device = pick_device(o.get("device"))
        self.dtype = pick_dtype(o.get("dtype"), self.device)
        self.batch_size = int(o.get("batch_size", 16))
        if self.batch_size < 1:
            raise SocraticError("batch_size must be >= 1", field=f"{where}.batch_size")
        if random_init:
            if weight_option(spec) is not None:
                raise SocraticError("`random_init: true` takes no weights: drop id/path", field=where)
            from ..vocab import load_vocab

            seed = int(o.get("seed", 0))
            config = o.get("config") or TINY_CONFIG
            if not isinstance(config, dict):
                raise SocraticError("config must be a mapping (ClapConfig fields)", field=f"{where}.config")
            self.tokenizer = word_tokenizer(load_vocab("audioset"))
            text_cfg = {"vocab_size": len(self.tokenizer), "pad_token_id": 1, **config.get("text_config", {})}
            if text_cfg["vocab_size"] < len(self.tokenizer):
                raise SocraticError(f"text_config.vocab_size must be >= {len(self.tokenizer)} (the word vocabulary)",
                                    field=f"{where}.config")
            try:
                cfg = ClapConfig(**{**config, "text_config": text_cfg})
            except (TypeError, ValueError) as exc:
                raise SocraticError(f"bad CLAP config: {exc}", field=f"{where}.config") from None
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = ClapModel(cfg)
            self.feature_extractor = ClapFeatureExtractor(truncation="rand_trunc")
            blob = json.dumps(config, sort_keys=True)
            self.model_id = f"clap/random-seed{seed}"
            self.fingerprint = f"clap:random:seed={seed}:config={hashlib.sha256(blob.encode()).hexdigest()[:16]}"
            self.warnings = (f"atm '{self.model_id}' has RANDOM weights: its sound labels are meaningless",)
        else:
            weights = resolve_weights(spec)
            kw = dict(revision=weights.revision, local_files_only=weights.local_files_only)
            try:
                model = ClapModel.from_pretrained(weights.target, **kw)
                processor = ClapProcessor.from_pretrained(weights.target, **kw)
            except (OSError, ValueError) as exc:
                raise ModelNotFound(f"cannot load CLAP weights from {weights.target}: {exc}. Download them once "
                                    f"(`hf download laion/clap-htsat-unfused`) or set `path:` to a local copy; "
                                    f"`random_init: true` (or the CLI flag --random-atm) gives random weights "
                                    f"for a test run", field=where) from None
            self.tokenizer, self.feature_extractor = processor.tokenizer, processor.feature_extractor
            self.model_id = f"clap/{weights.label}"
            self.fingerprint = f"clap:{weights.fingerprint}"
        self.model = model.to(self.device, self.dtype).eval().requires_grad_(False)
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        # logits_per_audio = logit_scale_a.exp() * audio @ text.T
        self.logit_scale = float(self.model.logit_scale_a.detach().float().exp())
        self.embed_dim = int(self.model.config.projection_dim)
        self._vocab_memo: dict[str, torch.Tensor] = {}

    @staticmethod
    def _rows(out: Any) -> torch.Tensor:
        rows = out if isinstance(out, torch.Tensor) else out.pooler_output  # transformers 4.x / 5.x
        return F.normalize(rows.float(), dim=-1)

    def _run(self, items: list, encode) -> torch.Tensor:
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(items), self.batch_size):
                chunks.append(self._rows(encode(items[i:i + self.batch_size])))
        return torch.cat(chunks) if chunks else torch.empty(0, self.embed_dim, device=self.device)

    def encode_audio(self, waveforms: Sequence[Any]) -> torch.Tensor:
        waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
        if any(len(w) == 0 for w in waves):
            raise SocraticError("cannot encode an empty waveform")

        def encode(batch):
            feats = self.feature_extractor(batch, sampling_rate=self.sample_rate, return_tensors="pt")
            feats = {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                     for k, v in feats.items()}
            return self.model.get_audio_features(**feats)

        return self._run(waves, encode)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise SocraticError("texts to encode must be strings")

        def encode(batch):
            enc = self.tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            return self.model.get_text_features(**enc)

        return self._run(texts, encode)

    def encode_vocab(self, texts: Sequence[str]) -> torch.Tensor:
        """encode_texts for a fixed vocabulary, cached on disk (and in memory) per model and text list."""
        return cached_text_embeddings(self.fingerprint, texts, self.embed_dim, self.device, self.encode_texts,
                                      self._vocab_memo)
