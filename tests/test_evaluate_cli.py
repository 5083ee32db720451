"""Tests for the ``python -m mgd_jax.evaluate`` CLI (procedural hand, a box, no simulation)."""

import json

import numpy as np
import pytest
import trimesh

from mgd_jax import evaluate, evaluators, hand


@pytest.fixture(scope="module")
def rest_vertices():
    m = hand.load(None)
    return np.asarray(hand.forward(m, np.zeros((1, 16, 3)), np.zeros((1, 3))).vertices[0]), m


def _write_inputs(folder, rest_vertices):
    verts, m = rest_vertices
    box = trimesh.creation.box((0.08, 0.05, 0.03))  # centred at the origin
    box.export(folder / "box.obj")
    (folder / "broken.obj").write_text("this is not a mesh\n")
    palm = evaluators.finger_labels_from_weights(np.asarray(m.weights)) == 0
    palm_centre = verts[palm].mean(axis=0)
    centre = verts.mean(axis=0)
    far = np.array([0.0, 0.0, 0.10]) + np.array([0.0, 0.0, 0.5 * np.ptp(verts[:, 2])])
    trans = np.stack([
        far - centre + [0.0, 0.0, 0.04],  # hand 10+ cm away from the box
        -palm_centre,  # palm centre at the box centre: intersecting
        -far - centre - [0.0, 0.0, 0.04],  # far on the other side
        -palm_centre,  # would intersect, but its object file is broken
    ])
    np.savez(folder / "grasps.npz",
             global_orient=np.zeros((4, 3)), hand_pose=np.zeros((4, 45)), transl=trans,
             object_path=np.array(["box.obj", "box.obj", "box.obj", "broken.obj"]))  # fmt: skip
    return folder / "grasps.npz"


def test_cli_end_to_end(tmp_path, rest_vertices, capsys):
    grasps = _write_inputs(tmp_path, rest_vertices)
    out = tmp_path / "out"
    summary = evaluate.main([f"--grasps={grasps}", f"--out={out}",
                             "--metrics=penetration,intersection,contact", "--render_size=64",
                             "--num_best_worst=1", "--no_progress"])  # fmt: skip
    for name in ("per_grasp.json", "summary.json", "summary.md", "contact_sheet.png"):
        assert (out / name).is_file(), name
    rows = json.loads((out / "per_grasp.json").read_text())
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert summary["num_skipped"] == 1 and summary["num_grasps"] == 3
    assert summary["skipped"][0]["index"] == 3
    assert "broken.obj" in summary["skipped"][0]["object_path"]
    for r in (rows[0], rows[2]):
        assert r["penetration_depth_cm"] == 0.0
        assert r["intersection_volume_cm3"] == 0.0
        assert r["contact"] is False
    assert rows[1]["penetration_depth_cm"] > 0.1
    assert rows[1]["intersection_volume_cm3"] > 0.1
    assert rows[1]["contact"] is True
    assert "sim_displacement_cm" not in rows[1]

    md = (out / "summary.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Penetration"))
    pos = [header.index(t) for t in ("Penetration depth (cm)", "Intersection volume (cm^3)",
                                     "Contact ratio (%)")]  # fmt: skip
    assert pos == sorted(pos)
    assert "Simulation displacement" not in header
    assert "1 of 4 grasps skipped" in md
    assert header in capsys.readouterr().out
    assert (out / "contact_sheet.png").stat().st_size > 100
    saved = json.loads((out / "summary.json").read_text())
    assert saved["metrics"]["contact"]["mean"] == pytest.approx(1 / 3)


def test_missing_key_names_file(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, global_orient=np.zeros((2, 3)), transl=np.zeros((2, 3)),
             object_path=np.array(["a.obj", "a.obj"]))  # fmt: skip
    with pytest.raises(ValueError, match=r"bad\.npz.*hand_pose"):
        evaluate.main([f"--grasps={path}", f"--out={tmp_path / 'out'}"])


def test_shape_mismatch_and_missing_object(tmp_path):
    path = tmp_path / "shape.npz"
    np.savez(path, pose=np.zeros((2, 16, 3)), trans=np.zeros((3, 3)),
             object_path=np.array(["a.obj", "a.obj"]))  # fmt: skip
    with pytest.raises(ValueError, match=r"shape\.npz.*trans must be \(2, 3\)"):
        evaluate.load_grasps(str(path))
    path = tmp_path / "noobj.npz"
    np.savez(path, pose=np.zeros((2, 16, 3)), trans=np.zeros((2, 3)),
             object_path=np.array(["missing.obj", "missing.obj"]))  # fmt: skip
    with pytest.raises(ValueError, match=r"missing\.obj"):
        evaluate.main([f"--grasps={path}", f"--out={tmp_path / 'out'}", "--no_progress"])
