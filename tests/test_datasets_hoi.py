"""The hand-object TFDS builders (grab, oakink_shape) and arctic_objects on tiny fixture trees
written in the released layouts; hands are checked against an independent world-frame forward."""

import hashlib
import json
import logging
import pickle

import numpy as np
import pytest
import tensorflow_datasets as tfds
import trimesh
from scipy.spatial.transform import Rotation

from datasets.arctic_objects import arctic_objects
from datasets.grab import grab
from datasets.oakink_shape import oakink_shape
from mgd_jax import build_dataset, hand, losses
from mgd_jax.hand import fixtures
from mgd_jax.tasks import mgd as mgd_task


def _text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def _read(name, data_dir):
    """{split: [examples]} of a built dataset, read back with tfds.data_source."""
    builder = tfds.builder(name, data_dir=str(data_dir))
    out = {}
    for split in builder.info.splits:
        src = tfds.data_source(name, split=split, data_dir=str(data_dir))
        out[split] = [src[i] for i in range(len(src))]
    return out


def _joints(model, pose, trans, betas=None):
    """(21, 3) joints of one hand, meters, by mgd_jax.hand.forward."""
    betas = None if betas is None else np.asarray(betas)
    return np.asarray(hand.forward(model, np.asarray(pose), np.asarray(trans), betas).joints)


# ---------------------------------------------------------------------------------------------
# GRAB

GRAB_T = 6
# Frame t's object-vertex labels: right finger, none, left finger only, R_Hand + body, body only,
# right thumb. Right-hand frames: 0, 3, 5.
GRAB_LABELS = [[41], [], [26], [22, 1], [1], [55]]
GRAB_OBJECTS = {  # name: (mesh, offset of its bounding-box centre in the file, meters)
    "mug": (trimesh.creation.box(extents=(0.08, 0.05, 0.10)), np.array([0.01, -0.02, 0.03])),
    "airplane": (trimesh.creation.box(extents=(0.12, 0.03, 0.06)), np.array([-0.03, 0.0, 0.01])),
    "apple": (trimesh.creation.icosphere(subdivisions=2, radius=0.04), np.array([0.0, 0.0, 0.0])),
}


def _grab_sequence(rng, obj, num_frames=GRAB_T):
    mesh, _ = GRAB_OBJECTS[obj]
    contact = np.zeros((num_frames, len(mesh.vertices)), np.int64)
    for t, labels in enumerate(GRAB_LABELS[:num_frames]):
        for j, label in enumerate(labels):
            contact[t, j * 3 : (j + 1) * 3] = label
    return {
        "gender": np.array("male"), "sbj_id": np.array("s1"), "obj_name": np.array(obj),
        "motion_intent": np.array("lift"), "framerate": np.array(120.0),
        "n_frames": np.array(num_frames), "n_comps": np.array(24),
        "body": {"params": {"transl": np.zeros((num_frames, 3))}, "vtemp": "tools/x.ply"},
        "lhand": {"params": {"transl": np.zeros((num_frames, 3))}, "vtemp": "tools/x.ply"},
        "rhand": {"params": {
            "global_orient": rng.normal(0, 1.0, (num_frames, 3)),
            "hand_pose": rng.normal(0, 0.5, (num_frames, 24)),
            "transl": rng.normal(0, 0.5, (num_frames, 3)) + [0.0, 0.0, 0.9],
            "fullpose": rng.normal(0, 0.3, (num_frames, 45)),
        }, "vtemp": "tools/subject_meshes/male/s1_rhand.ply"},
        "object": {"params": {
            "global_orient": rng.normal(0, 1.0, (num_frames, 3)),
            "transl": rng.normal(0, 0.5, (num_frames, 3)) + [0.0, 0.0, 0.8],
        }, "object_mesh": f"tools/object_meshes/contact_meshes/{obj}.ply"},
        "table": {"params": {"transl": np.zeros((num_frames, 3))}},
        "contact": {"body": np.zeros((num_frames, 10)), "object": contact},
    }  # fmt: skip


