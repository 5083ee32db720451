"""The calls most users need: grasps for their own mesh, and refinement of given grasps.

    pose, trans, energy = grasps.synthesize(hand.load(), mesh, num=64, seed=0)
    pose, trans = grasps.refine(hand.load(), pose, trans, mesh)  # 50 Adam steps
    per_object = grasps.synthesize_many(hand.load(), meshes, num=8)   # a folder: one compilation
    per_object = grasps.refine_many(hand.load(), poses, transes, meshes)

Meshes are ``trimesh.Trimesh`` in meters, in the frame the grasps are in (for generated samples:
the object-centric frame); a procedural ``ObjectSpec`` or an SDF callable also works. A mesh's
signed distance comes from ``objects.sdf_grid.build_sdf_grid`` (watertight meshes get the right
sign; see that module for open meshes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Callable, Union

import jax
import numpy as np
import trimesh

from mgd_jax.grasps.batch import (
    DEFAULT_RESOLUTION,
    check_graspable,
    object_grid,
    optimize_objects,
    precompile_refinement,
    precompile_synthesis,
    refine_objects,
)
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS, GraspConfig
from mgd_jax.grasps.optimize import grid_sdf, optimize, procedural_sdf, proxies_for, refine_with_sdf
from mgd_jax.grasps.proxies import HandProxies
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sampling, sdf_grid, sdf_mesh

ObjectLike = Union[trimesh.Trimesh, procedural.ObjectSpec, Callable]

_NUM_SURFACE_POINTS = 512


def _sdf_and_points(obj: ObjectLike, object_points: np.ndarray | None, seed: int = 0):
    """(SDF pytree, (M, 3) surface points in meters) of a mesh, a procedural spec or an SDF."""
    if isinstance(obj, trimesh.Trimesh):
        check_graspable(obj)
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
    steps: int = DEFAULT_REFINE_STEPS,
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


def _in_background(fn, *args) -> threading.Thread:
    """Run ``fn(*args)`` in a thread (the compilation, while this thread builds the SDF grids:
    two cores busy instead of one). A failure there is only logged: the real call compiles again
    and raises it where the caller sees it."""

    def run():
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            logging.getLogger(__name__).debug("ahead-of-time compilation skipped: %s", e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _grids_and_points(objects, object_points, resolution):
    grids, points = [], []
    for i, obj in enumerate(objects):
        if not isinstance(obj, (trimesh.Trimesh, procedural.ObjectSpec)):
            raise TypeError(f"object {i}: expected a trimesh.Trimesh or an ObjectSpec, got "
                            f"{type(obj).__name__}")  # fmt: skip
        grids.append(object_grid(obj, resolution))
        if object_points is not None:
            points.append(np.asarray(object_points[i], np.float32)[:_NUM_SURFACE_POINTS])
        else:
            mesh = obj if isinstance(obj, trimesh.Trimesh) else sdf_mesh.mesh(obj)
            points.append(sampling.sample_points(mesh, _NUM_SURFACE_POINTS, seed=0))
    return grids, points


def synthesize_many(
    hand_model: HandModel | HandProxies,
    objects: Sequence[trimesh.Trimesh | procedural.ObjectSpec],
    num: int,
    seed: int = 0,
    config: GraspConfig = GraspConfig(),
    resolution: int = DEFAULT_RESOLUTION,
    chunk: int = 8,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``synthesize`` on many objects at once: one compilation for all of them (their SDFs are
    ``resolution``^3 grids), ``chunk`` objects per call.

    Args:
      hand_model: the hand or its proxies.
      objects: meshes (meters; each passes ``check_graspable``) or ``ObjectSpec``s.
      num: grasps per object.
      seed: object i uses the key ``fold_in(PRNGKey(seed), i)``.
      config: energy weights and schedule.
      resolution: SDF grid size per axis.
      chunk: objects per optimiser call.

    Returns:
      per object: pose (num, 16, 3) radians, trans (num, 3) meters, energy (num,).
    """
    proxies = proxies_for(hand_model, config)
    compiling = _in_background(precompile_synthesis, proxies, chunk, num,
                               resolution, _NUM_SURFACE_POINTS, config)  # fmt: skip
    grids, points = _grids_and_points(objects, None, resolution)
    compiling.join()
    results = optimize_objects(proxies, grids, points, jax.random.PRNGKey(seed), num, config,
                               chunk)  # fmt: skip
    return [(r.pose, r.trans, r.energy) for r in results]


