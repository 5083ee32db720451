"""The demo experiment (``configs/demo.py``): every stage of MGD on the embedded default.

    python launch.py --config=configs/demo.py --workdir=runs/demo

Stages, in order, each cached (a finished stage is reused; an interrupted training resumes):

  datasets     mgd_objects and mgd_synthetic at ``config.datasets.config`` (built or reused)
  point_vae    stage-1 point VAE            -> <workdir>/point_vae (checkpoints, eval.json)
  mgd          MGD                          -> <workdir>/mgd
  ablations    MGD variants                 -> <workdir>/mgd_<name>
  baselines    learned baselines (``config.baselines``: the GrabNet-style CVAE)
                                            -> <workdir>/<name>
  samples      conditional grasps on the held-out test objects (every model; the main
               model's also refined, ``sampling.refine_steps``, and sampled with physics
               guidance, ``sampling.physics_guidance``), the GrabNet-style baseline's
               (also refined), joint samples (the main model and the sync_schedulers
               ablation), the ground truth and a nearest-neighbour baseline
                                            -> <workdir>/samples/<set>.npz
  evaluation   evaluators on every set      -> <workdir>/metrics.json
  report       renders + tables             -> <workdir>/report.md, report.html, *.png
               (``mgd_jax.report``)

All hand parameters are MANO axis-angle (radians) and translations in meters, in the
object-centric frame of each object (bounding-box centre at the origin).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import trimesh

from mgd_jax import checkpoint, evaluators, hand, objects, report, train
from mgd_jax.baselines.retrieval import nearest_neighbour_grasps
from mgd_jax.data import builders, hoi

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Learned baselines the demo trains beside MGD (``config.baselines``), with their report titles.
BASELINES = {"grabnet": "GrabNet-style CVAE (CoarseNet, mgd_jax.baselines.grabnet)"}
ABLATIONS = {
    "sync_schedulers": "async_schedulers=False (t_o = t_h in the joint branch)",
    "no_object_only": "HOI data only (no object-only sources)",
}
# Runs that also sample joint hand + object pairs: the main model and the ablation whose change
# is to joint generation (paper Table 4 compares them there).
JOINT_RUNS = ("mgd", "mgd_sync_schedulers")


# --------------------------------------------------------------------------------------------
# Stage bookkeeping


class Stages:
    """``stages.json`` in the workdir: which stages finished, with the inputs they used."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "stages.json")
        self.done: dict[str, Any] = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.done = json.load(f)

    def finished(self, name: str, key: Any) -> bool:
        if self.done.get(name) == key:
            logger.info("%s: reusing finished stage", name)
            return True
        return False

    def mark(self, name: str, key: Any) -> None:
        self.done[name] = key
        checkpoint.write_json(self.path, self.done)


def _key(section: Any) -> Any:
    """A JSON-able fingerprint of a config section (stage cache key)."""
    if isinstance(section, ml_collections.ConfigDict):
        return json.loads(section.to_json_best_effort())
    return json.loads(json.dumps(section, default=str))


def _data_dir(config, workdir: str) -> str | None:
    if config.data_in_workdir:
        return os.path.join(os.path.abspath(workdir), "data")
    return config.data_dir


# --------------------------------------------------------------------------------------------
# Stages


def build_datasets(config, data_dir: str | None, stages: Stages) -> dict:
    """Build (or reuse) the datasets the config's sources name; returns split sizes."""
    key = {"config": config.datasets.config, "data_dir": data_dir, "mano": config.mano_path}
    sizes = {}
    for name in ("mgd_objects", "mgd_synthetic"):
        needed = any(f"tfds:{name}/" in s for s in config.runs.point_vae.data.sources
                     + config.runs.mgd.data.sources)  # fmt: skip
        if not needed:
            continue
        t0 = time.time()
        builder = builders.build(os.path.join(ROOT, "datasets", name), config.datasets.config,
                                      data_dir=data_dir,
                                      mano_path=config.mano_path or None if name == "mgd_synthetic"
                                      else None)  # fmt: skip
        sizes[name] = {k: v.num_examples for k, v in builder.info.splits.items()}
        logger.info("datasets: %s/%s ready (%.0f s): %s", name, config.datasets.config,
                    time.time() - t0, sizes[name])  # fmt: skip
    stages.mark("datasets", key)
    return sizes


