"""Procedural graspable object families with signed distance functions, and their meshes.

An object is an immutable :class:`ObjectSpec` (family, flat parameter vector, rigid transform).
``sdf(spec, points)`` is a pure JAX function (jit-able, differentiable w.r.t. points), negative
inside, meters. Meshing lives in ``mgd_jax.objects.sdf_mesh`` (``mesh(spec)``,
``sample_object(family, seed)``): mesh and SDF agree to the chordal error (< 1 mm).

Exactness (Inigo Quilez's closed forms):
  * exact everywhere: box, cylinder (both with rounded edges), sphere, capsule, cone (rounded
    capped cone), torus, and bowl (revolved arc offset by half its thickness);
  * ellipsoid: Quilez's bound ``k0 (k0 - 1) / k1``; its zero set is exact, its magnitude is not;
  * mug: the body (revolved polyline offset by half the wall) is exact; the handle is a torus
    clipped by a plane (``max``, a bound inside) joined with a polynomial smooth minimum of
    width ``_BLEND`` = 4 mm (a fillet), so the field is approximate within 4 mm of the joints;
  * union: parts joined by the same smooth minimum: exact (``min`` of exact fields) outside and
    more than 4 mm from any junction, a bound inside, approximate near junctions;
  * bottle: a revolved polygon (exact 2-D polygon distance) offset by a rounding radius: exact
    outside, inexact inside near the concave shoulder-neck corner.

Frame: object-centric; the axis-aligned box of the untransformed shape is centred at the origin
(``sample_spec`` sets ``translation = -rotation @ centre``). Units: meters.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

FAMILIES: tuple[str, ...] = (
    "box", "cylinder", "sphere", "capsule", "ellipsoid", "cone", "torus",
    "mug", "bottle", "bowl", "union",
)
EXACT_FAMILIES: tuple[str, ...] = ("box", "cylinder", "sphere", "capsule", "cone", "torus", "bowl")
# Primitive type ids inside a union; each union primitive is 11 floats:
# [type, a, b, c, rounding, rotvec (3), translation (3)].
_UNION_TYPES = ("box", "cylinder", "sphere", "capsule")
_UNION_STRIDE = 11
# Meshing defaults (meters): longest level-set edge, simplification tolerance, and the level-set
# edge as a fraction of the thinnest feature (walls, rims, tubes). Chosen so that surface samples
# stay within ~0.7 mm of the zero set with 1-10k faces (measured on seeds 0-5 of every family).
_EDGE_MAX = 0.005
_SIMPLIFY_TOL = 2.5e-4
_FEATURE_FRACTION = 0.8
# Accepted |sdf| at face centroids / edge midpoints before simplification is redone finer.
_MAX_ERROR = 6e-4
# Fillet size (meters) where a mug handle or union parts meet: real handles are filleted, and a
# sharp concave crease would be bridged by faces (chordal error ~ an edge length).
_BLEND = 0.004


@flax.struct.dataclass
class ObjectSpec:
    """An immutable procedural object; a pytree whose leaves are params, rotation, translation.

    Attributes:
      family: one of ``FAMILIES`` (static).
      params: (P,) float, family parameters, lengths in meters (see ``sample_spec``).
      rotation: (3, 3) object rotation; world point ``p = rotation @ q + translation``.
      translation: (3,) meters.
    """

    family: str = flax.struct.field(pytree_node=False, default="sphere")
    params: np.ndarray = flax.struct.field(default_factory=lambda: np.array([0.03]))
    rotation: np.ndarray = flax.struct.field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = flax.struct.field(default_factory=lambda: np.zeros(3))


# ----------------------------------------------------------------------------- primitives


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


# ----------------------------------------------------------------------------- families


def _sdf_local(family: str, p: jax.Array, q: jax.Array) -> jax.Array:
    """Signed distance (N,) of an untransformed family member at local points q (N, 3)."""
    if family == "box":
        return _round_box(q, p[:3], p[3])
    if family == "cylinder":
        return _round_cylinder(q, p[0], p[1], p[2])
    if family == "sphere":
        return _norm(q) - p[0]
    if family == "capsule":
        return _capsule(q, p[0], p[1])
    if family == "ellipsoid":
        return _ellipsoid(q, p[:3])
    if family == "cone":
        return _capped_cone(q, p[0], p[1], p[2]) - p[3]
    if family == "torus":
        return _torus(q, p[0], p[1])
    if family == "mug":  # [R, H, t, a, b]: wall-midline radius, half height, wall, handle radii
        big_r, h, t, a, b = p[0], p[1], p[2], p[3], p[4]
        zero = jnp.zeros(())
        profile = jnp.stack([jnp.stack([zero, -h]), jnp.stack([big_r, -h]), jnp.stack([big_r, h])])
        body = _polyline_dist(_meridian(q), profile) - 0.5 * t
        u = q - jnp.stack([big_r, zero, zero])
        handle = _norm(jnp.stack([_norm(u[:, ::2]) - a, u[:, 1]], -1)) - b
        return _smooth_min(body, jnp.maximum(handle, -u[:, 0]), _BLEND)
    if family == "bottle":  # [Rb, H, zs, zn, Rn, rounding]: core profile, then rounded
        rb, h, zs, zn, rn, rr = (p[i] for i in range(6))
        half = [jnp.stack(v) for v in ((rb, -h), (rb, zs), (rn, zn), (rn, h))]
        mirrored = [jnp.stack([-v[0], v[1]]) for v in half[::-1]]
        return _polygon_sdf(_meridian(q), jnp.stack(mirrored + half)) - rr
    if family == "bowl":  # [Rs, theta_max, t]: spherical cap of radius Rs, centre at z = Rs / 2
        rs, th, t = p[0], p[1], p[2]
        m = _meridian(q) - jnp.stack([0.0, 0.5 * rs])
        polar = jnp.arctan2(m[:, 0], -m[:, 1])
        end = rs * jnp.stack([jnp.sin(th), -jnp.cos(th)])
        d = jnp.where(polar <= th, jnp.abs(_norm(m) - rs), _norm(m - end))
        return d - 0.5 * t
    if family == "union":
        prims = p.reshape(-1, _UNION_STRIDE)
        ds = []
        for i in range(prims.shape[0]):
            pr = prims[i]
            local = (q - pr[8:11]) @ _rotvec_to_matrix(pr[5:8])
            cand = jnp.stack([
                _round_box(local, pr[1:4], pr[4]),
                _round_cylinder(local, pr[1], pr[2], pr[4]),
                _norm(local) - pr[1],
                _capsule(local, pr[2], pr[1]),
            ])
            ds.append(jnp.sum(cand * jax.nn.one_hot(pr[0].astype(jnp.int32), 4)[:, None], 0))
        out = ds[0]
        for d in ds[1:]:
            out = _smooth_min(out, d, _BLEND)
        return out
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def sdf(spec: ObjectSpec, points: jax.Array) -> jax.Array:
    """Signed distance of ``spec`` at ``points``.

    Args:
      spec: the object.
      points: (N, 3) world points, meters.

    Returns:
      (N,) signed distance in meters, negative inside (exactness per family: module docstring).
    """
    points = jnp.asarray(points)
    q = (points - jnp.asarray(spec.translation)) @ jnp.asarray(spec.rotation)
    return _sdf_local(spec.family, jnp.asarray(spec.params), q)


def local_bounds(family: str, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (lo (3,), hi (3,)) of the untransformed shape, meters."""
    p = np.asarray(params, np.float64)
    if family == "box":
        return -p[:3], p[:3]
    if family == "cylinder":
        e = np.array([p[0], p[0], p[1]])
    elif family == "sphere":
        e = np.full(3, p[0])
    elif family == "capsule":
        e = np.array([p[1], p[1], p[0] + p[1]])
    elif family == "ellipsoid":
        e = p[:3]
    elif family == "cone":
        r = max(p[1], p[2]) + p[3]
        e = np.array([r, r, p[0] + p[3]])
    elif family == "torus":
        e = np.array([p[0] + p[1], p[0] + p[1], p[1]])
    elif family == "mug":
        big_r, h, t, a, b = p[:5]
        return (np.array([-big_r - t / 2, -big_r - t / 2, -h - t / 2]),
                np.array([big_r + a + b, big_r + t / 2, h + t / 2]))
    elif family == "bottle":
        e = np.array([p[0] + p[5], p[0] + p[5], p[1] + p[5]])
    elif family == "bowl":
        rs, th, t = p[:3]
        r = (rs * np.sin(th) if th < np.pi / 2 else rs) + t / 2
        top = 0.5 * rs - rs * np.cos(th) + t / 2
        return np.array([-r, -r, -0.5 * rs - t / 2]), np.array([r, r, top])
    elif family == "union":
        lo, hi = [], []
        for pr in p.reshape(-1, _UNION_STRIDE):
            # Rounded shapes are a core shape dilated by a ball, so their boxes are exact.
            kind, rot = _UNION_TYPES[int(pr[0])], Rotation.from_rotvec(pr[5:8]).as_matrix()
            ax, r = rot[:, 2], pr[4]
            if kind == "box":
                e = np.abs(rot) @ (pr[1:4] - r) + r
            elif kind == "sphere":
                e = np.full(3, pr[1])
            elif kind == "cylinder":  # radius a, half height b
                e = np.abs(ax) * (pr[2] - r) + (pr[1] - r) * np.sqrt(1 - ax**2) + r
            else:  # capsule: radius a, half length b
                e = np.abs(ax) * pr[2] + pr[1]
            lo.append(pr[8:11] - e)
            hi.append(pr[8:11] + e)
        return np.min(lo, 0), np.max(hi, 0)
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return -e, e


