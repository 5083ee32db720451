"""Grasp energy terms for one hand and one object given by a signed distance function.

Every term is a non-negative scalar for one grasp (``jax.vmap`` over grasps); distances are in
meters, joint-limit violations in radians. The object is ``sdf_fn: (N, 3) points -> (N,)``
signed distances (meters, negative inside), plus (M, 3) points on its surface.

Terms (``TERMS``):
  contact             sum over fingers of the pad's (softmin) distance to the surface, weighted
                      per finger (``GraspConfig.finger_contact``)
  palm_contact        (softmin) distance of the palm centre to the surface
  hand_penetration    sum over hand surface vertices of their depth inside the object beyond
                      ``penetration_tolerance`` (soft skin)
  object_penetration  sum over object surface points of their depth inside the hand's capsules
  joint_limits        sum of anatomical joint-limit violations (``hand.limit_violation``)
  self_collision      overlap of sphere proxies on different fingers, and of finger spheres
                      with the palm capsules
  wrench              squared net wrench of unit forces along the inward contact normals, the
                      thumb pushing as hard as the other fingers together (thumb opposition)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from mgd_jax import hand
from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.proxies import HandProxies

SdfFn = Callable[[jax.Array], jax.Array]

TERMS = ("contact", "palm_contact", "hand_penetration", "object_penetration", "joint_limits",
         "self_collision", "wrench")  # fmt: skip


def _unit(v: jax.Array, eps: float = 1e-9) -> jax.Array:
    return v / jnp.sqrt(jnp.sum(v * v, axis=-1, keepdims=True) + eps)


def capsules(proxies: HandProxies, joints: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posed capsule segments: starts (C, 3) and ends (C, 3), meters, from (21, 3) joints."""
    a = joints[proxies.capsule_a]
    b = joints[proxies.capsule_b]
    b = b - proxies.capsule_shorten[:, None] * _unit(b - a)
    return a, b


