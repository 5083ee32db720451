"""Many objects, one compilation: grasp synthesis and refinement over a list of objects.

Every object's signed distance is a grid of one fixed shape (``resolution``^3, cubic voxels over
its bounding box plus ``padding``): procedural objects sample their analytic SDF on it
(``procedural_grid``), meshes build it from the triangles (``sdf_grid.build_sdf_grid``). Grids of
one shape stack, so objects are optimised ``chunk`` at a time under one ``vmap``ped, jitted
program: a folder of meshes, or every family of the synthetic dataset, costs one compilation
(per ``num`` and config) instead of one per mesh shape or family. Object ``i`` of a call always
gets the key ``fold_in(key, i)``, so its grasps do not depend on the chunking.

Meters and radians throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS, GraspConfig
from mgd_jax.grasps.optimize import GraspResult, grid_sdf, run_adam, proxies_for
from mgd_jax.grasps.pregrasp import initial_grasps
from mgd_jax.grasps.proxies import HandProxies
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sdf_grid

DEFAULT_RESOLUTION = 64
DEFAULT_PADDING = 0.02  # meters around the object's bounding box
MIN_EXTENT_M = 0.01  # a hand cannot grasp an object whose longest side is shorter ...
MAX_EXTENT_M = 0.6  # ... or longer than this (forearm-sized and up)
MIN_THICKNESS_M = 1e-4  # an object thinner than this in every direction but two is flat


def check_graspable(mesh: trimesh.Trimesh, name: str = "the object mesh") -> None:
    """Raise ``ValueError`` (naming ``name``, what is wrong and the fix) for a mesh that grasp
    synthesis cannot work on: no faces, NaN/inf vertices, flat (thinner than 0.1 mm), or a size
    no hand grasps (longest side under 1 cm or over 60 cm, usually the wrong ``--units``).
    Open (non-watertight) meshes, thin parts and several components are fine.

    Args:
      mesh: the mesh, meters.
      name: how to call it in the message (e.g. its file).
    """
    verts = np.asarray(mesh.vertices)
    if len(mesh.faces) == 0 or len(verts) == 0:
        raise ValueError(f"{name}: the mesh has no faces; give a triangle mesh (.obj, .ply, .stl, "
                         f".off, .glb)")  # fmt: skip
    if not np.all(np.isfinite(verts)):
        raise ValueError(f"{name}: {int((~np.isfinite(verts)).any(axis=1).sum())} vertices are "
                         f"NaN or inf; repair or re-export the mesh")  # fmt: skip
    used = verts[np.unique(np.asarray(mesh.faces))]
    extent = used.max(axis=0) - used.min(axis=0)
    longest, thinnest = float(extent.max()), float(extent.min())
    if longest < MIN_EXTENT_M:
        raise ValueError(f"{name}: the object is {1000 * longest:.3g} mm long, too small for a "
                         f"hand (at least {1000 * MIN_EXTENT_M:.0f} mm). Meshes are read in "
                         f"meters: if the file is in millimeters or centimeters, say so "
                         f"(--units=mm / --units=cm)")  # fmt: skip
    if longest > MAX_EXTENT_M:
        raise ValueError(f"{name}: the object is {longest:.3g} m long, too big for a hand to grasp "
                         f"(at most {MAX_EXTENT_M} m). If the file is in millimeters or "
                         f"centimeters, say so (--units=mm / --units=cm)")  # fmt: skip
    if thinnest < MIN_THICKNESS_M:
        raise ValueError(f"{name}: the object is flat ({1000 * thinnest:.2g} mm thick), it has "
                         f"no volume to grasp; give it a thickness (e.g. solidify the sheet)")  # fmt: skip


def cubic_box(lo: np.ndarray, hi: np.ndarray, resolution: int, padding: float):
    """Origin (3,) and spacing (meters) of the ``resolution``^3 cubic grid centred on the box
    ``lo``-``hi`` (meters) whose side is the longest extent plus ``2 padding``."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    spacing = (float(np.max(hi - lo)) + 2.0 * padding) / (resolution - 1)
    origin = 0.5 * (lo + hi) - 0.5 * spacing * (resolution - 1)
    return origin, spacing


@jax.jit
def _sdf_values(spec: procedural.ObjectSpec, origin: jax.Array, spacing: jax.Array,
                index: jax.Array) -> jax.Array:  # fmt: skip
    return procedural.sdf(spec, origin + spacing * index)


def procedural_grid(spec: procedural.ObjectSpec, resolution: int = DEFAULT_RESOLUTION,
                    padding: float = DEFAULT_PADDING) -> sdf_grid.SdfGrid:  # fmt: skip
    """The analytic SDF of a procedural object sampled on its ``resolution``^3 grid (meters)."""
    lo, hi = procedural.world_bounds(spec)
    origin, spacing = cubic_box(lo, hi, resolution, padding)
    axis = np.arange(resolution, dtype=np.float32)
    index = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    values = _sdf_values(spec, jnp.asarray(origin, jnp.float32), jnp.float32(spacing),
                         jnp.asarray(index))  # fmt: skip
    return sdf_grid.SdfGrid(origin=jnp.asarray(origin, jnp.float32),
                            spacing=jnp.asarray(spacing, jnp.float32),
                            values=values.reshape(resolution, resolution, resolution))  # fmt: skip


