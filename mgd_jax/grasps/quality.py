"""Quality filter of synthesised grasps, and synthesis over object sets with acceptance stats.

The filter keeps a grasp when, by the evaluation suite's own definitions
(``mgd_jax.evaluators``): its penetration depth is below 0.5 cm, at least three fingers touch
the object and the thumb is one of them, and the object moves less than 2 cm in the simulation
test. Meters in, the evaluators' cm out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax import hand
from mgd_jax.evaluators import evaluate_meshes, finger_labels_from_weights
from mgd_jax.evaluators.decomposition import part_labels_from_weights
from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.optimize import grid_sdf, optimize, procedural_sdf
from mgd_jax.grasps.proxies import build_proxies
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sampling, sdf_grid, sdf_mesh


@dataclasses.dataclass(frozen=True)
class QualityThresholds:
    """Acceptance thresholds of ``filter_grasps``."""

    max_penetration_cm: float = 0.5  # penetration depth strictly below this
    min_fingers: int = 3  # at least this many of the five fingers in contact
    require_thumb: bool = True  # the thumb must be one of them
    max_displacement_cm: float = 2.0  # simulation displacement strictly below this


def accept_mask(metrics: dict[str, np.ndarray], thresholds: QualityThresholds) -> np.ndarray:
    """(B,) bool acceptance from evaluator outputs.

    Args:
      metrics: ``evaluate_meshes`` results with ``penetration_depth_cm`` (B,),
        ``finger_contact`` (B, 6) bool (palm, thumb, index, middle, ring, pinky) and
        ``sim_displacement_cm`` (B,); a missing key skips its test.
      thresholds: the limits.
    """
    keys = ("penetration_depth_cm", "finger_contact", "sim_displacement_cm")
    size = next(len(np.asarray(metrics[k])) for k in keys if k in metrics)
    ok = np.ones(size, bool)
    if "penetration_depth_cm" in metrics:
        ok &= np.asarray(metrics["penetration_depth_cm"]) < thresholds.max_penetration_cm
    if "finger_contact" in metrics:
        fingers = np.asarray(metrics["finger_contact"], bool)
        ok &= fingers[:, 1:].sum(axis=1) >= thresholds.min_fingers
        if thresholds.require_thumb:
            ok &= fingers[:, 1]
    if "sim_displacement_cm" in metrics:
        ok &= np.asarray(metrics["sim_displacement_cm"]) < thresholds.max_displacement_cm
    return ok


def filter_grasps(
    model: HandModel,
    pose: np.ndarray,
    trans: np.ndarray,
    object_meshes: trimesh.Trimesh | Sequence[trimesh.Trimesh],
    thresholds: QualityThresholds = QualityThresholds(),
    *,
    simulate: bool = True,
    num_workers: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Evaluate grasps and decide which to keep.

    Args:
      model: the hand model the poses belong to.
      pose: (B, 16, 3) MANO axis-angle, radians.
      trans: (B, 3) meters.
      object_meshes: one mesh for all grasps, or B meshes (meters, same frame as the hands).
      thresholds: acceptance limits.
      simulate: run the simulation test (the slowest part); without it the displacement
        test is skipped.
      num_workers: evaluator processes (see ``evaluate_meshes``).
      progress: show the evaluator's progress bar.

    Returns:
      accept (B,) bool and the evaluator metrics (``penetration_depth_cm``,
      ``finger_contact`` (B, 6), ``num_fingers_in_contact``, ``sim_displacement_cm``, ...).
    """
    pose = np.asarray(pose, np.float32)
    trans = np.asarray(trans, np.float32)
    verts = np.asarray(hand.forward(model, jnp.asarray(pose), jnp.asarray(trans)).vertices)
    if isinstance(object_meshes, trimesh.Trimesh):
        object_meshes = [object_meshes] * len(verts)
    faces = model.faces_np
    hands = [(v, faces) for v in verts]
    weights = np.asarray(model.weights)
    metrics = evaluate_meshes(
        hands,
        list(object_meshes),
        metrics=("penetration", "contact", "simulation") if simulate else ("penetration",
                                                                           "contact"),
        num_workers=num_workers,
        progress=progress,
        finger_labels=finger_labels_from_weights(weights),
        hand_part_labels=part_labels_from_weights(weights),
    )
    return accept_mask(metrics, thresholds), metrics


