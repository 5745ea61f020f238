"""VideoTree's clustering against straightforward reference computations (socratic/longvideo/tree.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from socratic.errors import SocraticError
from socratic.longvideo.tree import (build_tree, depth_expansion, kmeans_cosine, nearest, normalise,
                                     representatives, ward_labels, width_expansion)


def blobs(sizes, dim=16, spread=0.05, seed=0):
    """Unit rows around len(sizes) random directions; also the true cluster of each row."""
    rng = np.random.default_rng(seed)
    centres = normalise(rng.normal(size=(len(sizes), dim)))
    rows, truth = [], []
    for c, n in enumerate(sizes):
        rows.append(centres[c] + spread * rng.normal(size=(n, dim)))
        truth += [c] * n
    return normalise(np.concatenate(rows)), np.array(truth)


def same_partition(a, b) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b)}
    return len(pairs) == len(set(a)) == len(set(b))


def test_kmeans_finds_planted_clusters_and_is_a_fixed_point():
    x, truth = blobs([7, 12, 5, 9])
    labels, centres = kmeans_cosine(x, 4, seed=3)
    assert same_partition(labels, truth)
    # Reference: every row sits with its highest-cosine centre, every centre is its members' normalised mean.
    for i, row in enumerate(x):
        assert labels[i] == int(np.argmax([row @ c for c in centres]))
    for j, c in enumerate(centres):
        mean = x[labels == j].sum(axis=0)
        np.testing.assert_allclose(c, mean / np.linalg.norm(mean), atol=1e-9)
    again = kmeans_cosine(x, 4, seed=3)
    assert np.array_equal(again[0], labels) and np.allclose(again[1], centres)


def test_kmeans_reaches_the_brute_force_optimum_on_a_small_set():
    x, _ = blobs([3, 4], dim=5, spread=0.3, seed=7)

    def cost(labels):  # sum over clusters of (members - |sum of members|): cosine k-means objective
        return sum(len(x[labels == j]) - np.linalg.norm(x[labels == j].sum(0)) for j in set(labels.tolist()))

    best = min(cost(np.array(p)) for p in itertools.product([0, 1], repeat=len(x)) if len(set(p)) == 2)
    labels, _ = kmeans_cosine(x, 2, seed=0)
    assert cost(labels) == pytest.approx(best)


def test_kmeans_caps_k_at_distinct_frames_and_never_splits_duplicates():
    x, _ = blobs([1, 1, 1], dim=8)
    repeated = np.repeat(x, [10, 3, 6], axis=0)  # a static scene gives identical frames
    labels, centres = kmeans_cosine(repeated, 8, seed=0)
    assert len(centres) == 3
    assert same_partition(labels, np.repeat([0, 1, 2], [10, 3, 6]))


def test_representative_is_the_member_of_highest_cosine_with_its_centre():
    x, _ = blobs([6, 6, 6], spread=0.3, seed=2)
    labels, centres = kmeans_cosine(x, 3, seed=1)
    reps = representatives(x, labels, centres)
    for j, r in enumerate(reps):
        members = [i for i in range(len(x)) if labels[i] == j]
        cos = {i: float(x[i] @ centres[j]) for i in members}
        assert r == max(members, key=lambda i: (cos[i], -i))
    # nearest() without a centre uses the members' mean
    members = list(range(6))
    mean = x[members].mean(0)
    assert nearest(x, members) == max(members, key=lambda i: float(x[i] @ mean))


def test_ward_matches_scipy_linkage_cut_into_at_most_t_clusters():
    from scipy.cluster.hierarchy import fcluster, linkage

    for seed in range(5):
        x, _ = blobs([4, 7, 3, 6, 5, 2], spread=0.25, seed=seed)
        for t in (1, 2, 5, 9):
            ours = ward_labels(x, t)
            ref = fcluster(linkage(x, method="ward"), t, criterion="maxclust")
            assert same_partition(ours, ref), (seed, t)
            assert len(set(ours.tolist())) == min(t, len(x))
    assert ward_labels(x[:3], 5).tolist() == [0, 1, 2]  # fewer rows than clusters: each its own


def _rating(threes):
    seen = []

    def rate(reps):
        seen.append(list(reps))
        return [3 if r in threes else 1 for r in reps]

    return rate, seen


def test_width_loop_doubles_the_count_until_enough_are_rated_3_or_the_maximum():
    x, _ = blobs([6] * 40, spread=0.02)  # 240 frames, 40 scenes
    rate, seen = _rating(threes=set())
    steps = width_expansion(x, rate)
    assert [s.clusters for s in steps] == [8, 16, 32]  # paper defaults: 8, ×2, max 32
    assert [len(r) for r in seen] == [8, 16, 32]

    # Every frame relevant: 8 clusters rated 3 ≥ 4, the loop stops at once.
    rate, _ = _rating(threes=set(range(len(x))))
    assert [s.clusters for s in width_expansion(x, rate)] == [8]

    # Threshold reached in the second round only.
    first = width_expansion(x, lambda reps: [1] * len(reps), max_clusters=16)
    assert [s.clusters for s in first] == [8, 16]
    second_round_reps = first[1].representatives[:4]
    steps = width_expansion(x, lambda reps: [3 if r in second_round_reps else 1 for r in reps])
    assert [s.clusters for s in steps] == [8, 16]


def test_width_loop_caps_at_distinct_frames_and_rejects_bad_ratings():
    x, _ = blobs([5] * 10, spread=0.0)  # 10 distinct frames
    steps = width_expansion(x, lambda reps: [1] * len(reps))
    assert [s.clusters for s in steps] == [8, 10]
    with pytest.raises(SocraticError, match="one rating 1-3"):
        width_expansion(x, lambda reps: [4] * len(reps))
    with pytest.raises(SocraticError, match="one rating 1-3"):
        width_expansion(x, lambda reps: [1])


def _reference_depth(x, labels, ratings, sub=5, subsub=5):
    """The depth rule written out with scipy's Ward linkage."""
    from scipy.cluster.hierarchy import fcluster, linkage

    def rep(idx):
        mean = x[idx].mean(0)
        return int(max(idx, key=lambda i: (round(float(x[i] @ mean), 9), -i)))

    def split(idx, t):
        if len(idx) <= t:
            return [idx[k:k + 1] for k in range(len(idx))]
        lab = fcluster(linkage(x[idx], method="ward"), t, criterion="maxclust")
        return [idx[lab == v] for v in sorted(set(lab.tolist()))]

    chosen = set()
    for c in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == c)
        chosen.add(rep(members))
        if ratings[c] == 1 or len(members) < 2:
            continue
        for part in split(members, sub):
            if ratings[c] == 2 or len(part) < 2:
                chosen.add(rep(part))
            else:
                chosen.update(rep(p) for p in split(part, subsub))
    return sorted(chosen)


def test_depth_expansion_follows_the_ratings():
    x, _ = blobs([30, 30, 30, 30], spread=0.4, seed=4)
    labels, _ = kmeans_cosine(x, 4, seed=0)
    for ratings in ([1, 1, 1, 1], [2, 1, 3, 1], [3, 3, 2, 2]):
        tree = depth_expansion(x, labels, ratings)
        assert tree.selected == _reference_depth(x, labels, ratings)
        assert tree.selected == sorted(tree.selected)
        per_cluster = [sum(labels[i] == c for i in tree.selected) for c in range(4)]
        for n, r in zip(per_cluster, ratings):
            assert n == 1 if r == 1 else (5 <= n <= 6 if r == 2 else 5 <= n <= 26)


def test_build_tree_is_deterministic_and_selects_fewer_frames_than_it_has():
    x, _ = blobs([9] * 20, spread=0.1, seed=5)  # 180 frames, like 3 minutes at 1 fps
    rate = lambda reps: [3 if r % 7 == 0 else 1 for r in reps]  # noqa: E731
    a, b = build_tree(x, rate), build_tree(x, rate)
    assert a.selected == b.selected and a.steps[-1].labels == b.steps[-1].labels
    assert 1 <= len(a.selected) < len(x)
