"""``evaluate_meshes``: every per-grasp metric for a batch of (hand, object) meshes, optionally
over several worker processes, with a progress bar.

Grasps are grouped by object (content hash) so each process builds an object's inside grid,
distance tree, voxel lattice and convex decomposition once. Workers start with the 'spawn'
context (or 'forkserver'): JAX, which callers usually have loaded, is not fork-safe.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from mgd_jax.evaluators import contact as contact_lib
from mgd_jax.evaluators import intersection, penetration, simulation
from mgd_jax.evaluators.cache import Cache
from mgd_jax.evaluators.meshes import Mesh, validate_pairs
from mgd_jax.evaluators.protocol import CONTACT_THRESHOLD_M, VOXEL_PITCH_M, SimulationParams

METRICS = ("penetration", "intersection", "simulation", "contact")


@dataclasses.dataclass(frozen=True)
class Options:
    """Settings of ``evaluate_meshes`` (see its docstring)."""

    metrics: tuple[str, ...] = METRICS
    contact_threshold_m: float = CONTACT_THRESHOLD_M
    voxel_pitch_m: float = VOXEL_PITCH_M
    intersection_mode: str = "solid"
    exact_intersection: bool = False
    sim: SimulationParams = SimulationParams()
    hand_part_labels: np.ndarray | None = None
    finger_labels: np.ndarray | None = None
    return_contact_maps: bool = False


def evaluate_meshes(
    hand_meshes: Sequence,
    object_meshes: Sequence,
    metrics: Sequence[str] | None = None,
    *,
    num_workers: int = 1,
    start_method: str = "spawn",
    progress: bool = True,
    contact_threshold_m: float = CONTACT_THRESHOLD_M,
    voxel_pitch_m: float = VOXEL_PITCH_M,
    intersection_mode: str = "solid",
    exact_intersection: bool = False,
    sim_params: SimulationParams | None = None,
    simulator: str | None = None,
    stable_threshold_cm: float | None = None,
    hand_part_labels: np.ndarray | None = None,
    finger_labels: np.ndarray | None = None,
    return_contact_maps: bool = False,
) -> dict[str, np.ndarray]:
    """Per-grasp evaluation metrics.

    Args:
      hand_meshes: B ``trimesh.Trimesh`` hands (or ``(vertices, faces)``), meters.
      object_meshes: B objects in the same frame as their hands, meters. Reusing the same
        object instance (or identical arrays) across grasps shares its precomputation.
      metrics: any of "penetration", "intersection", "simulation", "contact"; all by default.
      num_workers: worker processes (1 = in this process). Starting them costs ~1-2 s, so they
        pay off for simulation and large batches. Scripts must guard their entry point with
        ``if __name__ == "__main__":`` (the workers re-import the main module).
      start_method: "spawn" or "forkserver".
      progress: show a tqdm bar.
      contact_threshold_m: vertex-to-surface distance that counts as contact (0.005).
      voxel_pitch_m: intersection lattice pitch (0.005).
      intersection_mode: "solid" (object voxel centres inside the object: OakInk's definition
        at ObMan's 0.5 cm pitch; OakInk's own lattice is finer) or "surface" (trimesh's shell:
        reproduces the ObMan/GraspTTA code's count); see ``intersection.py``.
      exact_intersection: also return the manifold3d boolean volume.
      sim_params: simulation settings (``SimulationParams()``: the ObMan protocol in MuJoCo,
        with the hand representation chosen by calibration against PyBullet).
      simulator: overrides ``sim_params.simulator``: "mujoco" (default) or "pybullet" (the
        published PyBullet test itself; ``pip install mgd_jax[pybullet]``).
      stable_threshold_cm: overrides ``sim_params.stable_threshold_cm`` (2 cm).
      hand_part_labels: (V,) int part per hand vertex (``part_labels_from_weights``: the
        skinning bone). The MuJoCo simulation's default hand shape ("part_hulls", the bones'
        convex hulls) needs them and raises without them; no shape falls back to another, so
        a grasp gets the same number from every caller. The other hand shapes and PyBullet
        ignore them.
      finger_labels: (V,) labels 0..5 (palm, thumb, ..., pinky) for per-finger contact.
      return_contact_maps: also return (B, V) per-vertex contact (equal V required).

    Returns:
      A dict of (B,) arrays, for the requested metrics: ``penetration_depth_cm``,
      ``intersection_volume_cm3`` (+ ``intersection_volume_exact_cm3``),
      ``sim_displacement_cm`` and ``sim_stable``, ``contact`` (bool) and
      ``contact_vertex_count``; with ``finger_labels`` also ``finger_contact`` (B, 6) and
      ``num_fingers_in_contact``; with ``return_contact_maps`` ``contact_map`` (B, V).

    Raises:
      ValueError: mismatched lengths, empty meshes, NaN vertices (naming the grasp), unknown
        metrics or options.
    """
    hands, objects = validate_pairs(hand_meshes, object_meshes)
    metrics = tuple(METRICS if metrics is None else metrics)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS}")
    if intersection_mode not in intersection.MODES:
        raise ValueError(f"intersection_mode must be one of {intersection.MODES}")
    if start_method not in ("spawn", "forkserver"):
        raise ValueError("start_method must be 'spawn' or 'forkserver' (JAX is not fork-safe)")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if contact_threshold_m < 0 or voxel_pitch_m <= 0:
        raise ValueError("contact_threshold_m must be >= 0 and voxel_pitch_m > 0")
    sim = sim_params or SimulationParams()
    if stable_threshold_cm is not None:
        sim = dataclasses.replace(sim, stable_threshold_cm=float(stable_threshold_cm))
    if simulator is not None:
        sim = dataclasses.replace(sim, simulator=simulator)
    if "simulation" in metrics:
        if sim.simulator == "pybullet":
            from mgd_jax.evaluators import pybullet_sim

            pybullet_sim._pybullet()  # a clear ImportError here, not in a worker
        elif sim.hand_shape == "part_hulls" and hand_part_labels is None:
            raise ValueError(simulation.MISSING_LABELS)
    num_v = {len(h.vertices) for h in hands}
    for name, labels in (("hand_part_labels", hand_part_labels), ("finger_labels", finger_labels)):
        if labels is not None and num_v != {len(np.asarray(labels))}:
            raise ValueError(f"{name} has {len(np.asarray(labels))} entries but the hands have "
                             f"{sorted(num_v)} vertices")  # fmt: skip
    if return_contact_maps and len(num_v) != 1:
        raise ValueError("return_contact_maps needs hands with equal vertex counts")
    opts = Options(metrics, contact_threshold_m, voxel_pitch_m, intersection_mode,
                   exact_intersection, sim,
                   None if hand_part_labels is None else np.asarray(hand_part_labels),
                   None if finger_labels is None else np.asarray(finger_labels),
                   return_contact_maps)  # fmt: skip

    bar = tqdm(total=len(hands), desc="evaluate", unit="grasp", disable=not progress)
    with bar:
        if num_workers == 1:
            rows = _evaluate_group(list(range(len(hands))), hands, objects, opts, bar.update)
        else:
            rows = {}
            ctx = multiprocessing.get_context(start_method)
            with ctx.Pool(num_workers) as pool:
                for part in pool.imap_unordered(_worker, _tasks(hands, objects, num_workers, opts)):
                    rows.update(part)
                    bar.update(len(part))
    return _stack([rows[i] for i in range(len(hands))])


def _tasks(hands: list[Mesh], objects: list[Mesh], num_workers: int, opts: Options):
    """Chunks of grasps for the workers: whole objects where possible (each chunk builds its
    objects' precomputation once), about four chunks per worker for load balance."""
    cache = Cache()
    groups: dict[str, list[int]] = {}
    for i, o in enumerate(objects):
        groups.setdefault(cache.key(o), []).append(i)
    size = max(1, -(-len(hands) // (4 * num_workers)))
    chunk: list[int] = []
    for ids in groups.values():
        # An object with more grasps than a chunk is split; smaller objects share chunks.
        for s in range(0, len(ids), size):
            chunk += ids[s : s + size]
            if len(chunk) >= size:
                yield chunk, [hands[i] for i in chunk], [objects[i] for i in chunk], opts
                chunk = []
    if chunk:
        yield chunk, [hands[i] for i in chunk], [objects[i] for i in chunk], opts


def _worker(task) -> dict[int, dict[str, np.ndarray]]:
    return _evaluate_group(*task, on_done=lambda n: None)


def _evaluate_group(ids, hands, objects, opts: Options, on_done) -> dict[int, dict]:
    """Metrics of grasps ``ids`` (global indices, for messages) sharing one object cache."""
    cache = Cache()
    rows = {}
    for i, hand, obj in zip(ids, hands, objects):
        try:
            rows[i] = _evaluate_one(hand, obj, opts, cache)
        except ValueError as e:
            raise ValueError(f"grasp {i}: {e}") from e
        on_done(1)
    return rows


def _evaluate_one(hand: Mesh, obj: Mesh, opts: Options, cache: Cache) -> dict[str, np.ndarray]:
    row: dict[str, np.ndarray] = {}
    m = opts.metrics
    is_in = None
    if "contact" in m:
        cmap, is_in = contact_lib.contact_and_inside(hand.vertices, obj, opts.contact_threshold_m,
                                                     cache)  # fmt: skip
        row["contact"] = bool(cmap.any())
        row["contact_vertex_count"] = int(cmap.sum())
        if opts.finger_labels is not None:
            fingers = contact_lib.fingers_in_contact(cmap, opts.finger_labels)
            row["finger_contact"] = fingers
            row["num_fingers_in_contact"] = int(fingers[1:].sum())
        if opts.return_contact_maps:
            row["contact_map"] = cmap
    if "penetration" in m:
        depth = penetration.penetration_depth_m(hand.vertices, obj, cache, is_inside=is_in)
        row["penetration_depth_cm"] = 100.0 * depth
    if "intersection" in m:
        vol = intersection.intersection_volume_m3(hand, obj, opts.voxel_pitch_m,
                                                  opts.intersection_mode, cache)  # fmt: skip
        row["intersection_volume_cm3"] = 1e6 * vol
        if opts.exact_intersection:
            row["intersection_volume_exact_cm3"] = float(
                intersection.exact_intersection_volume_cm3([hand], [obj])[0]
            )
    if "simulation" in m:
        disp = 100.0 * simulation.displacement_m(hand, obj, opts.sim, opts.hand_part_labels,
                                                 cache)  # fmt: skip
        row["sim_displacement_cm"] = disp
        row["sim_stable"] = disp < opts.sim.stable_threshold_cm
    return row


def _stack(rows: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation over grasps; booleans give a rate."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std())


def summarize(results: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """``{key: {"mean": ..., "std": ...}}`` for every per-grasp scalar array in ``results``."""
    return {
        k: dict(zip(("mean", "std"), mean_std(v)))
        for k, v in results.items()
        if np.asarray(v).ndim == 1
    }
