"""mgd_synthetic: the embedded hand-object dataset: optimised, quality-filtered grasps of a
MANO-layout hand on procedural objects, plus object-only examples (array_record, no TensorFlow).

    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=demo   # CPU: < 20 minutes
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full   # GPU recommended
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=tiny   # tests
    # add --mano_path=/path/to/MANO_RIGHT.pkl to synthesise with the real MANO hand

How it is made: for every procedural object (``mgd_jax.objects.procedural`` families, object
``i`` of a family from the seed ``base_seed + i``, randomly rotated, 3-18 cm) the grasp optimiser
(``mgd_jax.grasps.synthesize_objects``) runs ``grasps_per_object`` candidates; candidates pass the quality
filter (penetration < 0.5 cm, >= 3 fingers in contact including the thumb, MuJoCo simulation
displacement < 2 cm) and the accepted ones become examples. The hand is expressed in the
object-centric frame of the stored points (the mesh's bounding-box centre at the origin), meters.

Splits are by object (an object never appears in two splits): per family, the last 10 % of the
seeds are ``test``, the 10 % before ``validation``, the rest ``train``. ``train_objects`` holds
object-only examples (``has_hand`` False, pose and trans zero): the train objects plus
``extra_objects_per_family`` further shapes that have no grasps, as object-only data does in the
paper (HOI pairs train everything, object-only data the object part).

Resumable: each object's synthesis is saved in ``<data_dir>/downloads/mgd_synthetic_work/<config>/
<hand>-<settings>`` as soon as it finishes; an interrupted build re-run with the same command
continues from there and never drops finished objects.

On a cluster, split the synthesis by object ranges with any job runner (e.g. a SLURM array), each
worker writing into the same work folder, then build once (it only reads the finished objects):

    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full --data_dir=$SHARED \
        --shard=$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT      # every worker, in parallel
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full --data_dir=$SHARED An object whose synthesis fails is logged and counted, and the
build goes on. Acceptance rates per family are logged and stored in the dataset's metadata
(``synthesis_stats``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
    extra_objects_per_family: int = 10  # object-only shapes, per family (train_objects)
    grasps_per_object: int = 16  # optimised candidates per object (one batch)
    max_per_object: int = 8  # accepted grasps kept per object (the lowest-energy ones)
    optimiser_steps: int = 200
    families: tuple[str, ...] = tuple(procedural.FAMILIES)


def _object_ranges(n: int) -> dict[str, range]:
    n_test = max(1, n // 10) if n >= 3 else 0
    n_val = max(1, n // 10) if n >= 3 else 0
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

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        MgdSyntheticConfig(name="tiny", per_family=3, extra_objects_per_family=1,
                           grasps_per_object=8, max_per_object=4, optimiser_steps=200,
                           families=("box", "cylinder"), description="tests"),  # fmt: skip
        MgdSyntheticConfig(name="demo", families=procedural.ORIGINAL_FAMILIES,
                           description="CPU-sized, the embedded default (the first 11 families)"),  # fmt: skip
        MgdSyntheticConfig(name="full", per_family=400, extra_objects_per_family=2000,
                           grasps_per_object=128, max_per_object=32, description="paper-sized"),  # fmt: skip
    ]

    def __init__(self, *, mano_path: str | None = None, **kwargs):
        self._mano_path = mano_path
        super().__init__(**kwargs)

    def _work_dir(self, download_dir: str, model) -> str:
        """The per-object cache, keyed by hand model and every synthesis setting: a changed
        setting never reuses grasps made under others."""
        cfg = self.builder_config
        settings = json.dumps([cfg.grasps_per_object, cfg.optimiser_steps, _BASE_SEED,
                               dataclasses.asdict(self._grasp_config())], sort_keys=True)  # fmt: skip
        key = hand.fingerprint(model)[:12] + "-" + examples.stable_seed(settings).to_bytes(4, "little").hex()
        work = os.path.join(download_dir, "mgd_synthetic_work", cfg.name, key)
        os.makedirs(work, exist_ok=True)
        return work

    def _grasp_config(self) -> grasps.GraspConfig:
        return grasps.GraspConfig(steps=self.builder_config.optimiser_steps)

    def _jobs(self) -> list[tuple[str, str, int]]:
        """(split, family, object index) of every object with grasps, in a fixed order."""
        cfg = self.builder_config
        return [(split, family, i) for split, r in _object_ranges(cfg.per_family).items()
                for family in cfg.families for i in r]  # fmt: skip

    def synthesize_shard(self, shard: int, num_shards: int, download_dir: str | None = None) -> dict:
        """Synthesise (or find cached) the objects ``shard, shard + num_shards, ...`` of the job
        list into the work folder, without writing the dataset; a later plain build merges every
        shard's objects. Returns ``{"objects", "accepted", "candidates", "failed"}`` of this shard.

        Raises:
          ValueError when ``shard`` is not in ``0..num_shards-1``.
        """
        if not 0 <= shard < num_shards:
            raise ValueError(f"--shard={shard}/{num_shards}: the shard index must be in 0..{num_shards - 1}")
        model = hand.load(self._mano_path or None)
        work = self._work_dir(download_dir or os.path.join(self.data_dir_root, "downloads"), model)
        jobs = self._jobs()[shard::num_shards]
        out = {"objects": len(jobs), "accepted": 0, "candidates": 0, "failed": []}
        for _, family, i in tqdm.tqdm(jobs, desc=f"mgd_synthetic shard {shard}/{num_shards}",
                                      unit="object"):  # fmt: skip
            try:
                r = _synthesize_object(work, model, family, _BASE_SEED + i, self.builder_config,
                                       self._grasp_config())  # fmt: skip
            except Exception as e:  # one bad object must not end a long job
                logging.error("mgd_synthetic: %s/%d failed: %s: %s", family, _BASE_SEED + i,
                              type(e).__name__, e)  # fmt: skip
                out["failed"].append(f"{family}/{_BASE_SEED + i}")
                continue
            out["accepted"] += int(r["accepted"].sum())
            out["candidates"] += len(r["accepted"])
        return out

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=hoi_synthetic_features(), metadata=tfds.core.MetadataDict()
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        model = hand.load(self._mano_path or None)
        work = self._work_dir(os.fspath(dl_manager.download_dir), model)
        ranges = _object_ranges(cfg.per_family)
        jobs = self._jobs()
        results, failed = {}, []
        grasp_config = self._grasp_config()
        bar = tqdm.tqdm(jobs, desc="mgd_synthetic: synthesising grasps", unit="object")
        for split, family, i in bar:
            seed = _BASE_SEED + i
            try:
                results[(family, seed)] = _synthesize_object(work, model, family, seed, cfg,
                                                             grasp_config)  # fmt: skip
            except Exception as e:  # one bad object must not end a long build
                logging.error("mgd_synthetic: %s/%d failed and is skipped: %s: %s", family, seed,
                              type(e).__name__, e)  # fmt: skip
                failed.append(f"{family}/{seed}")
            done = [r for r in results.values()]
            acc = sum(int(r["accepted"].sum()) for r in done)
            cand = sum(len(r["accepted"]) for r in done)
            bar.set_postfix(accepted=f"{acc}/{cand}")
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
        object_only += [(f, _EXTRA_SEED + i) for f in cfg.families
                        for i in range(cfg.extra_objects_per_family)]  # fmt: skip
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


def _synthesize_object(work: str, model, family: str, seed: int, cfg: MgdSyntheticConfig,
                       grasp_config: grasps.GraspConfig) -> dict:  # fmt: skip
    """Synthesise and filter the grasps of one object, or load them from the work folder."""
    path = os.path.join(work, f"{family}_{seed}.npz")
    if os.path.exists(path):
        try:
            with np.load(path) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError) as e:  # a torn file from a killed build: redo it
            logging.warning("mgd_synthetic: redoing %s (unreadable: %s)", path, e)
    spec, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
    result = grasps.synthesize_objects([spec], cfg.grasps_per_object, jax.random.PRNGKey(seed), model,
                               grasp_config)  # fmt: skip
    lo, hi = mesh.bounds
    out = {
        "pose": np.asarray(result.pose, np.float32),
        "trans": np.asarray(result.trans, np.float32),
        "accepted": np.asarray(result.accepted, bool),
        "energy": np.asarray(result.energy, np.float32),
        "penetration_depth_cm": np.asarray(result.metrics["penetration_depth_cm"], np.float32),
        "sim_displacement_cm": np.asarray(result.metrics["sim_displacement_cm"], np.float32),
        "num_fingers_in_contact": np.asarray(result.metrics["num_fingers_in_contact"], np.int32),
        "centre": (0.5 * (lo + hi)).astype(np.float32),  # the object-centric frame's origin
        "family": np.asarray(family),
    }
    example = examples.make_example(mesh, f"{family}/{seed}", f"mgd_synthetic/{family}", 1.0)
    out["points"], out["normals"] = example["points"], example["normals"]
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)
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
