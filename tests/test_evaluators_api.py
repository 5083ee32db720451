"""``evaluate_meshes``: outputs, errors, worker processes."""

import numpy as np
import pytest
import trimesh

from mgd_jax import evaluators as ev


def _finger(half_length, radius):
    """A finger-like stand-in with evenly spread vertices: an icosphere stretched along z.

    (A trimesh capsule has no vertices along its straight part, and the metrics count vertices.)
    """
    f = trimesh.creation.icosphere(3, radius)
    f.apply_scale([1.0, 1.0, half_length / radius])
    return f


def _scene(n):
    objs = [trimesh.creation.icosphere(2, 0.03), trimesh.creation.box((0.05, 0.04, 0.06))]
    hands, objects = [], []
    for i in range(n):
        h = _finger(0.05, 0.01)
        h.apply_translation([0.025 + 0.003 * i, 0.001 * i, 0.0])
        hands.append(h)
        objects.append(objs[i % 2])
    return hands, objects


def test_all_metrics_by_default_and_summary():
    hands, objects = _scene(4)
    labels = np.zeros(len(hands[0].vertices), int)
    out = ev.evaluate_meshes(hands, objects, progress=False, hand_part_labels=labels)
    for key in ("penetration_depth_cm", "intersection_volume_cm3", "sim_displacement_cm",
                "sim_stable", "contact"):  # fmt: skip
        assert out[key].shape == (4,)
    assert out["contact"].dtype == bool and out["contact"].all()
    assert (out["penetration_depth_cm"] > 0).all()
    summary = ev.summarize(out)
    depth = out["penetration_depth_cm"]
    assert summary["penetration_depth_cm"] == pytest.approx({"mean": depth.mean(), "std": depth.std()})
    assert summary["contact"]["mean"] == 1.0
    # The batch function and the API agree.
    np.testing.assert_allclose(ev.penetration_depth_cm(hands, objects), out["penetration_depth_cm"])


def test_two_spawned_workers_match_one_process():
    hands, objects = _scene(6)
    metrics = ["penetration", "intersection", "contact"]
    one = ev.evaluate_meshes(hands, objects, metrics, progress=False)
    two = ev.evaluate_meshes(hands, objects, metrics, num_workers=2, progress=False)
    assert one.keys() == two.keys()
    for k in one:
        np.testing.assert_array_equal(one[k], two[k], err_msg=k)


def test_clear_errors():
    hands, objects = _scene(2)
    with pytest.raises(ValueError, match="same length"):
        ev.evaluate_meshes(hands, objects[:1], progress=False)
    with pytest.raises(ValueError, match="no grasps"):
        ev.evaluate_meshes([], [], progress=False)
    bad = hands[1].copy()
    bad.vertices[5, 1] = np.nan
    with pytest.raises(ValueError, match="grasp 1: hand mesh has NaN"):
        ev.evaluate_meshes([hands[0], bad], objects, progress=False)
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="grasp 0: object mesh is empty"):
        ev.evaluate_meshes(hands[:1], [empty], progress=False)
    with pytest.raises(ValueError, match="unknown metrics"):
        ev.evaluate_meshes(hands, objects, ["volume"], progress=False)
    with pytest.raises(ValueError, match="finger_labels"):
        ev.evaluate_meshes(hands, objects, ["contact"], finger_labels=np.zeros(3), progress=False)
    with pytest.raises(ValueError, match="fork"):
        ev.evaluate_meshes(hands, objects, num_workers=2, start_method="fork", progress=False)
