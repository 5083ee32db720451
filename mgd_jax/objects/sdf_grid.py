"""Signed distance grids of arbitrary triangle meshes, and their trilinear lookup in JAX.

``build_sdf_grid`` (numpy, host side, once per mesh) samples the signed distance of a mesh on a
regular grid; ``lookup`` (JAX, jit-able, differentiable w.r.t. the points) interpolates it.

Distance: the mesh is first split (``trimesh.remesh.subdivide_to_size``, same surface) until no
edge is longer than ``max_edge`` (two voxels in ``build_sdf_grid``); then the exact
point-triangle distance (Ericson's closest point on a triangle) is taken to the ``k`` triangles
whose centroids are nearest (scipy cKDTree). The result never under-estimates, and over-estimates
by at most the largest centroid-to-corner radius, <= max_edge / sqrt(3) (the nearest centroid is
no farther than the true closest triangle's centroid); in practice, with 8 candidates, it is
exact (measured: grid vs. exact SDFs within the trilinear error). Smaller ``max_edge`` tightens
the bound but slows the KD-tree, whose queries from deep inside visit most centroids.

Sign (negative inside):
  * watertight meshes: inside/outside by ray parity along grid z-columns (what ``mesh.contains``
    computes, but one ray per column instead of one per point); columns are jittered by ~1e-6
    voxel so rays do not hit edges exactly.
  * other meshes (fallback, with a logged warning): generalized winding number (sum of signed
    solid angles / 4 pi, Van Oosterom-Strackee), inside where it exceeds 0.5. Robust to holes.

Units: meters throughout.
"""

from __future__ import annotations

import logging

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import trimesh
from scipy.spatial import cKDTree

_LOG = logging.getLogger(__name__)


@flax.struct.dataclass
class SdfGrid:
    """A signed distance grid (a pytree, safe to pass through ``jax.jit``).

    Attributes:
      origin: (3,) float32, position of voxel (0, 0, 0), meters.
      spacing: () float32, grid step, meters.
      values: (X, Y, Z) float32 signed distance at ``origin + spacing * (i, j, k)``, meters,
        negative inside.
    """

    origin: jax.Array
    spacing: jax.Array
    values: jax.Array


def point_triangle_distance(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Exact Euclidean distance from points to triangles (broadcasting, float64).

    Args:
      p, a, b, c: (..., 3) points and triangle corners, meters.

    Returns:
      (...,) distances, meters.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.sum(ab * ap, -1), np.sum(ac * ap, -1)
    bp = p - b
    d3, d4 = np.sum(ab * bp, -1), np.sum(ac * bp, -1)
    cp = p - c
    d5, d6 = np.sum(ab * cp, -1), np.sum(ac * cp, -1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        # Region tests in reverse priority; later assignments win (Ericson, RTCD 5.1.5).
        closest = a + v_in[..., None] * ab + w_in[..., None] * ac
        regions = [
            ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), b + t_bc[..., None] * (c - b)),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + t_ac[..., None] * ac),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + t_ab[..., None] * ab),
            ((d6 >= 0) & (d5 <= d6), c),
            ((d3 >= 0) & (d4 <= d3), b),
            ((d1 <= 0) & (d2 <= 0), a),
        ]
    for mask, point in regions:
        closest = np.where(mask[..., None], point, closest)
    return np.linalg.norm(p - closest, axis=-1)


def unsigned_distance(
    mesh: trimesh.Trimesh,
    points: np.ndarray,
    max_edge: float | None = None,
    k: int = 8,
    chunk: int = 65536,
) -> np.ndarray:
    """Distance (N,) from points (N, 3) to the mesh surface, meters.

    Over-estimates by at most max_edge / sqrt(3) (module docstring); ``max_edge=None`` keeps the
    mesh as is (then the bound is the largest triangle's centroid-to-corner radius).
    """
    verts, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces)
    if max_edge is not None:
        verts, faces = trimesh.remesh.subdivide_to_size(verts, faces, max_edge, max_iter=16)
    tris = verts[faces]
    tree = cKDTree(tris.mean(axis=1))
    k = min(k, len(tris))
    out = np.empty(len(points))
    for s in range(0, len(points), chunk):
        p = points[s : s + chunk]
        _, idx = tree.query(p, k=k)
        idx = idx.reshape(len(p), k)
        t = tris[idx]
        d = point_triangle_distance(p[:, None], t[..., 0, :], t[..., 1, :], t[..., 2, :])
        out[s : s + chunk] = np.nanmin(d, axis=1)  # degenerate triangles give NaN
    return out