@pytest.fixture(scope="module")
def grab_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("GRAB")
    meshes = root / "tools" / "object_meshes" / "contact_meshes"
    meshes.mkdir(parents=True)
    for name, (mesh, offset) in GRAB_OBJECTS.items():
        mesh.copy().apply_translation(offset).export(meshes / f"{name}.ply")
    rng = np.random.default_rng(0)
    sequences = {}
    for subject, obj, stem in [("s1", "mug", "mug_drink_1"), ("s1", "airplane", "airplane_fly_1"),
                               ("s2", "apple", "apple_eat")]:  # fmt: skip
        (root / "grab" / subject).mkdir(parents=True, exist_ok=True)
        seq = _grab_sequence(rng, obj)
        np.savez(root / "grab" / subject / f"{stem}.npz", **seq)
        sequences[stem] = seq
    # Two bad files, both of validation objects: one is not a zip, one lacks the right hand.
    (root / "grab" / "s2" / "toothbrush_brush_1.npz").write_bytes(b"not a zip file")
    broken = _grab_sequence(rng, "apple")
    del broken["rhand"]
    np.savez(root / "grab" / "s2" / "apple_pass_1.npz", **broken)
    return root, sequences


def test_grab_contact_frames_and_stride():
    contact = np.zeros((GRAB_T, 9), np.int64)
    for t, labels in enumerate(GRAB_LABELS):
        contact[t, : len(labels)] = labels
    np.testing.assert_array_equal(grab.selected_frames(contact, 1), [0, 3, 5])
    np.testing.assert_array_equal(grab.selected_frames(contact, 3), [0, 3])
    np.testing.assert_array_equal(grab.selected_frames(contact, 2), [0])


def test_grab_builds_hands_in_the_object_frame(grab_tree, tmp_path, caplog):
    root, sequences = grab_tree
    data_dir = tmp_path / "tfds"
    with caplog.at_level(logging.WARNING):
        builder = grab.Grab(data_dir=str(data_dir), config="stride1", file_format="array_record")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(root))
        )
    assert "skipped 2 of 3 sequences" in caplog.text  # the validation split's two bad files
    assert "toothbrush_brush_1.npz" in caplog.text and "missing 'rhand.params" in caplog.text
    assert "procedural hand" in caplog.text

    data = _read("grab/stride1", data_dir)
    assert sorted(data) == ["test", "train", "validation"]
    model = hand.load(None)
    assert tfds.builder("grab/stride1", data_dir=str(data_dir)).info.metadata[
        "hand_fingerprint"] == hand.fingerprint(model)  # fmt: skip
    split_of_object = {"mug": "test", "airplane": "train", "apple": "validation"}
    stems = {"mug": "mug_drink_1", "airplane": "airplane_fly_1", "apple": "apple_eat"}
    for split, items in data.items():
        assert len(items) == 3  # right-hand contact frames 0, 3, 5 of one sequence each
        frames = []
        for e in items:
            obj = _text(e["object_id"])
            assert split_of_object[obj] == split
            seq = sequences[stems[obj]]
            assert e["points"].shape == (2048, 3) and e["points"].dtype == np.float32
            assert e["pose"].shape == (16, 3) and e["trans"].shape == (3,)
            np.testing.assert_array_equal(e["betas"], np.zeros(10))
            # Points: the object mesh, centred, in meters.
            mesh, _ = GRAB_OBJECTS[obj]
            np.testing.assert_allclose(e["points"].max(0) - e["points"].min(0), mesh.extents,
                                       atol=3e-3)  # fmt: skip
            assert np.abs(e["points"].max(0) + e["points"].min(0)).max() < 3e-3
            # Which frame: the finger pose is copied unchanged.
            fullpose = seq["rhand"]["params"]["fullpose"].reshape(GRAB_T, 15, 3)
            t = int(np.argmin(np.abs(fullpose - e["pose"][1:]).sum(axis=(1, 2))))
            np.testing.assert_allclose(e["pose"][1:], fullpose[t], atol=1e-6)
            frames.append(t)
            # World hand by the released parameters, object by GRAB's ObjectModel
            # (verts = v @ R(global_orient) + transl), both through the same hand model.
            rh = seq["rhand"]["params"]
            world_pose = np.concatenate([rh["global_orient"][t][None], fullpose[t]])
            world = _joints(model, world_pose, rh["transl"][t])
            r = Rotation.from_rotvec(seq["object"]["params"]["global_orient"][t]).as_matrix()
            in_file = (world - seq["object"]["params"]["transl"][t]) @ r.T
            expected = in_file - GRAB_OBJECTS[obj][1]
            np.testing.assert_allclose(_joints(model, e["pose"], e["trans"]), expected,
                                       atol=2e-5)  # fmt: skip
        assert sorted(frames) == [0, 3, 5]


