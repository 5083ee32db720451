"""Signed distance grids of arbitrary triangle meshes, and their trilinear lookup in JAX.

``build_sdf_grid`` (numpy, host side, once per mesh) samples the signed distance of a mesh on a
cubic ``resolution^3`` grid centred on the mesh's bounding box, so grids of different meshes have
one shape and stack (``stack_grids``) without recompiling what consumes them; ``lookup`` (JAX,
jit-able, differentiable w.r.t. the points) interpolates it. Units: meters throughout.

Distance (unsigned; cost grows with the surface area in voxels, not with the face count):
  * narrow band, nodes within ``_BAND`` voxels of the surface: the mesh is cut into a triangle
    soup with edges of at most two voxels (longest-edge bisection: same surface, thin CAD
    triangles stay cheap), and each node takes the exact distance to the closest of the soup
    triangles whose centroids are its ``_K`` nearest (scipy cKDTree). That is the exact distance
    unless a closer triangle's centroid is not among them, which errs by at most the largest
    centroid-to-corner radius (~1 voxel) and in practice by < 0.1 mm. A distance transform of
    the voxels holding a centroid keeps the query to nodes that can be in the band.
  * every other node: the distance to the closest surface point of the nearest band node (a
    closest-point transform, ``scipy.ndimage.distance_transform_edt``), then one sweep that
    takes a neighbour's closest point where it is closer (near medial surfaces the nearest
    band node may belong to another part of the surface). Every value is the distance to a
    real surface point, hence an upper bound; it is exact for planes, off by a second-order
    term on curved surfaces, and grows at unit rate away from the object, so gradients point
    outward. Measured at resolution 64 on procedural and real-world meshes (15 cm): nodes
    within 1 cm of the surface are within 0.7 mm of the exact distance
    (``benchmarks/sdf_grid.py``).

Sign (negative inside), by ray crossings along the grid lines of all three axes, vectorised
over (triangle, grid line) pairs: each triangle is tested against the lines that pass through
its projected bounding box, with edge functions shared exactly by neighbouring triangles (a
line through a shared edge is counted once or, if exactly on it, by neither, never twice).
Lines are offset by ~1e-6 voxel so they do not run through axis-aligned edges and vertices.
Along one axis, a line that crosses the surface an odd number of times went through a hole and
abstains; on the other lines a node is inside if its signed crossing count (+-1 by the
triangle's orientation) is non-zero where the line's signs cancel (consistent orientation:
overlapping closed parts, e.g. convex decompositions, count as solid), else by parity. Each
node takes the majority of the axes that vote (a tie is outside). For closed meshes all three
axes agree; open meshes (scans, CAD exports with holes, duplicated seam vertices, flipped
faces) are handled as well as three axes can: a hole is only fatal where it is seen along two
of the three axes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

from mgd_jax.objects.triangle_distance import prepare_triangles, sqdist

_LOG = logging.getLogger(__name__)

_BAND = 2.0  # exact-distance band half-width, voxels
_K = 4  # nearest soup centroids measured per band node (8 measured no better)
_MAX_PAIRS = 1 << 21  # (triangle, grid line) pairs per vectorised block of the sign test
_JITTER = (1.37e-6, 2.91e-6, 4.13e-6)  # grid-line offsets, voxels (generic, tiny)


@flax.struct.dataclass
class SdfGrid:
    """A signed distance grid (a pytree, safe to pass through ``jax.jit``).

    Attributes:
      origin: (3,) float32, position of voxel (0, 0, 0), meters.
      spacing: () float32, grid step, meters.
      values: (X, Y, Z) float32 signed distance at ``origin + spacing * (i, j, k)``, meters,
        negative inside; ``build_sdf_grid`` makes X = Y = Z = resolution.
    """

    origin: jax.Array
    spacing: jax.Array
    values: jax.Array


def stack_grids(grids: Sequence[SdfGrid]) -> SdfGrid:
    """Stack grids of one shape along a new leading axis (for ``jax.vmap`` over objects).

    Args:
      grids: G grids with values (R, R, R) each (e.g. from ``build_sdf_grid`` at one resolution).

    Returns:
      an ``SdfGrid`` with origin (G, 3), spacing (G,) and values (G, R, R, R), meters.
    """
    if not grids:
        raise ValueError("stack_grids needs at least one grid")
    shapes = {tuple(g.values.shape) for g in grids}
    if len(shapes) != 1:
        raise ValueError(f"stack_grids: grids have different shapes {sorted(shapes)}; build them "
                         "with one resolution")  # fmt: skip
    return jax.tree.map(lambda *x: jnp.stack(x), *grids)


def closest_point_on_triangle(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Closest point of triangles to points (Ericson, RTCD 5.1.5; broadcasting, float64).

    Args:
      p, a, b, c: (..., 3) points and triangle corners, meters.

    Returns:
      (..., 3) closest points, meters (on the edges for degenerate, zero-area triangles).
    """
    p, a, b, c = np.broadcast_arrays(*(np.asarray(x, np.float64) for x in (p, a, b, c)))
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
        # Region tests in reverse priority; later assignments win.
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
    bad = ~np.all(np.isfinite(closest), axis=-1)
    if bad.any():  # degenerate (zero-area) triangles: the closest point of their edges
        p, a, b, c = (np.broadcast_to(x, closest.shape)[bad] for x in (p, a, b, c))
        on_edges = np.stack([_closest_on_segment(p, a, b), _closest_on_segment(p, b, c),
                             _closest_on_segment(p, c, a)])  # fmt: skip
        best = np.argmin(np.sum((on_edges - p) ** 2, axis=-1), axis=0)
        closest[bad] = on_edges[best, np.arange(len(p))]
    return closest


