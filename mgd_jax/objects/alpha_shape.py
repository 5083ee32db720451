"""Alpha-shape surface reconstruction from a point cloud.

MGD turns generated object point clouds (2048 points) into meshes with an alpha shape for
visualisation and mesh-based metrics. The construction here:

1. scipy Delaunay tetrahedralisation of the points;
2. keep the tetrahedra whose circumradius is below ``alpha``;
3. the surface is the set of triangles that belong to exactly one kept tetrahedron, each oriented
   so its normal points away from that tetrahedron's fourth vertex (outward);
4. unreferenced vertices are dropped.

Points sampled on a surface give no tetrahedra "inside" the shape smaller than the shape's local
thickness (a sphere's samples are all co-spherical, so every interior tetrahedron has the sphere's
radius), so no fixed multiple of the point spacing works for all shapes. With ``alpha=None`` we
therefore search: the smallest alpha, on a geometric ladder starting where (almost) every point is
reached, whose surface is watertight (every edge in exactly two faces) and whose solid is one
connected piece. An explicit ``alpha`` that gives a non-manifold surface is raised along the same
ladder until the surface is clean (with a logged warning).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import scipy.spatial
import trimesh

logger = logging.getLogger(__name__)

# Vertex indices (within a tetrahedron) of the face opposite vertex k, for k = 0..3.
_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
_LADDER_RATIO = 1.03  # alpha search step: 3 % per rung
_MIN_COVERAGE = 0.995  # fraction of points the search requires the solid to reach


def circumradii(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Circumradius of each tetrahedron.

    Args:
      points: (n, 3) float coordinates (meters).
      tets: (m, 4) int vertex indices.

    Returns:
      (m,) float64 circumradii (meters); ``inf`` for flat (zero-volume) tetrahedra.
    """
    p = np.asarray(points, np.float64)[tets]
    a = p[:, 0]
    u, v, w = p[:, 1] - a, p[:, 2] - a, p[:, 3] - a
    vxw, wxu, uxv = np.cross(v, w), np.cross(w, u), np.cross(u, v)
    num = (
        (u * u).sum(1, keepdims=True) * vxw
        + (v * v).sum(1, keepdims=True) * wxu
        + (w * w).sum(1, keepdims=True) * uxv
    )
    den = 2.0 * (u * vxw).sum(1)
    scale = np.maximum(np.abs(u).max(1), np.maximum(np.abs(v).max(1), np.abs(w).max(1)))
    flat = np.abs(den) <= 1e-12 * np.maximum(scale, 1e-300) ** 3
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.linalg.norm(num, axis=1) / np.abs(den)
    r[flat | ~np.isfinite(r)] = np.inf
    return r