def winding_number(mesh: trimesh.Trimesh, points: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Generalized winding number (N,) of points (N, 3): ~1 inside, ~0 outside, 1/2 on the mesh."""
    tris = np.asarray(mesh.triangles, np.float64)
    out = np.empty(len(points))
    for s in range(0, len(points), chunk):
        r = tris[None] - points[s : s + chunk, None, None, :]  # (n, F, 3, 3)
        n = np.linalg.norm(r, axis=-1)
        a, b, c = r[..., 0, :], r[..., 1, :], r[..., 2, :]
        det = np.sum(a * np.cross(b, c), -1)
        den = (
            n[..., 0] * n[..., 1] * n[..., 2]
            + np.sum(a * b, -1) * n[..., 2]
            + np.sum(b * c, -1) * n[..., 0]
            + np.sum(c * a, -1) * n[..., 1]
        )
        out[s : s + chunk] = np.sum(np.arctan2(det, den), -1) / (2.0 * np.pi)
    return out


def _column_parity_inside(mesh: trimesh.Trimesh, axes: list[np.ndarray]) -> np.ndarray:
    """Inside mask (X, Y, Z) of a watertight mesh by counting z-ray crossings below each voxel."""
    xs, ys, zs = axes
    step = xs[1] - xs[0]
    # Irrational-ish sub-voxel jitter so no column passes exactly through a mesh edge or vertex.
    jx, jy = xs + 1.37e-6 * step, ys + 2.91e-6 * step
    crossings = np.zeros((len(xs), len(ys), len(zs) + 1), np.int32)
    for tri in np.asarray(mesh.triangles, np.float64):
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = tri
        i = np.nonzero((jx >= min(x0, x1, x2)) & (jx <= max(x0, x1, x2)))[0]
        j = np.nonzero((jy >= min(y0, y1, y2)) & (jy <= max(y0, y1, y2)))[0]
        if not len(i) or not len(j):
            continue
        px, py = np.meshgrid(jx[i], jy[j], indexing="ij")
        det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
        if det == 0.0:
            continue  # triangle seen edge-on from the ray
        l0 = ((y1 - y2) * (px - x2) + (x2 - x1) * (py - y2)) / det
        l1 = ((y2 - y0) * (px - x2) + (x0 - x2) * (py - y2)) / det
        l2 = 1.0 - l0 - l1
        hit = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        z = l0 * z0 + l1 * z1 + l2 * z2
        kz = np.clip(np.searchsorted(zs, z[hit]), 0, len(zs))
        ii, jj = np.meshgrid(i, j, indexing="ij")
        np.add.at(crossings, (ii[hit], jj[hit], kz), 1)
    return (np.cumsum(crossings, axis=-1)[..., :-1] % 2) == 1


def build_sdf_grid(mesh: trimesh.Trimesh, resolution: int = 64, padding: float = 0.02) -> SdfGrid:
    """Signed distance grid of ``mesh`` over its bounding box grown by ``padding``.

    Args:
      mesh: triangle mesh, meters; watertight meshes get an exact sign, others the winding-number
        fallback (a warning is logged).
      resolution: number of samples along the longest axis (the grid is cubic-voxelled).
      padding: margin around the bounding box, meters.

    Returns:
      an ``SdfGrid`` with values (X, Y, Z), X, Y, Z <= resolution.
    """
    lo, hi = mesh.bounds[0] - padding, mesh.bounds[1] + padding
    spacing = float(np.max(hi - lo)) / (resolution - 1)
    shape = np.maximum(np.ceil((hi - lo) / spacing - 1e-6).astype(int) + 1, 2)
    lo = 0.5 * (lo + hi) - 0.5 * spacing * (shape - 1)
    axes = [lo[d] + spacing * np.arange(shape[d]) for d in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    dist = unsigned_distance(mesh, points, max_edge=2.0 * spacing).reshape(tuple(shape))
    if mesh.is_watertight:
        inside = _column_parity_inside(mesh, axes)
    else:
        _LOG.warning(
            "build_sdf_grid: mesh is not watertight (%d faces); sign from the generalized winding "
            "number > 0.5", len(mesh.faces),
        )
        inside = (winding_number(mesh, points) > 0.5).reshape(tuple(shape))
    values = np.where(inside, -dist, dist)
    return SdfGrid(
        origin=jnp.asarray(lo, jnp.float32),
        spacing=jnp.asarray(spacing, jnp.float32),
        values=jnp.asarray(values, jnp.float32),
    )


def lookup(grid: SdfGrid, points: jax.Array) -> jax.Array:
    """Trilinear signed distance at points; outside the grid, clamp-to-box distance + border value.

    Outside the box the result is ``|p - clamp(p)| + value(clamp(p))``, an upper bound of the
    true distance that grows at unit rate away from the grid, so gradients still point outward.

    Args:
      grid: the grid.
      points: (N, 3) points, meters.

    Returns:
      (N,) signed distance, meters, negative inside.
    """
    values = grid.values
    upper = jnp.asarray(values.shape, jnp.float32) - 1.0
    f = (points - grid.origin) / grid.spacing
    fc = jnp.clip(f, 0.0, upper)
    i0 = jnp.clip(jnp.floor(fc), 0.0, upper - 1.0)
    t = fc - i0
    i0 = i0.astype(jnp.int32)
    out = jnp.zeros(points.shape[0], values.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (t[:, 0] if dx else 1.0 - t[:, 0])
                    * (t[:, 1] if dy else 1.0 - t[:, 1])
                    * (t[:, 2] if dz else 1.0 - t[:, 2])
                )
                out = out + w * values[i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz]
    outside = (f - fc) * grid.spacing
    return out + jnp.sqrt(jnp.sum(outside * outside, -1) + 1e-20) - 1e-10