def object_grid(obj, resolution: int = DEFAULT_RESOLUTION,
                padding: float = DEFAULT_PADDING) -> sdf_grid.SdfGrid:  # fmt: skip
    """The fixed-shape SDF grid of a procedural ``ObjectSpec``, a ``trimesh.Trimesh`` (meters) or
    an ``SdfGrid`` (returned as is; it must already be ``resolution``^3)."""
    if isinstance(obj, procedural.ObjectSpec):
        return procedural_grid(obj, resolution, padding)
    if isinstance(obj, trimesh.Trimesh):
        check_graspable(obj)
        return sdf_grid.build_sdf_grid(obj, resolution=resolution, padding=padding)
    if isinstance(obj, sdf_grid.SdfGrid):
        if tuple(obj.values.shape) != (resolution,) * 3:
            raise ValueError(f"an SdfGrid of shape {tuple(obj.values.shape)} was given where "
                             f"{(resolution,) * 3} grids are batched; build it with "
                             f"resolution={resolution}")  # fmt: skip
        return obj
    raise TypeError(f"expected an ObjectSpec, a trimesh.Trimesh or an SdfGrid, got "
                    f"{type(obj).__name__}")  # fmt: skip


def _stack(trees):
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def _chunks(num: int, chunk: int):
    """Index lists of ``chunk`` objects (the last one padded by repeating its last object)."""
    for start in range(0, num, chunk):
        ids = list(range(start, min(start + chunk, num)))
        yield ids, ids + [ids[-1]] * (chunk - len(ids))


@functools.partial(jax.jit, static_argnames=("num", "config"))
def _synthesize_chunk(proxies, grids, points, keys, num: int, config: GraspConfig) -> GraspResult:
    def one(grid, pts, key):
        sdf_fn = grid_sdf(grid)
        k_init, k_run = jax.random.split(key)
        pose, trans = initial_grasps(proxies, pts, k_init, num * config.oversample, config, sdf_fn)
        return run_adam(proxies, pose, trans, sdf_fn, pts, k_run, config, config.steps,
                    jnp.array(False), num)  # fmt: skip

    return jax.vmap(one)(grids, points, keys)


@functools.partial(jax.jit, static_argnames=("steps", "config"))
def _refine_chunk(proxies, grids, points, pose, trans, steps: int,
                  config: GraspConfig) -> GraspResult:  # fmt: skip
    def one(grid, pts, p, t):
        return run_adam(proxies, p, t, grid_sdf(grid), pts, jax.random.key(0), config, steps,
                    jnp.array(True), p.shape[0])  # fmt: skip

    return jax.vmap(one)(grids, points, pose, trans)


def _unstack(result: GraspResult, ids: list[int], sizes: Sequence[int] | None = None):
    out = []
    for j, _ in enumerate(ids):
        n = None if sizes is None else sizes[j]
        out.append(GraspResult(
            pose=np.asarray(result.pose[j][:n]), trans=np.asarray(result.trans[j][:n]),
            terms={k: np.asarray(v[j][:n]) for k, v in result.terms.items()},
            energy=np.asarray(result.energy[j][:n]), history=np.asarray(result.history[j]),
        ))  # fmt: skip
    return out


def _check_points(points: Sequence[np.ndarray]) -> jax.Array:
    shapes = {np.shape(p) for p in points}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != 3:
        raise ValueError(f"every object needs surface points of one shape (M, 3), got {shapes}")
    return jnp.asarray(np.stack(points), jnp.float32)


def optimize_objects(
    model: HandModel | HandProxies,
    grids: Sequence[sdf_grid.SdfGrid],
    object_points: Sequence[np.ndarray],
    key: jax.Array,
    num_per_object: int,
    config: GraspConfig = GraspConfig(),
    chunk: int = 8,
    progress=None,
    object_keys: Sequence[jax.Array] | None = None,
) -> list[GraspResult]:
    """Synthesise ``num_per_object`` grasps on each of O objects (``optimize`` on every one).

    Args:
      model: the hand model or its proxies (``proxies_for(model, config)``).
      grids: O SDF grids of one shape (``object_grid``), meters.
      object_points: O arrays (M, 3) of surface points, one M for all, meters.
      key: PRNG key; object i uses ``fold_in(key, i)``.
      num_per_object: B grasps per object.
      config: weights and schedule.
      chunk: objects per vmapped call (every call is padded to it: one compilation, and an
        object's grasps do not depend on how many objects come with it).
      progress: optional callable ``progress(done_objects)`` called after each chunk.
      object_keys: O PRNG keys to use instead of ``fold_in(key, i)``.

    Returns:
      O ``GraspResult``s (numpy arrays): pose (B, 16, 3), trans (B, 3), energy (B,), terms.
    """
    if len(grids) != len(object_points):
        raise ValueError(f"{len(grids)} grids but {len(object_points)} point sets")
    if not grids:
        return []
    proxies = proxies_for(model, config)
    points = _check_points(object_points)
    if object_keys is None:
        object_keys = [jax.random.fold_in(key, i) for i in range(len(grids))]
    if len(object_keys) != len(grids):
        raise ValueError(f"{len(object_keys)} object_keys for {len(grids)} objects")
    keys = jnp.stack(list(object_keys))
    out: list[GraspResult] = []
    for ids, padded in _chunks(len(grids), chunk):
        result = _synthesize_chunk(proxies, _stack([grids[i] for i in padded]), points[np.asarray(padded)],
                                   keys[np.asarray(padded)], num_per_object, config)  # fmt: skip
        out += _unstack(result, ids)
        if progress is not None:
            progress(len(out))
    return out


