"""Batched grasp synthesis: pre-grasp initialisation and annealed Adam over (pose, trans).

The optimiser works on (global axis-angle (3,), finger angles in the anatomical frames (15, 3),
translation (3,)) per grasp. Each step takes an Adam step with a cosine-decayed step size per
parameter group, adds Gaussian jitter whose temperature decays to zero (an annealing schedule
that lets hands slide out of poor local minima early on), grows the penetration weights from
``penetration_start`` to full, and clamps finger angles into the anatomical limits. All
iterations run in one jitted ``lax.scan``; grasps are independent (energies are ``vmap``ped),
so a batch is one call. The best iterate of the final phase (full weights, no jitter) is
returned.

The object is given by ``sdf_fn: (N, 3) -> (N,)`` (meters, negative inside). Pass it wrapped as
``jax.tree_util.Partial`` (``procedural_sdf(spec)``, ``grid_sdf(grid)``) so that its arrays are
traced arguments and one compilation serves every object of a family; a plain function is
wrapped here and compiles once per function object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.spatial.transform import Rotation

from mgd_jax import hand
from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.energy import TERMS, energies, weighted_total
from mgd_jax.grasps.proxies import HandProxies, build_proxies
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sdf_grid


@flax.struct.dataclass
class GraspResult:
    """Optimised grasps. B grasps; energies are those of the returned parameters."""

    pose: jax.Array  # (B, 16, 3) MANO axis-angle, radians
    trans: jax.Array  # (B, 3) MANO translation, meters
    terms: dict[str, jax.Array]  # {term: (B,)} unweighted energies (see energy.TERMS)
    energy: jax.Array  # (B,) weighted total at full weights
    history: jax.Array  # (steps,) mean weighted total per iteration (at that step's weights)


def procedural_sdf(spec: procedural.ObjectSpec) -> jax.tree_util.Partial:
    """``points (N, 3) -> (N,)`` SDF of a procedural object, as a pytree (traced under jit)."""
    return jax.tree_util.Partial(procedural.sdf, spec)


def grid_sdf(grid: sdf_grid.SdfGrid) -> jax.tree_util.Partial:
    """``points (N, 3) -> (N,)`` trilinear SDF of a mesh grid, as a pytree (traced under jit)."""
    return jax.tree_util.Partial(sdf_grid.lookup, grid)


def _as_partial(sdf_fn: Callable) -> jax.tree_util.Partial:
    return sdf_fn if isinstance(sdf_fn, jax.tree_util.Partial) else jax.tree_util.Partial(sdf_fn)


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
    the fingers are slightly flexed with the thumb turned towards the palm, plus jitter.

    Args:
      proxies: ``build_proxies(model)``.
      object_points: (M, 3) object surface points, meters.
      key: PRNG key.
      num: number of grasps B.
      config: the ``init_*`` fields.
      sdf_fn: optional object SDF; hands that start inside the object (curled fingers in a
        concave or flat object) are then backed off along d until no vertex is inside.

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

    mcp, pip, dip = config.init_bend
    spread, t_cmc, t_mcp, t_ip = config.init_thumb
    base = np.zeros((15, 3), np.float32)
    base[:12, 2] = np.tile([mcp, pip, dip], 4)
    base[12, 1], base[12, 2], base[13, 2], base[14, 2] = spread, t_cmc, t_mcp, t_ip
    scale = np.zeros((15, 3), np.float32)
    scale[:, 2] = config.init_jitter
    scale[:, 1] = 0.3 * config.init_jitter
    scale[12, 1] = config.init_jitter
    angles = base + scale * jax.random.uniform(k_jit, (num, 15, 3), minval=-1.0, maxval=1.0)
    reduced = proxies.reduced
    angles = jnp.clip(angles, reduced.pose_lower, reduced.pose_upper)
    fingers = hand.from_anatomical(reduced, angles)
    pose = jnp.concatenate([global_orient[:, None], fingers], axis=1)
    if sdf_fn is not None:

        def back_off(_, t):
            verts = hand.forward(reduced, pose, t).vertices
            depth = jnp.max(jax.nn.relu(-jax.vmap(sdf_fn)(verts)), axis=-1)
            return t + d * jnp.where(depth > 0, depth + 0.002, 0.0)[:, None]

        trans = jax.lax.fori_loop(0, 4, back_off, trans)
    return pose, trans


def _to_params(model: HandModel, pose: jax.Array, trans: jax.Array) -> dict[str, jax.Array]:
    return {"rot": pose[:, 0], "fingers": hand.to_anatomical(model, pose), "trans": trans}


def _to_pose(model: HandModel, params: dict[str, jax.Array]) -> jax.Array:
    fingers = hand.from_anatomical(model, params["fingers"])
    return jnp.concatenate([params["rot"][:, None], fingers], axis=1)


def _batch_terms(proxies, params, sdf_fn, object_points, config):
    pose = _to_pose(proxies.reduced, params)
    fn = jax.vmap(energies, (None, 0, 0, None, None, None))
    return fn(proxies, pose, params["trans"], sdf_fn, object_points, config)


@functools.partial(jax.jit, static_argnames=("config", "steps"))
def _run(
    proxies: HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: jax.tree_util.Partial,
    object_points: jax.Array,
    key: jax.Array,
    config: GraspConfig,
    steps: int,
    refining: jax.Array,
) -> GraspResult:
    # ``refining`` is traced, so synthesis and refinement share one compiled program.
    model = proxies.reduced
    params = _to_params(model, pose, trans)
    lr_scale = jnp.where(refining, config.refine_lr_scale, 1.0)
    lrs = {"rot": config.lr_rotation, "fingers": config.lr_fingers, "trans": config.lr_translation}
    noise = {"rot": config.noise_rotation, "fingers": config.noise_fingers,
             "trans": config.noise_translation}  # fmt: skip
    lower, upper = model.pose_lower, model.pose_upper
    noise_steps = jnp.where(refining, 0.0, config.noise_until * steps)
    ramp_steps = jnp.where(refining, 0.0, config.penetration_ramp * steps)
    settled = jnp.ceil(jnp.maximum(noise_steps, ramp_steps))  # full weights, no jitter from here
    schedule = optax.cosine_decay_schedule(1.0, max(steps, 1), config.lr_final_fraction)
    adam = optax.scale_by_adam()

    def loss(p, pen_scale):
        terms = _batch_terms(proxies, p, sdf_fn, object_points, config)
        total = weighted_total(terms, config, pen_scale)
        return jnp.sum(total), total

    def step(carry, i):
        p, opt_state, best_p, best_e = carry
        start = config.penetration_start
        ramp = jnp.minimum(1.0, start + (1.0 - start) * i / jnp.maximum(ramp_steps, 1.0))
        pen_scale = jnp.where(ramp_steps > 0, ramp, 1.0)
        (_, total), grads = jax.value_and_grad(loss, has_aux=True)(p, pen_scale)
        # Keep the lowest-energy iterate of the final phase (same weights throughout it).
        better = (i >= settled) & (total < best_e)
        best_p = jax.tree.map(lambda b, x: jnp.where(_bcast(better, x), x, b), best_p, p)
        best_e = jnp.where(better, total, best_e)
        updates, opt_state = adam.update(grads, opt_state)
        cooling = jnp.maximum(0.0, 1.0 - i / jnp.maximum(noise_steps, 1.0))
        temp = jnp.where(noise_steps > 0, cooling, 0.0)
        k = jax.random.fold_in(key, i)
        keys = dict(zip(("rot", "fingers", "trans"), jax.random.split(k, 3)))
        lr = lr_scale * schedule(i)
        p = {
            name: p[name] - lr * lrs[name] * updates[name]
            + temp * noise[name] * jax.random.normal(keys[name], p[name].shape)
            for name in p
        }
        if config.project_limits:
            p["fingers"] = jnp.clip(p["fingers"], lower, upper)
        return (p, opt_state, best_p, best_e), jnp.mean(total)

    inf = jnp.full(trans.shape[:1], jnp.inf, trans.dtype)
    carry = (params, adam.init(params), params, inf)
    (params, _, best_p, best_e), history = jax.lax.scan(step, carry, jnp.arange(steps))
    # The last iterate was not scored inside the loop.
    terms = _batch_terms(proxies, params, sdf_fn, object_points, config)
    last_e = weighted_total(terms, config)
    better = last_e < best_e
    params = jax.tree.map(lambda b, x: jnp.where(_bcast(better, x), x, b), best_p, params)
    terms = _batch_terms(proxies, params, sdf_fn, object_points, config)
    return GraspResult(
        pose=_to_pose(model, params),
        trans=params["trans"],
        terms=terms,
        energy=weighted_total(terms, config),
        history=history,
    )


def _bcast(mask: jax.Array, x: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (x.ndim - 1))


def _object_points(object_points) -> jax.Array:
    if object_points is None:
        return jnp.zeros((0, 3), jnp.float32)
    pts = jnp.asarray(object_points, jnp.float32)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"object_points must be (M, 3), got {pts.shape}")
    return pts


def optimize(
    model: HandModel | HandProxies,
    sdf_fn: Callable[[jax.Array], jax.Array],
    object_points: jax.Array,
    key: jax.Array,
    num_grasps: int,
    config: GraspConfig = GraspConfig(),
) -> GraspResult:
    """Synthesise ``num_grasps`` grasps of one object from random pre-grasps.

    Args:
      model: the hand model, or its ``build_proxies(model)`` (reuse it across calls).
      sdf_fn: ``points (N, 3) -> (N,)`` signed distance of the object, meters, negative inside
        (``procedural_sdf(spec)``, ``grid_sdf(grid)`` or any JAX-traceable function).
      object_points: (M, 3) points on the object surface, meters (a few hundred suffice); they
        place the initial hands and are tested against the hand's capsules.
      key: PRNG key; the same key gives the same grasps.
      num_grasps: B.
      config: weights and schedule.

    Returns:
      ``GraspResult`` with (B, 16, 3) poses, (B, 3) translations and per-grasp energies.
    """
    proxies = model if isinstance(model, HandProxies) else build_proxies(model)
    pts = _object_points(object_points)
    if pts.shape[0] == 0:
        raise ValueError("optimize needs object surface points to place the initial hands")
    k_init, k_run = jax.random.split(key)
    sdf_fn = _as_partial(sdf_fn)
    pose, trans = initial_grasps(proxies, pts, k_init, num_grasps, config, sdf_fn)
    return _run(proxies, pose, trans, sdf_fn, pts, k_run, config, config.steps, jnp.array(False))


def refine_with_sdf(
    model: HandModel | HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: Callable[[jax.Array], jax.Array],
    steps: int = 100,
    object_points: jax.Array | None = None,
    config: GraspConfig = GraspConfig(),
) -> GraspResult:
    """Refine given grasps (e.g. generated samples) on an object by the same energy.

    No jitter, full penetration weights, step sizes ``refine_lr_scale`` times the optimiser's;
    the lowest-energy iterate per grasp is returned, so energies never increase.

    Args:
      model: the hand model or its proxies.
      pose: (B, 16, 3) MANO axis-angle, radians.
      trans: (B, 3) meters.
      sdf_fn: ``points (N, 3) -> (N,)`` object SDF, meters.
      steps: Adam iterations.
      object_points: optional (M, 3) object surface points (enables the object-penetration
        term and the wrench centre; without them the contact centre is used).
      config: weights.

    Returns:
      ``GraspResult`` (``energy`` <= the input grasps' energy, per grasp).
    """
    proxies = model if isinstance(model, HandProxies) else build_proxies(model)
    pose = jnp.asarray(pose, jnp.float32)
    trans = jnp.asarray(trans, jnp.float32)
    if pose.ndim != 3 or pose.shape[1:] != (16, 3) or trans.shape != (pose.shape[0], 3):
        raise ValueError(f"pose must be (B, 16, 3) and trans (B, 3), got {pose.shape}, "
                         f"{trans.shape}")  # fmt: skip
    key = jax.random.key(0)  # unused: refinement has no jitter
    return _run(proxies, pose, trans, _as_partial(sdf_fn), _object_points(object_points), key,
                config, steps, jnp.array(True))  # fmt: skip


def evaluate_energies(
    model: HandModel | HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: Callable[[jax.Array], jax.Array],
    object_points: jax.Array | None = None,
    config: GraspConfig = GraspConfig(),
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Energies of given grasps: ({term: (B,)}, (B,) weighted total at full weights)."""
    proxies = model if isinstance(model, HandProxies) else build_proxies(model)
    terms = _energies_jit(proxies, jnp.asarray(pose, jnp.float32), jnp.asarray(trans, jnp.float32),
                          _as_partial(sdf_fn), _object_points(object_points), config)  # fmt: skip
    return terms, weighted_total(terms, config)


@functools.partial(jax.jit, static_argnames=("config",))
def _energies_jit(proxies, pose, trans, sdf_fn, object_points, config):
    params = _to_params(proxies.reduced, pose, trans)
    return _batch_terms(proxies, params, sdf_fn, object_points, config)


__all__ = [
    "TERMS",
    "GraspResult",
    "evaluate_energies",
    "grid_sdf",
    "initial_grasps",
    "optimize",
    "procedural_sdf",
    "refine_with_sdf",
]
