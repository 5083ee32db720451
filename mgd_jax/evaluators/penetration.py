"""Penetration depth: how deep the hand's vertices sink into the object.

Definition (``hwjiang1510/GraspTTA:metric/penetration.py``): over the hand vertices that lie
inside the object mesh, the maximum distance to the object surface; 0 when none is inside.
Reported in centimeters (meters in, ``*_cm`` out).

Inside test: ray parity on the object (``inside.py``); an object that is not closed is capped
(``meshes.cap_holes``), and if that fails the generalized winding number decides. Distances are
exact point-to-triangle distances (``distance.py``). Both structures are built once per object
and reused across its grasps through a ``Cache``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgd_jax.evaluators import cache as cache_lib
from mgd_jax.evaluators import distance, inside
from mgd_jax.evaluators.meshes import Mesh, validate_pairs


def signed_distances(
    hand_vertices: np.ndarray,
    obj: Mesh,
    max_distance: float,
    cache: cache_lib.Cache | None = None,
) -> np.ndarray:
    """Signed distance of each hand vertex to the object surface (exact, so slower than the
    metrics, which only need the deepest inside vertex and a threshold test outside).

    Args:
      hand_vertices: (V, 3) meters.
      obj: the object mesh.
      max_distance: outside vertices farther than this get ``inf`` (or any value above it);
        inside vertices always get their exact depth.
      cache: per-object precomputation, reused across calls.

    Returns:
      (V,) meters: negative inside the object (minus the depth), positive outside.
    """
    hand_vertices = np.asarray(hand_vertices, np.float64)
    out = np.full(len(hand_vertices), np.inf)
    index = cache_lib.inside_index(cache, obj)
    near = np.all(
        (hand_vertices >= index.lo - max_distance) & (hand_vertices <= index.hi + max_distance),
        axis=1,
    )
    sel = np.flatnonzero(near)
    if len(sel) == 0:
        return out
    pts = hand_vertices[sel]
    is_in = inside.contains(index, pts)
    dist_index = cache_lib.distance_index(cache, obj)
    if is_in.any():
        out[sel[is_in]] = -distance.surface_distance(dist_index, pts[is_in])
    if (~is_in).any():
        out[sel[~is_in]] = distance.surface_distance(dist_index, pts[~is_in], upper=max_distance)
    return out


def penetration_depth_m(
    hand_vertices: np.ndarray,
    obj: Mesh,
    cache: cache_lib.Cache | None = None,
    is_inside: np.ndarray | None = None,
) -> float:
    """Max depth of the hand vertices inside the object, meters (0 if none is inside).

    Args:
      hand_vertices: (V, 3) meters.
      obj: the object mesh.
      cache: per-object precomputation.
      is_inside: (V,) bool, if already known (e.g. from ``contact.contact_map``).
    """
    hand_vertices = np.asarray(hand_vertices, np.float64)
    if is_inside is None:
        is_inside = inside.contains(cache_lib.inside_index(cache, obj), hand_vertices)
    if not is_inside.any():
        return 0.0
    dist_index = cache_lib.distance_index(cache, obj)
    return distance.max_surface_distance(dist_index, hand_vertices[is_inside])


def penetration_depth_cm(
    hand_meshes: Sequence, object_meshes: Sequence, cache: cache_lib.Cache | None = None
) -> np.ndarray:
    """Per-grasp penetration depth.

    Args:
      hand_meshes: B hand meshes (``trimesh.Trimesh`` or ``(vertices, faces)``), meters.
      object_meshes: B object meshes, meters, in the same frame as their hands.
      cache: reuse per-object precomputation; a fresh one is made by default.

    Returns:
      (B,) float64 centimeters.
    """
    hands, objects = validate_pairs(hand_meshes, object_meshes)
    cache = cache_lib.Cache() if cache is None else cache
    return np.array([100.0 * penetration_depth_m(h.vertices, o, cache)
                     for h, o in zip(hands, objects)])  # fmt: skip