def _check_training_hand(model, example, expected_joints):
    """The hand the MGD loss sees for a stored example, and the mean-shape hand MGD generates,
    against the dataset's hand (21, 3) meters: joints within 0.1 mm, wrist exactly."""
    ex = mgd_task.mgd_example(example, 2048, model)
    batch = {k: np.asarray(v)[None] for k, v in ex.items()}
    seen = np.asarray(losses.ground_truth_hand(model, batch).joints)[0]
    np.testing.assert_allclose(seen, expected_joints, atol=1e-4)
    generated = _joints(model, ex["pose"], ex["trans"])  # betas 0, as sampled grasps are exported
    np.testing.assert_allclose(generated[0], expected_joints[0], atol=1e-5)


def test_grab_subject_template_becomes_betas_and_the_wrist_stays(grab_tree, tmp_path, caplog):
    """GRAB's hands use the subject's template mesh (rhand.vtemp): with the file present, the
    stored betas reproduce it and the hand the loss sees is the recorded hand."""
    root, sequences = grab_tree
    model = hand.load(None)
    betas = np.random.default_rng(3).normal(0, 1.0, 10)
    vtemp = np.asarray(model.v_template, np.float64) + np.asarray(model.shapedirs, np.float64) @ betas
    template = root / "tools" / "subject_meshes" / "male" / "s1_rhand.ply"
    template.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(vtemp, np.asarray(model.faces), process=False).export(template)
    data_dir = tmp_path / "tfds"
    try:
        builder = grab.Grab(data_dir=str(data_dir), config="stride1", file_format="array_record")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(root))
        )
    finally:
        template.unlink()
    e = _read("grab/stride1", data_dir)["test"][0]  # the mug sequence of subject s1
    np.testing.assert_allclose(e["betas"], betas, atol=1e-4)
    seq = sequences["mug_drink_1"]
    fullpose = seq["rhand"]["params"]["fullpose"].reshape(GRAB_T, 15, 3)
    t = int(np.argmin(np.abs(fullpose - e["pose"][1:]).sum(axis=(1, 2))))
    rh = seq["rhand"]["params"]
    world = _joints(model, np.concatenate([rh["global_orient"][t][None], fullpose[t]]),
                    rh["transl"][t], betas)  # MANO with v_template=vtemp  # fmt: skip
    r = Rotation.from_rotvec(seq["object"]["params"]["global_orient"][t]).as_matrix()
    expected = (world - seq["object"]["params"]["transl"][t]) @ r.T - GRAB_OBJECTS["mug"][1]
    np.testing.assert_allclose(_joints(model, e["pose"], e["trans"], e["betas"]), expected,
                               atol=2e-5)  # fmt: skip
    _check_training_hand(model, e, expected)


def test_grab_missing_root_and_bad_sequence_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="GRAB root"):
        grab.sequence_paths(str(tmp_path))
    bad = tmp_path / "x.npz"
    np.savez(bad, rhand={"params": {"global_orient": np.zeros((3, 2))}})
    with pytest.raises(ValueError, match="x.npz"):
        grab.read_sequence(str(bad))


# ---------------------------------------------------------------------------------------------
# OakInk-Shape

# Object ids chosen so each official split occurs: md5 % 10 = 9 (test), 8 (val), 5 (train).
OAK_SPLITS = {"A01001": "test", "s11001": "validation", "C12001": "train"}


def _oak_grasp(rng):
    return {"pose": rng.normal(0, 0.4, 48).astype(np.float32),
            "shape": rng.normal(0, 1.0, 10).astype(np.float32),
            "tsl": rng.normal(0, 0.05, 3).astype(np.float32)}  # fmt: skip


