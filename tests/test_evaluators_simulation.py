"""The MuJoCo displacement test: free fall, a supported object, determinism, invariances, the
hand shapes, and the same number through every entry point."""

import dataclasses

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mgd_jax import evaluators as ev
import sim_scenes

PARAMS = ev.SimulationParams()


def _one_part(mesh):
    return np.zeros(len(mesh.vertices), int)


def test_unsupported_object_falls_freely():
    torus = trimesh.creation.torus(0.04, 0.01)  # non-convex: V-HACD pieces
    labels = _one_part(sim_scenes.far_hand())
    disp, stable = ev.simulation_displacement_cm([sim_scenes.far_hand()], [torus], hand_part_labels=labels)
    n, dt, g = PARAMS.num_steps, PARAMS.timestep_s, np.linalg.norm(PARAMS.gravity)
    # Semi-implicit Euler (MuJoCo's and Bullet's): x_n = g dt^2 n (n + 1) / 2.
    assert disp[0] == pytest.approx(100 * g * dt**2 * n * (n + 1) / 2, rel=1e-6)
    assert disp[0] == pytest.approx(100 * 0.5 * g * (n * dt) ** 2, rel=0.05)  # ~10.4 cm
    assert not stable[0]


@pytest.mark.parametrize("shape", ev.HAND_SHAPES)
def test_object_in_a_tray_is_stable(shape):
    tray, labels = sim_scenes.tray()
    params = dataclasses.replace(PARAMS, hand_shape=shape)
    disp, stable = ev.simulation_displacement_cm([tray], [sim_scenes.cube()], params,
                                                 hand_part_labels=labels)  # fmt: skip
    assert disp[0] < (1.0 if shape == "vhacd" else 0.2) and stable[0]


def test_same_number_through_every_entry_point():
    """Every caller passes the hand's part labels (the default hand shape needs them): one
    process or two workers, with other metrics or alone, batch function or API, same number."""
    tray, labels = sim_scenes.tray()
    obj = trimesh.creation.torus(0.02, 0.008)
    obj.apply_translation([0.0, 0.005, 0.0])
    hands, objs = [tray, tray], [obj, sim_scenes.cube()]
    one = ev.evaluate_meshes(hands, objs, ["simulation"], progress=False, hand_part_labels=labels)
    fingers = np.zeros(len(tray.vertices), int)
    every = ev.evaluate_meshes(hands, objs, progress=False, hand_part_labels=labels,
                               finger_labels=fingers)  # fmt: skip
    workers = ev.evaluate_meshes(hands, objs, ["simulation"], progress=False, num_workers=2,
                                 hand_part_labels=labels)  # fmt: skip
    batch = ev.simulation_displacement_cm(hands, objs, hand_part_labels=labels)[0]
    for other in (every["sim_displacement_cm"], workers["sim_displacement_cm"], batch):
        np.testing.assert_array_equal(one["sim_displacement_cm"], other)


def test_no_silent_fallback_without_part_labels():
    """The default hand shape raises without labels (it used to switch to V-HACD); the shapes
    that need none give the same number with or without them."""
    tray, labels = sim_scenes.tray()
    with pytest.raises(ValueError, match="part_labels_from_weights"):
        ev.evaluate_meshes([tray], [sim_scenes.cube()], ["simulation"], progress=False)
    with pytest.raises(ValueError, match="hand_part_labels"):
        ev.simulation_displacement_cm([tray], [sim_scenes.cube()])
    ev.evaluate_meshes([tray], [sim_scenes.cube()], ["penetration", "contact"], progress=False)  # fine
    shell = dataclasses.replace(PARAMS, hand_shape="shell")
    a = ev.evaluate_meshes([tray], [sim_scenes.cube()], ["simulation"], sim_params=shell, progress=False)
    b = ev.evaluate_meshes([tray], [sim_scenes.cube()], ["simulation"], sim_params=shell, progress=False,
                           hand_part_labels=labels)  # fmt: skip
    assert a["sim_displacement_cm"][0] == b["sim_displacement_cm"][0]
    with pytest.raises(ValueError, match="hand_shape"):
        dataclasses.replace(PARAMS, hand_shape="hulls")


def test_bullet_inertia_puts_the_centre_of_mass_at_the_vertex_mean():
    """PyBullet's object: mass at the vertex mean, inertia of the bounding box + 2 mm a side."""
    from mgd_jax.evaluators import simulation

    obj = trimesh.creation.box((0.04, 0.02, 0.06))
    obj = trimesh.Trimesh(np.vstack([obj.vertices, [[0.02, 0.01, 0.03]] * 8]),
                          obj.faces, process=False)  # 8 extra copies of one corner: biased mean
    mesh = ev.as_mesh(obj)
    pieces = simulation.object_pieces(mesh, PARAMS)
    centre = mesh.vertices.mean(axis=0)
    model = simulation.build_model([], pieces, PARAMS, centre)
    np.testing.assert_allclose(model.body_pos[1] + model.body_ipos[1], centre, atol=1e-12)
    size = np.array([0.044, 0.024, 0.064])
    np.testing.assert_allclose(np.sort(model.body_inertia[1]),
                               np.sort((np.sum(size**2) - size**2) / 12.0), rtol=1e-6)  # fmt: skip
    uniform = dataclasses.replace(PARAMS, object_inertia="uniform")
    model = simulation.build_model([], pieces, uniform, centre)
    np.testing.assert_allclose(model.body_pos[1] + model.body_ipos[1], 0.0, atol=1e-8)