def _segment_distance(p: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """Distances (N, C) from points (N, 3) to segments a, b (C, 3).

    Written with (N, 3) x (3, C) products: XLA:CPU otherwise fuses the (N, C, 3) broadcast
    into a loop that recomputes the posed segments per element (10x slower).
    """
    ab = b - a
    len_sq = jnp.sum(ab * ab, -1) + 1e-12
    ap_ab = p @ ab.T - jnp.sum(a * ab, -1)  # (N, C)
    ap_sq = jnp.sum(p * p, -1)[:, None] - 2.0 * (p @ a.T) + jnp.sum(a * a, -1)
    t = jnp.clip(ap_ab / len_sq, 0.0, 1.0)
    d_sq = ap_sq - 2.0 * t * ap_ab + t * t * len_sq
    return jnp.sqrt(jnp.maximum(d_sq, 0.0) + 1e-12)


def inside_hand_depth(proxies: HandProxies, joints: jax.Array, points: jax.Array) -> jax.Array:
    """Depth (N,) of points (N, 3) inside the hand's capsule proxy, meters (0 outside)."""
    a, b = capsules(proxies, joints)
    d = _segment_distance(points, a, b) - proxies.capsule_radius
    return jax.nn.relu(-jnp.min(d, axis=-1))


def self_collision(proxies: HandProxies, joints: jax.Array) -> jax.Array:
    """Overlap (meters, summed) of finger spheres on different fingers and with the palm."""
    a, b = capsules(proxies, joints)
    cap, t = proxies.sphere_capsule, proxies.sphere_t[:, None]
    centres = a[cap] + t * (b[cap] - a[cap])
    radii = proxies.capsule_radius[cap]
    diff = centres[:, None] - centres[None]
    dist = jnp.sqrt(jnp.sum(diff * diff, -1) + 1e-12)
    between = jnp.sum(proxies.sphere_pairs * jax.nn.relu(radii[:, None] + radii[None] - dist))
    # Spheres beyond each finger's first bone against the palm capsules.
    palm = proxies.capsule_finger == 0
    distal = (cap % 3) != 0
    d_palm = _segment_distance(centres, a, b) - proxies.capsule_radius - radii[:, None]
    into_palm = jnp.sum(jax.nn.relu(-d_palm) * palm[None] * distal[:, None])
    return between + into_palm


def _softmin_contact(points, values, grads, temperature, depth):
    """Softmin over K candidates of |sdf + depth|: distance () meters, contact point (3,),
    unit inward normal (3,)."""
    dist = jnp.abs(values + depth)
    w = jax.nn.softmax(-dist / temperature)
    return jnp.sum(w * dist), w @ points, -_unit(w @ grads)


def energies(
    proxies: HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: SdfFn,
    object_points: jax.Array,
    config: GraspConfig,
    terms: tuple[str, ...] = TERMS,
) -> dict[str, jax.Array]:
    """All energy terms of one grasp.

    Args:
      proxies: ``build_proxies(model)``.
      pose: (16, 3) MANO axis-angle, radians.
      trans: (3,) MANO translation, meters.
      sdf_fn: (N, 3) -> (N,) signed distance of the object, meters, negative inside.
      object_points: (M, 3) points on the object surface, meters (M may be 0).
      config: weights of the per-finger contact and the wrench.
      terms: the terms to compute (static); the others are returned as 0 and cost nothing
        (used to profile the terms one by one).

    Returns:
      ``{term: () float}`` for every name in ``TERMS`` (unweighted, >= 0).
    """
    posed = hand.forward(proxies.reduced, pose, trans)
    verts, joints = posed.vertices, posed.joints
    pads = verts[proxies.pad_ids]  # (5, K, 3)
    palm = verts[proxies.palm_ids]  # (Kp, 3)
    surface = verts[proxies.energy_ids[: config.num_energy_vertices]]  # (Ve, 3)
    num_f, k = pads.shape[:2]
    contact_pts = jnp.concatenate([pads.reshape(-1, 3), palm])
    values, pullback = jax.vjp(sdf_fn, contact_pts)
    (grads,) = pullback(jnp.ones_like(values))
    pad_v, palm_v = values[: num_f * k].reshape(num_f, k), values[num_f * k :]
    pad_g = grads[: num_f * k].reshape(num_f, k, 3)
    tau = config.contact_temperature
    depth = config.contact_depth
    dist, x, n = jax.vmap(_softmin_contact, (0, 0, 0, None, None))(pads, pad_v, pad_g, tau, depth)
    weights = jnp.asarray(config.finger_contact, dist.dtype)
    palm_d = jnp.abs(palm_v + depth)
    palm_w = jax.nn.softmax(-palm_d / tau)
    all_values = jnp.concatenate([values, sdf_fn(surface)])
    depth_hand = jax.nn.relu(-all_values - config.penetration_tolerance)

    # Wrench of unit forces along the inward normals: the thumb balances the other fingers.
    centre = jnp.mean(object_points, axis=0) if object_points.shape[0] else jnp.mean(x, axis=0)
    force = jnp.concatenate([jnp.sum(weights[1:])[None], weights[1:]])
    total = 2.0 * jnp.sum(weights[1:])
    net_force = jnp.sum(force[:, None] * n, axis=0) / total
    torque = jnp.sum(force[:, None] * jnp.cross(x - centre, n), axis=0) / total
    wrench = jnp.sum(net_force**2) + jnp.sum((torque / config.wrench_length) ** 2)

    if object_points.shape[0]:
        tested = object_points[: config.num_object_points]
        obj_pen = jnp.sum(inside_hand_depth(proxies, joints, tested))
    else:
        obj_pen = jnp.zeros((), verts.dtype)
    out = {
        "contact": jnp.sum(weights * dist),
        "palm_contact": jnp.sum(palm_w * palm_d),
        "hand_penetration": jnp.sum(depth_hand),
        "object_penetration": obj_pen,
        "joint_limits": jnp.sum(hand.limit_violation(proxies.reduced, pose)),
        "self_collision": self_collision(proxies, joints),
        "wrench": wrench,
    }
    # Terms left out are constants: XLA drops their computation (and their gradients).
    return {k: v if k in terms else jnp.zeros((), v.dtype) for k, v in out.items()}


def weighted_total(
    terms: dict[str, jax.Array], config: GraspConfig, penetration_scale: float | jax.Array = 1.0
) -> jax.Array:
    """Weighted sum of the terms (any batch shape); penetration weights times the scale."""
    pen = penetration_scale
    return (
        config.w_contact * terms["contact"]
        + config.w_palm * terms["palm_contact"]
        + pen * config.w_hand_penetration * terms["hand_penetration"]
        + pen * config.w_object_penetration * terms["object_penetration"]
        + config.w_joint_limits * terms["joint_limits"]
        + config.w_self_collision * terms["self_collision"]
        + config.w_wrench * terms["wrench"]
    )