@pytest.fixture(scope="module")
def oak_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("OakInk")
    shape = root / "shape"
    (shape / "metaV2").mkdir(parents=True)
    (shape / "metaV2" / "object_id.json").write_text(
        json.dumps({"A01001": {"name": "A01001_mug"}, "C12001": {"name": "C12001_cup"}})
    )
    (shape / "metaV2" / "virtual_object_id.json").write_text(
        json.dumps({"s11001": {"name": "mug_3"}})
    )
    meshes = {}
    align = shape / "OakInkObjectsV2" / "A01001_mug" / "align"
    align.mkdir(parents=True)
    mug = trimesh.creation.box(extents=(0.07, 0.09, 0.11)).apply_translation([0.02, 0.0, -0.01])
    mug.export(align / "A01001_mug_align.obj")
    trimesh.creation.icosphere(radius=0.2).export(align / "decoy.ply")  # not the 'align' file
    meshes["A01001"] = mug
    align = shape / "OakInkObjectsV2" / "C12001_cup" / "align"
    align.mkdir(parents=True)
    meshes["C12001"] = trimesh.creation.icosphere(subdivisions=2, radius=0.035)
    meshes["C12001"].export(align / "cup.ply")
    # The virtual object's file has one unreferenced vertex far out: oikit centres on all file
    # vertices, we on the surface, so the hand must move by the difference.
    align = shape / "OakInkVirtualObjectsV2" / "mug_3" / "align"
    align.mkdir(parents=True)
    box = trimesh.creation.box(extents=(0.06, 0.06, 0.1))
    trimesh.Trimesh(np.vstack([box.vertices, [[0.3, 0.0, 0.0]]]), box.faces,
                    process=False).export(align / "mug_3.ply")  # fmt: skip
    meshes["s11001"] = box

    rng = np.random.default_rng(1)
    grasps = {}
    layout = [
        ("mug", "A01001", "0cc013118e", None, "0001"),
        ("mug", "A01001", "1b2c3d4e5f", None, "0002"),
        ("mug", "A01001", "0cc013118e", "s11001", "0001"),
        ("cup", "C12001", "9f8e7d6c5b", None, "0004"),
        ("cup", "Z99999", "aaaaaaaaaa", None, "0001"),
    ]  # not in the meta files: skipped
    for cat, oid, gid, vid, intent in layout:
        folder = shape / "oakink_shape_v2" / cat / oid / gid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "source.txt").write_text(f"pass1/{oid}_{intent}_0000/2021-09-26-19-59-58")
        if vid:
            folder = folder / vid
            folder.mkdir()
        g = _oak_grasp(rng)
        with open(folder / "hand_param.pkl", "wb") as f:
            pickle.dump(g, f)
        grasps[(vid or oid, gid)] = g
    broken = shape / "oakink_shape_v2" / "cup" / "C12001" / "0000000000"
    broken.mkdir()
    with open(broken / "hand_param.pkl", "wb") as f:
        pickle.dump({"pose": np.zeros(48), "shape": np.zeros(10)}, f)  # no 'tsl'
    return root, grasps, meshes


def test_oakink_official_split_rule():
    for oid, split in OAK_SPLITS.items():
        assert oakink_shape.split_of(oid) == split
        r = int(hashlib.md5(oid.encode()).hexdigest(), 16) % 10
        assert split == ("train" if r < 8 else "validation" if r == 8 else "test")


def test_oakink_builds_with_a_mano_file(oak_tree, tmp_path, caplog):
    root, grasps, meshes = oak_tree
    # A MANO-layout model from a file (random geometry) exercises --mano_path end to end.
    model = hand.io.from_mano_arrays(fixtures.random_mano_arrays(seed=5), "fake", "right")
    mano_path = tmp_path / "mano_fake.npz"
    hand.save_npz(model, str(mano_path))
    model = hand.load(str(mano_path))
    data_dir = tmp_path / "tfds"
    with caplog.at_level(logging.WARNING):
        build_dataset.main(["datasets/oakink_shape", f"--manual_dir={root}",
                            f"--data_dir={data_dir}", f"--mano_path={mano_path}"])  # fmt: skip
    assert "skipped 2 of 3 grasps" in caplog.text  # train split: missing 'tsl', unknown object
    assert "missing 'tsl'" in caplog.text
    assert "Z99999 is not in metaV2/object_id.json" in caplog.text
    assert "procedural hand" not in caplog.text

    data = _read("oakink_shape", data_dir)
    assert {s: sorted({_text(e["object_id"]) for e in items}) for s, items in data.items()} == {
        "test": ["A01001"],
        "validation": ["s11001"],
        "train": ["C12001"],
    }
    assert len(data["test"]) == 2
    for items in data.values():
        for e in items:
            oid = _text(e["object_id"])
            g = next(g for (o, _), g in grasps.items()
                     if o == oid and np.allclose(g["shape"], e["betas"]))  # fmt: skip
            np.testing.assert_allclose(e["pose"].reshape(-1), g["pose"], atol=1e-7)
            np.testing.assert_allclose(np.sort(e["points"].max(0) - e["points"].min(0)),
                                       np.sort(meshes[oid].extents), atol=3e-3)  # fmt: skip
            assert np.abs(e["points"].max(0) + e["points"].min(0)).max() < 3e-3
            # oikit: MANO(pose, shape) with the root joint moved to tsl (ManoLayer(center_idx=0)),
            # in the frame centred on the bounding box of all file vertices.
            posed = _joints(model, g["pose"].reshape(16, 3), np.zeros(3), g["shape"])
            oikit = posed - posed[0] + g["tsl"]
            shift = np.array([0.135, 0.0, 0.0]) if oid == "s11001" else np.zeros(3)
            np.testing.assert_allclose(_joints(model, e["pose"], e["trans"], e["betas"]),
                                       oikit + shift, atol=2e-5)  # fmt: skip
            _check_training_hand(model, e, oikit + shift)
            intent = {"A01001": {"use", "hold"}, "s11001": {"use"}, "C12001": {"handover"}}[oid]
            assert _text(e["source"]).split("/")[-1] in intent