def refine_many(
    hand_model: HandModel | HandProxies,
    poses: Sequence[np.ndarray],
    transes: Sequence[np.ndarray],
    objects: Sequence[trimesh.Trimesh | procedural.ObjectSpec],
    steps: int = DEFAULT_REFINE_STEPS,
    config: GraspConfig = GraspConfig(),
    object_points: Sequence[np.ndarray] | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    chunk: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``refine`` on many objects at once (one compilation; ``chunk`` objects per call).

    Args:
      hand_model: the hand the poses belong to (or its proxies).
      poses: per object (B_i, 16, 3) MANO axis-angle, radians.
      transes: per object (B_i, 3) meters, in the object's frame.
      objects: meshes (meters) or ``ObjectSpec``s.
      steps: Adam iterations.
      config: energy weights.
      object_points: optional per object (M_i >= 512, 3) surface points, meters.
      resolution: SDF grid size per axis.
      chunk: objects per optimiser call.
      progress: optional ``progress(done_objects)``, called as objects finish.

    Returns:
      per object: refined pose (B_i, 16, 3) and trans (B_i, 3).
    """
    proxies = proxies_for(hand_model, config)
    num_points = _NUM_SURFACE_POINTS
    if object_points is not None and len(object_points):
        num_points = min(len(object_points[0]), _NUM_SURFACE_POINTS)
    compiling = _in_background(precompile_refinement, proxies, chunk,
                               max((len(p) for p in poses), default=1), resolution, num_points,
                               steps, config)  # fmt: skip
    grids, points = _grids_and_points(objects, object_points, resolution)
    compiling.join()
    results = refine_objects(proxies, poses, transes, grids, points, steps, config, chunk,
                             progress)  # fmt: skip
    return [(r.pose, r.trans) for r in results]


def refine_by_object(
    hand_model: HandModel,
    pose: np.ndarray,
    trans: np.ndarray,
    rows: np.ndarray,
    meshes: Sequence[trimesh.Trimesh | None],
    steps: int = DEFAULT_REFINE_STEPS,
    object_points: Sequence[np.ndarray | None] | None = None,
    names: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    config: GraspConfig = GraspConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """``refine_many`` of grasps given as one flat set, each on the object its row names.

    Grasps with NaN/inf parameters are left as they are, and so are the grasps of an object
    without a mesh or whose mesh cannot be grasped (``check_graspable``; a warning says why):
    one bad object does not stop the others.

    Args:
      hand_model: the hand the poses belong to.
      pose: (N, 16, 3) MANO axis-angle, radians.
      trans: (N, 3) meters, each in its object's frame.
      rows: (N,) int, the object of each grasp (an index into ``meshes``).
      meshes: per object a mesh (meters) or None.
      steps: Adam iterations.
      object_points: optional per object (M >= 512, 3) surface points (meters) or None.
      names: per object, for the warnings (default: ``object <j>``).
      progress: optional ``progress(done_objects)``.
      config: energy weights and the refinement's settings.

    Returns:
      the refined pose (N, 16, 3) and trans (N, 3) (copies).
    """
    pose, trans, rows = np.array(pose, copy=True), np.array(trans, copy=True), np.asarray(rows)
    finite = np.isfinite(pose).all(axis=(1, 2)) & np.isfinite(trans).all(axis=1)
    log = logging.getLogger(__name__)
    targets = []
    for j in sorted(set(rows.tolist())):
        idx = np.flatnonzero((rows == j) & finite)
        name = names[j] if names is not None else f"object {j}"
        if len(idx) == 0:
            continue
        if meshes[j] is None:
            log.warning("%s: no mesh, its grasps are not refined", name)
            continue
        try:
            check_graspable(meshes[j], name)
        except ValueError as e:
            log.warning("%s; its grasps are not refined", e)
            continue
        targets.append((j, idx))
    if not targets:
        return pose, trans
    points = None
    if object_points is not None and all(object_points[j] is not None for j, _ in targets):
        points = [object_points[j] for j, _ in targets]
    out = refine_many(hand_model, [pose[idx] for _, idx in targets],
                      [trans[idx] for _, idx in targets], [meshes[j] for j, _ in targets],
                      steps=steps, config=config, object_points=points,
                      progress=progress)  # fmt: skip
    for (_, idx), (p, t) in zip(targets, out):
        pose[idx], trans[idx] = p, t
    return pose, trans
