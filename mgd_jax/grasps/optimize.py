"""Batched grasp synthesis: pre-grasps that close in on the object, and Adam over (pose, trans).

Pre-grasps (``initial_grasps``) come from random approach directions: the palm faces the object
from beyond its support plane. With ``GraspConfig.init_close`` (the default) each then closes
in like a pre-shaped hand: the open hand moves along the approach until it first touches the
object, and every finger flexes from the open pose towards a closed one until it first touches
(a path of ``init_close_levels`` poses each, the crossing interpolated; one batched pass of
forward kinematics and SDF queries, no gradients).

The optimiser works on (global axis-angle (3,), finger angles in the anatomical frames (15, 3),
translation (3,)) per grasp. Each step takes an Adam step with a cosine-decayed step size per
parameter group, adds Gaussian jitter whose temperature decays to zero (an annealing schedule
that lets hands slide out of poor local minima early on; the v1 setting), grows the penetration
weights from ``penetration_start`` to full, and clamps finger angles into the anatomical limits.
All iterations run in one jitted ``lax.scan``; grasps are independent (energies are
``vmap``ped), so a batch is one call. With ``oversample`` k, k times as many pre-grasps are made
and only the lowest-energy ones are carried on after ``prune_at`` of the steps. The best iterate
of the final phase (full weights, no jitter) is returned; with ``final_close`` every finger that
no longer touches the object is then flexed onto it again (synthesis only).

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
import optax

from mgd_jax import hand
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS, GraspConfig
from mgd_jax.grasps.energy import TERMS, energies, weighted_total
from mgd_jax.grasps.pregrasp import initial_grasps, settle_fingers
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


def proxies_for(model: HandModel | HandProxies, config: GraspConfig) -> HandProxies:
    """``model`` itself if it is already proxies, else ``build_proxies`` with as many energy
    vertices as ``config`` tests (build them once and pass them in when calling repeatedly)."""
    if isinstance(model, HandProxies):
        return model
    if config.num_energy_vertices is None:
        return build_proxies(model)
    return build_proxies(model, num_energy_vertices=config.num_energy_vertices)


def _as_partial(sdf_fn: Callable) -> jax.tree_util.Partial:
    return sdf_fn if isinstance(sdf_fn, jax.tree_util.Partial) else jax.tree_util.Partial(sdf_fn)


def _to_params(model: HandModel, pose: jax.Array, trans: jax.Array) -> dict[str, jax.Array]:
    return {"rot": pose[:, 0], "fingers": hand.to_anatomical(model, pose), "trans": trans}


def _to_pose(model: HandModel, params: dict[str, jax.Array]) -> jax.Array:
    fingers = hand.from_anatomical(model, params["fingers"])
    return jnp.concatenate([params["rot"][:, None], fingers], axis=1)


def _batch_terms(proxies, params, sdf_fn, object_points, config):
    pose = _to_pose(proxies.reduced, params)
    fn = jax.vmap(energies, (None, 0, 0, None, None, None))
    return fn(proxies, pose, params["trans"], sdf_fn, object_points, config)


@functools.partial(jax.jit, static_argnames=("config", "steps", "num_keep"))
def run_adam(
    proxies: HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: jax.tree_util.Partial,
    object_points: jax.Array,
    key: jax.Array,
    config: GraspConfig,
    steps: int,
    refining: jax.Array,
    num_keep: int | None = None,
) -> GraspResult:
    """The optimiser loop on B grasps of one object (``optimize`` and ``refine_with_sdf`` call it).

    Args:
      proxies: the hand's proxies.
      pose: (B, 16, 3) start poses, axis-angle radians; trans: (B, 3) meters.
      sdf_fn: the object's SDF as a ``jax.tree_util.Partial``.
      object_points: (M, 3) surface points, meters (M may be 0).
      key: PRNG key of the jitter.
      config: weights and schedule; steps: iterations.
      refining: traced bool: refinement (no jitter, full weights, ``refine_lr_scale`` step sizes,
        ``refine_settle`` instead of ``final_close``), so synthesis and refinement share one
        compiled program.
      num_keep: with fewer than B, only the lowest-energy ``num_keep`` go on after ``prune_at``.

    Returns:
      ``GraspResult`` of ``num_keep`` (or B) grasps.
    """
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
    adam = optax.scale_by_adam(eps=config.adam_eps)

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
    num_all = trans.shape[0]
    if num_keep is not None and num_keep < num_all:
        # Oversampled start: after ``prune_at`` of the steps keep the ``num_keep`` candidates of
        # lowest energy (at full weights) and carry on with those only.
        first = min(max(int(round(config.prune_at * steps)), 0), steps)
        carry, early = jax.lax.scan(step, carry, jnp.arange(first))
        terms = _batch_terms(proxies, carry[0], sdf_fn, object_points, config)
        keep = jnp.argsort(weighted_total(terms, config))[:num_keep]
        carry = jax.tree.map(lambda x: x[keep] if x.ndim and x.shape[0] == num_all else x, carry)
        carry, late = jax.lax.scan(step, carry, jnp.arange(first, steps))
        history = jnp.concatenate([early, late])
    else:
        carry, history = jax.lax.scan(step, carry, jnp.arange(steps))
    params, _, best_p, best_e = carry
    # The last iterate was not scored inside the loop.
    terms = _batch_terms(proxies, params, sdf_fn, object_points, config)
    last_e = weighted_total(terms, config)
    better = last_e < best_e
    params = jax.tree.map(lambda b, x: jnp.where(_bcast(better, x), x, b), best_p, params)
    if config.final_close or config.refine_settle:
        settled = settle_fingers(proxies, params["rot"], params["fingers"], params["trans"],
                                  sdf_fn, config)  # fmt: skip
        use = jnp.where(refining, config.refine_settle, config.final_close)
        params["fingers"] = jnp.where(use, settled, params["fingers"])
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

    ``num_grasps * config.oversample`` pre-grasps are made (closed in on the object with
    ``config.init_close``), the ``num_grasps`` of lowest energy after ``prune_at`` of the steps
    are optimised on, and (``final_close``) their fingers are flexed back onto the surface.

    Args:
      model: the hand model, or its proxies (``proxies_for(model, config)``; reuse them across
        calls).
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
    proxies = proxies_for(model, config)
    pts = _object_points(object_points)
    if pts.shape[0] == 0:
        raise ValueError("optimize needs object surface points to place the initial hands")
    k_init, k_run = jax.random.split(key)
    sdf_fn = _as_partial(sdf_fn)
    num_init = num_grasps * config.oversample
    pose, trans = initial_grasps(proxies, pts, k_init, num_init, config, sdf_fn)
    return run_adam(proxies, pose, trans, sdf_fn, pts, k_run, config, config.steps, jnp.array(False),
                num_grasps)  # fmt: skip


def refine_with_sdf(
    model: HandModel | HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: Callable[[jax.Array], jax.Array],
    steps: int = DEFAULT_REFINE_STEPS,
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
    proxies = proxies_for(model, config)
    pose = jnp.asarray(pose, jnp.float32)
    trans = jnp.asarray(trans, jnp.float32)
    if pose.ndim != 3 or pose.shape[1:] != (16, 3) or trans.shape != (pose.shape[0], 3):
        raise ValueError(f"pose must be (B, 16, 3) and trans (B, 3), got {pose.shape}, "
                         f"{trans.shape}")  # fmt: skip
    key = jax.random.key(0)  # unused: refinement has no jitter
    return run_adam(proxies, pose, trans, _as_partial(sdf_fn), _object_points(object_points), key,
                config, steps, jnp.array(True), pose.shape[0])  # fmt: skip


def evaluate_energies(
    model: HandModel | HandProxies,
    pose: jax.Array,
    trans: jax.Array,
    sdf_fn: Callable[[jax.Array], jax.Array],
    object_points: jax.Array | None = None,
    config: GraspConfig = GraspConfig(),
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Energies of given grasps: ({term: (B,)}, (B,) weighted total at full weights)."""
    proxies = proxies_for(model, config)
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
    "proxies_for",
    "refine_with_sdf",
]