def _grid_structs(chunk: int, resolution: int) -> sdf_grid.SdfGrid:
    f32 = jnp.float32
    return sdf_grid.SdfGrid(origin=jax.ShapeDtypeStruct((chunk, 3), f32),
                            spacing=jax.ShapeDtypeStruct((chunk,), f32),
                            values=jax.ShapeDtypeStruct((chunk,) + (resolution,) * 3, f32))  # fmt: skip


def precompile_synthesis(proxies: HandProxies, chunk: int, num_per_object: int, resolution: int,
                         num_points: int, config: GraspConfig) -> None:  # fmt: skip
    """Compile ``optimize_objects``' call ahead of time for ``chunk`` objects of ``resolution``^3
    grids and (num_points, 3) surface points (jit's cache then serves the real call), e.g. in a
    thread while the grids are built."""
    _synthesize_chunk.lower(proxies, _grid_structs(chunk, resolution),
                            jax.ShapeDtypeStruct((chunk, num_points, 3), jnp.float32),
                            jax.ShapeDtypeStruct((chunk, 2), jnp.uint32), num_per_object,
                            config).compile()  # fmt: skip


def precompile_refinement(proxies: HandProxies, chunk: int, max_grasps: int, resolution: int,
                          num_points: int, steps: int, config: GraspConfig) -> None:  # fmt: skip
    """``precompile_synthesis`` for ``refine_objects`` (at most ``max_grasps`` per object)."""
    width = _bucket(max_grasps)
    _refine_chunk.lower(proxies, _grid_structs(chunk, resolution),
                        jax.ShapeDtypeStruct((chunk, num_points, 3), jnp.float32),
                        jax.ShapeDtypeStruct((chunk, width, 16, 3), jnp.float32),
                        jax.ShapeDtypeStruct((chunk, width, 3), jnp.float32), steps,
                        config).compile()  # fmt: skip


def _bucket(n: int) -> int:
    """Padded batch size: the next power of two (few distinct compilations)."""
    return 1 << max(0, (n - 1).bit_length())


def refine_objects(
    model: HandModel | HandProxies,
    poses: Sequence[np.ndarray],
    transes: Sequence[np.ndarray],
    grids: Sequence[sdf_grid.SdfGrid],
    object_points: Sequence[np.ndarray],
    steps: int = DEFAULT_REFINE_STEPS,
    config: GraspConfig = GraspConfig(),
    chunk: int = 8,
    progress=None,
) -> list[GraspResult]:
    """Refine the given grasps of each of O objects (``refine_with_sdf`` on every one).

    Args:
      model: the hand model or its proxies.
      poses: O arrays (B_i, 16, 3) MANO axis-angle, radians (B_i may differ).
      transes: O arrays (B_i, 3), meters, in each object's frame.
      grids: O SDF grids of one shape, meters.
      object_points: O arrays (M, 3) of surface points, one M for all, meters.
      steps: Adam iterations.
      config: weights.
      chunk: objects per vmapped call.
      progress: optional callable ``progress(done_objects)``.

    Returns:
      O ``GraspResult``s with (B_i, ...) arrays; energies never above the inputs'.
    """
    if not (len(poses) == len(transes) == len(grids) == len(object_points)):
        raise ValueError("poses, transes, grids and object_points need one entry per object")
    if not grids:
        return []
    proxies = proxies_for(model, config)
    points = _check_points(object_points)
    sizes = [len(p) for p in poses]
    width = _bucket(max(sizes))
    pose = np.zeros((len(poses), width, 16, 3), np.float32)
    trans = np.zeros((len(poses), width, 3), np.float32)
    for i, (p, t) in enumerate(zip(poses, transes)):
        if len(p) == 0:
            continue
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
            raise ValueError(f"object {i}: pose/trans contain NaN or inf; drop those grasps first")
        reps = np.arange(width) % len(p)  # pad with copies of the object's own grasps
        pose[i], trans[i] = np.asarray(p)[reps], np.asarray(t)[reps]
    out: list[GraspResult] = []
    for ids, padded in _chunks(len(grids), chunk):
        result = _refine_chunk(proxies, _stack([grids[i] for i in padded]), points[np.asarray(padded)],
                               jnp.asarray(pose[np.asarray(padded)]), jnp.asarray(trans[np.asarray(padded)]), steps,
                               config)  # fmt: skip
        out += _unstack(result, ids, [sizes[i] for i in ids])
        if progress is not None:
            progress(len(out))
    return out
