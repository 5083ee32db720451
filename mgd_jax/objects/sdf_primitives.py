"""Signed-distance building blocks of the procedural families (``procedural._sdf_local``): exact
2-D/3-D primitives (Inigo Quilez's closed forms), the polynomial smooth minimum, and the helpers
of the appended families. Points and lengths in meters; jit/vmap friendly (no Python control flow
on traced values).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Fillet size (meters) where a mug handle or union parts meet: real handles are filleted, and a
# sharp concave crease would be bridged by faces (chordal error ~ an edge length).
_BLEND = 0.004
# Segments of the tapered arc (banana) and bumps of a bumpy blob (static: one compile each).
_BANANA_SEGMENTS = 8
_BLOB_BUMPS = 6


def _norm(x: jax.Array, axis: int = -1) -> jax.Array:
    """Euclidean norm with a finite gradient at 0 (bias <= 1e-9 m)."""
    return jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=axis), 1e-18))


def _round_box(q, half, r):
    d = jnp.abs(q) - (half - r)
    return _norm(jnp.maximum(d, 0.0)) + jnp.minimum(jnp.max(d, axis=-1), 0.0) - r


def _round_cylinder(q, radius, half_h, r):
    d = jnp.stack([_norm(q[:, :2]) - (radius - r), jnp.abs(q[:, 2]) - (half_h - r)], -1)
    return jnp.minimum(jnp.max(d, axis=-1), 0.0) + _norm(jnp.maximum(d, 0.0)) - r


def _capsule(q, half_h, r):
    c = jnp.stack([q[:, 0], q[:, 1], q[:, 2] - jnp.clip(q[:, 2], -half_h, half_h)], -1)
    return _norm(c) - r


def _torus(q, big_r, r):
    return _norm(jnp.stack([_norm(q[:, :2]) - big_r, q[:, 2]], -1)) - r


def _ellipsoid(q, radii):
    k0 = _norm(q / radii)
    k1 = _norm(q / (radii * radii))
    return k0 * (k0 - 1.0) / k1


def _capped_cone(q, half_h, r1, r2):
    """Exact capped cone along z: radius r1 at z = -half_h, r2 at z = +half_h."""
    x, y = _norm(q[:, :2]), q[:, 2]
    k1 = jnp.stack([r2, half_h])
    k2 = jnp.stack([r2 - r1, 2.0 * half_h])
    ca = jnp.stack([x - jnp.minimum(x, jnp.where(y < 0.0, r1, r2)), jnp.abs(y) - half_h], -1)
    p = jnp.stack([x, y], -1)
    t = jnp.clip(jnp.sum((k1 - p) * k2, -1) / jnp.sum(k2 * k2), 0.0, 1.0)
    cb = p - k1 + k2 * t[:, None]
    s = jnp.where((cb[:, 0] < 0.0) & (ca[:, 1] < 0.0), -1.0, 1.0)
    return s * jnp.sqrt(jnp.maximum(jnp.minimum(jnp.sum(ca * ca, -1), jnp.sum(cb * cb, -1)), 1e-18))


def _smooth_min(a, b, k):
    """Polynomial smooth minimum: a fillet of radius ~k/2 where two fields meet; min beyond k."""
    h = jnp.maximum(k - jnp.abs(a - b), 0.0) / k
    return jnp.minimum(a, b) - 0.25 * k * h * h


def _meridian(q):
    """(N, 3) -> (N, 2) meridian-plane coordinates (radius >= 0, z) of a z-revolved shape."""
    return jnp.stack([_norm(q[:, :2]), q[:, 2]], -1)


def _polyline_dist(p, verts):
    """Unsigned distance (N,) from 2-D points (N, 2) to the polyline through verts (M, 2)."""
    a, b = verts[:-1], verts[1:]
    pa = p[:, None, :] - a[None]
    ba = (b - a)[None]
    h = jnp.clip(jnp.sum(pa * ba, -1) / jnp.sum(ba * ba, -1), 0.0, 1.0)
    return jnp.min(_norm(pa - ba * h[..., None]), axis=-1)


def _polygon_sdf(p, verts):
    """Exact signed distance (N,) from 2-D points (N, 2) to a closed polygon verts (M, 2)."""
    closed = jnp.concatenate([verts, verts[:1]], 0)
    d = _polyline_dist(p, closed)
    a, b = closed[:-1][None], closed[1:][None]
    e, w = b - a, p[:, None, :] - a
    c1 = p[:, None, 1] >= a[..., 1]
    c2 = p[:, None, 1] < b[..., 1]
    c3 = e[..., 0] * w[..., 1] > e[..., 1] * w[..., 0]
    flips = jnp.sum((c1 & c2 & c3) | (~c1 & ~c2 & ~c3), axis=-1)
    return jnp.where(flips % 2 == 1, -d, d)


def _rotvec_to_matrix(v):
    """Rodrigues, (3,) -> (3, 3); safe at v = 0."""
    th = _norm(v)
    k = v / th
    kx = jnp.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return jnp.eye(3) + jnp.sin(th) * kx + (1.0 - jnp.cos(th)) * (kx @ kx)


def _segment_capsule(q, a, b, r):
    """Exact capsule: points within r of the segment from a (3,) to b (3,)."""
    pa, ba = q - a, b - a
    h = jnp.clip(jnp.sum(pa * ba, -1) / jnp.sum(ba * ba), 0.0, 1.0)
    return _norm(pa - ba * h[:, None]) - r


def _round_cones(q, a, b, r1, r2):
    """Exact round cones (convex hulls of the balls (a, r1) and (b, r2)), batched: a, b (S, 3),
    r1, r2 (S,) -> (N, S); each needs |r1 - r2| < |b - a|.

    Quilez's uneven capsule in the plane (distance to the axis, position along it).
    """
    length = _norm(b - a)
    axis = (b - a) / length[:, None]
    pa = q[:, None, :] - a[None]
    y = jnp.sum(pa * axis, -1)
    x = _norm(pa - y[..., None] * axis)
    sb = (r1 - r2) / length
    ca = jnp.sqrt(1.0 - sb * sb)
    k = -sb * x + ca * y
    return jnp.where(
        k < 0.0,
        _norm(jnp.stack([x, y], -1)) - r1,
        jnp.where(k > ca * length, _norm(jnp.stack([x, y - length], -1)) - r2,
                  ca * x + sb * y - r1),
    )


def _flat_region(q, verts):
    """Exact distance (N,) from q (N, 3) to the flat polygon verts (M, 2) in the plane z = 0."""
    d2 = jnp.maximum(_polygon_sdf(q[:, :2], verts), 0.0)
    return _norm(jnp.stack([d2, q[:, 2]], -1))


def _plane_line(p, a, b):
    """Signed distance (N,) from 2-D points p (N, 2) to the line through a, b (2,), + on the
    right of a -> b (outside, for a meridian line going up)."""
    e = (b - a) / _norm(b - a)
    w = p - a
    return w[:, 0] * e[1] - w[:, 1] * e[0]


def _knife_blade(length, height):
    """Convex blade outline (6, 2): spine along y = 0, edge at y = -height, tip at x = length."""
    f = jnp.array([[0.0, -1.0], [0.6, -1.0], [0.88, -0.62], [1.0, -0.12], [0.8, 0.0], [0.0, 0.0]])
    return f * jnp.stack([length, height])


def _banana_nodes(ra, theta, r_max, r_end, xp=jnp):
    """Nodes (S + 1, 3) and radii (S + 1,) of a tapered arc: radius ra, half angle theta."""
    s = xp.linspace(-1.0, 1.0, _BANANA_SEGMENTS + 1)
    phi = theta * s
    nodes = xp.stack([ra * xp.sin(phi), ra * xp.cos(phi), 0.0 * phi], -1)
    radii = r_end + (r_max - r_end) * (1.0 - s * s)
    return nodes, radii
