"""mgd_synthetic: the embedded hand-object dataset: optimised, quality-filtered grasps of a
MANO-layout hand on procedural objects, plus object-only examples (array_record, no TensorFlow).

    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=demo   # 2 CPU cores: 14-25 min
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full   # a GPU or a cluster
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=tiny   # tests
    # add --mano_path=/path/to/MANO_RIGHT.pkl to synthesise with the real MANO hand,
    # --workers=N to set the parallel processes (default: one per core, at most 8)

How it is made: for every procedural object (``mgd_jax.objects.procedural`` families, object
``i`` of a family from the seed ``base_seed + i``, randomly rotated, hand-scale) the grasp
optimiser (``mgd_jax.grasps.synthesize_objects``: the object's analytic SDF sampled on a 64^3
grid, ``chunk`` objects per call, one compilation for every family) runs ``grasps_per_object``
candidates; candidates pass the quality filter (penetration < 0.5 cm, >= 3 fingers in contact
including the thumb, MuJoCo simulation displacement < 2 cm, by ``mgd_jax.evaluators`` on the
posed hand mesh) and the ``max_per_object`` lowest-energy accepted ones become examples. The hand
is expressed in the object-centric frame of the stored points (the mesh's bounding-box centre at
the origin), meters. The objects are shared among ``workers`` processes on this machine.

Splits are by object (an object never appears in two splits): per family, the last 10 % of the
seeds are ``test``, ``validation_per_family`` (default 10 %) before them ``validation``, the
rest ``train``. ``train_objects`` holds
object-only examples (``has_hand`` False, pose and trans zero): the train objects plus
``extra_objects_per_family`` further shapes that have no grasps, as object-only data does in the
paper (HOI pairs train everything, object-only data the object part).

Resumable: each object's synthesis is saved in ``<data_dir>/downloads/mgd_synthetic_work/<config>/
<hand>-<settings>`` as soon as its chunk finishes; an interrupted build re-run with the same
command continues from there and never drops finished objects.

On a cluster, split the synthesis by object ranges with any job runner (e.g. a SLURM array), each
worker writing into the same work folder, then build once (it only reads the finished objects):

    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full --data_dir=$SHARED \
        --shard=$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT      # every worker, in parallel
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full --data_dir=$SHARED

An object whose synthesis fails is logged and counted, and the build goes on. Acceptance rates
per family are logged and stored in the dataset's metadata (``synthesis_stats``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os

import jax
import numpy as np
import tensorflow_datasets as tfds
import tqdm

from mgd_jax import grasps, hand
from mgd_jax.objects import examples, procedural, sdf_mesh

_BASE_SEED = 20_000
_EXTRA_SEED = 900_000  # object-only shapes: seeds that never hold grasps


@dataclasses.dataclass
class MgdSyntheticConfig(tfds.core.BuilderConfig):
    per_family: int = 10  # objects with grasps, per family (split 80/10/10 by object)
    validation_per_family: int = -1  # of those, validation objects (-1: a tenth, at least 1)
    extra_objects_per_family: int = 10  # object-only shapes, per family (train_objects)
    grasps_per_object: int = 20  # optimised candidates per object
    max_per_object: int = 16  # accepted grasps kept per object (the lowest-energy ones)
    optimiser_steps: int | None = None  # None: GraspConfig's default
    families: tuple[str, ...] = tuple(procedural.FAMILIES)
    chunk: int = 8  # objects per optimiser call (one compilation serves every object)
    workers: int = 0  # synthesis processes (0: one per CPU core, at most 8)


def _object_ranges(n: int, n_val: int = -1) -> dict[str, range]:
    """Object indices of each split, per family: train first, then validation, then test (a
    tenth, at least one, once a family has 3 objects)."""
    n_test = max(1, n // 10) if n >= 3 else 0
    if n_val < 0:
        n_val = max(1, n // 10) if n >= 3 else 0
    if n_val + n_test >= n:
        raise ValueError(f"validation_per_family={n_val} leaves no training object of {n}")
    return {"train": range(0, n - n_val - n_test), "validation": range(n - n_val - n_test, n - n_test),
            "test": range(n - n_test, n)}  # fmt: skip


def hoi_synthetic_features():
    """``examples.hoi_features`` plus the family, ``has_hand`` and the grasp's quality metrics."""
    features = dict(examples.hoi_features().items())
    features.update({
        "family": tfds.features.Text(),
        "has_hand": np.bool_,  # False for object-only examples (pose, trans are zeros)
        "penetration_depth_cm": np.float32,  # -1 where has_hand is False
        "sim_displacement_cm": np.float32,
        "num_fingers_in_contact": np.int32,
        "energy": np.float32,  # optimiser's final weighted energy
    })  # fmt: skip
    return tfds.features.FeaturesDict(features)