def _train(name: str, run_config: ml_collections.ConfigDict, run_dir: str, stages: Stages) -> dict:
    """Train (or resume, or reuse) one run; returns its eval.json."""
    key = _key(run_config)
    eval_path = os.path.join(run_dir, "eval.json")
    if stages.finished(name, key) and os.path.exists(eval_path):
        with open(eval_path) as f:
            return json.load(f)
    t0 = time.time()
    state = train.train_and_evaluate(run_config, run_dir)
    step = int(jax.device_get(state.step))
    if step < run_config.total_steps:  # SIGTERM: the trainer saved a checkpoint and stopped
        logger.warning("demo interrupted during %s at step %d of %d; the same command resumes it",
                       name, step, run_config.total_steps)  # fmt: skip
        raise SystemExit(143)
    with open(eval_path) as f:
        results = json.load(f)
    results["train_seconds_this_call"] = time.time() - t0
    stages.mark(name, key)
    return results


def mgd_run_configs(config, workdir: str, data_dir: str | None) -> dict[str, ml_collections.ConfigDict]:
    """The main MGD run and each ablation, as trainer configs."""
    base = copy.deepcopy(config.runs.mgd)
    with base.unlocked():
        base.task.point_vae = os.path.join(os.path.abspath(workdir), "point_vae")
        base.data.data_dir = data_dir
        base.mano_path = config.mano_path
    runs = {"mgd": base}
    for name in config.ablations:
        if name not in ABLATIONS:
            raise ValueError(f"config.ablations: unknown '{name}'; known: {sorted(ABLATIONS)}")
        run = copy.deepcopy(base)
        with run.unlocked():
            if name == "sync_schedulers":
                run.diffusion.async_schedulers = False
            elif name == "no_object_only":
                hoi = [(s, w) for s, w in zip(run.data.sources, run.data.weights)
                       if "@train_objects" not in s and "mgd_objects" not in s]  # fmt: skip
                run.data.sources = tuple(s for s, _ in hoi)
                run.data.weights = tuple(w for _, w in hoi)
        runs[f"mgd_{name}"] = run
    return runs


def baseline_run_configs(config, data_dir: str | None) -> dict[str, ml_collections.ConfigDict]:
    """The learned baselines named in ``config.baselines`` (``BASELINES``), as trainer configs:
    ``config.runs.<name>`` with the demo's data dir and hand."""
    runs = {}
    for name in config.get("baselines", ()):
        if name not in BASELINES:
            raise ValueError(f"config.baselines: unknown '{name}'; known: {sorted(BASELINES)}")
        if name not in config.runs:
            raise ValueError(f"config.baselines names '{name}' but config.runs.{name} (its "
                             "training config, e.g. configs/grabnet.py) is missing")  # fmt: skip
        run = copy.deepcopy(config.runs[name])
        if int(run.task.num_points) > int(config.runs.mgd.model.num_points):
            raise ValueError(f"config.runs.{name}.task.num_points={run.task.num_points} exceeds "
                             f"the test clouds' {config.runs.mgd.model.num_points} points "
                             "(config.runs.mgd.model.num_points); use at most that")  # fmt: skip
        with run.unlocked():
            run.data.data_dir = data_dir
            run.mano_path = config.mano_path
        runs[name] = run
    return runs


def _refine(config, hand_model, data, objs: tuple) -> tuple[np.ndarray, np.ndarray]:
    """A sample set's grasps (``data``: pose, trans, object_index) refined as ``sample --refine``
    does (``sampling.refine_steps`` optimiser steps, fingers re-closed when
    ``sampling.refine_settle``) on the test objects ``objs`` (``load_sample_objects``)."""
    from mgd_jax import grasps  # lazily: the optimiser compiles
    from mgd_jax.grasps.config import GraspConfig

    ids, meshes, object_points = objs
    settle = GraspConfig(refine_settle=bool(config.sampling.get("refine_settle", False)))
    return grasps.refine_by_object(hand_model, data["pose"], data["trans"], data["object_index"],
                                   meshes, int(config.sampling.refine_steps),
                                   object_points=list(object_points), names=ids,
                                   config=settle)  # fmt: skip