# ----------------------------------------------------------------------------- sampling


def _sample_params(family: str, rng: np.random.Generator) -> np.ndarray:
    u = rng.uniform
    if family == "box":  # outer half extents (3), edge rounding
        half = u(0.01, 0.08, 3)
        return np.append(half, u(0.002, min(0.006, 0.5 * half.min())))
    if family == "cylinder":  # radius, half height, edge rounding
        r, h = u(0.01, 0.05), u(0.01, 0.095)
        return np.array([r, h, u(0.002, min(0.005, 0.5 * min(r, h)))])
    if family == "sphere":  # radius
        return np.array([u(0.015, 0.06)])
    if family == "capsule":  # segment half length, radius
        return np.array([u(0.005, 0.06), u(0.01, 0.035)])
    if family == "ellipsoid":  # semi-axes
        return u(0.012, 0.08, 3)
    if family == "cone":  # core half height, bottom radius, top radius, rounding
        r1 = u(0.015, 0.05)
        return np.array([u(0.02, 0.08), r1, u(0.0, 0.6 * r1), u(0.002, 0.004)])
    if family == "torus":  # major radius, minor radius
        big_r = u(0.02, 0.06)
        return np.array([big_r, u(0.006, min(0.025, 0.5 * big_r))])
    if family == "mug":  # wall-midline radius, half height, wall, handle major/minor radius
        h = u(0.04, 0.06)
        return np.array([u(0.03, 0.05), h, u(0.004, 0.007), u(0.02, 0.7 * h), u(0.004, 0.007)])
    if family == "bottle":  # body radius, half height, shoulder z, neck z, neck radius, rounding
        h = u(0.06, 0.095)
        zs = -h + 2 * h * u(0.5, 0.7)
        zn = min(zs + u(0.015, 0.04), h - 0.015)
        return np.array([u(0.025, 0.045), h, zs, zn, u(0.009, 0.015), u(0.002, 0.004)])
    if family == "bowl":  # sphere radius, polar opening angle (rad), thickness
        return np.array([u(0.05, 0.09), np.deg2rad(u(60.0, 95.0)), u(0.004, 0.007)])
    if family == "union":
        prims, mins = [], []
        for k in range(int(rng.integers(2, 5))):
            kind = int(rng.integers(0, 4))
            dims = u(0.01, 0.04, 3)
            rounding = u(0.002, 0.5 * dims.min() if kind == 0 else 0.5 * dims[:2].min())
            # Each new centre lies inside an earlier primitive, so the union is connected.
            centre = np.zeros(3)
            if k:
                j = int(rng.integers(0, k))
                d = rng.normal(size=3)
                centre = prims[j][8:11] + 0.6 * mins[j] * d / np.linalg.norm(d)
            rotvec = Rotation.random(random_state=rng).as_rotvec()
            prims.append(np.concatenate([[kind], dims, [rounding], rotvec, centre]))
            mins.append(dims[0] if kind in (2, 3) else dims[:3 if kind == 0 else 2].min())
        return np.concatenate(prims)
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def _rescale(family: str, params: np.ndarray, s: float) -> np.ndarray:
    """Scale every length of ``params`` by s (angles, type ids, rotations untouched)."""
    scale = np.full(params.shape, s)
    if family == "bowl":
        scale[1] = 1.0
    if family == "union":
        scale.reshape(-1, _UNION_STRIDE)[:, [0, 5, 6, 7]] = 1.0
    return params * scale


