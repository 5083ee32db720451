"""Physics-guided conditional sampling: the grasp energy steers the sampler's last steps.

    gen.conditional(points_m, physics=PhysicsGuidance(scale=0.05), grids=grids, grid_rows=rows)
    python -m mgd_jax.sample --checkpoint=... --objects=... --physics_guidance=0.05

During the last ``steps`` steps of conditional sampling, the denoiser's clean-hand prediction x0
(the hand latent) is moved down the gradient of the grasp optimiser's energy
(``grasps.energy.energies`` weighted by ``grasps.GraspConfig``: the hand's penetration into the
object and the object's into the hand, fingertip and palm contact, joint limits, self-collision,
the wrench) of the hand it decodes to: hand detokenizer -> pose, trans -> the JAX hand, on each
row's object SDF grid. The gradient runs through the detokenizer and the hand, inside the
sampler's jitted loop; the next sampler step starts from the moved x0, so the denoiser keeps the
grasp on its learned manifold while the energy pushes it out of the object and onto its surface.

The step is normalised per grasp: ``x0 <- x0 - scale * g / max(rms(g), floor)`` with ``rms``
over the latent's channels. The latent is unit-RMS, so ``scale`` is the largest move per
guided step in units of the latent's own spread; ``floor`` keeps a grasp whose energy is
already flat (no penetration, fingers on the surface) from taking full-size steps in the
direction of a vanishing gradient.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.energy import energies, weighted_total
from mgd_jax.grasps.proxies import HandProxies
from mgd_jax.objects import sdf_grid


@dataclasses.dataclass(frozen=True)
class PhysicsGuidance:
    """Settings of physics guidance (hashable).

    Attributes:
      scale: the largest move of x0 per guided step, in units of the hand latent's RMS (1).
      steps: the last this many sampler steps are guided (all of them when larger).
      iterations: gradient steps on x0 per guided sampler step.
      floor: gradient RMS below which steps shrink in proportion (energy per latent unit).
      config: the energy's weights (``GraspConfig``); its other fields are unused here.
    """

    scale: float = 0.05
    steps: int = 20
    iterations: int = 1
    floor: float = 1.0
    config: GraspConfig = GraspConfig()

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"physics guidance: scale must be > 0, got {self.scale}")
        if self.steps < 1 or self.iterations < 1:
            raise ValueError(f"physics guidance: steps and iterations must be >= 1, got "
                             f"{self.steps}, {self.iterations}")  # fmt: skip
        if not self.floor > 0:
            raise ValueError(f"physics guidance: floor must be > 0, got {self.floor}")


def grasp_energy(decode, proxies: HandProxies, grids: sdf_grid.SdfGrid, rows: jax.Array,
                 points: jax.Array, z: jax.Array, config: GraspConfig) -> jax.Array:  # fmt: skip
    """Weighted grasp energy (B,) of hand latents z (B, d) on their objects.

    Args:
      decode: ``z (B, d) -> (pose (B, 16, 3) radians, trans (B, 3) meters)``, a pytree function.
      proxies: the hand's grasp proxies (``grasps.proxies_for``).
      grids: K object SDF grids stacked (values (K, R, R, R), meters).
      rows: (B,) int, the grid of each grasp.
      points: (B, M, 3) object surface points, meters (the first ``num_object_points`` are
        tested against the hand's capsules).
      config: the energy's weights.
    """
    pose, trans = decode(z)

    def one(row, p, t, pts):
        return energies(proxies, p, t, lambda x: sdf_grid.lookup(grids, x, row), pts, config)

    return weighted_total(jax.vmap(one)(rows, pose, trans, points), config)


def _guide(decode, proxies, grids, rows, points, t_from, scale, floor, x0, t, *,
           iterations: int, config: GraspConfig):  # fmt: skip
    def energy(z):
        return jnp.sum(grasp_energy(decode, proxies, grids, rows, points, z, config))

    def move(z, _):
        g = jax.grad(energy)(z)
        rms = jnp.sqrt(jnp.mean(g * g, axis=-1, keepdims=True))
        return z - scale * g / jnp.maximum(rms, floor), None

    def guided(z):
        return jax.lax.scan(move, z, None, length=iterations)[0]

    return jax.lax.cond(t <= t_from, guided, lambda z: z, x0)


@functools.lru_cache(maxsize=32)
def _guide_fn(iterations: int, config: GraspConfig):
    # One function object per static setting, so the sampler's jit cache hits across batches
    # and calls (scale, floor and the first guided step are traced: changing them does not
    # recompile).
    return functools.partial(_guide, iterations=iterations, config=config)


def make_hook(decode, proxies: HandProxies, grids: sdf_grid.SdfGrid, rows, points,
              guidance: PhysicsGuidance, t_from: int) -> jax.tree_util.Partial:  # fmt: skip
    """The sampler's ``x0_hook(x0_hand (B, d), t) -> x0_hand``: guided where ``t <= t_from``.

    Arguments as :func:`grasp_energy`; ``t_from`` is the timestep of the first guided step.
    """
    return jax.tree_util.Partial(_guide_fn(guidance.iterations, guidance.config), decode, proxies,
                                 grids, jnp.asarray(rows, jnp.int32),
                                 jnp.asarray(points, jnp.float32), jnp.asarray(t_from, jnp.int32),
                                 jnp.asarray(guidance.scale, jnp.float32),
                                 jnp.asarray(guidance.floor, jnp.float32))  # fmt: skip


def first_guided_timestep(pairs: np.ndarray, steps: int) -> int:
    """The timestep t of the first of the last ``steps`` sampler steps (``pairs``: (S, 2) of
    (t, t_prev) as ``diffusion.sampling_timesteps`` gives them, t descending)."""
    return int(pairs[-min(steps, len(pairs)), 0])


def object_grids(objs: Sequence, resolution: int | None = None,
                 names: Sequence[str] | None = None) -> sdf_grid.SdfGrid:  # fmt: skip
    """K object SDF grids stacked (values (K, R, R, R), meters).

    Args:
      objs: per object a mesh (meters), a procedural ``ObjectSpec``, an ``SdfGrid`` of that
        resolution (``grasps.batch.object_grid``), or None.
      resolution: R (default ``grasps.batch.DEFAULT_RESOLUTION``).
      names: per object, for the warnings.

    An object that is None, or a mesh that cannot be grasped (``check_graspable``; a warning
    says why), gets an empty grid: +1 m everywhere, so its grasps feel no object (no
    penetration, no pull of the contacts) and only the hand's own terms guide them.
    """
    from mgd_jax.grasps import batch

    res = batch.DEFAULT_RESOLUTION if resolution is None else int(resolution)
    empty = sdf_grid.SdfGrid(origin=jnp.full((3,), -0.5, jnp.float32),
                             spacing=jnp.asarray(1.0 / (res - 1), jnp.float32),
                             values=jnp.ones((res,) * 3, jnp.float32))  # fmt: skip
    grids = []
    for j, o in enumerate(objs):
        name = names[j] if names is not None else f"object {j}"
        if o is None:
            logging.getLogger(__name__).warning("%s: no mesh, its grasps are guided without it",
                                                name)  # fmt: skip
            grids.append(empty)
            continue
        try:
            if isinstance(o, trimesh.Trimesh):
                batch.check_graspable(o, name)
            grids.append(batch.object_grid(o, res))
        except ValueError as e:
            logging.getLogger(__name__).warning("%s; its grasps are guided without it", e)
            grids.append(empty)
    if not grids:
        raise ValueError("physics guidance: no objects given")
    return jax.tree.map(lambda *x: jnp.stack(x), *grids)
