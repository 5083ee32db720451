"""python -m mgd_jax.sample and mgd_jax.export on the toy trained MGD: files, formats, seeds,
bad inputs."""

import json
import os
import shutil

import numpy as np
import pytest
import trimesh

from mgd_jax import evaluate, export, hand, sample, trained


@pytest.fixture(scope="module")
def exported(trained_mgd):
    root, _ = trained_mgd
    out = root / "export"
    if not out.exists():
        export.main([f"--workdir={root / 'mgd'}", f"--out={out}"])
    return str(out)


def _objects_folder(path):
    """Two good objects (a box mesh in cm, a point cloud) and two bad ones."""
    os.makedirs(path / "sub", exist_ok=True)
    trimesh.creation.box((6.0, 4.0, 8.0)).export(path / "box.obj")  # centimeters
    rng = np.random.default_rng(0)
    ball = rng.normal(size=(600, 3))
    np.save(path / "sub" / "ball.npy", 3.0 * ball / np.linalg.norm(ball, axis=1, keepdims=True))
    (path / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 7\n")
    nan = rng.normal(size=(600, 3))
    nan[5] = np.nan
    np.save(path / "nan.npy", nan)
    (path / "notes.txt").write_text("not an object")
    return path


def _run(*args):
    return sample.main(["--no_progress", "--steps=3", "--render_size=32", *args])


def test_conditional_outputs_reload_and_are_seeded(exported, tmp_path):
    objs = _objects_folder(tmp_path / "objs")
    out = tmp_path / "out"
    index = _run(f"--checkpoint={exported}", f"--objects={objs}", "--units=cm",
                 "--num_per_object=2", "--evaluate", "--metrics=penetration,contact", f"--out={out}")
    # Good objects sampled, bad ones skipped with their reasons, nothing lost.
    assert index["num_samples"] == 4
    assert sorted(o["name"] for o in index["objects"]) == ["box", "sub__ball"]
    reasons = {os.path.basename(s["source"]): s["reason"] for s in index["skipped"]}
    assert set(reasons) == {"broken.obj", "nan.npy"}
    assert "NaN" in reasons["nan.npy"]
    for s in index["samples"]:
        for rel in (s["files"]["npz"], s["files"]["hand_mesh"], s["files"]["scene"],
                    *s["files"]["renders"].values()):
            assert os.path.getsize(out / rel) > 0, rel
        assert np.isfinite(s["metrics"]["penetration_depth_cm"])
    assert (out / "metrics.md").read_text().startswith("| Penetration depth (cm)")
    assert "Contact per hand part" in (out / "metrics.md").read_text()
    with open(out / "metrics.json") as f:
        summary = json.load(f)
    assert set(summary["finger_contact_rate"]) == {"palm", "thumb", "index", "middle", "ring",
                                                   "pinky"}  # fmt: skip
    # Each object's own figures: the mean of its grasps' metrics, in the JSON and the table.
    per = summary["per_object"]
    assert list(per) == ["box", "sub__ball"] and per["box"]["num_grasps"] == 2
    box = [s["metrics"]["penetration_depth_cm"] for s in index["samples"] if s["object"] == "box"]
    assert per["box"]["penetration_depth_cm"] == pytest.approx(np.mean(box))
    assert "| box | 2 |" in (out / "metrics.md").read_text()
    # Contact maps both ways in every sample with an object mesh (the box and the ball's alpha
    # shape), their parts in the index, their heat maps among the renders.
    for s in index["samples"]:
        assert "contact" in s["files"]["renders"]
        assert set(s["contact_parts"]) <= {"palm", "thumb", "index", "middle", "ring", "pinky"}
        with np.load(out / s["files"]["npz"]) as f:
            v = f["contact_hand_distance_m"].shape[1]
            p = f["contact_object_points_m"].shape[1]
            assert f["contact_hand"].shape == (1, v) and v == 2021  # the procedural hand
            assert f["contact_object_distance_m"].shape == (1, p) and p >= 256
            assert set(np.unique(f["contact_object_part"])) <= set(range(6))
            np.testing.assert_array_equal(f["contact_hand"][0],
                                          f["contact_hand_distance_m"][0] <= 0.005)  # fmt: skip
            assert bool(s["contact_parts"]) == bool(f["contact_hand"].any())
    # The cm box came in at meter scale, centred.
    box = trimesh.load(out / "objects" / "box.obj", force="mesh")
    np.testing.assert_allclose(box.extents, [0.06, 0.04, 0.08], atol=1e-6)
    assert np.allclose(box.bounds.mean(0), 0, atol=1e-6)

    # The .npz (smplx/manotorch names, batch of 1) reloads to the exported hand mesh.
    model = hand.load(None)
    first = index["samples"][0]["files"]
    with np.load(out / first["npz"]) as f:
        assert f["global_orient"].shape == (1, 3) and f["hand_pose"].shape == (1, 45)
        assert f["transl"].shape == (1, 3) and f["betas"].shape == (1, 10)
        pose = np.concatenate([f["global_orient"], f["hand_pose"]], 1).reshape(1, 16, 3)
        verts = np.asarray(hand.forward(model, pose, f["transl"]).vertices)[0]
    mesh = trimesh.load(out / first["hand_mesh"], process=False, force="mesh")
    np.testing.assert_allclose(mesh.vertices, verts, atol=2e-6)
    scene = trimesh.load(out / first["scene"])
    assert sorted(scene.geometry) == ["hand", "object"]

    # grasps.npz is what `python -m mgd_jax.evaluate` reads.
    summary = evaluate.main(["--grasps", str(out / "grasps.npz"), "--out", str(tmp_path / "ev"),
                             "--metrics", "penetration", "--num_best_worst", "0",
                             "--no_progress"])  # fmt: skip
    assert summary["num_grasps"] == 4 and summary["num_skipped"] == 0

    # Same seed -> same samples; another seed -> others.
    again = _run(f"--checkpoint={exported}", f"--objects={objs}", "--units=cm",
                 "--num_per_object=2", "--render_size=0", f"--out={tmp_path / 'again'}")
    assert again["num_samples"] == 4
    a, b = np.load(out / "grasps.npz"), np.load(tmp_path / "again" / "grasps.npz")
    np.testing.assert_array_equal(a["hand_pose"], b["hand_pose"])
    _run(f"--checkpoint={exported}", f"--objects={objs / 'box.obj'}", "--units=cm",
                 "--num_per_object=2", "--render_size=0", "--seed=1",
                 f"--out={tmp_path / 'other'}")  # fmt: skip
    c = np.load(tmp_path / "other" / "grasps.npz")
    assert not np.allclose(a["hand_pose"][:2], c["hand_pose"])


def test_refine_moves_the_grasps_and_says_so(exported, tmp_path):
    objs = _objects_folder(tmp_path / "objs")
    args = [f"--checkpoint={exported}", f"--objects={objs / 'box.obj'}", "--units=cm",
            "--num_per_object=2", "--render_size=0"]  # fmt: skip
    plain = _run(*args, f"--out={tmp_path / 'plain'}")
    refined = _run(*args, "--refine", "--refine_steps=2", f"--out={tmp_path / 'refined'}")
    assert refined["refined"] and not plain["refined"]
    assert refined["refine_settle"] and not plain["refine_settle"]  # re-closing is the default
    assert refined["timing"]["refine_seconds"] > 0
    unsettled = _run(*args, "--refine", "--refine_steps=2", "--norefine_settle",
                     f"--out={tmp_path / 'unsettled'}")  # fmt: skip
    assert unsettled["refined"] and not unsettled["refine_settle"]
    a = np.load(tmp_path / "plain" / "grasps.npz")
    b = np.load(tmp_path / "refined" / "grasps.npz")
    c = np.load(tmp_path / "unsettled" / "grasps.npz")
    assert a["hand_pose"].shape == b["hand_pose"].shape
    assert np.isfinite(b["hand_pose"]).all() and not np.allclose(a["hand_pose"], b["hand_pose"])
    assert not np.allclose(b["hand_pose"], c["hand_pose"])  # the closing moved the fingers


def test_joint_mode_from_the_workdir(trained_mgd, tmp_path):
    root, _ = trained_mgd
    out = tmp_path / "joint"
    index = _run(f"--workdir={root / 'mgd'}", "--mode=joint", "--num=2", f"--out={out}")
    assert index["num_samples"] == 2 and index["mode"] == "joint"
    for o in index["objects"]:
        cloud = trimesh.load(out / o["points"])
        assert len(cloud.vertices) == 256  # the toy model's num_points
    with open(out / "index.json") as f:
        assert json.load(f)["conventions"]["units"] == "meters"
    with pytest.raises(FileExistsError, match="--overwrite"):
        _run(f"--workdir={root / 'mgd'}", "--mode=joint", "--num=2", f"--out={out}")


def test_bad_inputs_name_the_problem(trained_mgd, exported, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an export"):
        _run(f"--checkpoint={tmp_path}", f"--objects={tmp_path}", f"--out={tmp_path / 'o'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no mesh or point files"):
        _run(f"--checkpoint={exported}", f"--objects={tmp_path / 'empty'}", f"--out={tmp_path / 'o'}")
    with pytest.raises(ValueError, match="needs --objects"):
        _run(f"--checkpoint={exported}", f"--out={tmp_path / 'o'}")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        _run(f"--checkpoint={exported}", f"--objects={tmp_path / 'missing.obj'}",
             f"--out={tmp_path / 'o'}")  # fmt: skip

    # An export made with another hand refuses to load.
    other = tmp_path / "other_hand"
    shutil.copytree(exported, other)
    meta = json.loads((other / "export.json").read_text())
    meta["hand"]["fingerprint"] = "0" * 64
    (other / "export.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trained with hand"):
        trained.load_mgd(str(other))
    # Truncated parameters: a clear error naming the export.
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    for dirpath, _, files in os.walk(broken / "params"):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "r+b") as f:
                f.truncate(os.path.getsize(p) // 2)
    with pytest.raises(ValueError, match="cannot be read"):
        trained.load_mgd(str(broken))
    with pytest.raises(FileExistsError, match="--overwrite"):
        trained.write_export(str(trained_mgd[0] / "mgd"), exported)


def _legacy_layout(config: dict) -> dict:
    """A current run config written back in the earlier layout (``model = {"name": ...}``,
    network in ``mgd`` / ``point_vae``), as runs and exports made before the layout change hold."""
    old = {k: v for k, v in config.items() if k not in ("task", "model")}
    task = dict(config["task"])
    name = task.pop("name")
    old["model"] = {"name": name}
    if name == "mgd":
        old["mgd"], old["point_vae"] = config["model"], {"init": task["point_vae"]}
    else:
        old["point_vae"] = {**config["model"], **task}
    return old


def test_runs_and_exports_in_the_earlier_config_layout_still_load(trained_mgd, exported, tmp_path):
    # The layout conversion is exact both ways, for both tasks.
    from configs import point_vae as point_vae_configs

    for config in (point_vae_configs.get_config("tiny"), trained_mgd[1]):
        current = config.to_dict()
        assert trained.upgrade_config(_legacy_layout(current)) == current
    # An export whose export.json holds the earlier layout samples exactly like the new one.
    old = tmp_path / "old_export"
    shutil.copytree(exported, old)
    meta = json.loads((old / "export.json").read_text())
    meta["config"] = _legacy_layout(meta["config"])
    (old / "export.json").write_text(json.dumps(meta))
    # A workdir whose checkpoints store the earlier layout (orbax's JSON item) loads too.
    root, _ = trained_mgd
    work = tmp_path / "old_run"
    shutil.copytree(root / "mgd", work)
    for step in os.listdir(work / "checkpoints"):
        item = work / "checkpoints" / step / "config" / "metadata"
        if item.exists():
            item.write_text(json.dumps(_legacy_layout(json.loads(item.read_text()))))
    points = np.stack([r["points"] for r in __import__("toy_mgd").hoi_examples(2, 0, seed=1)])
    from mgd_jax.generator import Generator

    want = Generator.load(exported).conditional(points, seed=0, num_steps=3)[0]
    for path in (old, work):
        got = Generator.load(str(path)).conditional(points, seed=0, num_steps=3)[0]
        np.testing.assert_array_equal(got, want)


def test_a_training_workdir_records_its_hand_and_refuses_another(trained_mgd, tmp_path):
    root, _ = trained_mgd
    info = json.loads((root / "mgd" / "run.json").read_text())
    assert info["hand"]["fingerprint"] == hand.fingerprint(hand.load(None))
    other = tmp_path / "other_hand_run"
    shutil.copytree(root / "mgd", other)
    info["hand"]["fingerprint"] = "0" * 64
    (other / "run.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="trained with hand"):
        trained.load_mgd(str(other))


def test_default_ddim_steps_fit_the_model(trained_mgd, tmp_path):
    """--steps defaults to min(100, T); more steps than T is an error naming T."""
    root, config = trained_mgd
    T = int(config.diffusion.num_timesteps)
    index = sample.main(["--no_progress", "--render_size=0", f"--workdir={root / 'mgd'}",
                         "--mode=joint", "--num=1", f"--out={tmp_path / 'default'}"])  # fmt: skip
    assert index["steps"] == min(100, T) == T
    with pytest.raises(ValueError, match=f"T={T}"):
        _run(f"--workdir={root / 'mgd'}", "--mode=joint", "--num=1", f"--steps={T + 1}",
             f"--out={tmp_path / 'too_many'}")  # fmt: skip
