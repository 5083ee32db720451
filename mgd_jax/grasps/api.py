"""The two calls most users need: grasps for their own mesh, and refinement of given grasps.

    pose, trans, energy = grasps.synthesize(hand.load(), mesh, num=64, seed=0)
    pose, trans = grasps.refine(hand.load(), pose, trans, mesh, steps=100)

Meshes are ``trimesh.Trimesh`` in meters, in the frame the grasps are in (for generated samples:
the object-centric frame); a procedural ``ObjectSpec`` or an SDF callable also works. A mesh's
signed distance comes from ``objects.sdf_grid.build_sdf_grid`` (watertight meshes get the right
sign; see that module for open meshes).
"""

from __future__ import annotations

from typing import Callable, Union

import jax
import numpy as np
import trimesh

from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.optimize import grid_sdf, optimize, procedural_sdf, refine_with_sdf
from mgd_jax.grasps.proxies import HandProxies
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sampling, sdf_grid, sdf_mesh

ObjectLike = Union[trimesh.Trimesh, procedural.ObjectSpec, Callable]

_NUM_SURFACE_POINTS = 512


def _sdf_and_points(obj: ObjectLike, object_points: np.ndarray | None, seed: int = 0):
    """(SDF pytree, (M, 3) surface points in meters) of a mesh, a procedural spec or an SDF."""
    if isinstance(obj, trimesh.Trimesh):
        if len(obj.faces) == 0:
            raise ValueError("grasps: the object mesh has no faces")
        points = sampling.sample_points(obj, _NUM_SURFACE_POINTS, seed=seed)
        return grid_sdf(sdf_grid.build_sdf_grid(obj)), points
    if isinstance(obj, procedural.ObjectSpec):
        points = sampling.sample_points(sdf_mesh.mesh(obj), _NUM_SURFACE_POINTS, seed=seed)
        return procedural_sdf(obj), points
    if callable(obj):
        if object_points is None:
            raise ValueError("grasps: an SDF callable needs object_points (M, 3) on its surface")
        return obj, object_points
    raise TypeError(f"grasps: expected a trimesh.Trimesh, an ObjectSpec or an SDF callable, "
                    f"got {type(obj).__name__}")  # fmt: skip


def synthesize(
    hand_model: HandModel | HandProxies,
    object_mesh: ObjectLike,
    num: int,
    seed: int = 0,
    config: GraspConfig = GraspConfig(),
    object_points: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimise ``num`` grasps of one object from random pre-grasps (no quality filter; see
    ``filter_grasps`` for that).

    Args:
      hand_model: the hand (``hand.load(...)``) or its ``build_proxies``.
      object_mesh: ``trimesh.Trimesh`` in meters, an ``ObjectSpec`` or an SDF callable
        ``points (N, 3) -> (N,)`` (then ``object_points`` is required).
      num: number of grasps B (one batch).
      seed: the same seed gives the same grasps.
      config: energy weights and schedule.
      object_points: optional (M, 3) surface points, meters.

    Returns:
      pose (B, 16, 3) MANO axis-angle radians, trans (B, 3) meters (the mesh's frame), energy (B,)
      weighted total (lower is better).
    """
    sdf_fn, points = _sdf_and_points(object_mesh, object_points, seed)
    result = optimize(hand_model, sdf_fn, points, jax.random.PRNGKey(seed), num, config)
    return np.asarray(result.pose), np.asarray(result.trans), np.asarray(result.energy)


def refine(
    hand_model: HandModel | HandProxies,
    pose: np.ndarray,
    trans: np.ndarray,
    object_mesh: ObjectLike,
    steps: int = 100,
    config: GraspConfig = GraspConfig(),
    object_points: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine given grasps on one object by the synthesis energy (no jitter; the lowest-energy
    iterate of each grasp is returned, so no grasp gets worse by that energy).

    Args:
      hand_model: the hand the poses belong to (or its proxies).
      pose: (B, 16, 3) MANO axis-angle, radians.
      trans: (B, 3) meters, in the mesh's frame.
      object_mesh: ``trimesh.Trimesh`` in meters, an ``ObjectSpec`` or an SDF callable.
      steps: Adam iterations.
      config: energy weights.
      object_points: optional (M, 3) surface points, meters.

    Returns:
      refined pose (B, 16, 3) and trans (B, 3).
    """
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(trans))):
        raise ValueError("grasps.refine: pose/trans contain NaN or inf; drop those samples first")
    sdf_fn, points = _sdf_and_points(object_mesh, object_points)
    result = refine_with_sdf(hand_model, pose, trans, sdf_fn, steps, points, config)
    return np.asarray(result.pose), np.asarray(result.trans)