def sample_sets(config, workdir: str, data_dir: str | None, runs: dict, stages: Stages,
                hand_model, baselines: dict | None = None) -> dict:  # fmt: skip
    """Write samples/<set>.npz for every set; returns {set: path}."""
    from mgd_jax.generator import Generator

    out_dir = os.path.join(workdir, "samples")
    os.makedirs(out_dir, exist_ok=True)
    s = config.sampling
    hoi_name = config.runs.mgd.data.sources[0].removeprefix("tfds:").split("@")[0]
    num_points = int(config.runs.mgd.model.num_points)
    test = hoi.grouped_grasps(hoi.tfds_split(hoi_name, "test", data_dir), num_points, hand_model)
    if not test:
        raise ValueError(f"{hoi_name}: the test split has no grasps to condition on")
    ids = sorted(test)
    k = int(s.num_per_object)
    paths = {}

    def save(name, **arrays):
        path = os.path.join(out_dir, f"{name}.npz")
        np.savez(path, **arrays)
        paths[name] = path

    joint_runs = [n for n in runs if n in JOINT_RUNS]
    baselines = baselines or {}
    key = {"sampling": _key(s), "runs": {n: stages.done.get(n) for n in [*runs, *baselines]},
           "joint": joint_runs}  # fmt: skip
    if stages.finished("samples", key):
        return {f[:-4]: os.path.join(out_dir, f) for f in os.listdir(out_dir) if f.endswith(".npz")}
    object_index = np.repeat(np.arange(len(ids)), k)
    points = np.stack([test[i]["points"] for i in ids])[object_index]
    for run_name in runs:
        gen = Generator.load(os.path.join(workdir, run_name))
        t0 = time.time()
        pose, trans = gen.conditional(points, seed=config.seed, method=s.method,
                                      num_steps=s.num_steps, guidance=s.guidance,
                                      batch_size=s.batch_size)  # fmt: skip
        logger.info("samples: %s conditional, %d grasps in %.1f s", run_name, len(pose),
                    time.time() - t0)  # fmt: skip
        save(f"{run_name}_conditional", pose=pose, trans=trans, object_index=object_index)
        if run_name in joint_runs:
            t0 = time.time()
            jp, jt, jpts = gen.joint(int(s.num_joint), seed=config.seed, method=s.method,
                                     num_steps=s.num_steps, batch_size=s.batch_size)  # fmt: skip
            logger.info("samples: %s joint, %d pairs in %.1f s", run_name, len(jp),
                        time.time() - t0)  # fmt: skip
            save(f"{run_name}_joint", pose=jp, trans=jt, points=jpts)
    gt_pose = np.concatenate([test[i]["pose"] for i in ids])
    gt_trans = np.concatenate([test[i]["trans"] for i in ids])
    gt_index = np.concatenate([np.full(len(test[i]["pose"]), j) for j, i in enumerate(ids)])
    save("ground_truth", pose=gt_pose, trans=gt_trans, object_index=gt_index)
    train_set = hoi.grouped_grasps(hoi.tfds_split(hoi_name, "train", data_dir), num_points,
                                   hand_model)  # fmt: skip
    nn = nearest_neighbour_grasps(test, train_set, k, config.seed)
    save("nearest_neighbour", pose=np.concatenate([nn[i]["pose"] for i in ids]),
         trans=np.concatenate([nn[i]["trans"] for i in ids]), object_index=object_index)  # fmt: skip
    with open(os.path.join(out_dir, "objects.json"), "w") as f:
        json.dump({"dataset": hoi_name, "object_ids": ids,
                   "sources": [test[i]["source"] for i in ids]}, f, indent=1)  # fmt: skip
    np.save(os.path.join(out_dir, "object_points.npy"), np.stack([test[i]["points"] for i in ids]))
    if "grabnet" in baselines:
        from mgd_jax.baselines.grabnet import GrabNetSampler

        sampler = GrabNetSampler.load(os.path.join(workdir, "grabnet"), config.mano_path or None)
        t0 = time.time()
        pose, trans = sampler.conditional(points, seed=config.seed, batch_size=s.batch_size)
        logger.info("samples: grabnet conditional, %d grasps in %.1f s", len(pose),
                    time.time() - t0)  # fmt: skip
        save("grabnet_conditional", pose=pose, trans=trans, object_index=object_index)
    objs = load_sample_objects(workdir)  # ids, meshes, points of the test objects
    if int(s.get("refine_steps", 0) or 0) > 0:  # as ``sample --refine`` does
        for source, target in (("mgd_conditional", "mgd_refined"),
                               ("grabnet_conditional", "grabnet_refined")):  # fmt: skip
            if source in paths:
                t0 = time.time()
                pose, trans = _refine(config, hand_model, np.load(paths[source]), objs)
                logger.info("samples: %s refined (%d steps), %d grasps in %.1f s", source,
                            int(s.refine_steps), len(pose), time.time() - t0)  # fmt: skip
                save(target, pose=pose, trans=trans, object_index=object_index)
    scale = s.get("physics_guidance")
    if scale:  # the main model sampled again, guided by the grasp energy over its last steps
        from mgd_jax import physics_guidance  # lazily: the grasp energy

        meshes = objs[1]
        guidance = physics_guidance.PhysicsGuidance(float(scale), int(s.physics_steps))
        gen = Generator.load(os.path.join(workdir, "mgd"))
        t0 = time.time()
        pose, trans = gen.conditional(points, seed=config.seed, method=s.method,
                                      num_steps=s.num_steps, guidance=s.guidance,
                                      batch_size=s.batch_size, physics=guidance,
                                      grids=physics_guidance.object_grids(meshes, names=ids),
                                      grid_rows=object_index)  # fmt: skip
        logger.info("samples: mgd conditional, physics-guided (scale %g, last %d steps), %d "
                    "grasps in %.1f s", guidance.scale, guidance.steps, len(pose),
                    time.time() - t0)  # fmt: skip
        save("mgd_physics", pose=pose, trans=trans, object_index=object_index)
    stages.mark("samples", key)
    return paths