def _closest_on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.nan_to_num(np.sum((p - a) * ab, -1) / np.sum(ab * ab, -1))
    return a + np.clip(t, 0.0, 1.0)[..., None] * ab


def point_triangle_distance(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Exact Euclidean distance from points to triangles (broadcasting, float64).

    Args:
      p, a, b, c: (..., 3) points and triangle corners, meters.

    Returns:
      (...,) distances, meters (to the edges for degenerate, zero-area triangles).
    """
    return np.linalg.norm(p - closest_point_on_triangle(p, a, b, c), axis=-1)


def _check_mesh(mesh: trimesh.Trimesh) -> np.ndarray:
    """The mesh's triangles (F, 3, 3) float64, or ``ValueError`` saying what is wrong."""
    verts = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"build_sdf_grid: the mesh has no triangles (faces shape {faces.shape}, "
                         f"{len(verts)} vertices); pass a triangle mesh, e.g. "
                         "trimesh.load(path, force='mesh')")  # fmt: skip
    if faces.min() < 0 or faces.max() >= len(verts):
        raise ValueError(f"build_sdf_grid: faces index outside the {len(verts)} vertices; "
                         "repair the mesh (trimesh.Trimesh(vertices, faces, process=True))")  # fmt: skip
    tri = verts[faces]
    bad = ~np.isfinite(tri).all(axis=(1, 2))
    if bad.any():
        raise ValueError(f"build_sdf_grid: {int(bad.sum())} of {len(tri)} faces have NaN/inf "
                         f"vertices (first: face {int(np.argmax(bad))}); drop them, e.g. "
                         "mesh.update_faces(np.isfinite(mesh.triangles).all(axis=(1, 2)))")  # fmt: skip
    extent = float(np.max(tri.max(axis=(0, 1)) - tri.min(axis=(0, 1))))
    if not extent > 1e-9:
        raise ValueError(f"build_sdf_grid: the mesh has zero extent ({extent:.3g} m: all vertices "
                         "coincide); check the mesh and its units (meters)")  # fmt: skip
    return tri


def _bisect(tri: np.ndarray, max_edge: float) -> np.ndarray:
    """Split triangles (T, 3, 3) at the midpoint of their longest edge until all edges are at
    most ``max_edge`` (a soup covering the same surface, same orientation)."""
    done = []
    while len(tri):
        edges = np.linalg.norm(tri - np.roll(tri, -1, axis=1), axis=-1)  # edge k: v_k -> v_k+1
        big = edges.max(axis=1) > max_edge
        done.append(tri[~big])
        tri = tri[big]
        if len(tri):
            k = edges[big].argmax(axis=1)
            tri = np.take_along_axis(tri, ((np.arange(3) + k[:, None]) % 3)[:, :, None], axis=1)
            m = 0.5 * (tri[:, 0] + tri[:, 1])
            tri = np.concatenate([np.stack([tri[:, 0], m, tri[:, 2]], 1),
                                  np.stack([m, tri[:, 1], tri[:, 2]], 1)])  # fmt: skip
    return np.concatenate(done)