class MgdSynthetic(tfds.core.GeneratorBasedBuilder):
    """Synthesised grasps on procedural objects (meters, object-centric frame)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: 24 candidates per object.",
        "1.1.0": "20 families, 4x oversampling, 20 candidates per object; demo: 1 validation "
                 "object and 6 object-only shapes per family.",
    }
    BUILDER_CONFIGS = [
        MgdSyntheticConfig(name="tiny", per_family=3, extra_objects_per_family=1,
                           grasps_per_object=8, max_per_object=4, chunk=2, workers=1,
                           families=("box", "cylinder"), description="tests"),  # fmt: skip
        MgdSyntheticConfig(name="demo", per_family=24, validation_per_family=1,
                           extra_objects_per_family=6, description="CPU-sized, the embedded "
                           "default: 20 families x 24 objects (420 train, 20 validation, 40 "
                           "test), 20 candidates each; 120 object-only shapes"),  # fmt: skip
        MgdSyntheticConfig(name="full", per_family=500, extra_objects_per_family=2000,
                           grasps_per_object=64, max_per_object=32, chunk=16,
                           description="GPU or cluster sized: 10,000 objects, >= 100k grasps"),  # fmt: skip
    ]

    def __init__(self, *, mano_path: str | None = None, workers: int | None = None, **kwargs):
        self._mano_path = mano_path
        self._workers = workers  # overrides the config's ``workers``
        super().__init__(**kwargs)

    def _work_dir(self, download_dir: str, model) -> str:
        """The per-object cache, keyed by hand model and every synthesis setting: a changed
        setting never reuses grasps made under others."""
        cfg = self.builder_config
        grasp_settings = {k: v for k, v in dataclasses.asdict(self._grasp_config()).items()
                          if k not in _NOT_SYNTHESIS}  # fmt: skip
        settings = json.dumps([cfg.grasps_per_object, _BASE_SEED, grasps.batch.DEFAULT_RESOLUTION,
                               grasp_settings], sort_keys=True)  # fmt: skip
        key = hand.fingerprint(model)[:12] + "-" + examples.stable_seed(settings).to_bytes(4, "little").hex()
        work = os.path.join(download_dir, "mgd_synthetic_work", cfg.name, key)
        os.makedirs(work, exist_ok=True)
        return work

    def _grasp_config(self) -> grasps.GraspConfig:
        steps = self.builder_config.optimiser_steps
        return grasps.GraspConfig() if steps is None else grasps.GraspConfig(steps=steps)

    def _jobs(self) -> list[tuple[str, str, int]]:
        """(split, family, object index) of every object with grasps, in a fixed order."""
        cfg = self.builder_config
        return [(split, family, i) for split, r in _object_ranges(cfg.per_family, cfg.validation_per_family).items()
                for family in cfg.families for i in r]  # fmt: skip

    def synthesize_shard(self, shard: int, num_shards: int, download_dir: str | None = None) -> dict:
        """Synthesise (or find cached) the objects ``shard, shard + num_shards, ...`` of the job
        list, and the object-only shapes likewise, into the work folder, without writing the
        dataset; a later plain build merges every shard's objects. Returns ``{"objects",
        "accepted", "candidates", "failed"}`` of this shard.

        Raises:
          ValueError when ``shard`` is not in ``0..num_shards-1``.
        """
        if not 0 <= shard < num_shards:
            raise ValueError(f"--shard={shard}/{num_shards}: the shard index must be in 0..{num_shards - 1}")
        model = hand.load(self._mano_path or None)
        work = self._work_dir(download_dir or os.path.join(self.data_dir_root, "downloads"), model)
        jobs = [(family, _BASE_SEED + i) for _, family, i in self._jobs()][shard::num_shards]
        results, failed = _synthesize_jobs(work, model, jobs, self.builder_config,
                                           self._grasp_config(),
                                           f"mgd_synthetic shard {shard}/{num_shards}", shard)  # fmt: skip
        for family, seed in self._extra_objects()[shard::num_shards]:
            _object_only(work, family, seed)
        return {"objects": len(jobs), "failed": failed,
                "accepted": sum(int(r["accepted"].sum()) for r in results.values()),
                "candidates": sum(len(r["accepted"]) for r in results.values())}  # fmt: skip

    def _extra_objects(self) -> list[tuple[str, int]]:
        cfg = self.builder_config
        return [(f, _EXTRA_SEED + i) for f in cfg.families for i in range(cfg.extra_objects_per_family)]

    def _run_workers(self, download_dir: str) -> None:
        """Synthesise every shard in ``workers`` parallel processes (each ``synthesize_shard``)."""
        workers = _num_workers(self.builder_config, self._workers)
        folder = os.path.dirname(os.path.abspath(__file__))
        args = (folder, self.builder_config.name, self.data_dir_root, self._mano_path, download_dir)
        logging.info("mgd_synthetic: synthesising in %d processes", workers)
        ctx = multiprocessing.get_context("spawn")
        old = os.environ.get("XLA_FLAGS")
        # One XLA thread per process: the processes share the cores instead of oversubscribing.
        os.environ["XLA_FLAGS"] = ((old or "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()  # fmt: skip
        try:
            procs = [ctx.Process(target=_shard_worker, args=(*args, i, workers)) for i in range(workers)]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
        finally:
            if old is None:
                os.environ.pop("XLA_FLAGS", None)
            else:
                os.environ["XLA_FLAGS"] = old
        bad = [i for i, proc in enumerate(procs) if proc.exitcode != 0]
        if bad:
            logging.warning("mgd_synthetic: worker(s) %s stopped early; their unfinished objects "
                            "are synthesised here", bad)  # fmt: skip

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=hoi_synthetic_features(), metadata=tfds.core.MetadataDict()
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        model = hand.load(self._mano_path or None)
        download_dir = os.fspath(dl_manager.download_dir)
        work = self._work_dir(download_dir, model)
        ranges = _object_ranges(cfg.per_family, cfg.validation_per_family)
        jobs = [(family, _BASE_SEED + i) for _, family, i in self._jobs()]
        todo = [j for j in jobs if not os.path.exists(_cache_path(work, *j))]
        if _num_workers(cfg, self._workers) > 1 and len(todo) > cfg.chunk:
            self._run_workers(download_dir)
        results, failed = _synthesize_jobs(work, model, jobs, cfg, self._grasp_config(),
                                           "mgd_synthetic: synthesising grasps")  # fmt: skip
        stats = _family_stats(results)
        stats["failed_objects"] = failed
        logging.info("mgd_synthetic acceptance per family: %s", json.dumps(stats))
        if failed:
            logging.warning("mgd_synthetic: %d of %d objects failed (listed above); re-run the same "
                            "command to retry them", len(failed), len(jobs))  # fmt: skip
        self.info.metadata.update(synthesis_stats=stats, hand_model=model.name,
                                  hand_fingerprint=hand.fingerprint(model))  # fmt: skip
        splits = {}
        for split, r in ranges.items():
            objs = [(f, _BASE_SEED + i) for f in cfg.families for i in r]
            accepted = sum(int(results[o]["accepted"].sum()) for o in objs if o in results)
            if accepted == 0:  # tfds cannot write an empty split: leave it out, say so
                logging.warning("mgd_synthetic: no accepted grasp in split '%s' (%d objects); the "
                                "split is left out. Raise grasps_per_object or optimiser_steps.",
                                split, len(objs))  # fmt: skip
                continue
            splits[split] = self._generate_examples(objs, results)
        object_only = [(f, _BASE_SEED + i) for f in cfg.families for i in ranges["train"]]
        object_only += self._extra_objects()
        results.update({o: _object_only(work, *o) for o in self._extra_objects()})
        splits["train_objects"] = self._generate_examples(object_only, results, object_only=True)
        return splits

    def _generate_examples(self, objects: list[tuple[str, int]], results: dict,
                           object_only: bool = False):  # fmt: skip
        """Accepted grasps of ``objects`` (from ``results``), or their object-only examples."""
        if object_only:
            yield from self._object_examples(objects, results)
            return
        cfg = self.builder_config
        for family, seed in objects:
            r = results.get((family, seed))
            if r is None:
                continue
            base = _object_example(family, seed, r)
            offset = r["centre"]
            order = np.argsort(np.where(r["accepted"], r["energy"], np.inf))
            keep = [j for j in order if r["accepted"][j]][: cfg.max_per_object]
            for j in keep:
                yield f"{family}/{seed}/{j}", {
                    **base,
                    "pose": r["pose"][j].astype(np.float32),
                    "trans": (r["trans"][j] - offset).astype(np.float32),
                    "betas": np.zeros(10, np.float32),
                    "has_hand": True,
                    "penetration_depth_cm": np.float32(r["penetration_depth_cm"][j]),
                    "sim_displacement_cm": np.float32(r["sim_displacement_cm"][j]),
                    "num_fingers_in_contact": np.int32(r["num_fingers_in_contact"][j]),
                    "energy": np.float32(r["energy"][j]),
                }

    def _object_examples(self, objects: list[tuple[str, int]], results: dict):
        for family, seed in objects:
            try:
                base = _object_example(family, seed, results.get((family, seed)))
            except Exception as e:
                logging.error("mgd_synthetic: object %s/%d skipped: %s", family, seed, e)
                continue
            yield f"{family}/{seed}", {
                **base,
                "pose": np.zeros((16, 3), np.float32),
                "trans": np.zeros(3, np.float32),
                "betas": np.zeros(10, np.float32),
                "has_hand": False,
                "penetration_depth_cm": np.float32(-1),
                "sim_displacement_cm": np.float32(-1),
                "num_fingers_in_contact": np.int32(0),
                "energy": np.float32(0),
            }


def _object_example(family: str, seed: int, synthesis: dict | None = None) -> dict:
    """Points/normals of the object in its centred frame (the same draw the synthesis used); taken
    from the object's synthesis record when it has them, else meshed again."""
    oid = f"{family}/{seed}"
    if synthesis is not None and "points" in synthesis:
        example = {"points": synthesis["points"], "normals": synthesis["normals"], "object_id": oid,
                   "source": f"mgd_synthetic/{family}", "scale": np.float32(1.0)}  # fmt: skip
    else:
        _, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
        example = examples.make_example(mesh, oid, f"mgd_synthetic/{family}", 1.0)
    example["family"] = family
    return example