def load_sample_objects(workdir: str) -> tuple[list[str], list[trimesh.Trimesh], np.ndarray]:
    """The test objects the samples were drawn on: ids, meshes and (K, N, 3) points, meters."""
    with open(os.path.join(workdir, "samples", "objects.json")) as f:
        meta = json.load(f)
    points = np.load(os.path.join(workdir, "samples", "object_points.npy"))
    meshes = [hoi.object_mesh(i, s, p) for i, s, p in zip(meta["object_ids"], meta["sources"], points)]
    return meta["object_ids"], meshes, points


def add_generation_metrics(config, workdir: str, results: dict) -> bool:
    """``results[set]["generation"]`` for each sample set with its own generated object points
    (joint samples) that lacks it: MMD-CD (mm), COV-CD and 1-NNA-CD
    (:func:`evaluators.generation_metrics`) of the set's first ``max_grasps`` clouds (the samples
    are i.i.d.), non-finite ones dropped and counted, against the held-out test objects' points
    the conditional sets were drawn on. Returns whether anything was added."""
    added = False
    reference = None
    for name, entry in results.items():
        path = os.path.join(workdir, "samples", f"{name}.npz")
        if "generation" in entry or not os.path.exists(path):
            continue
        data = np.load(path)
        if "points" not in data:
            continue
        if reference is None:
            reference = np.load(os.path.join(workdir, "samples", "object_points.npy"))
        points = data["points"][: int(config.evaluation.max_grasps)]
        finite = np.isfinite(points).all(axis=(1, 2))
        gen = {"num_nonfinite": int((~finite).sum())}
        if finite.any():
            t0 = time.time()
            gen.update(evaluators.generation_metrics(points[finite], reference, seed=config.seed))
            logger.info("evaluation: %s generation vs %d test objects (%.1f s): %s", name,
                        len(reference), time.time() - t0, gen)  # fmt: skip
        entry["generation"] = gen
        added = True
    return added


def evaluate_grasps(config, hand_model, pose: np.ndarray, trans: np.ndarray,
                    objs: list, gt_joints: np.ndarray | None = None) -> dict:
    """The evaluators on one set of grasps: the entry ``metrics.json`` holds per set.

    Args:
      config: the experiment config (its ``evaluation`` section: metrics, workers, simulator).
      hand_model: the hand the poses belong to.
      pose: (N, 16, 3) MANO axis-angle, radians; trans: (N, 3) meters, in each object's frame.
      objs: N object meshes (meters), one per grasp; None where there is none (e.g. a generated
        cloud without an alpha shape): that grasp is left out.
      gt_joints: optional (G, 21, 3) ground-truth joints, meters, for the Frechet distance.

    Returns:
      ``{"num_grasps", "num_nonfinite", "metrics": evaluators.summarize(...), "seconds",
      "diversity", "frechet_to_ground_truth"}`` (the last two where there are >= 2 grasps).
    """
    posed = hand.forward(hand_model, pose, trans)
    verts = np.asarray(posed.vertices, np.float64)
    finite = np.isfinite(verts).all(axis=(1, 2))
    keep = [i for i in np.flatnonzero(finite) if objs[i] is not None]
    hands = [hand.to_trimesh(verts[i], hand_model) for i in keep]
    objs = [objs[i] for i in keep]
    weights = np.asarray(hand_model.weights)
    t0 = time.time()
    per_grasp = {}
    if hands:
        per_grasp = evaluators.evaluate_meshes(
            hands, objs, metrics=tuple(config.evaluation.metrics),
            num_workers=int(config.evaluation.num_workers), progress=True,
            simulator=config.evaluation.get("simulator", "mujoco"),
            hand_part_labels=evaluators.part_labels_from_weights(weights),
            finger_labels=evaluators.finger_labels_from_weights(weights),
        )  # fmt: skip
    else:  # e.g. no generated object of a joint set gave an alpha shape: no metrics, no crash
        logger.warning("evaluation: a set has no grasp to evaluate")
    summary = {k: v for k, v in evaluators.summarize(per_grasp).items()}
    joints = np.asarray(posed.joints)[finite]
    entry = {"num_grasps": len(hands), "num_nonfinite": int((~finite).sum()),
             "metrics": summary, "seconds": time.time() - t0}  # fmt: skip
    if len(joints) >= 2:
        entry["diversity"] = evaluators.diversity(joints, seed=config.seed)
        if gt_joints is not None and len(gt_joints) >= 2:
            entry["frechet_to_ground_truth"] = evaluators.frechet_distance_sets(joints, gt_joints)
    return entry


