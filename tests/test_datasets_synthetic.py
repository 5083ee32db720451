"""mgd_synthetic builder: splits by object, the hand in the stored points' frame, accepted grasps
only, object-only split, resumable synthesis, failures skipped and counted.

The grasp optimiser itself is tested in test_grasps.py; here it is replaced by a fast stand-in
with the same return type, so these tests check the builder's bookkeeping. The end-to-end build
with the real optimiser is the slow-marked test at the bottom.
"""

import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from datasets.mgd_synthetic import mgd_synthetic
from mgd_jax.objects import sdf_mesh

OFFSET = np.array([0.1, -0.02, 0.03], np.float32)  # stand-in hand trans relative to the centre


class FakeSynthesize:
    """Same signature and result fields as ``grasps.synthesize_objects``; counts calls; can fail."""

    def __init__(self, fail_on=(), interrupt_after=None):
        self.calls = []
        self.fail_on = set(fail_on)
        self.interrupt_after = interrupt_after

    def __call__(self, objects, num_per_object, key, model=None, config=None, *a,
                 object_keys=None, **k):  # fmt: skip
        rows = []
        for spec, okey in zip(objects, object_keys):
            seed = int(np.asarray(okey)[-1])  # PRNGKey(seed) -> [0, seed]
            if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
                raise KeyboardInterrupt
            if (spec.family, seed) in self.fail_on:
                raise ValueError("optimiser diverged")
            rows.append((spec.family, seed))
        self.calls += rows
        n = num_per_object
        out = []
        for family, seed in rows:
            _, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
            centre = 0.5 * (mesh.bounds[0] + mesh.bounds[1])
            out.append(dict(
                pose=np.tile(np.arange(n, dtype=np.float32)[:, None, None] * 0.01, (1, 16, 3)),
                trans=np.tile((centre + OFFSET)[None], (n, 1)).astype(np.float32),
                accepted=np.arange(n) % 2 == 0,  # even candidates pass
                energy=np.arange(n, 0, -1).astype(np.float32),  # later candidates are better
            ))  # fmt: skip
        cat = {k: np.concatenate([o[k] for o in out]) for k in out[0]}
        total = n * len(rows)
        return types.SimpleNamespace(
            **cat, object_index=np.repeat(np.arange(len(rows)), n),
            metrics={"penetration_depth_cm": np.full(total, 0.1),
                     "sim_displacement_cm": np.full(total, 0.5),
                     "num_fingers_in_contact": np.full(total, 4)},  # fmt: skip
        )


