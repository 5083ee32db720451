"""The MuJoCo displacement test: free fall, a supported object, determinism, invariances."""

import dataclasses

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mgd_jax import evaluators as ev

PARAMS = ev.SimulationParams()


def _tray(gap=0.0005):
    """A static U-shaped 'hand' of three boxes under a 4 cm cube, on the +y side (gravity +y)."""
    parts = [trimesh.creation.box((0.08, 0.01, 0.08),
                                  trimesh.transformations.translation_matrix([0, 0.025 + gap, 0]))]
    for sx in (-1, 1):
        parts.append(trimesh.creation.box(
            (0.01, 0.05, 0.08),
            trimesh.transformations.translation_matrix([sx * (0.025 + gap), 0, 0])))  # fmt: skip
    labels = np.concatenate([np.full(len(p.vertices), i) for i, p in enumerate(parts)])
    return trimesh.util.concatenate(parts), labels


def _cube():
    return trimesh.creation.box((0.04, 0.04, 0.04))


def _far_hand():
    h = trimesh.creation.box((0.02, 0.02, 0.02))
    h.apply_translation([0.5, 0.0, 0.0])
    return h


def test_unsupported_object_falls_freely():
    torus = trimesh.creation.torus(0.04, 0.01)  # non-convex: V-HACD pieces
    disp, stable = ev.simulation_displacement_cm([_far_hand()], [torus])
    n, dt, g = PARAMS.num_steps, PARAMS.timestep_s, np.linalg.norm(PARAMS.gravity)
    # Semi-implicit Euler (MuJoCo's and Bullet's): x_n = g dt^2 n (n + 1) / 2.
    assert disp[0] == pytest.approx(100 * g * dt**2 * n * (n + 1) / 2, rel=1e-6)
    assert disp[0] == pytest.approx(100 * 0.5 * g * (n * dt) ** 2, rel=0.05)  # ~10.4 cm
    assert not stable[0]


def test_object_in_a_tray_is_stable():
    tray, labels = _tray()
    disp, stable = ev.simulation_displacement_cm([tray], [_cube()], hand_part_labels=labels)
    assert disp[0] < 0.2 and stable[0]
    disp_vhacd, stable_vhacd = ev.simulation_displacement_cm([tray], [_cube()])
    assert disp_vhacd[0] < 1.0 and stable_vhacd[0]


def test_tray_turned_sideways_no_longer_holds():
    """Gravity along the U's open axis (+z): nothing presses the cube on the tray, it falls out."""
    tray, labels = _tray()
    params = dataclasses.replace(PARAMS, gravity=(0.0, 0.0, 9.8))  # along the open U's axis
    disp, _ = ev.simulation_displacement_cm([tray], [_cube()], params, hand_part_labels=labels)
    assert disp[0] > 5.0


def test_deterministic():
    tray, _ = _tray()
    obj = trimesh.creation.torus(0.02, 0.008)
    obj.apply_translation([0.0, 0.005, 0.0])
    a = ev.simulation_displacement_cm([tray], [obj])[0]
    b = ev.simulation_displacement_cm([tray], [obj])[0]
    np.testing.assert_array_equal(a, b)


def test_invariant_to_a_rigid_motion_that_carries_gravity():
    tray, labels = _tray()
    obj = trimesh.creation.box((0.03, 0.03, 0.03))  # turned about y, it drops 5.5 mm onto the base
    obj.apply_transform(trimesh.transformations.rotation_matrix(0.3, [0, 1, 0]))
    base = ev.simulation_displacement_cm([tray], [obj], hand_part_labels=labels)[0][0]
    t = np.eye(4)  # upside down and turned: the open side of the U faces +y
    t[:3, :3] = Rotation.from_euler("yx", [0.4, np.pi]).as_matrix()
    t[:3, 3] = [0.3, -0.2, 0.1]
    params = dataclasses.replace(PARAMS, gravity=tuple(t[:3, :3] @ np.array(PARAMS.gravity)))
    moved = [m.copy() for m in (tray, obj)]
    for m in moved:
        m.apply_transform(t)
    got = ev.simulation_displacement_cm([moved[0]], [moved[1]], params, hand_part_labels=labels)
    assert got[0][0] == pytest.approx(base, abs=0.05)
    # Gravity fixed in the input frame (the protocol): a rotated scene is a different test.
    tilted = ev.simulation_displacement_cm([moved[0]], [moved[1]], hand_part_labels=labels)[0][0]
    assert tilted > base + 1.0


def test_stable_threshold_is_configurable():
    out = ev.evaluate_meshes([_far_hand()], [_cube()], ["simulation"], progress=False,
                             stable_threshold_cm=20.0)  # fmt: skip
    assert out["sim_displacement_cm"][0] > 10 and out["sim_stable"][0]
