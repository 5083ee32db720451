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
from mgd_jax.grasps import batch
from mgd_jax.grasps.config import GraspConfig
from mgd_jax.grasps.optimize import proxies_for
from mgd_jax.hand.model import HandModel
from mgd_jax.objects import procedural, sampling, sdf_mesh


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


@jax.jit
def _hand_vertices(model: HandModel, pose: jax.Array, trans: jax.Array) -> jax.Array:
    return hand.forward(model, pose, trans).vertices


def filter_grasps(
    model: HandModel,
    pose: np.ndarray,
    trans: np.ndarray,
    object_meshes: trimesh.Trimesh | Sequence[trimesh.Trimesh],
    thresholds: QualityThresholds = QualityThresholds(),
    *,
    simulate: bool = True,
    simulate_rejected: bool = True,
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
      simulate_rejected: also simulate grasps that already fail the penetration or contact
        test; False simulates only the others (the same decisions, less time; the skipped
        grasps' ``sim_displacement_cm`` is NaN and ``sim_stable`` False).
      num_workers: evaluator processes (see ``evaluate_meshes``).
      progress: show the evaluator's progress bar.

    Returns:
      accept (B,) bool and the evaluator metrics (``penetration_depth_cm``,
      ``finger_contact`` (B, 6), ``num_fingers_in_contact``, ``sim_displacement_cm``, ...).
    """
    pose = np.asarray(pose, np.float32)
    trans = np.asarray(trans, np.float32)
    verts = np.asarray(_hand_vertices(model, jnp.asarray(pose), jnp.asarray(trans)))
    if isinstance(object_meshes, trimesh.Trimesh):
        object_meshes = [object_meshes] * len(verts)
    faces = model.faces_np
    hands = [(v, faces) for v in verts]
    weights = np.asarray(model.weights)
    labels = {"finger_labels": finger_labels_from_weights(weights),
              "hand_part_labels": part_labels_from_weights(weights)}  # fmt: skip
    object_meshes = list(object_meshes)
    if not simulate or simulate_rejected:
        metrics = evaluate_meshes(
            hands, object_meshes,
            metrics=("penetration", "contact", "simulation") if simulate else ("penetration",
                                                                               "contact"),
            num_workers=num_workers, progress=progress, **labels)  # fmt: skip
        return accept_mask(metrics, thresholds), metrics
    metrics = evaluate_meshes(hands, object_meshes, metrics=("penetration", "contact"),
                              num_workers=num_workers, progress=progress, **labels)  # fmt: skip
    survivors = np.nonzero(accept_mask(metrics, thresholds))[0]
    disp = np.full(len(hands), np.nan)
    stable = np.zeros(len(hands), bool)
    if len(survivors):
        sim = evaluate_meshes([hands[i] for i in survivors], [object_meshes[i] for i in survivors],
                              metrics=("simulation",), num_workers=num_workers, progress=progress,
                              **labels)  # fmt: skip
        disp[survivors] = sim["sim_displacement_cm"]
        stable[survivors] = sim["sim_stable"]
    metrics = {**metrics, "sim_displacement_cm": disp, "sim_stable": stable}
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
    """(mesh, family, spec-or-mesh) of a family name, ObjectSpec or trimesh."""
    if isinstance(item, str):
        item = procedural.sample_spec(item, rng)
    if isinstance(item, procedural.ObjectSpec):
        return sdf_mesh.mesh(item), item.family, item
    if isinstance(item, trimesh.Trimesh):
        return item, "mesh", item
    raise TypeError(f"objects must be family names, ObjectSpecs or trimesh meshes, got {item!r}")


def synthesize_objects(
    objects: Sequence[str | procedural.ObjectSpec | trimesh.Trimesh],
    num_per_object: int,
    key: jax.Array,
    model: HandModel | None = None,
    config: GraspConfig = GraspConfig(),
    thresholds: QualityThresholds = QualityThresholds(),
    *,
    meshes: Sequence[trimesh.Trimesh] | None = None,
    object_keys: Sequence[jax.Array] | None = None,
    num_points: int = 512,
    num_workers: int = 1,
    simulate_rejected: bool = False,
    resolution: int = batch.DEFAULT_RESOLUTION,
    chunk: int = 8,
    progress: bool = False,
) -> Synthesis:
    """Optimise ``num_per_object`` grasps per object, filter them, and report acceptance.

    Every object's SDF is a ``resolution``^3 grid (``batch.object_grid``: procedural objects
    sample their analytic SDF on it), so all objects share one compiled optimiser and run
    ``chunk`` at a time; the filter then evaluates each object's candidates on its mesh.

    Args:
      objects: family names (a fresh random member each, drawn from ``key``), ``ObjectSpec``s,
        or meshes (meters).
      num_per_object: grasps optimised per object.
      key: PRNG key; the same key and objects give the same result.
      model: hand model (default: the procedural hand).
      config: optimiser settings.
      thresholds: filter settings.
      meshes: the objects' meshes when the caller already has them (meters; procedural specs
        are meshed otherwise).
      object_keys: one PRNG key per object for its grasps (default: derived from ``key`` and
        the object's position), so that an object's grasps need not depend on its neighbours.
      num_points: object surface points for initialisation and the penetration energy.
      num_workers: evaluator processes.
      simulate_rejected: also run the simulation test on candidates that already failed the
        penetration or contact test (the same decisions; False saves that time and leaves their
        ``sim_displacement_cm`` NaN).
      resolution: SDF grid size per axis.
      chunk: objects per optimiser call.
      progress: evaluator progress bars.

    Returns:
      ``Synthesis``; ``stats[family]["rate"]`` is the accepted fraction, ``stats`` also holds
      ``optimiser_grasps_per_s`` and ``filter_grasps_per_s``.
    """
    model = hand.load() if model is None else model
    proxies = proxies_for(model, config)
    k_obj, k_opt = jax.random.split(key)
    seed = int(jax.random.randint(k_obj, (), 0, np.iinfo(np.int32).max))
    rng = np.random.default_rng(seed)
    items = [_object_of(item, rng) if meshes is None or isinstance(item, str)
             else (meshes[i], getattr(item, "family", "mesh"), item)
             for i, item in enumerate(objects)]  # fmt: skip
    grids = [batch.object_grid(spec, resolution) for _, _, spec in items]
    points = [sampling.sample_points(mesh, num_points, seed=0) for mesh, _, _ in items]
    start = time.perf_counter()
    results = batch.optimize_objects(proxies, grids, points, k_opt, num_per_object, config, chunk,
                                     object_keys=object_keys)
    opt_time = time.perf_counter() - start
    start = time.perf_counter()
    accepted, metric_rows = [], []
    for r, (mesh, _, _) in zip(results, items):
        ok, metrics = filter_grasps(model, r.pose, r.trans, mesh, thresholds,
                                    simulate_rejected=simulate_rejected, num_workers=num_workers,
                                    progress=progress)  # fmt: skip
        accepted.append(ok)
        metric_rows.append(metrics)
    filter_time = time.perf_counter() - start
    accepted_all = np.concatenate(accepted)
    index_all = np.repeat(np.arange(len(items)), num_per_object)
    families: dict[str, list[int]] = {}
    for i, (_, family, _) in enumerate(items):
        families.setdefault(family, []).append(i)
    stats: dict = {}
    for family, ids in list(families.items()) + [("all", list(range(len(items))))]:
        mask = np.isin(index_all, ids)
        stats[family] = {
            "objects": len(ids),
            "grasps": int(mask.sum()),
            "accepted": int(accepted_all[mask].sum()),
            "rate": float(accepted_all[mask].mean()),
        }
    stats["optimiser_grasps_per_s"] = len(accepted_all) / max(opt_time, 1e-9)
    stats["filter_grasps_per_s"] = len(accepted_all) / max(filter_time, 1e-9)
    keys = metric_rows[0].keys()
    return Synthesis(
        pose=np.concatenate([r.pose for r in results]),
        trans=np.concatenate([r.trans for r in results]),
        object_index=index_all,
        accepted=accepted_all,
        energy=np.concatenate([r.energy for r in results]),
        metrics={k: np.concatenate([np.asarray(r[k]) for r in metric_rows]) for k in keys},
        specs=[spec for _, _, spec in items],
        stats=stats,
    )
