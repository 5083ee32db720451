"""Pre-grasps: hands placed around the object from random approach directions, closed in on it.

``initial_grasps`` puts the palm beyond the object's support plane facing it; with
``GraspConfig.init_close`` (the default) each hand then closes in like a pre-shaped hand: the open
hand moves along the approach until it first touches the object, and every finger flexes from
the open pose towards a closed one until it first touches (a path of ``init_close_levels`` poses
each, the crossing interpolated; one batched pass of forward kinematics and SDF queries, no
gradients). ``settle_fingers`` is the optimiser's ``final_close``: after the last step every
finger re-closes onto the surface. Meters and radians throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.spatial.transform import Rotation

from mgd_jax import hand
from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.energy import self_collision
from mgd_jax.grasps.proxies import HandProxies


def _rotation_between_frames(n_from, f_from, n_to, f_to):
    """Rotation (3, 3) taking the orthonormal frame (n, f, n x f) onto another."""
    src = jnp.stack([n_from, f_from, jnp.cross(n_from, f_from)], axis=-1)
    dst = jnp.stack([n_to, f_to, jnp.cross(n_to, f_to)], axis=-1)
    return dst @ src.T


@functools.partial(jax.jit, static_argnames=("num", "config"))
def initial_grasps(
    proxies: HandProxies,
    object_points: jax.Array,
    key: jax.Array,
    num: int,
    config: GraspConfig = GraspConfig(),
    sdf_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Pre-grasp hands around the object from random approach directions.

    For a unit direction d drawn uniformly, the palm centre is placed ``init_gap`` beyond the
    object's support plane in direction d (the farthest surface point along d), the palm normal
    points back at the object (tilted by up to ``init_tilt``), the roll about it is uniform, and
    the fingers are slightly flexed with the thumb turned towards the palm, plus jitter. With
    ``config.init_close`` the hand then moves along -d until it touches the object and each
    finger flexes until it touches (see the module docstring).

    Args:
      proxies: ``build_proxies(model)``.
      object_points: (M, 3) object surface points, meters.
      key: PRNG key.
      num: number of grasps B.
      config: the ``init_*`` fields.
      sdf_fn: object SDF (required with ``init_close``); without closing, hands that start
        inside the object (curled fingers in a concave or flat object) are backed off along d
        until no vertex is inside.

    Returns:
      pose (B, 16, 3) axis-angle radians and trans (B, 3) meters.
    """
    k_dir, k_gap, k_tilt, k_roll, k_jit = jax.random.split(key, 5)
    centre = jnp.mean(object_points, axis=0)
    d = jax.random.normal(k_dir, (num, 3))
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
    support = jnp.max((object_points - centre) @ d.T, axis=0)  # (B,)
    gap = jax.random.uniform(k_gap, (num,), minval=config.init_gap[0], maxval=config.init_gap[1])
    target = centre + d * (support + gap)[:, None]

    tilt = jax.random.normal(k_tilt, (num, 3)) * config.init_tilt / np.sqrt(3.0)
    tilt = tilt - jnp.sum(tilt * d, -1, keepdims=True) * d
    normal = -d + tilt
    normal = normal / jnp.linalg.norm(normal, axis=-1, keepdims=True)
    helper = jnp.where(jnp.abs(normal[:, :1]) < 0.9, jnp.array([1.0, 0, 0]), jnp.array([0, 1.0, 0]))
    e1 = jnp.cross(normal, helper)
    e1 = e1 / jnp.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = jnp.cross(normal, e1)
    phi = jax.random.uniform(k_roll, (num, 1), maxval=2 * np.pi)
    fwd = jnp.cos(phi) * e1 + jnp.sin(phi) * e2
    rot = jax.vmap(_rotation_between_frames, (None, None, 0, 0))(
        proxies.palm_normal, proxies.palm_forward, normal, fwd
    )
    global_orient = Rotation.from_matrix(rot).as_rotvec()
    trans = target - proxies.wrist - (rot @ (proxies.palm_center - proxies.wrist))

    base = _finger_angles(config.init_bend, config.init_thumb)
    scale = np.zeros((15, 3), np.float32)
    scale[:, 2] = config.init_jitter
    scale[:, 1] = 0.3 * config.init_jitter
    scale[12, 1] = config.init_jitter
    angles = base + scale * jax.random.uniform(k_jit, (num, 15, 3), minval=-1.0, maxval=1.0)
    reduced = proxies.reduced
    angles = jnp.clip(angles, reduced.pose_lower, reduced.pose_upper)
    fingers = hand.from_anatomical(reduced, angles)
    pose = jnp.concatenate([global_orient[:, None], fingers], axis=1)
    if config.init_close:
        if sdf_fn is None:
            raise ValueError("init_close needs the object's SDF")
        return _close_in(proxies, global_orient, angles, trans, d, sdf_fn, config)
    if sdf_fn is not None:

        def back_off(_, t):
            verts = hand.forward(reduced, pose, t).vertices
            depth = jnp.max(jax.nn.relu(-jax.vmap(sdf_fn)(verts)), axis=-1)
            return t + d * jnp.where(depth > 0, depth + 0.002, 0.0)[:, None]

        trans = jax.lax.fori_loop(0, 4, back_off, trans)
    return pose, trans


