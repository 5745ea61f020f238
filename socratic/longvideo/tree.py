"""VideoTree's clustering (Wang et al. 2024; methods.md §4b), model-free: k-means with cosine distance over frame
features, the frame nearest each centre, the adaptive width loop and the Ward-linkage depth expansion.

Features are rows of a float array; every function L2-normalises them first, so cosine is a dot product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import SocraticError


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not len(x):
        raise SocraticError(f"frame features must be a non-empty (frames, dim) array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.isfinite(x).all() or (norms == 0).any():
        raise SocraticError("frame features contain a zero or non-finite row")
    return x / norms


def distinct_rows(x: np.ndarray) -> int:
    return len(np.unique(np.round(normalise(x), 6), axis=0))


def kmeans_cosine(x: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: labels (n,) and unit centres (k, dim). Points go to the centre of highest cosine,
    a centre is its members' normalised mean. Seeded k-means++ start over cosine distance (1 - cos), so
    duplicate frames are never two centres; `k` is capped at the number of distinct rows. Deterministic."""
    x = normalise(x)
    k = max(1, min(int(k), distinct_rows(x)))
    rng = np.random.default_rng(seed)
    centres = [x[int(rng.integers(len(x)))]]
    dist = 1.0 - x @ centres[0]
    for _ in range(1, k):
        weight = np.clip(dist, 0.0, None) ** 2
        pick = int(rng.choice(len(x), p=weight / weight.sum())) if weight.sum() > 0 else int(np.argmax(dist))
        centres.append(x[pick])
        dist = np.minimum(dist, 1.0 - x @ x[pick])
    c = np.stack(centres)
    labels = np.full(len(x), -1)
    for _ in range(max_iter):
        new = np.argmax(x @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                m = members.sum(axis=0)
                c[j] = m / np.linalg.norm(m)
            else:  # an emptied centre restarts at the point farthest from its own centre
                far = int(np.argmin(np.sum(x * c[labels], axis=1)))
                c[j] = x[far]
                labels[far] = j
    return labels, c


def nearest(x: np.ndarray, members: Sequence[int], centre: np.ndarray | None = None) -> int:
    """The member (an index into `x`) of highest cosine with `centre` (default: the members' mean); ties: the
    earliest."""
    xn = normalise(x)
    idx = np.asarray(list(members), dtype=int)
    if not len(idx):
        raise SocraticError("an empty cluster has no representative")
    c = xn[idx].mean(axis=0) if centre is None else np.asarray(centre, dtype=np.float64)
    cos = np.round(xn[idx] @ c, 9)  # two members are equally near their mean: rounding noise must not decide
    return int(idx[int(np.argmax(cos))])


def representatives(x: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> list[int]:
    """Per cluster (in label order), the frame nearest its centre."""
    return [nearest(x, np.flatnonzero(labels == j), centres[j]) for j in range(len(centres))]


def ward_labels(x: np.ndarray, t: int) -> np.ndarray:
    """Agglomerative clustering with Ward linkage (Euclidean, on normalised rows), cut into at most `t` flat
    clusters: merging stops when `t` are left. Labels are 0..m-1 in order of each cluster's first row."""
    x = normalise(x)
    n = len(x)
    clusters = [[i] for i in range(n)]
    if n <= t:
        return np.arange(n)
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0))
    np.fill_diagonal(d, np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(n - t):
        masked = np.where(alive[:, None] & alive[None, :], d, np.inf)
        i, j = divmod(int(np.argmin(masked)), n)
        i, j = min(i, j), max(i, j)
        # Lance-Williams update for Ward: distance from every other cluster to i ∪ j.
        ni, nj, nk = size[i], size[j], size
        dij = d[i, j]
        new = np.sqrt(np.maximum(((ni + nk) * d[i] ** 2 + (nj + nk) * d[j] ** 2 - nk * dij ** 2)
                                 / (ni + nj + nk), 0.0))
        d[i, :], d[:, i] = new, new
        d[i, i] = np.inf
        d[j, :], d[:, j] = np.inf, np.inf
        size[i] += size[j]
        alive[j] = False
        clusters[i] += clusters[j]
        clusters[j] = []
    labels = np.empty(n, dtype=int)
    for new_label, members in enumerate(sorted((c for c in clusters if c), key=min)):
        labels[members] = new_label
    return labels


@dataclass
class WidthStep:
    """One round of the width loop: the cluster count, each frame's cluster, each cluster's representative and
    the LM's ratings (1-3) of the representatives."""

    clusters: int
    labels: list[int]
    representatives: list[int]
    ratings: list[int]


@dataclass
class Tree:
    steps: list[WidthStep] = field(default_factory=list)
    selected: list[int] = field(default_factory=list)  # frame indices, in time order
    levels: dict[int, int] = field(default_factory=dict)  # frame index -> depth at which it was chosen (0-2)

    @property
    def final(self) -> WidthStep:
        return self.steps[-1]


def width_expansion(x: np.ndarray, rate: Callable[[list[int]], list[int]], *, init_clusters: int = 8,
                    max_clusters: int = 32, adaptive_rate: int = 2, threshold: int = 4, seed: int = 0
                    ) -> list[WidthStep]:
    """Cluster, rate the representatives (`rate(frame indices) -> ratings 1-3`), and while fewer than
    `threshold` are rated 3 and the count is below `max_clusters`, multiply the count by `adaptive_rate`
    (capped at `max_clusters` and at the number of distinct frames) and cluster again."""
    if init_clusters < 1 or max_clusters < 1 or adaptive_rate < 2 or threshold < 0:
        raise SocraticError(f"bad width settings: init_clusters={init_clusters}, max_clusters={max_clusters}, "
                            f"adaptive_rate={adaptive_rate} (≥ 2), threshold={threshold}")
    cap = min(max_clusters, distinct_rows(x))
    k = min(init_clusters, cap)
    steps: list[WidthStep] = []
    while True:
        labels, centres = kmeans_cosine(x, k, seed=seed)
        reps = representatives(x, labels, centres)
        ratings = [int(r) for r in rate(reps)]
        if len(ratings) != len(reps) or any(r not in (1, 2, 3) for r in ratings):
            raise SocraticError(f"relevance must be one rating 1-3 per representative, got {ratings}")
        steps.append(WidthStep(len(centres), labels.tolist(), reps, ratings))
        if ratings.count(3) >= threshold or k >= cap:
            return steps
        k = min(k * adaptive_rate, cap)


def depth_expansion(x: np.ndarray, labels: Sequence[int], ratings: Sequence[int], *, sub_clusters: int = 5,
                    subsub_clusters: int = 5) -> Tree:
    """Per width cluster: its representative (nearest its mean) always; rated 2, also the representative of
    each of `sub_clusters` Ward sub-clusters; rated 3, each sub-cluster split again into `subsub_clusters`
    and their representatives taken. Returns the chosen frames in time (index) order with their depth."""
    labels = np.asarray(labels)
    tree = Tree()
    for c in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        tree.levels.setdefault(nearest(x, members), 0)
        rating = int(ratings[c])
        if rating == 1 or len(members) < 2:
            continue
        subs = ward_labels(x[members], sub_clusters)
        for s in range(int(subs.max()) + 1):
            part = members[subs == s]
            if rating == 2 or len(part) < 2:
                tree.levels.setdefault(nearest(x, part), 1)
                continue
            subsubs = ward_labels(x[part], subsub_clusters)
            for u in range(int(subsubs.max()) + 1):
                tree.levels.setdefault(nearest(x, part[subsubs == u]), 2)
    tree.selected = sorted(tree.levels)
    return tree


def build_tree(x: np.ndarray, rate: Callable[[list[int]], list[int]], *, init_clusters: int = 8,
               max_clusters: int = 32, adaptive_rate: int = 2, threshold: int = 4, sub_clusters: int = 5,
               subsub_clusters: int = 5, seed: int = 0) -> Tree:
    """Width expansion, then depth expansion of the last round's clusters by their ratings."""
    steps = width_expansion(x, rate, init_clusters=init_clusters, max_clusters=max_clusters,
                            adaptive_rate=adaptive_rate, threshold=threshold, seed=seed)
    tree = depth_expansion(x, steps[-1].labels, steps[-1].ratings, sub_clusters=sub_clusters,
                           subsub_clusters=subsub_clusters)
    tree.steps = steps
    return tree