def evaluate_sets(config, workdir: str, hand_model, stages: Stages) -> dict:
    """Evaluators on every sample set -> metrics.json (per-set means/stds, diversity, Frechet,
    generation metrics of joint samples' objects)."""
    path = os.path.join(workdir, "metrics.json")
    key = {"samples": stages.done.get("samples"), "evaluation": _key(config.evaluation)}
    if stages.finished("evaluation", key) and os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
        if add_generation_metrics(config, workdir, results):  # finished before they existed
            checkpoint.write_json(path, results)
        return results
    _, meshes, _ = load_sample_objects(workdir)
    sets = sorted(f[:-4] for f in os.listdir(os.path.join(workdir, "samples"))
                  if f.endswith(".npz"))  # fmt: skip
    rng = np.random.default_rng(config.seed)
    gt = np.load(os.path.join(workdir, "samples", "ground_truth.npz"))
    gt_joints = np.asarray(hand.forward(hand_model, gt["pose"], gt["trans"]).joints)
    results: dict[str, Any] = {}
    for name in sets:
        data = np.load(os.path.join(workdir, "samples", f"{name}.npz"))
        n = len(data["pose"])
        pick = np.sort(rng.choice(n, min(n, config.evaluation.max_grasps), replace=False))
        if "points" in data:  # joint samples: their own generated objects
            objs = [objects.alpha_shape_or_none(p) for p in data["points"][pick]]
        else:
            objs = [meshes[i] for i in data["object_index"][pick]]
        entry = evaluate_grasps(config, hand_model, data["pose"][pick], data["trans"][pick], objs,
                                gt_joints=None if name == "ground_truth" or "points" in data
                                else gt_joints)  # fmt: skip
        results[name] = entry
        logger.info("evaluation: %s (%d grasps): %s", name, entry["num_grasps"],
                    {k: round(v["mean"], 3) for k, v in entry["metrics"].items()})  # fmt: skip
    add_generation_metrics(config, workdir, results)
    checkpoint.write_json(path, results)
    stages.mark("evaluation", key)
    return results


# --------------------------------------------------------------------------------------------


def run(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Run (or resume) the whole demo; returns the path of report.html."""
    start = time.time()
    os.makedirs(workdir, exist_ok=True)
    stages = Stages(workdir)
    data_dir = _data_dir(config, workdir)
    hand_model = hand.load(config.mano_path or None)
    logger.info("demo in %s (hand %s, data in %s)", workdir, hand_model.name,
                data_dir or "~/tensorflow_datasets")  # fmt: skip
    sizes = build_datasets(config, data_dir, stages)

    pv = copy.deepcopy(config.runs.point_vae)
    with pv.unlocked():
        pv.data.data_dir = data_dir
    trained = {"point_vae": _train("point_vae", pv, os.path.join(workdir, "point_vae"), stages)}
    runs = mgd_run_configs(config, workdir, data_dir)
    for name, run_config in runs.items():
        trained[name] = _train(name, run_config, os.path.join(workdir, name), stages)
    baselines = baseline_run_configs(config, data_dir)
    for name, run_config in baselines.items():
        trained[name] = _train(name, run_config, os.path.join(workdir, name), stages)

    sample_sets(config, workdir, data_dir, runs, stages, hand_model, baselines)
    metrics = evaluate_sets(config, workdir, hand_model, stages)
    ids, meshes, _ = load_sample_objects(workdir)
    renders = report.render_sets(config, workdir, hand_model, ids, meshes)
    titles = {**{f"mgd_{k}": v for k, v in ABLATIONS.items()}, **BASELINES}
    md, page = report.write_report(workdir, config, sizes, trained, metrics, renders,
                                   time.time() - start, titles)  # fmt: skip
    logger.info("wrote %s and %s", md, page)
    jax.clear_caches()
    return page
