"""Exact squared distance from points to triangles, vectorised (numpy, float64, meters).

``prepare_triangles`` precomputes per-triangle terms once; ``sqdist`` then needs three dot
products per (point, triangle) pair. Shared by the evaluators' exact surface distance
(``evaluators.distance``) and the SDF grids (``objects.sdf_grid``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Triangles(NamedTuple):
    """Triangles with the per-triangle terms of ``sqdist`` precomputed (T leading)."""

    a: np.ndarray  # (T, 3) first vertex, meters
    e0: np.ndarray  # (T, 3) b - a
    e1: np.ndarray  # (T, 3) c - a
    d00: np.ndarray  # (T,) e0.e0
    d01: np.ndarray  # (T,) e0.e1
    d11: np.ndarray  # (T,) e1.e1
    inv_det: np.ndarray  # (T,) 1 / (d00 d11 - d01^2), 0 for degenerate triangles
    inv_d00: np.ndarray  # (T,) 1 / d00 (0 if zero)
    inv_d11: np.ndarray  # (T,) 1 / d11
    d22: np.ndarray  # (T,) |c - b|^2
    inv_d22: np.ndarray  # (T,) 1 / d22


def _safe_inv(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(x > 1e-300, 1.0 / x, 0.0)


def prepare_triangles(tri: np.ndarray) -> Triangles:
    """Precompute the per-triangle terms of the distance kernel. tri: (T, 3, 3) meters."""
    a, e0, e1 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    d00, d01, d11 = (e0 * e0).sum(-1), (e0 * e1).sum(-1), (e1 * e1).sum(-1)
    det = d00 * d11 - d01 * d01
    # Relative test: a sliver whose det is round-off counts as degenerate (edges only).
    inv_det = np.where(det > 1e-12 * d00 * d11, _safe_inv(det), 0.0)
    d22 = d00 - 2.0 * d01 + d11
    return Triangles(a, e0, e1, d00, d01, d11, inv_det, _safe_inv(d00), _safe_inv(d11), d22,
                     _safe_inv(d22))  # fmt: skip


def sqdist(p: np.ndarray, t: Triangles, ids) -> np.ndarray:
    """Squared distances from points p (M, 3) to triangles ``ids`` (M,) of ``t``.

    Only three dot products per pair: with v = p - a, the face-interior distance and the three
    edge-segment distances all follow from v.v, v.e0, v.e1 and the precomputed terms.
    """
    v = p - t.a[ids]
    e0, e1 = t.e0[ids], t.e1[ids]
    vv = (v * v).sum(-1)
    d20, d21 = (v * e0).sum(-1), (v * e1).sum(-1)
    d00, d01, d11 = t.d00[ids], t.d01[ids], t.d11[ids]
    inv = t.inv_det[ids]
    s = (d11 * d20 - d01 * d21) * inv
    r = (d00 * d21 - d01 * d20) * inv
    face = vv - 2.0 * (s * d20 + r * d21) + s * s * d00 + 2.0 * s * r * d01 + r * r * d11
    inside = (inv > 0) & (s >= 0) & (r >= 0) & (s + r <= 1)
    u0 = np.clip(d20 * t.inv_d00[ids], 0.0, 1.0)  # edge a -> b
    best = vv - 2.0 * u0 * d20 + u0 * u0 * d00
    u1 = np.clip(d21 * t.inv_d11[ids], 0.0, 1.0)  # edge a -> c
    np.minimum(best, vv - 2.0 * u1 * d21 + u1 * u1 * d11, out=best)
    # Edge b -> c, with w = p - b = v - e0:
    # w.w = vv - 2 d20 + d00 and w.(c - b) = d21 - d20 - d01 + d00.
    ww = vv - 2.0 * d20 + d00
    we = d21 - d20 - d01 + d00
    d22 = t.d22[ids]
    u2 = np.clip(we * t.inv_d22[ids], 0.0, 1.0)
    np.minimum(best, ww - 2.0 * u2 * we + u2 * u2 * d22, out=best)
    return np.maximum(np.where(inside, face, best), 0.0)