def _finger_angles(bend, thumb) -> np.ndarray:
    """(15, 3) anatomical (twist, spread, bend) angles: every finger's MCP, PIP, DIP bend, and
    the thumb's CMC spread and bend, MCP and IP bend."""
    base = np.zeros((15, 3), np.float32)
    base[:12, 2] = np.tile(bend, 4)
    base[12, 1], base[12, 2], base[13, 2], base[14, 2] = thumb
    return base


def _first_contact(values: jax.Array, margin: float) -> tuple[jax.Array, jax.Array]:
    """Where a path first comes within ``margin`` of the surface.

    Args:
      values: (..., L) the lowest signed distance at L poses along a path, meters.
      margin: meters.

    Returns:
      (...,) the fractional level in [0, L - 1] where ``values`` first crosses ``margin``
      (linear between the two poses around the crossing; L - 1 without a crossing), and
      (...,) whether it crossed.
    """
    num = values.shape[-1]
    inside = values <= margin
    hit = jnp.any(inside, axis=-1)
    first = jnp.argmax(inside, axis=-1)  # the first pose at or beyond the margin
    before = jnp.maximum(first - 1, 0)
    v0 = jnp.take_along_axis(values, before[..., None], -1)[..., 0]
    v1 = jnp.take_along_axis(values, first[..., None], -1)[..., 0]
    frac = jnp.clip((v0 - margin) / jnp.maximum(v0 - v1, 1e-9), 0.0, 1.0)
    level = jnp.where(first > 0, before + frac, 0.0)
    return jnp.where(hit, level, num - 1.0), hit


# Anatomical rows follow MANO joints 1..15 (index 0-2, middle 3-5, pinky 6-8, ring 9-11, thumb
# 12-14); pads and ``vertex_finger`` count thumb, index, middle, ring, pinky.
_ROW_FINGER = np.array([1, 1, 1, 2, 2, 2, 4, 4, 4, 3, 3, 3, 0, 0, 0])


def _tested_ids(proxies, config):
    """Reduced-model vertices that the closing tests against the SDF."""
    return jnp.concatenate([proxies.energy_ids[: config.num_energy_vertices],
                            proxies.pad_ids.reshape(-1), proxies.palm_ids])  # fmt: skip


def _close_in(proxies, global_orient, open_angles, trans, d, sdf_fn, config):
    """Approach along -d until the open hand touches the object, then close each finger until
    it touches (``GraspConfig.init_close``). Returns pose (B, 16, 3) and trans (B, 3)."""
    reduced = proxies.reduced
    num = trans.shape[0]
    levels = config.init_close_levels
    tested = _tested_ids(proxies, config)
    # Approach: translate the open hand along -d in equal steps; stop at the first contact. It
    # starts ``init_close_reach`` further out (a thumb or curled finger may reach beyond the
    # palm) and may go that far beyond the palm's start.
    open_pose = jnp.concatenate(
        [global_orient[:, None], hand.from_anatomical(reduced, open_angles)], axis=1)
    back, reach = config.init_close_reach, config.init_gap[1] + config.init_close_reach
    ts = jnp.linspace(-back, reach, levels)
    verts = hand.forward(reduced, open_pose, trans).vertices[:, tested]  # (B, V, 3)
    path = verts[:, None] - d[:, None, None] * ts[None, :, None, None]  # (B, L, V, 3)
    values = jnp.min(sdf_fn(path.reshape(-1, 3)).reshape(num, levels, -1), axis=-1)
    level, _ = _first_contact(values, config.init_close_margin)
    trans = trans - d * (ts[0] + level * (ts[1] - ts[0]))[:, None]
    angles = _close_fingers(proxies, global_orient, open_angles, trans, sdf_fn, config, 0.5)
    pose = jnp.concatenate([global_orient[:, None], hand.from_anatomical(reduced, angles)], axis=1)
    return pose, trans


