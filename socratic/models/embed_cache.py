"""On-disk cache of text embeddings for fixed vocabularies (shared by every embedding backend)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Callable, Sequence

import numpy as np
import torch

from ..paths import cache_dir, write_atomic


def cached_text_embeddings(fingerprint: str, texts: Sequence[str], dim: int, device: torch.device,
                           encode: Callable[[list[str]], torch.Tensor], memo: dict[str, torch.Tensor]
                           ) -> torch.Tensor:
    """`encode(texts)`, kept in `memo` and in `<cache>/text_embeddings/<sha256(fingerprint, texts)>.npy`.
    A cached file of the wrong shape or dtype, or with non-finite values, is recomputed."""
    texts = list(texts)
    key = hashlib.sha256(json.dumps([fingerprint, texts]).encode()).hexdigest()
    if key in memo:
        return memo[key]
    path = cache_dir("text_embeddings") / f"{key}.npy"
    emb = None
    if path.exists():
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.shape == (len(texts), dim) and arr.dtype == np.float32 and np.isfinite(arr).all():
                emb = torch.from_numpy(arr).to(device)
        except (OSError, ValueError, EOFError):
            emb = None  # corrupted: recompute below
    if emb is None:
        emb = encode(texts)
        buf = io.BytesIO()
        np.save(buf, emb.cpu().numpy().astype(np.float32), allow_pickle=False)
        write_atomic(path, buf.getvalue())
    memo[key] = emb
    return emb
