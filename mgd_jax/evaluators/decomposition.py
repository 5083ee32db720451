"""Convex decomposition of meshes for the MuJoCo physics test: V-HACD, per-part hulls of a
hand, or a thin shell of triangle prisms.

MuJoCo collides mesh geoms through their convex hulls, so a concave mesh must be split into
convex pieces. Objects use V-HACD (``vhacdx``, V-HACD 4, run synchronously so the result is
deterministic); an object that is already convex is used as its own hull. Hands
(``SimulationParams.hand_shape``): ``shell_pieces`` (one thin prism per triangle: the surface
itself, like the concave triangle mesh PyBullet collides), ``part_hull_pieces`` (the convex hull
of each skinning part, MANO's 16 bones; fills concavities such as the cupped palm) or V-HACD.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from mgd_jax.evaluators.meshes import Mesh, is_closed

_MIN_PIECE_VOLUME_M3 = 1e-9  # 1 mm^3: flatter pieces break MuJoCo's inertia computation
# Relative volume gap below which a closed mesh counts as convex and is one piece, its hull: V-HACD's
# own acceptance test for a hull (``minimumVolumePercentErrorAllowed``, 1% by default), applied
# to the exact mesh instead of its voxels. V-HACD itself cuts a 0.3%-concave box into ~60 pieces
# that only approximate it, in 2-3 s.
_CONVEX_TOLERANCE = 1e-2


def hull(points: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Convex hull vertices (n, 3) and volume (m^3) of a point set, or None if degenerate."""
    points = np.asarray(points, np.float64)
    if len(points) < 4:
        return None
    try:
        h = ConvexHull(points)
    except QhullError:
        return None
    if h.volume < _MIN_PIECE_VOLUME_M3:
        return None
    return points[h.vertices], float(h.volume)


def mesh_volume(mesh: Mesh) -> float:
    """Signed volume of a closed mesh (divergence theorem), m^3; positive for outward faces."""
    t = mesh.vertices[mesh.faces]
    return float(np.einsum("fi,fi->f", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)


def vhacd_pieces(
    mesh: Mesh, resolution: int, max_hulls: int, max_vertices_per_hull: int
) -> list[tuple[np.ndarray, float]]:
    """Convex pieces of a mesh: its own hull if convex, else V-HACD hulls.

    Args:
      mesh: meters.
      resolution: V-HACD voxel count.
      max_hulls: at most this many pieces.
      max_vertices_per_hull: V-HACD's ``maxNumVerticesPerCH``.

    Returns:
      A non-empty list of (hull vertices (n, 3), volume m^3).

    Raises:
      ValueError: when no piece has a positive volume (a flat or degenerate mesh).
    """
    whole = hull(mesh.vertices)
    if whole is None:
        raise ValueError("mesh has no volume (flat or degenerate): cannot simulate it")
    if is_closed(mesh) and abs(abs(mesh_volume(mesh)) - whole[1]) <= _CONVEX_TOLERANCE * whole[1]:
        return [whole]
    import vhacdx

    parts = vhacdx.compute_vhacd(
        np.ascontiguousarray(mesh.vertices, np.float64),
        np.ascontiguousarray(mesh.faces, np.uint32),
        maxConvexHulls=int(max_hulls),
        resolution=int(resolution),
        maxNumVerticesPerCH=int(max_vertices_per_hull),
        asyncACD=False,
    )
    pieces = [p for p in (hull(v) for v, _ in parts) if p is not None]
    return pieces if pieces else [whole]


def part_labels_from_weights(weights: np.ndarray) -> np.ndarray:
    """(V,) part of each hand vertex: the joint with the largest skinning weight ((V, J) in)."""
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (V, J), got {weights.shape}")
    return np.argmax(weights, axis=1)


def part_hull_pieces(vertices: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Convex hull of each labelled part of a mesh (e.g. the 16 skinning bones of a hand).

    Args:
      vertices: (V, 3) meters.
      labels: (V,) int part of each vertex.

    Returns:
      A list of (hull vertices (n, 3), volume m^3); parts too small for a solid hull are dropped.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(vertices),):
        raise ValueError(f"part labels shape {labels.shape} does not match {len(vertices)} "
                         "hand vertices")  # fmt: skip
    pieces = [hull(vertices[labels == part]) for part in np.unique(labels)]
    return [p for p in pieces if p is not None]


def shell_pieces(mesh: Mesh, thickness: float) -> list[tuple[np.ndarray, float]]:
    """One convex prism per triangle: the triangle and its copy pushed ``thickness`` (m) inwards
    along the (area-weighted) vertex normals, so neighbouring prisms share their side faces.

    A thin solid skin that collides like the triangle mesh itself (what PyBullet's
    ``GEOM_FORCE_CONCAVE_TRIMESH`` hand is) without filling the mesh's concavities. Inward is
    taken from the sign of the mesh's volume, so inside-out meshes work too.

    Returns:
      A list of (prism vertices (6, 3), volume m^3); degenerate triangles are dropped.
    """
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    t = v[f]
    fn = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])  # area-weighted face normals
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    sign = 1.0 if mesh_volume(mesh) >= 0 else -1.0
    inner = t - sign * thickness * vn[f]
    prisms = np.concatenate([t, inner], axis=1)  # (F, 6, 3)
    area = 0.5 * np.linalg.norm(fn, axis=1)
    vol = area * thickness
    keep = vol > 1e-12  # 0.001 mm^3: drops degenerate triangles (MuJoCo rejects tiny meshes)
    return [(p, float(w)) for p, w in zip(prisms[keep], vol[keep])]
