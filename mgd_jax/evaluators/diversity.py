"""Grasp diversity: k-means on hand joints in the object frame (GraspTTA / GanHand protocol).

Following the GraspTTA-derived evaluation (``wuxiaofei01/FastGrasp:evaluation/displacement.py``,
see ``protocol.py``): flatten the 21x3 joints of each grasp, whiten each feature to unit standard
deviation (``scipy.cluster.vq.whiten``), run k-means with k = 20, and report

- ``entropy``: Shannon entropy (natural log) of the cluster-size histogram, ``scipy.stats.
  entropy(counts)``; at most log(20) = 3.00 for perfectly balanced clusters;
- ``cluster_size``: the mean distance of each grasp to its cluster centre, in the whitened
  space (unitless; in cm when ``whiten=False``).

We add the mean pairwise joint distance (cm), which needs no clustering. Our k-means is our own:
k-means++ seeding from a seeded generator, Lloyd iterations, the best of ``n_init`` runs by
inertia; deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

from mgd_jax.evaluators.protocol import KMEANS_CLUSTERS


def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None], 0.0)


def _kmeans_once(x: np.ndarray, k: int, rng: np.random.Generator, max_iter: int):
    n = len(x)
    centres = [x[rng.integers(n)]]
    d2 = _sqdist(x, centres[0][None])[:, 0]
    for _ in range(1, k):  # k-means++ seeding
        total = d2.sum()
        i = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centres.append(x[i])
        d2 = np.minimum(d2, _sqdist(x, x[i][None])[:, 0])
    c = np.stack(centres)
    labels = np.full(n, -1)
    for _ in range(max_iter):
        dist = _sqdist(x, c)
        new = dist.argmin(1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = labels == j
            if members.any():
                c[j] = x[members].mean(0)
            else:  # an empty cluster takes the point farthest from its centre
                far = dist[np.arange(n), labels].argmax()
                c[j] = x[far]
                labels[far] = j
    dist = _sqdist(x, c)
    labels = dist.argmin(1)
    return c, labels, float(dist[np.arange(n), labels].sum())


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, n_init: int = 10, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means (k-means++ init, Lloyd), best of ``n_init`` runs.

    Args:
      x: (N, D) points.
      k: clusters, 1 <= k <= N.

    Returns:
      centres (k, D) and labels (N,) int.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or not 1 <= k <= len(x):
        raise ValueError(f"kmeans needs (N, D) data with 1 <= k <= N, got {x.shape} and k={k}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        run = _kmeans_once(x, k, rng, max_iter)
        if best is None or run[2] < best[2]:
            best = run
    return best[0], best[1]


def mean_pairwise_joint_distance_cm(joints: np.ndarray, chunk: int = 256) -> float:
    """Mean over grasp pairs of the mean per-joint Euclidean distance, cm.

    Args:
      joints: (N, J, 3) meters, N >= 2.
    """
    j = np.asarray(joints, np.float64)
    n = len(j)
    if n < 2:
        raise ValueError("need at least two grasps for a pairwise distance")
    total = 0.0
    for s in range(0, n, chunk):
        d = np.linalg.norm(j[s : s + chunk, None] - j[None], axis=-1).mean(-1)  # (c, N)
        total += d.sum()
    return 100.0 * total / (n * (n - 1))  # the diagonal is zero


def diversity(
    joints: np.ndarray,
    k: int = KMEANS_CLUSTERS,
    seed: int = 0,
    whiten: bool = True,
    n_init: int = 10,
) -> dict[str, float]:
    """Diversity of a set of grasps from their joints.

    Args:
      joints: (N, 21, 3) joint positions in the object frame, meters (any (N, J, 3) works).
      k: clusters (20 in the protocol); reduced to N when there are fewer grasps.
      seed: k-means seed.
      whiten: divide each flattened coordinate by its standard deviation first (protocol).

    Returns:
      ``entropy`` (nats), ``cluster_size_whitened`` (or ``cluster_size_cm`` without
      whitening), ``mean_pairwise_joint_distance_cm``, ``num_clusters``.
    """
    joints = np.asarray(joints, np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3 or len(joints) < 2:
        raise ValueError(f"joints must be (N >= 2, J, 3), got {joints.shape}")
    x = joints.reshape(len(joints), -1)
    if whiten:
        std = x.std(axis=0)
        x = x / np.where(std > 0, std, 1.0)
    else:
        x = 100.0 * x
    k = min(k, len(x))
    centres, labels = kmeans(x, k, seed=seed, n_init=n_init)
    counts = np.bincount(labels, minlength=k)
    p = counts[counts > 0] / len(x)
    size = float(np.linalg.norm(x - centres[labels], axis=1).mean())
    return {
        "entropy": float(-(p * np.log(p)).sum()),
        "cluster_size_whitened" if whiten else "cluster_size_cm": size,
        "mean_pairwise_joint_distance_cm": mean_pairwise_joint_distance_cm(joints),
        "num_clusters": k,
    }
