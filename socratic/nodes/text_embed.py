"""Sentence-embedding nodes: cosine similarity between two lists of texts."""

from __future__ import annotations

from ..errors import SocraticError
from ..models.base import TextEmbedder
from ..node import node


def _texts(values: list[str], port: str) -> list[str]:
    if not isinstance(values, (list, tuple)):
        raise SocraticError(f"expected a list of texts, got {type(values).__name__}", field=port)
    bad = [i for i, t in enumerate(values) if not isinstance(t, str)]
    if bad:
        raise SocraticError(f"item {bad[0]} is {type(values[bad[0]]).__name__}, not text", field=port)
    return list(values)


@node("text_similarity", outputs={"scores": list[list[float]], "best": list[int]})
def text_similarity(queries: list[str], texts: list[str], *, embedder: TextEmbedder, cache_texts: bool = False
                    ) -> dict:
    """Cosine similarity of each query with each text: `scores[i][j]`, and per query the index of its best
    text (first on ties; -1 when `texts` is empty). `cache_texts: true` keeps the texts' embeddings on disk
    (for a fixed list reused across runs)."""
    q, t = _texts(queries, "queries"), _texts(texts, "texts")
    tq = embedder.encode(q)
    tt = embedder.encode_vocab(t) if cache_texts else embedder.encode(t)
    sim = (tq @ tt.T).cpu()
    best = sim.argmax(dim=-1).tolist() if t else [-1] * len(q)
    return {"scores": sim.tolist(), "best": best}