def test_reused_model_equals_a_fresh_build():
    """``set_contact`` on a compiled model (the calibration's shortcut) = building it anew."""
    from mgd_jax.evaluators import simulation

    tray, labels = sim_scenes.tray(gap=-0.0005)  # the cube is squeezed 0.5 mm by the walls
    hand, obj = ev.as_mesh(tray), ev.as_mesh(sim_scenes.cube())
    base = dataclasses.replace(PARAMS, friction_combine="max")
    model = simulation.build_model(simulation.hand_pieces(hand, base, labels),
                                   simulation.object_pieces(obj, base), base,
                                   obj.vertices.mean(axis=0))  # fmt: skip
    for p in (dataclasses.replace(base, friction_combine="product", contact_margin_m=0.001),
              dataclasses.replace(base, friction_cone="elliptic", contact_timeconst_steps=4.8),
              base):  # fmt: skip
        simulation.set_contact(model, p)
        assert simulation.run_model(model, p) == simulation.displacement_m(hand, obj, p, labels)


def test_shell_pieces_are_thin_prisms_inside_the_surface():
    from mgd_jax.evaluators import decomposition

    box = ev.as_mesh(trimesh.creation.box((0.04, 0.04, 0.04)))
    pieces = decomposition.shell_pieces(box, 0.002)
    assert len(pieces) == len(box.faces)
    pts = np.concatenate([v for v, _ in pieces])
    assert np.abs(pts).max() == pytest.approx(0.02)  # nothing outside the surface
    inner = np.abs(pts).max(axis=1) < 0.02 - 1e-9
    depth = 0.02 - np.abs(pts[inner]).max(axis=1)  # how far inside the box the inner layer is
    assert inner.sum() == 3 * len(box.faces) and np.all((depth > 0.0005) & (depth <= 0.002))
    flipped = ev.as_mesh((box.vertices, box.faces[:, ::-1]))  # inside-out: still inwards
    pts_flipped = np.concatenate([v for v, _ in decomposition.shell_pieces(flipped, 0.002)])
    assert np.abs(pts_flipped).max() == pytest.approx(0.02)


def test_tray_turned_sideways_no_longer_holds():
    """Gravity along the U's open axis (+z): nothing presses the cube on the tray, it falls out."""
    tray, labels = sim_scenes.tray()
    params = dataclasses.replace(PARAMS, gravity=(0.0, 0.0, 9.8))  # along the open U's axis
    disp, _ = ev.simulation_displacement_cm([tray], [sim_scenes.cube()], params, hand_part_labels=labels)
    assert disp[0] > 5.0


def test_deterministic():
    tray, labels = sim_scenes.tray()
    obj = trimesh.creation.torus(0.02, 0.008)
    obj.apply_translation([0.0, 0.005, 0.0])
    vhacd = dataclasses.replace(PARAMS, hand_shape="vhacd")  # V-HACD on both sides
    a = ev.simulation_displacement_cm([tray], [obj], vhacd)[0]
    b = ev.simulation_displacement_cm([tray], [obj], vhacd)[0]
    np.testing.assert_array_equal(a, b)
    a = ev.simulation_displacement_cm([tray], [obj], hand_part_labels=labels)[0]
    b = ev.simulation_displacement_cm([tray], [obj], hand_part_labels=labels)[0]
    np.testing.assert_array_equal(a, b)


def test_invariant_to_a_rigid_motion_that_carries_gravity():
    tray, labels = sim_scenes.tray()
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
    out = ev.evaluate_meshes([sim_scenes.far_hand()], [sim_scenes.cube()], ["simulation"], progress=False,
                             stable_threshold_cm=20.0,
                             hand_part_labels=_one_part(sim_scenes.far_hand()))  # fmt: skip
    assert out["sim_displacement_cm"][0] > 10 and out["sim_stable"][0]


def test_nearly_convex_object_is_its_hull_and_a_concave_one_is_decomposed():
    from mgd_jax.evaluators import decomposition

    # A sphere's tessellation is within 1% of its hull (V-HACD's own acceptance of a hull):
    # one piece, the hull itself, instead of V-HACD's ~60 voxel-made pieces.
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.04)
    dented = sphere.copy()
    top = np.argmax(dented.vertices[:, 2])
    dented.vertices[top] *= 0.9  # a 4 mm dent: a little concave, well under 1% of the volume
    assert 0.99 < dented.volume / dented.convex_hull.volume < 1.0
    pieces = decomposition.vhacd_pieces(dented, PARAMS.object_vhacd_resolution,
                                        PARAMS.vhacd_max_hulls, PARAMS.vhacd_max_vertices_per_hull)  # fmt: skip
    assert len(pieces) == 1
    assert pieces[0][1] == pytest.approx(dented.convex_hull.volume, rel=1e-6)
    torus = trimesh.creation.torus(0.04, 0.01)
    assert torus.volume / torus.convex_hull.volume < 0.6
    assert len(decomposition.vhacd_pieces(torus, PARAMS.object_vhacd_resolution,
                                          PARAMS.vhacd_max_hulls,
                                          PARAMS.vhacd_max_vertices_per_hull)) > 4  # fmt: skip
