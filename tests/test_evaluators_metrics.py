"""Penetration, intersection and contact on scenes with known answers."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mgd_jax import evaluators as ev


def _finger(half_length, radius):
    """A finger-like stand-in with evenly spread vertices: an icosphere stretched along z.

    (A trimesh capsule has no vertices along its straight part, and the metrics count vertices.)
    """
    f = trimesh.creation.icosphere(3, radius)
    f.apply_scale([1.0, 1.0, half_length / radius])
    return f

P = 0.005  # voxel pitch
# Offsets that keep box faces off the 5 mm voxel lattice (a face on a lattice plane makes the
# voxel count depend on round-off).
OFF = np.array([0.0013, 0.0021, 0.0017])


def _box(extents, centre):
    return trimesh.creation.box(extents, trimesh.transformations.translation_matrix(centre))


def _slab(subdivisions: int):
    """A 10 x 10 cm 'palm' slab, 2 cm thick, top face at z = 0, with fine or coarse triangles."""
    slab = _box((0.10, 0.10, 0.02), (0, 0, -0.01))
    for _ in range(subdivisions):
        slab = slab.subdivide()
    return slab


def _rigid(seed):
    rng = np.random.default_rng(seed)
    t = np.eye(4)
    t[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    t[:3, 3] = rng.normal(0, 0.2, 3)
    return t


def _apply(mesh, t):
    m = mesh.copy()
    m.apply_transform(t)
    return m


def test_far_hand_gives_zeros_and_no_contact():
    obj = trimesh.creation.icosphere(3, 0.04)
    hand = _finger(0.05, 0.01)
    hand.apply_translation([0.2, 0.0, 0.0])
    out = ev.evaluate_meshes([hand], [obj], ["penetration", "intersection", "contact"],
                             progress=False, exact_intersection=True)  # fmt: skip
    assert out["penetration_depth_cm"][0] == 0.0
    assert out["intersection_volume_cm3"][0] == 0.0
    assert out["intersection_volume_exact_cm3"][0] == pytest.approx(0.0, abs=1e-9)
    assert not out["contact"][0] and out["contact_vertex_count"][0] == 0


def test_cube_pushed_into_slab_object():
    """Hand = 4 cm cube whose bottom corners sink 7 mm into a slab object."""
    depth = 0.007
    hand = _box((0.04, 0.04, 0.04), (0, 0, 0.02 - depth))
    got = ev.penetration_depth_cm([hand], [_slab(0)])[0]
    assert got == pytest.approx(100 * depth, abs=0.1)


def test_cube_object_pushed_into_palm_slab_counts_hand_vertices_only():
    """Object = 4 cm cube sunk 7 mm into a hand slab: only the slab's vertices inside the cube
    count, so a coarse slab (8 corner vertices, all outside the cube) reads 0."""
    depth = 0.007
    obj = _box((0.04, 0.04, 0.04), (0.0011, 0.0007, 0.02 - depth))
    fine = ev.penetration_depth_cm([_slab(4)], [obj])[0]  # 6 mm vertex spacing on the top face
    assert fine == pytest.approx(100 * depth, abs=0.1)
    assert ev.penetration_depth_cm([_slab(0)], [obj])[0] == 0.0


@pytest.mark.parametrize("mode", ["solid", "surface"])
def test_overlapping_boxes_intersection_volume(mode):
    hand = _box((0.04, 0.04, 0.04), OFF)
    obj = _box((0.06, 0.06, 0.06), OFF + np.array([0.03, 0.02, 0.01]))
    exact = 2.0 * 3.0 * 4.0  # overlap 2 x 3 x 4 cm
    got_exact = ev.exact_intersection_volume_cm3([hand], [obj])[0]
    assert got_exact == pytest.approx(exact, rel=1e-9)
    vox = ev.intersection_volume_cm3([hand], [obj], mode=mode)[0]
    if mode == "solid":
        assert vox == pytest.approx(exact, rel=0.05)
    else:  # the trimesh shell only sees the part of the overlap near the object's surface
        assert 0 < vox < exact


def test_surface_mode_matches_trimesh_reference():
    hand = _finger(0.045, 0.015)
    hand.apply_translation([0.03, 0.004, 0.002])
    obj = trimesh.creation.icosphere(3, 0.035)
    ref = hand.contains(obj.voxelized(P).points).sum() * P**3 * 1e6
    got = ev.intersection_volume_cm3([hand], [obj], mode="surface")[0]
    assert got == pytest.approx(ref, rel=0.02)


def test_solid_voxel_volume_converges_to_exact():
    hand = _finger(0.045, 0.015)
    hand.apply_translation([0.03, 0.004, 0.002])
    obj = trimesh.creation.icosphere(4, 0.035)
    exact = ev.exact_intersection_volume_cm3([hand], [obj])[0]
    fine = ev.intersection_volume_cm3([hand], [obj], pitch=0.001)[0]
    assert fine == pytest.approx(exact, rel=0.02)


def test_invariance_to_vertex_and_face_order():
    obj = trimesh.creation.torus(0.04, 0.015)
    hand = _finger(0.05, 0.012)
    hand.apply_translation([0.04, 0.0, 0.006])
    rng = np.random.default_rng()
    perm = rng.permutation(len(obj.vertices))
    inv = np.argsort(perm)
    shuffled = trimesh.Trimesh(obj.vertices[perm], inv[obj.faces][rng.permutation(len(obj.faces))],
                               process=False)  # fmt: skip
    metrics = ["penetration", "intersection", "contact"]
    a = ev.evaluate_meshes([hand], [obj], metrics, progress=False)
    b = ev.evaluate_meshes([hand], [shuffled], metrics, progress=False)
    assert a["penetration_depth_cm"][0] > 0.1 and a["intersection_volume_cm3"][0] > 1.0
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, err_msg=k)


def test_invariance_to_a_rigid_motion_of_the_scene():
    obj = trimesh.creation.torus(0.04, 0.015)
    hand = _finger(0.05, 0.012)
    hand.apply_translation([0.04, 0.0, 0.006])
    keys = ["penetration", "intersection", "contact"]
    a = ev.evaluate_meshes([hand], [obj], keys, progress=False, exact_intersection=True,
                           return_contact_maps=True)  # fmt: skip
    for seed in range(3):
        t = _rigid(seed)
        b = ev.evaluate_meshes([_apply(hand, t)], [_apply(obj, t)], keys, progress=False,
                               exact_intersection=True, return_contact_maps=True)  # fmt: skip
        np.testing.assert_allclose(b["penetration_depth_cm"], a["penetration_depth_cm"], rtol=1e-6)
        np.testing.assert_allclose(b["intersection_volume_exact_cm3"],
                                   a["intersection_volume_exact_cm3"], rtol=1e-6)  # fmt: skip
        # The lattice stays in the world frame: only discretisation noise moves the count.
        np.testing.assert_allclose(b["intersection_volume_cm3"], a["intersection_volume_cm3"],
                                   rtol=0.1)  # fmt: skip
        np.testing.assert_array_equal(b["contact_map"], a["contact_map"])


def test_contact_threshold():
    obj = _box((0.04, 0.04, 0.04), (0, 0, 0))
    hand = trimesh.creation.icosphere(2, 0.01)
    for gap, want in ((0.004, True), (0.006, False)):
        h = hand.copy()
        h.apply_translation([0.02 + 0.01 + gap, 0.0, 0.0])
        assert ev.in_contact([h], [obj])[0] == want
        assert ev.in_contact([h], [obj], threshold=0.01)[0]


def test_fingers_in_contact_counts_labelled_parts():
    obj = _box((0.04, 0.04, 0.04), (0, 0, 0))
    spheres, labels = [], []
    # Thumb and index touch (2 mm gap), middle hovers at 1 cm, palm far away.
    for label, x in ((1, 0.032), (2, -0.032), (3, 0.0), (0, 0.2)):
        s = trimesh.creation.icosphere(2, 0.01)
        s.apply_translation([x, 0.0, 0.0] if label != 3 else [0.0, 0.04, 0.0])
        spheres.append(s)
        labels.append(np.full(len(s.vertices), label))
    hand = trimesh.util.concatenate(spheres)
    labels = np.concatenate(labels)
    out = ev.evaluate_meshes([hand], [obj], ["contact"], finger_labels=labels, progress=False)
    want = [False, True, True, False, False, False]  # palm, thumb, index, middle, ring, pinky
    np.testing.assert_array_equal(out["finger_contact"][0], want)
    assert out["num_fingers_in_contact"][0] == 2
    cmap = ev.contact_maps([hand], [obj])[0]
    assert not ev.thumb_and_two_fingers(cmap, labels)


def test_finger_labels_from_mano_weights():
    w = np.eye(16)
    np.testing.assert_array_equal(ev.finger_labels_from_weights(w),
                                  [0, 2, 2, 2, 3, 3, 3, 5, 5, 5, 4, 4, 4, 1, 1, 1])  # fmt: skip
