"""The scoring steps of methods.md §1c as batched tensor functions (rows = query videos, columns = caption sets).

Caption sets are flattened: `captions` holds every caption of every set, `set_index[c]` the set of caption c.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import SocraticError


def flatten_sets(sets: Sequence[Sequence[str]]) -> tuple[list[str], torch.Tensor]:
    """All captions in order, and the set index of each."""
    flat = [c for s in sets for c in s]
    index = torch.tensor([i for i, s in enumerate(sets) for _ in s], dtype=torch.long)
    return flat, index


def video_features(frame_embeddings: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per video, the L2-normalised mean of its (already normalised) frame embeddings: (n_videos, dim)."""
    if any(e.ndim != 2 or len(e) == 0 for e in frame_embeddings):
        raise SocraticError("every video needs at least one frame embedding (a 2-D tensor)")
    return F.normalize(torch.stack([e.float().mean(dim=0) for e in frame_embeddings]), dim=-1)


def set_max(sim: torch.Tensor, set_index: torch.Tensor, n_sets: int) -> torch.Tensor:
    """(n_queries, n_captions) similarities → (n_queries, n_sets): the max over each set's captions."""
    out = torch.full((sim.shape[0], n_sets), float("-inf"), dtype=sim.dtype, device=sim.device)
    idx = set_index.to(sim.device).expand(sim.shape[0], -1)
    return out.scatter_reduce(1, idx, sim, reduce="amax", include_self=True)


def caption_set_scores(video_feats: torch.Tensor, caption_embs: torch.Tensor, set_index: torch.Tensor,
                       n_sets: int) -> torch.Tensor:
    """CLIP score of each video against each caption set: max over the set of cos(video, caption)."""
    return set_max(video_feats @ caption_embs.to(video_feats.device).T, set_index, n_sets)


def stable_order(scores: torch.Tensor) -> torch.Tensor:
    """Indexes sorting each row by descending score; equal scores keep their original order."""
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best columns of each row (stable on ties): (indexes, scores)."""
    if k < 1:
        raise SocraticError(f"k must be >= 1, got {k}", field="k")
    order = stable_order(scores)[:, :k]
    return order, scores.gather(1, order)


def product_rerank(clip_scores: torch.Tensor, text_scores: torch.Tensor) -> torch.Tensor:
    """Positions (into the pre-ranked list) sorted by clip × text, descending, stable."""
    return stable_order(clip_scores * text_scores)