def _boundary(points: np.ndarray, tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward-oriented boundary triangles of a set of tetrahedra.

    Returns:
      faces: (f, 3) int, triangles belonging to exactly one of ``tets``, wound so that the normal
        points away from the tetrahedron's fourth vertex.
      edge_counts: (e,) int, how many boundary faces use each distinct boundary edge.
    """
    faces = tets[:, _TET_FACES].reshape(-1, 3)  # (4m, 3), face k of tet i at row 4 i + k
    opposite = tets.reshape(-1)  # vertex opposite each face
    key = np.sort(faces, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.reshape(-1)] == 1
    faces, opposite = faces[once], opposite[once]
    a, b, c = (points[faces[:, i]] for i in range(3))
    normal = np.cross(b - a, c - a)
    inward = (normal * (points[opposite] - a)).sum(1) > 0
    faces[inward] = faces[inward][:, [0, 2, 1]]
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, edge_counts = np.unique(edges, axis=0, return_counts=True)
    return faces, edge_counts


def _n_pieces(tets: np.ndarray) -> int:
    """Number of face-connected components of a set of tetrahedra."""
    m = len(tets)
    key = np.sort(tets[:, _TET_FACES].reshape(-1, 3), axis=1)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    owner = np.repeat(np.arange(m), 4)
    order = np.argsort(inverse, kind="stable")
    inv_sorted, own_sorted = inverse[order], owner[order]
    shared = inv_sorted[1:] == inv_sorted[:-1]  # a face held by two tetrahedra links them
    graph = scipy.sparse.coo_matrix(
        (np.ones(int(shared.sum())), (own_sorted[:-1][shared], own_sorted[1:][shared])),
        shape=(m, m),
    )
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[0]


def _edges_manifold(points: np.ndarray, tets: np.ndarray) -> bool:
    """True when the tetrahedra are non-empty and every boundary edge is in exactly 2 faces."""
    if len(tets) == 0:
        return False
    _, edge_counts = _boundary(points, tets)
    return bool(np.all(edge_counts == 2))


def _is_clean(points: np.ndarray, tets: np.ndarray) -> bool:
    """Watertight boundary and a single face-connected solid."""
    return _edges_manifold(points, tets) and _n_pieces(tets) == 1


def _validate(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"alpha_shape: points must have shape (n, 3), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        bad = int((~np.isfinite(pts)).any(1).sum())
        raise ValueError(f"alpha_shape: {bad} of {len(pts)} points are NaN or Inf")
    pts = np.unique(pts, axis=0)
    if len(pts) < 4:
        raise ValueError(f"alpha_shape: need at least 4 distinct points, got {len(pts)}")
    return pts


def alpha_shape(points: np.ndarray, alpha: float | None = None) -> trimesh.Trimesh:
    """Reconstruct a closed surface from points with an alpha shape.

    Args:
      points: (n, 3) float point cloud (meters), n >= 4, all finite. Duplicates are merged.
      alpha: circumradius threshold (meters). ``None``: the smallest alpha (3 % ladder) that gives
        a watertight, single-piece solid reaching >= 99.5 % of the points. An explicit alpha whose
        surface has non-manifold edges is raised along the same ladder until it has none.

    Returns:
      A trimesh with outward-wound faces and only referenced vertices (meters). Watertight when the
      search succeeds; if no alpha below the largest circumradius gives a clean surface, the convex
      hull of the points (all tetrahedra) is returned.

    Raises:
      ValueError: non-finite points, fewer than 4 distinct points, all points coplanar, or
        ``alpha <= 0``.
    """
    pts = _validate(points)
    if alpha is not None and not alpha > 0:
        raise ValueError(f"alpha_shape: alpha must be > 0, got {alpha}")
    try:
        tri = scipy.spatial.Delaunay(pts)
    except scipy.spatial.QhullError as e:
        raise ValueError(f"alpha_shape: Delaunay failed (points coplanar?): {e}") from e
    tets = tri.simplices.astype(np.int64)
    radii = circumradii(pts, tets)
    finite = radii[np.isfinite(radii)]
    if len(finite) == 0:
        raise ValueError("alpha_shape: all tetrahedra are flat (points coplanar?)")
    r_max = float(finite.max())

    if alpha is None:
        # Smallest radius at which each point is reached by some kept tetrahedron.
        reach = np.full(len(pts), np.inf)
        np.minimum.at(reach, tets.reshape(-1), np.repeat(radii, 4))
        start = float(np.quantile(reach, _MIN_COVERAGE))
    else:
        start = float(alpha)

    a = start
    while a <= r_max * _LADDER_RATIO:
        kept = tets[radii < a]
        ok = _is_clean(pts, kept) if alpha is None else _edges_manifold(pts, kept)
        if ok:
            break
        a *= _LADDER_RATIO
    else:  # no clean surface below the largest circumradius: the convex hull
        kept, a = tets, np.inf
    if alpha is not None and a != alpha:
        logger.warning("alpha_shape: alpha=%g gave a non-manifold surface; used alpha=%g", alpha, a)
    logger.debug("alpha_shape: alpha=%g, %d of %d tetrahedra kept", a, len(kept), len(tets))

    faces, _ = _boundary(pts, kept)
    mesh = trimesh.Trimesh(vertices=pts, faces=faces, process=False)
    mesh.remove_unreferenced_vertices()
    return mesh



def alpha_shape_or_none(points: np.ndarray, alpha: float | None = None) -> trimesh.Trimesh | None:
    """:func:`alpha_shape` of a generated cloud, or None (logged) when the cloud is non-finite or
    too degenerate to mesh; for batch work where one bad cloud must not stop the rest."""
    points = np.asarray(points, np.float64)
    if not np.all(np.isfinite(points)):
        logger.warning("no alpha shape: the point cloud has NaN or inf coordinates")
        return None
    try:
        return alpha_shape(points, alpha)
    except Exception as e:  # degenerate clouds raise from qhull or from the checks above
        logger.warning("no alpha shape: %s: %s", type(e).__name__, e)
        return None