def test_oakink_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="oakink_shape_v2"):
        oakink_shape.shape_root(str(tmp_path))
    (tmp_path / "shape" / "oakink_shape_v2").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="object_id.json"):
        oakink_shape.read_meta(oakink_shape.shape_root(str(tmp_path)))


def test_oakink_quaternion_pose_is_converted(tmp_path):
    aa = np.random.default_rng(2).normal(0, 0.5, (16, 3))
    xyzw = Rotation.from_rotvec(aa).as_quat()
    path = tmp_path / "hand_param.pkl"
    with open(path, "wb") as f:
        pickle.dump({"pose": xyzw[:, [3, 0, 1, 2]], "shape": np.zeros(10), "tsl": np.zeros(3)}, f)
    pose, _, _ = oakink_shape.read_hand_param(str(path))
    np.testing.assert_allclose(pose, aa, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# ARCTIC objects


def test_arctic_templates_in_millimeters(tmp_path, caplog):
    root = tmp_path / "data"
    vt = root / "arctic_data" / "data" / "meta" / "object_vtemplates"
    sizes = {"box": (150.0, 100.0, 60.0), "phone": (70.0, 150.0, 8.0)}  # mm
    for name, size in sizes.items():
        (vt / name).mkdir(parents=True)
        trimesh.creation.box(extents=size).apply_translation([5.0, -3.0, 40.0]).export(
            vt / name / "mesh.obj"
        )
        trimesh.creation.box(extents=size).export(vt / name / "top.obj")
    (vt / "ketchup").mkdir()
    (vt / "ketchup" / "mesh.obj").write_text("v 0 0 0\nf 1 2 3\nnot a mesh\n")
    (vt / "laptop").mkdir()
    trimesh.creation.box(extents=(300, 200, 20)).export(vt / "laptop" / "top.obj")  # no mesh.obj
    data_dir = tmp_path / "tfds"
    with caplog.at_level(logging.WARNING):
        builder = arctic_objects.ArcticObjects(data_dir=str(data_dir), file_format="array_record")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(root))
        )
    assert "skipped 2 of 4 objects" in caplog.text and "laptop" in caplog.text
    data = _read("arctic_objects", data_dir)
    assert list(data) == ["test"]
    by_name = {_text(e["object_id"]): e for e in data["test"]}
    assert sorted(by_name) == ["box", "phone"]
    for name, e in by_name.items():
        extent = e["points"].max(0) - e["points"].min(0)
        np.testing.assert_allclose(extent, np.array(sizes[name]) / 1000, atol=3e-3)
        assert np.abs(e["points"].max(0) + e["points"].min(0)).max() < 3e-3
        assert float(e["scale"]) == pytest.approx(0.001)
        assert _text(e["source"]) == f"arctic/{name}"


def test_arctic_units_and_missing_root(tmp_path):
    path = tmp_path / "mesh.obj"
    trimesh.creation.box(extents=(0.1, 0.05, 0.02)).export(path)  # already meters
    assert arctic_objects.template_units(str(path)) == "m"
    trimesh.creation.box(extents=(100, 50, 20)).export(path)
    assert arctic_objects.template_units(str(path)) == "mm"
    with pytest.raises(FileNotFoundError, match="object_vtemplates"):
        arctic_objects.templates_root(str(tmp_path))


def test_mano_path_is_refused_by_builders_without_hands(tmp_path):
    with pytest.raises(ValueError, match="does not use a hand model"):
        build_dataset.main(["datasets/object_folder", f"--manual_dir={tmp_path}",
                            "--mano_path=/nowhere/MANO_RIGHT.pkl"])  # fmt: skip
