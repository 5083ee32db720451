"""Seeded surface sampling of meshes: the (n, 3) object point clouds MGD trains on."""

from __future__ import annotations

import numpy as np
import trimesh


def sample_points(
    mesh: trimesh.Trimesh,
    n: int = 2048,
    seed: int = 0,
    from_vertices: bool = False,
    return_normals: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Sample points uniformly on a mesh surface (area-weighted), deterministically.

    Faces are drawn with probability proportional to their area, then a point is drawn uniformly
    inside each chosen triangle (barycentric ``(1 - s, s (1 - r2), s r2)`` with ``s = sqrt(r1)``).

    Args:
      mesh: the mesh (meters).
      n: number of points, > 0.
      seed: seed of the numpy Generator; the same seed and mesh give the same points.
      from_vertices: sample mesh vertices instead (with replacement only if the mesh has fewer
        than ``n`` vertices); normals are then the vertex normals.
      return_normals: also return unit normals.

    Returns:
      points: (n, 3) float32 in the mesh's frame (meters); with ``return_normals``, also
      normals: (n, 3) float32 unit normals of the sampled faces (or vertices).

    Raises:
      ValueError: ``n <= 0``, a mesh without faces/vertices, or zero total area.
    """
    if n <= 0:
        raise ValueError(f"sample_points: n must be > 0, got {n}")
    rng = np.random.default_rng(seed)
    vertices = np.asarray(mesh.vertices, np.float64)

    if from_vertices:
        if len(vertices) == 0:
            raise ValueError("sample_points: mesh has no vertices")
        idx = rng.choice(len(vertices), size=n, replace=len(vertices) < n)
        points = vertices[idx]
        normals = np.asarray(mesh.vertex_normals, np.float64)[idx] if return_normals else None
    else:
        faces = np.asarray(mesh.faces, np.int64)
        if len(faces) == 0:
            raise ValueError("sample_points: mesh has no faces")
        tri = vertices[faces]  # (f, 3, 3)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area2 = np.linalg.norm(cross, axis=1)  # twice the area
        cum = np.cumsum(area2)
        total = cum[-1]
        if not total > 0:
            raise ValueError("sample_points: mesh has zero surface area")
        # side='right' never picks a zero-area face (its cumsum equals its predecessor's).
        fidx = np.searchsorted(cum, rng.random(n) * total, side="right")
        fidx = np.minimum(fidx, len(faces) - 1)
        r1, r2 = rng.random(n), rng.random(n)
        s = np.sqrt(r1)
        bary = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)
        points = np.einsum("nk,nkd->nd", bary, tri[fidx])
        normals = cross[fidx] / area2[fidx, None] if return_normals else None

    points = points.astype(np.float32)
    if not return_normals:
        return points
    return points, normals.astype(np.float32)