def _band_distance(tri: np.ndarray, origin: np.ndarray, spacing: float, res: int) -> np.ndarray:
    """Unsigned distance (res, res, res), meters, at the grid nodes (module docstring)."""
    soup = _bisect(tri, 2.0 * spacing)
    cen = soup.mean(axis=1)
    rmax = float(np.linalg.norm(soup - cen[:, None], axis=-1).max())
    width = _BAND * spacing
    bound = width + rmax  # a node within `width` of the surface has a centroid within `bound`
    shape = (res,) * 3
    # ... whose voxel is within half a diagonal more: a cheap superset of the band.
    seeds = np.zeros(shape, bool)
    seeds[tuple(np.clip(np.rint((cen - origin) / spacing).astype(np.int64), 0, res - 1).T)] = True
    reach = ndimage.distance_transform_edt(~seeds) * spacing
    cand = np.flatnonzero(reach <= bound + 0.87 * spacing)
    pts = origin + spacing * np.stack(np.unravel_index(cand, shape), -1)
    _, ids = cKDTree(cen).query(pts, k=min(_K, len(soup)), distance_upper_bound=bound)
    ids = ids.reshape(len(pts), -1)
    found = ids < len(soup)
    ids = np.where(found, ids, 0)
    # The evaluators' point-triangle kernel (three dot products a pair, degenerate-safe).
    d2 = sqdist(np.repeat(pts, ids.shape[1], axis=0), prepare_triangles(soup),
                          ids.ravel()).reshape(ids.shape)  # fmt: skip
    d2[~found] = np.inf
    col = np.argmin(d2, axis=1)
    band = np.flatnonzero(d2[np.arange(len(pts)), col] <= width * width)
    t = soup[ids[band, col[band]]]
    closest = np.full((res**3, 3), np.nan)
    closest[cand[band]] = closest_point_on_triangle(pts[band], t[:, 0], t[:, 1], t[:, 2])
    # Every other node starts from the closest surface point of its nearest band node.
    outside = np.ones(shape, bool)
    outside.flat[cand[band]] = False
    idx = ndimage.distance_transform_edt(outside, return_distances=False, return_indices=True)
    closest = closest[np.ravel_multi_index(tuple(idx), shape)]
    grid = origin + spacing * np.stack(np.indices(shape), -1)
    d2 = np.sum((grid - closest) ** 2, axis=-1)
    # Near a medial surface the nearest band node can hold another part's point: take the
    # neighbours' closest points where they are closer (Jacobi sweeps along +-x, +-y, +-z).
    for ax in range(3):
        for dst, src in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
            dst, src = (slice(None),) * ax + (dst,), (slice(None),) * ax + (src,)
            other = closest[src]
            dd = np.sum((grid[dst] - other) ** 2, axis=-1)
            better = dd < d2[dst]
            closest[dst][better] = other[better]
            d2[dst][better] = dd[better]
    return np.sqrt(d2)


def _axis_votes(tri: np.ndarray, origin: np.ndarray, spacing: float, res: int, axis: int):
    """Inside (+1) / outside (-1) / abstain (0) votes (res, res, res) of the grid lines along
    ``axis`` (see the module docstring)."""
    u, v = (axis + 1) % 3, (axis + 2) % 3  # (u, v, axis) is right-handed
    lu = origin[u] + spacing * _JITTER[u]  # line (i, j) runs through (lu + i h, lv + j h)
    lv = origin[v] + spacing * _JITTER[v]
    tmin, tmax = tri.min(axis=1), tri.max(axis=1)
    i0 = np.clip(np.ceil((tmin[:, u] - lu) / spacing), 0, res).astype(np.int64)
    i1 = np.clip(np.floor((tmax[:, u] - lu) / spacing), -1, res - 1).astype(np.int64)
    j0 = np.clip(np.ceil((tmin[:, v] - lv) / spacing), 0, res).astype(np.int64)
    j1 = np.clip(np.floor((tmax[:, v] - lv) / spacing), -1, res - 1).astype(np.int64)
    ni, nj = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
    count = ni * nj
    keep = np.flatnonzero(count)
    axis_coords = origin[axis] + spacing * np.arange(res)
    crossings = np.zeros(res * res * (res + 1))
    signed = np.zeros(res * res * (res + 1))
    # Blocks of about _MAX_PAIRS (triangle, line) pairs (bounded memory).
    cum = np.cumsum(count[keep])
    total_pairs = int(cum[-1]) if len(keep) else 0
    stops = np.searchsorted(cum, np.arange(_MAX_PAIRS, total_pairs, _MAX_PAIRS), side="right")
    start = 0
    for stop in np.unique(np.r_[stops, len(keep)]):
        block = keep[start:stop]
        if not len(block):
            continue
        start = stop
        c = count[block]
        t = np.repeat(block, c)
        k = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        li, lj = i0[t] + k // nj[t], j0[t] + k % nj[t]
        pu, pv = lu + spacing * li, lv + spacing * lj
        au, av = tri[t, 0, u] - pu, tri[t, 0, v] - pv
        bu, bv = tri[t, 1, u] - pu, tri[t, 1, v] - pv
        cu, cv = tri[t, 2, u] - pu, tri[t, 2, v] - pv
        e_bc, e_ca, e_ab = bu * cv - bv * cu, cu * av - cv * au, au * bv - av * bu
        pos = (e_bc > 0) & (e_ca > 0) & (e_ab > 0)
        hit = pos | ((e_bc < 0) & (e_ca < 0) & (e_ab < 0))
        h = np.flatnonzero(hit)
        th = t[h]
        depth = (e_bc[h] * tri[th, 0, axis] + e_ca[h] * tri[th, 1, axis]
                 + e_ab[h] * tri[th, 2, axis]) / (e_bc[h] + e_ca[h] + e_ab[h])  # fmt: skip
        kz = np.searchsorted(axis_coords, depth, side="right")  # first node above the hit
        flat = (li[h] * res + lj[h]) * (res + 1) + kz
        crossings += np.bincount(flat, minlength=len(crossings))
        signed += np.bincount(flat, np.where(pos[h], 1.0, -1.0), minlength=len(signed))
    crossings = crossings.reshape(res, res, res + 1)
    signed = signed.reshape(res, res, res + 1)
    below = np.cumsum(crossings, axis=-1)[..., :res]
    winding = np.cumsum(signed, axis=-1)[..., :res]
    total, net = crossings.sum(-1, keepdims=True), signed.sum(-1, keepdims=True)
    closed = total % 2 == 0
    inside = np.where(net == 0, winding != 0, below % 2 == 1)
    votes = np.where(closed, np.where(inside, 1, -1), 0).astype(np.int8)
    # Lines are indexed (u, v, axis); put the axes back in (x, y, z) order.
    return np.moveaxis(votes, (0, 1, 2), (u, v, axis))


