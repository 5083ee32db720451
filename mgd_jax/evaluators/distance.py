"""Exact point-to-surface distances, vectorised, with k-d trees on triangle centroids.

Every triangle lies within its radius r of its centroid, so a triangle whose centroid is
farther than ``d + r`` from a point cannot be closer than ``d``. Triangles are grouped in size
classes (radius within a factor 2), one k-d tree per class. A query measures the triangles of
the 8 nearest centroids of each class (an upper bound ``u``); a class is certified for a point
when its 8th centroid is beyond ``u + R_class``, and otherwise every triangle whose centroid
lies within ``u + R_class`` is measured. Classes keep big and small triangles from inflating
each other's search radius, with no remeshing.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from mgd_jax.evaluators.meshes import Mesh
from mgd_jax.objects.triangle_distance import Triangles, prepare_triangles, sqdist

_K = 8  # nearest centroids measured first, per size class


class SizeClass(NamedTuple):
    """Triangles whose radius is within a factor 2 of ``radius``."""

    triangles: Triangles
    tree: cKDTree  # over the triangles' centroids
    radius: float  # max centroid-to-vertex distance in the class, meters


class DistanceIndex(NamedTuple):
    """Per-mesh structure for ``surface_distance``: size classes, smallest first."""

    classes: tuple[SizeClass, ...]


def build_distance_index(mesh: Mesh) -> DistanceIndex:
    """Precompute the per-size-class centroid trees of one mesh."""
    tri = mesh.vertices[mesh.faces]
    centroids = tri.mean(axis=1)
    r = np.linalg.norm(tri - centroids[:, None], axis=-1).max(axis=1)
    level = np.floor(np.log2(np.maximum(r, 1e-12) / max(r.max(), 1e-12))).astype(int)
    classes = []
    for lv in sorted(set(level.tolist())):
        sel = level == lv
        classes.append(SizeClass(prepare_triangles(tri[sel]), cKDTree(centroids[sel], leafsize=32),
                                 float(r[sel].max())))  # fmt: skip
    return DistanceIndex(tuple(classes))


def point_triangle_sqdist(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distance from points to triangles, elementwise over broadcast leading dims.

    Degenerate (zero-area) triangles give the distance to their edges.

    Args:
      p, a, b, c: (..., 3) meters.

    Returns:
      (...,) squared distances, m^2.
    """
    p, a, b, c = np.broadcast_arrays(*(np.asarray(x, np.float64) for x in (p, a, b, c)))
    shape = p.shape[:-1]
    tri = np.stack([a.reshape(-1, 3), b.reshape(-1, 3), c.reshape(-1, 3)], axis=1)
    t = prepare_triangles(tri)
    return sqdist(p.reshape(-1, 3), t, np.arange(len(tri))).reshape(shape)


def _nearest_bound(index: DistanceIndex, points: np.ndarray, eps: float = 0.0):
    """Upper bounds u (P,) from each class's k nearest centroids, and each class's k-th
    centroid distance (P,) (inf when the class has at most k triangles: all were measured)."""
    u = np.full(len(points), np.inf)
    kth = []
    for c in index.classes:
        n = len(c.triangles.a)
        k = min(_K, n)
        dc, idx = c.tree.query(points, k=k, eps=eps)
        dc, idx = dc.reshape(len(points), k), idx.reshape(len(points), k)
        rows = np.repeat(np.arange(len(points)), k)
        d2 = sqdist(points[rows], c.triangles, idx.ravel()).reshape(len(points), k)
        u = np.minimum(u, np.sqrt(d2.min(axis=1)))
        kth.append(dc[:, -1] / (1.0 + eps) if n > k else np.full(len(points), np.inf))
    return u, kth


def surface_distance(
    index: DistanceIndex, points: np.ndarray, upper: float | None = None
) -> np.ndarray:
    """Exact unsigned distance from each point to the surface.

    Args:
      index: from ``build_distance_index``.
      points: (P, 3) meters.
      upper: if given, distances above it need not be exact: such points get some value
        > ``upper``. Saves work for contact tests.

    Returns:
      (P,) distances, meters.
    """
    points = np.asarray(points, np.float64).reshape(-1, 3)
    if len(points) == 0:
        return np.zeros(0)
    u, kth = _nearest_bound(index, points)
    for c, dk in zip(index.classes, kth):
        bound = u if upper is None else np.minimum(u, upper)
        # Unmeasured triangles of this class are at least dk - radius away.
        pending = np.flatnonzero(bound > dk - c.radius)
        if len(pending) == 0:
            continue
        lists = c.tree.query_ball_point(points[pending], bound[pending] + c.radius,
                                        return_sorted=False)  # fmt: skip
        lens = np.fromiter((len(x) for x in lists), np.int64, len(lists))
        if lens.sum() == 0:
            continue
        cand = np.fromiter(itertools.chain.from_iterable(lists), np.int64, int(lens.sum()))
        owner = np.repeat(pending, lens)
        np.minimum.at(u, owner, np.sqrt(sqdist(points[owner], c.triangles, cand)))
    return u


def max_surface_distance(index: DistanceIndex, points: np.ndarray, batch: int = 32) -> float:
    """Exact max over points of their distance to the surface (0 for no points), meters.

    Cheap upper bounds (approximate nearest centroids' triangles) order the points; exact
    distances are computed deepest-first, in batches, until no remaining upper bound can beat
    the best exact value. Penetration depth needs only this maximum, and deep points (the
    costly case for exact queries) rarely need refinement.
    """
    points = np.asarray(points, np.float64).reshape(-1, 3)
    if len(points) == 0:
        return 0.0
    upper, _ = _nearest_bound(index, points, eps=0.5)
    order = np.argsort(-upper)
    best = 0.0
    for s in range(0, len(order), batch):
        ids = order[s : s + batch]
        ids = ids[upper[ids] > best]
        if len(ids) == 0:
            break
        best = max(best, float(surface_distance(index, points[ids]).max()))
    return best