def _build(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(mgd_synthetic.grasps, "synthesize_objects", fake)
    builder = mgd_synthetic.MgdSynthetic(data_dir=str(tmp_path / "tfds"), config="tiny",
                                         file_format="array_record")  # fmt: skip
    builder.download_and_prepare()
    return builder


def _read(tmp_path, split):
    src = tfds.data_source("mgd_synthetic/tiny", split=split, data_dir=str(tmp_path / "tfds"))
    return [src[i] for i in range(len(src))]


def _text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def test_object_ranges_split_each_family_by_object():
    assert {k: list(r) for k, r in mgd_synthetic._object_ranges(25).items()} == {
        "train": list(range(21)), "validation": [21, 22], "test": [23, 24]}
    demo = [c for c in mgd_synthetic.MgdSynthetic.BUILDER_CONFIGS if c.name == "demo"][0]
    ranges = mgd_synthetic._object_ranges(demo.per_family, demo.validation_per_family)
    n = len(demo.families)
    assert (len(ranges["train"]) * n, len(ranges["validation"]) * n, len(ranges["test"]) * n) == (
        420, 20, 40)  # the sizes: >= 400 train objects, >= 40 unseen test objects
    with pytest.raises(ValueError, match="no training object"):
        mgd_synthetic._object_ranges(4, 3)


def test_splits_frames_and_accepted_grasps(tmp_path, monkeypatch):
    fake = FakeSynthesize()
    builder = _build(tmp_path, fake, monkeypatch)
    cfg = builder.builder_config
    ids = {}
    for split in ("train", "validation", "test"):
        rows = _read(tmp_path, split)
        assert rows, split
        ids[split] = {_text(r["object_id"]) for r in rows}
        for r in rows:
            assert r["has_hand"]
            # The stored trans is in the frame of the stored (centred) points.
            np.testing.assert_allclose(r["trans"], OFFSET, atol=1e-6)
            assert abs(float(np.mean(r["points"], 0).max())) < 0.02
            assert r["points"].shape == (2048, 3) and r["pose"].shape == (16, 3)
        per_object = {}
        for r in rows:
            per_object.setdefault(_text(r["object_id"]), []).append(float(r["pose"][0, 0]))
        for poses in per_object.values():  # only even (accepted) candidates, best energy first
            idx = sorted(round(p / 0.01) for p in poses)
            assert all(i % 2 == 0 for i in idx)
            assert len(idx) == min(cfg.max_per_object, (cfg.grasps_per_object + 1) // 2)
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
    assert not ids["validation"] & ids["test"]
    objects = _read(tmp_path, "train_objects")
    assert all(not r["has_hand"] for r in objects)
    object_ids = {_text(r["object_id"]) for r in objects}
    assert ids["train"] <= object_ids and not object_ids & ids["test"]
    assert len(object_ids) == len(ids["train"]) + cfg.extra_objects_per_family * len(cfg.families)
    stats = builder.info.metadata["synthesis_stats"]
    assert stats["box"]["rate"] == pytest.approx(0.5)


def test_interrupted_build_resumes_without_redoing_objects(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, FakeSynthesize(interrupt_after=2), monkeypatch)
    again = FakeSynthesize()
    _build(tmp_path, again, monkeypatch)
    total = 3 * 2  # tiny: 3 objects with grasps x 2 families, 2 per optimiser call
    assert len(again.calls) == total - 2  # the first call's two objects were loaded, not redone
    assert len(_read(tmp_path, "train")) > 0


def test_a_failing_object_is_skipped_and_counted(tmp_path, monkeypatch, caplog):
    bad = ("box", mgd_synthetic._BASE_SEED + 0)
    builder = _build(tmp_path, FakeSynthesize(fail_on={bad}), monkeypatch)
    train_ids = {_text(r["object_id"]) for r in _read(tmp_path, "train")}
    assert f"{bad[0]}/{bad[1]}" not in train_ids and train_ids
    assert builder.info.metadata["synthesis_stats"]["failed_objects"] == [f"{bad[0]}/{bad[1]}"]
    assert "failed and is skipped" in caplog.text


def test_shards_split_the_objects_and_merge_into_one_build(tmp_path, monkeypatch):
    """Two workers (`build_dataset --shard=i/2`) share the objects; the plain build that follows
    reads every finished object and synthesises nothing again."""
    from mgd_jax import build_dataset

    fake = FakeSynthesize()
    monkeypatch.setattr(mgd_synthetic.grasps, "synthesize_objects", fake)
    data_dir = str(tmp_path / "tfds")
    for i in (0, 1):
        build_dataset.main(["datasets/mgd_synthetic", "--config=tiny", f"--data_dir={data_dir}",
                            f"--shard={i}/2"])  # fmt: skip
    assert len(fake.calls) == len(set(fake.calls)) == 3 * 2  # each object once, by one worker
    with pytest.raises(ValueError, match="--shard=2/2"):
        build_dataset.main(["datasets/mgd_synthetic", "--config=tiny", f"--data_dir={data_dir}",
                            "--shard=2/2"])  # fmt: skip
    merged = FakeSynthesize()
    _build(tmp_path, merged, monkeypatch)
    assert merged.calls == []
    assert len(_read(tmp_path, "train")) > 0


@pytest.mark.slow
def test_tiny_build_with_the_real_optimiser(tmp_path):
    builder = mgd_synthetic.MgdSynthetic(data_dir=str(tmp_path / "tfds"), config="tiny",
                                         file_format="array_record")  # fmt: skip
    builder.download_and_prepare()
    stats = builder.info.metadata["synthesis_stats"]
    assert stats["box"]["candidates"] == 3 * builder.builder_config.grasps_per_object
    rows = _read(tmp_path, "train")
    for r in rows:
        assert r["penetration_depth_cm"] < 0.5 and r["sim_displacement_cm"] < 2.0
        assert r["num_fingers_in_contact"] >= 3


@pytest.mark.slow
def test_parallel_workers_build_the_same_dataset(tmp_path):
    """--workers=2 (two processes, each a shard of the objects) writes the same examples as one
    process: every object's grasps depend on its own seed only."""
    rows = {}
    for workers in (1, 2):
        data_dir = str(tmp_path / f"w{workers}")
        builder = mgd_synthetic.MgdSynthetic(data_dir=data_dir, config="tiny", workers=workers,
                                             file_format="array_record")  # fmt: skip
        builder.download_and_prepare()
        src = tfds.data_source("mgd_synthetic/tiny", split="train", data_dir=data_dir)
        rows[workers] = sorted((_text(r["object_id"]), r["pose"].tobytes()) for r in
                               (src[i] for i in range(len(src))))  # fmt: skip
    assert rows[1] and rows[1] == rows[2]


def test_synthesis_is_deterministic_by_seed(tmp_path):
    """The same object and seed give the same grasps, verdicts and points in a fresh work folder."""
    from mgd_jax import grasps, hand

    cfg = next(c for c in mgd_synthetic.MgdSynthetic.BUILDER_CONFIGS if c.name == "tiny")
    model = hand.load(None)
    grasp_config = grasps.GraspConfig()
    runs = []
    for name, jobs in (("a", [("cylinder", 20_001)]), ("b", [("box", 20_002), ("cylinder", 20_001)])):
        work = tmp_path / name
        work.mkdir()  # alone, or in one optimiser call with another object: the same grasps
        runs.append(mgd_synthetic._synthesize_chunk(str(work), model, jobs, cfg, grasp_config,
                                                    [])[("cylinder", 20_001)])  # fmt: skip
    for key in ("pose", "trans", "accepted", "penetration_depth_cm", "points"):
        np.testing.assert_array_equal(runs[0][key], runs[1][key], err_msg=key)