def build_sdf_grid(mesh: trimesh.Trimesh, resolution: int = 64, padding: float = 0.02) -> SdfGrid:
    """Signed distance grid of ``mesh``: a cube centred on its bounding box, fixed shape.

    Args:
      mesh: triangle mesh, meters. Closed meshes get an exact sign; open ones (holes, several
        components, flipped faces) a majority vote of three ray axes (a warning is logged).
      resolution: R, samples per axis (>= 2).
      padding: margin (meters, >= 0) added on each side of the longest bounding-box extent.

    Returns:
      an ``SdfGrid`` with values (R, R, R) float32 (meters, negative inside), spacing
      ``(longest extent + 2 padding) / (R - 1)`` and origin ``centre - spacing (R - 1) / 2``.

    Raises:
      ValueError: for a mesh without faces, with NaN/inf vertices or of zero extent, or
        resolution < 2 or padding < 0.
    """
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"build_sdf_grid: resolution must be an integer >= 2, got {resolution}")
    if not padding >= 0:
        raise ValueError(f"build_sdf_grid: padding must be >= 0 meters, got {padding}")
    res = int(resolution)
    tri = _check_mesh(mesh)
    lo, hi = tri.min(axis=(0, 1)), tri.max(axis=(0, 1))
    spacing = (float(np.max(hi - lo)) + 2.0 * padding) / (res - 1)
    origin = 0.5 * (lo + hi) - 0.5 * spacing * (res - 1)
    dist = _band_distance(tri, origin, spacing, res)
    if not mesh.is_watertight:
        _LOG.warning("build_sdf_grid: mesh is not watertight (%d faces); sign from a majority "
                     "vote of ray crossings along the three grid axes", len(tri))  # fmt: skip
    votes = sum(_axis_votes(tri, origin, spacing, res, a).astype(np.int16) for a in range(3))
    values = np.where(votes > 0, -dist, dist)
    return SdfGrid(
        origin=jnp.asarray(origin, jnp.float32),
        spacing=jnp.asarray(spacing, jnp.float32),
        values=jnp.asarray(values, jnp.float32),
    )


def lookup(grid: SdfGrid, points: jax.Array, row: jax.Array | None = None) -> jax.Array:
    """Trilinear signed distance at points; outside the grid, clamp-to-box distance + border value.

    Outside the box the result is ``|p - clamp(p)| + value(clamp(p))``, an upper bound of the
    true distance that grows at unit rate away from the grid, so gradients still point outward.

    Args:
      grid: the grid, values of any shape (X, Y, Z); or K grids stacked (values (K, X, Y, Z),
        origin (K, 3), spacing (K,)) of which ``row`` is read.
      points: (N, 3) points, meters.
      row: () int, the grid of a stack to read. Under ``vmap`` over rows it gathers single
        values from the stack, never a copy of a whole grid per row.

    Returns:
      (N,) signed distance, meters, negative inside.
    """
    values = grid.values
    origin, spacing = grid.origin, grid.spacing
    if row is not None:
        origin, spacing = origin[row], spacing[row]
    upper = jnp.asarray(values.shape[-3:], jnp.float32) - 1.0
    f = (points - origin) / spacing
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
                at = (i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz)
                out = out + w * (values[at] if row is None else values[(row,) + at])
    outside = (f - fc) * spacing
    return out + jnp.sqrt(jnp.sum(outside * outside, -1) + 1e-20) - 1e-10
