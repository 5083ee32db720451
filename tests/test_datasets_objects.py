"""The object TFDS builders on tiny fixture trees in the real layouts."""

import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
import trimesh

from datasets.object_folder.object_folder import ObjectFolder
from datasets.shapenet import shapenet


def _build(builder_cls, data_dir, manual_dir, **kwargs):
    builder = builder_cls(data_dir=str(data_dir), file_format="array_record", **kwargs)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


def _read_all(builder, data_dir):
    out = []
    for split in builder.info.splits:
        src = tfds.data_source(builder.info.full_name.split("/")[0]
                               + (f"/{builder.builder_config.name}" if builder.builder_config
                                  else ""), split=split, data_dir=str(data_dir))  # fmt: skip
        out += [src[i] for i in range(len(src))]
    return out


def test_object_folder_reads_a_messy_tree_in_centimeters(tmp_path):
    root = tmp_path / "meshes"
    (root / "kitchen").mkdir(parents=True)
    trimesh.creation.box(extents=(8, 5, 3)).export(root / "kitchen" / "box.obj")  # cm
    trimesh.creation.icosphere(radius=4).export(root / "ball.ply")
    (root / "broken.obj").write_text("v 0 0 0\nf 1 2 3\nthis is not a mesh\n")
    data_dir = tmp_path / "tfds"
    builder = _build(ObjectFolder, data_dir, root, config="cm")
    examples = _read_all(builder, data_dir)
    ids = sorted(e["object_id"].decode() if isinstance(e["object_id"], bytes) else e["object_id"]
                 for e in examples)  # fmt: skip
    assert ids == ["ball.ply", os.path.join("kitchen", "box.obj")]
    for e in examples:
        assert e["points"].shape == (2048, 3) and e["points"].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(e["normals"], axis=1), 1.0, atol=1e-4)
        extent = e["points"].max(0) - e["points"].min(0)
        center = (e["points"].max(0) + e["points"].min(0)) / 2
        assert np.abs(center).max() < 2e-3  # object-centric (bounding-box centre)
        assert float(e["scale"]) == pytest.approx(0.01)
        if "box" in str(e["object_id"]):
            np.testing.assert_allclose(np.sort(extent), [0.03, 0.05, 0.08], atol=2e-3)


def test_shapenet_layout_gets_hand_held_sizes(tmp_path):
    root = tmp_path / "ShapeNetCore.v2"
    taxonomy = [{"synsetId": "03797390", "name": "mug", "children": [], "numInstances": 2},
                {"synsetId": "02876657", "name": "bottle", "children": [], "numInstances": 1}]
    root.mkdir()
    (root / "taxonomy.json").write_text(json.dumps(taxonomy))
    models = [("03797390", "m1"), ("03797390", "m2"), ("02876657", "b1")]
    for synset, model in models:
        folder = root / synset / model / "models"
        folder.mkdir(parents=True)
        cube = trimesh.creation.box(extents=np.ones(3) / np.sqrt(3))  # unit diagonal, as released
        cube.export(folder / "model_normalized.obj")
        (folder / "model_normalized.json").write_text(json.dumps({"centroid": [0, 0, 0]}))
    data_dir = tmp_path / "tfds"
    builder = _build(shapenet.Shapenet, data_dir, root)
    examples = _read_all(builder, data_dir)
    assert len(examples) == 3
    for e in examples:
        diag = np.linalg.norm(e["points"].max(0) - e["points"].min(0))
        assert shapenet.MIN_DIAGONAL_M - 2e-3 <= diag <= shapenet.MAX_DIAGONAL_M + 2e-3
        assert str(e["source"]).count("shapenet/") == 1


def test_shapenet_missing_taxonomy_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="taxonomy.json"):
        shapenet.model_paths(str(tmp_path))


def test_build_command_and_pipeline_read_the_dataset(tmp_path):
    from mgd_jax import build_dataset
    from mgd_jax.data import input_pipeline
    from mgd_jax.data import sources as data_sources

    root = tmp_path / "meshes"
    root.mkdir()
    for i in range(4):
        trimesh.creation.box(extents=(0.02 + 0.01 * i, 0.05, 0.03)).export(root / f"box{i}.off")
    data_dir = str(tmp_path / "tfds")
    build_dataset.main(["datasets/object_folder", f"--manual_dir={root}", "--config=m",
                        f"--data_dir={data_dir}"])  # fmt: skip
    src = data_sources.build_source("tfds:object_folder/m", "train", data_dir=data_dir)
    ds = input_pipeline.make_dataset([src], batch_size=2, seed=0,
                                     transform=lambda e: {"points": e["points"]})  # fmt: skip
    batch = next(iter(ds))
    assert batch["points"].shape == (2, 2048, 3)
    with pytest.raises(FileNotFoundError, match="python -m mgd_jax.build_dataset datasets/nothing --data_dir"):
        data_sources.build_source("tfds:nothing", "train", data_dir=data_dir)


def test_mgd_objects_tiny_builds_every_family(tmp_path):
    from datasets.mgd_objects.mgd_objects import MgdObjects
    from mgd_jax.objects import procedural

    data_dir = tmp_path / "tfds"
    builder = MgdObjects(data_dir=str(data_dir), config="tiny", file_format="array_record")
    builder.download_and_prepare()
    src = tfds.data_source("mgd_objects/tiny", split="train", data_dir=str(data_dir))
    assert len(src) == 2 * len(procedural.FAMILIES)
    families = set()
    for i in range(len(src)):
        e = src[i]
        source = e["source"].decode() if isinstance(e["source"], bytes) else e["source"]
        families.add(source)
        lo, hi = procedural.extent_range(source.split("/")[1])
        extent = e["points"].max(0) - e["points"].min(0)
        assert lo - 0.01 <= extent.max() <= hi + 0.005
    assert families == {f"mgd_objects/{f}" for f in procedural.FAMILIES}


def _numbered_dataset(n=40, batch=4):
    from mgd_jax.data import input_pipeline

    data = [{"x": np.full((2,), i, np.float32)} for i in range(n)]
    return input_pipeline.make_dataset([input_pipeline.Source("numbers", data)], batch, seed=3,
                                       process_index=0, process_count=1)  # fmt: skip


def test_prefetching_iterator_matches_plain_and_resumes_exactly():
    from mgd_jax.data import input_pipeline

    plain = input_pipeline.DeviceIterator(_numbered_dataset(), prefetch=0)
    want = [next(plain)["x"][:, 0].tolist() for _ in range(8)]
    it = input_pipeline.DeviceIterator(_numbered_dataset(), prefetch=3)
    got = [next(it)["x"][:, 0].tolist() for _ in range(3)]
    state = it.get_state()  # after 3 batches handed out, although more were prefetched
    got += [next(it)["x"][:, 0].tolist() for _ in range(5)]
    it.close()
    assert got == want
    resumed = input_pipeline.DeviceIterator(_numbered_dataset(), prefetch=2)
    resumed.set_state(state)
    assert [next(resumed)["x"][:, 0].tolist() for _ in range(5)] == want[3:]
    resumed.close()


def test_prefetching_iterator_raises_the_readers_error():
    from mgd_jax.data import input_pipeline

    class Broken:
        def __len__(self):
            return 8

        def __getitem__(self, i):
            raise OSError(f"shard for example {i} is unreadable")

    ds = input_pipeline.make_dataset([input_pipeline.Source("broken", Broken())], 2, seed=0,
                                     process_index=0, process_count=1)  # fmt: skip
    it = input_pipeline.DeviceIterator(ds, prefetch=2)
    with pytest.raises(OSError, match="unreadable"):
        next(it)