def _close_fingers(proxies, global_orient, angles, trans, sdf_fn, config, untouched):
    """Flex each finger from ``angles`` (B, 15, 3) towards the closed pose until it touches
    (the reduced hand's tested vertices within ``init_close_margin``).

    Every finger moves along its own path of ``init_close_levels`` poses; finger f's vertices
    move with finger f only, so one pass of forward kinematics serves all five. A finger that
    touches nowhere on its path ends ``untouched`` of the way (0: where it was, 1: closed).
    Returns the new (B, 15, 3) anatomical angles.
    """
    tested = _tested_ids(proxies, config)
    target = _finger_angles(config.init_close_bend, config.init_close_thumb)
    closed = angles.at[..., 2].max(target[:, 2])  # bend further, never back
    closed = closed.at[:, 12, 1].max(target[12, 1])  # the thumb swings across the palm
    closed = jnp.clip(closed, proxies.reduced.pose_lower, proxies.reduced.pose_upper)
    amount, hit = _finger_contacts(
        proxies.reduced, tested, proxies.vertex_finger[tested], global_orient, angles, closed,
        trans, sdf_fn, config.init_close_levels, config.init_close_margin)  # fmt: skip
    amount = jnp.where(hit, amount, untouched)[:, _ROW_FINGER][..., None]  # (B, 15, 1)
    return angles + amount * (closed - angles)


def settle_fingers(proxies, global_orient, angles, trans, sdf_fn, config):
    """``final_close``: every finger re-closes along a path of ``final_levels`` poses from
    ``final_open`` rad less flexed than ``angles`` to as much more, until a vertex of the full
    hand mesh comes within ``final_margin`` of the surface: fingers a little off the surface
    flex onto it, fingers that sank in open up to it. A finger that touches nowhere on that
    path keeps its angles, and so does a hand whose fingers would then overlap."""
    lower, upper = proxies.reduced.pose_lower, proxies.reduced.pose_upper
    opened = jnp.clip(angles.at[..., 2].add(-config.final_open), lower, upper)
    closed = jnp.clip(angles.at[..., 2].add(config.final_open), lower, upper)
    amount, hit = _finger_contacts(
        proxies.full, slice(None), proxies.full_vertex_finger, global_orient, opened, closed,
        trans, sdf_fn, config.final_levels, config.final_margin)  # fmt: skip
    settled = opened + amount[:, _ROW_FINGER][..., None] * (closed - opened)
    settled = jnp.where(hit[:, _ROW_FINGER][..., None], settled, angles)
    # A hand whose fingers would cross each other (e.g. the thumb swinging into the index)
    # keeps its optimised fingers.
    def overlap(a):
        pose = jnp.concatenate([global_orient[:, None], hand.from_anatomical(proxies.reduced, a)],
                               axis=1)  # fmt: skip
        joints = hand.forward(proxies.reduced, pose, trans).joints
        return jax.vmap(self_collision, (None, 0))(proxies, joints)

    worse = overlap(settled) > overlap(angles) + 1e-4
    return jnp.where(worse[:, None, None], angles, settled)


def _finger_contacts(model, tested, finger, global_orient, start, end, trans, sdf_fn, levels,
                     margin):  # fmt: skip
    """Per finger, the first contact on the straight path of ``levels`` poses from the
    anatomical angles ``start`` to ``end`` (B, 15, 3): (B, 5) the fraction of the path where
    the finger's ``tested`` vertices (labelled ``finger``) first come within ``margin`` of the
    surface, and (B, 5) whether they do at all."""
    num = trans.shape[0]
    s = jnp.linspace(0.0, 1.0, levels)
    path = start[:, None] + s[None, :, None, None] * (end - start)[:, None]  # (B, L, 15, 3)
    poses = jnp.concatenate([jnp.broadcast_to(global_orient[:, None, None], (num, levels, 1, 3)),
                             hand.from_anatomical(model, path)], axis=2)  # fmt: skip
    verts = hand.forward(model, poses.reshape(num * levels, 16, 3),
                         jnp.repeat(trans, levels, axis=0)).vertices[:, tested]  # fmt: skip
    dist = sdf_fn(verts.reshape(-1, 3)).reshape(num, levels, -1)
    per_finger = jnp.stack([jnp.min(jnp.where(finger == f, dist, jnp.inf), axis=-1)
                            for f in range(5)], axis=1)  # (B, 5, L)  # fmt: skip
    level, hit = _first_contact(per_finger, margin)
    return level / (levels - 1), hit