@flax.struct.dataclass
class Synthesis:
    """Grasps of ``synthesize_objects``: all candidates, which were accepted, and per-family stats."""

    pose: np.ndarray  # (N, 16, 3) axis-angle radians, every candidate
    trans: np.ndarray  # (N, 3) meters
    object_index: np.ndarray  # (N,) int: which object of the input list
    accepted: np.ndarray  # (N,) bool
    energy: np.ndarray  # (N,) weighted total energy
    metrics: dict[str, np.ndarray]  # evaluator metrics, (N, ...)
    specs: list = flax.struct.field(pytree_node=False)  # the objects (ObjectSpec or mesh)
    stats: dict = flax.struct.field(pytree_node=False)  # {family: {objects, grasps, accepted,
    # rate}}, plus "all" and "optimiser_grasps_per_s"


def _object_of(item, rng: np.random.Generator):
    """(sdf_fn, mesh, family, spec-or-mesh) of a family name, ObjectSpec or trimesh."""
    if isinstance(item, str):
        item = procedural.sample_spec(item, rng)
    if isinstance(item, procedural.ObjectSpec):
        return procedural_sdf(item), sdf_mesh.mesh(item), item.family, item
    if isinstance(item, trimesh.Trimesh):
        return grid_sdf(sdf_grid.build_sdf_grid(item)), item, "mesh", item
    raise TypeError(f"objects must be family names, ObjectSpecs or trimesh meshes, got {item!r}")


def synthesize_objects(
    objects: Sequence[str | procedural.ObjectSpec | trimesh.Trimesh],
    num_per_object: int,
    key: jax.Array,
    model: HandModel | None = None,
    config: GraspConfig = GraspConfig(),
    thresholds: QualityThresholds = QualityThresholds(),
    *,
    num_points: int = 512,
    num_workers: int = 1,
    progress: bool = False,
) -> Synthesis:
    """Optimise ``num_per_object`` grasps per object, filter them, and report acceptance.

    Args:
      objects: family names (a fresh random member each, drawn from ``key``), ``ObjectSpec``s,
        or meshes (meters; their SDF comes from ``build_sdf_grid``).
      num_per_object: grasps optimised per object (one batch).
      key: PRNG key; the same key and objects give the same result.
      model: hand model (default: the procedural hand).
      config: optimiser settings.
      thresholds: filter settings.
      num_points: object surface points for initialisation and the penetration test.
      num_workers: evaluator processes.
      progress: evaluator progress bars.

    Returns:
      ``Synthesis``; ``stats[family]["rate"]`` is the accepted fraction.
    """
    model = hand.load() if model is None else model
    proxies = build_proxies(model)
    k_obj, k_opt = jax.random.split(key)
    seed = int(jax.random.randint(k_obj, (), 0, np.iinfo(np.int32).max))
    rng = np.random.default_rng(seed)
    poses, transes, index, energy, accepted, metric_rows, specs = [], [], [], [], [], [], []
    families: dict[str, list[int]] = {}
    opt_time = 0.0
    for i, item in enumerate(objects):
        sdf_fn, mesh, family, spec = _object_of(item, rng)
        specs.append(spec)
        points = sampling.sample_points(mesh, num_points, seed=i)
        start = time.perf_counter()
        result = optimize(proxies, sdf_fn, points, jax.random.fold_in(k_opt, i), num_per_object,
                          config)  # fmt: skip
        jax.block_until_ready(result.pose)
        opt_time += time.perf_counter() - start
        ok, metrics = filter_grasps(model, result.pose, result.trans, mesh, thresholds,
                                    num_workers=num_workers, progress=progress)  # fmt: skip
        poses.append(np.asarray(result.pose))
        transes.append(np.asarray(result.trans))
        energy.append(np.asarray(result.energy))
        index.append(np.full(num_per_object, i))
        accepted.append(ok)
        metric_rows.append(metrics)
        families.setdefault(family, []).append(i)
    accepted_all = np.concatenate(accepted)
    index_all = np.concatenate(index)
    stats = {}
    for family, ids in list(families.items()) + [("all", list(range(len(specs))))]:
        mask = np.isin(index_all, ids)
        stats[family] = {
            "objects": len(ids),
            "grasps": int(mask.sum()),
            "accepted": int(accepted_all[mask].sum()),
            "rate": float(accepted_all[mask].mean()),
        }
    stats["optimiser_grasps_per_s"] = len(accepted_all) / max(opt_time, 1e-9)
    keys = metric_rows[0].keys()
    return Synthesis(
        pose=np.concatenate(poses),
        trans=np.concatenate(transes),
        object_index=index_all,
        accepted=accepted_all,
        energy=np.concatenate(energy),
        metrics={k: np.concatenate([np.asarray(r[k]) for r in metric_rows]) for k in keys},
        specs=specs,
        stats=stats,
    )