def sample_spec(
    family: str, rng: np.random.Generator, random_rotation: bool = False
) -> ObjectSpec:
    """Draw a random hand-scale member of ``family``: largest extent in [0.02, 0.20] m.

    Args:
      family: one of ``FAMILIES``.
      rng: numpy Generator (consumed).
      random_rotation: rotate the object uniformly at random (default: canonical, upright on z).

    Returns:
      an ``ObjectSpec`` whose local bounding box is centred at the origin.
    """
    params = _sample_params(family, rng)
    lo, hi = local_bounds(family, params)
    extent = float(np.max(hi - lo))
    if not 0.03 <= extent <= 0.18:
        params = _rescale(family, params, float(np.clip(extent, 0.03, 0.18)) / extent)
        lo, hi = local_bounds(family, params)
    rot = Rotation.random(random_state=rng).as_matrix() if random_rotation else np.eye(3)
    return ObjectSpec(family, params, rot, -rot @ (0.5 * (lo + hi)))


def world_bounds(spec: ObjectSpec) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (lo (3,), hi (3,)) of the transformed object, meters (conservative)."""
    lo, hi = local_bounds(spec.family, spec.params)
    c, e = 0.5 * (lo + hi), 0.5 * (hi - lo)
    rot = np.asarray(spec.rotation)
    wc, we = rot @ c + np.asarray(spec.translation), np.abs(rot) @ e
    return wc - we, wc + we