def _num_workers(cfg: MgdSyntheticConfig, override: int | None = None) -> int:
    workers = cfg.workers if override is None else override
    if workers < 0:
        raise ValueError(f"--workers={workers}: give a positive number (0: one per core)")
    return workers if workers > 0 else max(1, min(8, os.cpu_count() or 1))


def _shard_worker(folder, config, data_dir, mano_path, download_dir, shard, num_shards) -> None:
    """Process entry point of ``_run_workers``."""
    from mgd_jax.data import builders

    logging.getLogger().setLevel(logging.WARNING)
    builder = builders.make_builder(folder, config, data_dir, mano_path)
    builder.synthesize_shard(shard, num_shards, download_dir)


# GraspConfig fields that synthesis never reads (refinement only), added after caches were
# first built: left out of the cache key, so they do not orphan caches built before them.
_NOT_SYNTHESIS = ("refine_settle",)


def _cache_path(work: str, family: str, seed: int) -> str:
    return os.path.join(work, f"{family}_{seed}.npz")


def _load(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as e:  # a torn file from a killed build: redo it
        logging.warning("mgd_synthetic: redoing %s (unreadable: %s)", path, e)
        return None


def _save(path: str, out: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)


def _object_only(work: str, family: str, seed: int) -> dict:
    """Points and normals of an object-only shape, cached in the work folder."""
    path = _cache_path(work, family, seed)
    out = _load(path)
    if out is None:
        _, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
        example = examples.make_example(mesh, f"{family}/{seed}", f"mgd_synthetic/{family}", 1.0)
        out = {"points": example["points"], "normals": example["normals"], "family": np.asarray(family)}
        _save(path, out)
    return out


def _synthesize_jobs(work: str, model, jobs: list[tuple[str, int]], cfg: MgdSyntheticConfig,
                     grasp_config: grasps.GraspConfig, desc: str,
                     position: int = 0) -> tuple[dict, list[str]]:  # fmt: skip
    """Synthesise (or load from the work folder) every (family, seed) of ``jobs``, ``cfg.chunk``
    objects per optimiser call. Returns ({job: record}, ["family/seed" that failed])."""
    results, failed, todo = {}, [], []
    for job in jobs:
        cached = _load(_cache_path(work, *job))
        if cached is None:
            todo.append(job)
        else:
            results[job] = cached
    bar = tqdm.tqdm(total=len(jobs), initial=len(results), desc=desc, unit="object",
                    position=position)  # fmt: skip
    for start in range(0, len(todo), cfg.chunk):
        chunk = todo[start : start + cfg.chunk]
        results.update(_synthesize_chunk(work, model, chunk, cfg, grasp_config, failed))
        bar.update(len(chunk))
        acc = sum(int(r["accepted"].sum()) for r in results.values())
        bar.set_postfix(accepted=f"{acc}/{sum(len(r['accepted']) for r in results.values())}")
    bar.close()
    return results, failed


def _synthesize_chunk(work: str, model, chunk: list[tuple[str, int]], cfg: MgdSyntheticConfig,
                      grasp_config: grasps.GraspConfig, failed: list[str]) -> dict:  # fmt: skip
    """Synthesise, filter and save the grasps of a few objects in one optimiser call; when the
    call fails, each object is tried alone, and an object that fails alone is logged and listed
    in ``failed`` (one bad object must not end a long build)."""
    try:
        objects = [sdf_mesh.sample_object(family, seed, random_rotation=True) for family, seed in chunk]
        result = grasps.synthesize_objects(
            [spec for spec, _ in objects], cfg.grasps_per_object, jax.random.PRNGKey(0), model,
            grasp_config, meshes=[mesh for _, mesh in objects],
            object_keys=[jax.random.PRNGKey(seed) for _, seed in chunk], chunk=cfg.chunk)  # fmt: skip
    except Exception as e:
        if len(chunk) > 1:
            out = {}
            for job in chunk:
                out.update(_synthesize_chunk(work, model, [job], cfg, grasp_config, failed))
            return out
        family, seed = chunk[0]
        logging.error("mgd_synthetic: %s/%d failed and is skipped: %s: %s", family, seed,
                      type(e).__name__, e)  # fmt: skip
        failed.append(f"{family}/{seed}")
        return {}
    out = {}
    for j, ((family, seed), (_, mesh)) in enumerate(zip(chunk, objects)):
        sel = np.asarray(result.object_index) == j
        lo, hi = mesh.bounds
        record = {
            "pose": np.asarray(result.pose[sel], np.float32),
            "trans": np.asarray(result.trans[sel], np.float32),
            "accepted": np.asarray(result.accepted[sel], bool),
            "energy": np.asarray(result.energy[sel], np.float32),
            "penetration_depth_cm": np.asarray(result.metrics["penetration_depth_cm"][sel], np.float32),
            "sim_displacement_cm": np.asarray(result.metrics["sim_displacement_cm"][sel], np.float32),
            "num_fingers_in_contact": np.asarray(result.metrics["num_fingers_in_contact"][sel], np.int32),
            "centre": (0.5 * (lo + hi)).astype(np.float32),  # the object-centric frame's origin
            "family": np.asarray(family),
        }  # fmt: skip
        example = examples.make_example(mesh, f"{family}/{seed}", f"mgd_synthetic/{family}", 1.0)
        record["points"], record["normals"] = example["points"], example["normals"]
        _save(_cache_path(work, family, seed), record)
        out[(family, seed)] = record
    return out


def _family_stats(results: dict) -> dict:
    stats: dict = {}
    for (family, _), r in sorted(results.items()):
        s = stats.setdefault(family, {"objects": 0, "candidates": 0, "accepted": 0})
        s["objects"] += 1
        s["candidates"] += int(len(r["accepted"]))
        s["accepted"] += int(r["accepted"].sum())
    for s in stats.values():
        s["rate"] = s["accepted"] / max(1, s["candidates"])
    return stats
