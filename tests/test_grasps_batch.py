"""Many objects in one compilation: fixed-shape SDF grids, per-object keys, batched refinement,
and the checks that refuse meshes no hand can grasp."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
import trimesh

from mgd_jax import grasps, hand
from mgd_jax.objects import procedural, sampling, sdf_mesh

# Small and shared: one compilation per mode for the whole module.
CONFIG = dataclasses.replace(grasps.GraspConfig(), steps=6, oversample=2)
RESOLUTION = 32
CHUNK = 2


@pytest.fixture(scope="module")
def proxies():
    return grasps.proxies_for(hand.load(), CONFIG)


@pytest.fixture(scope="module")
def objects():
    out = []
    for family, seed in (("box", 1), ("mug", 2), ("torus", 3)):
        spec, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
        out.append((spec, mesh, sampling.sample_points(mesh, 256, seed=0)))
    return out


def test_procedural_grid_matches_the_analytic_sdf(objects):
    spec, mesh, points = objects[1]
    grid = grasps.procedural_grid(spec, RESOLUTION)
    assert grid.values.shape == (RESOLUTION,) * 3
    # Near the surface the trilinear grid is within a fraction of a voxel of the analytic field.
    near = points + 0.003 * np.random.default_rng(0).normal(size=points.shape)
    got = np.asarray(grasps.grid_sdf(grid)(near))
    want = np.asarray(procedural.sdf(spec, near))
    assert np.max(np.abs(got - want)) < 0.6 * float(grid.spacing)


def test_an_objects_grasps_do_not_depend_on_the_others_in_its_call(proxies, objects):
    grids = [grasps.procedural_grid(s, RESOLUTION) for s, _, _ in objects]
    points = [p for _, _, p in objects]
    keys = [jax.random.PRNGKey(10 + i) for i in range(3)]
    together = grasps.optimize_objects(proxies, grids, points, keys[0], 3, CONFIG, CHUNK,
                                       object_keys=keys)  # fmt: skip
    alone = grasps.optimize_objects(proxies, grids[2:], points[2:], keys[0], 3, CONFIG, CHUNK,
                                    object_keys=keys[2:])  # fmt: skip
    assert len(together) == 3 and len(alone) == 1
    np.testing.assert_array_equal(together[2].pose, alone[0].pose)
    np.testing.assert_array_equal(together[2].trans, alone[0].trans)
    assert together[0].pose.shape == (3, 16, 3) and together[0].energy.shape == (3,)
    assert not np.allclose(together[0].trans, together[1].trans)
    with pytest.raises(ValueError, match="object_keys"):
        grasps.optimize_objects(proxies, grids, points, keys[0], 3, CONFIG, CHUNK,
                                object_keys=keys[:2])  # fmt: skip


def test_refine_objects_lowers_energy_for_batches_of_different_sizes(proxies, objects):
    grids = [grasps.procedural_grid(s, RESOLUTION) for s, _, _ in objects[:2]]
    points = [p for _, _, p in objects[:2]]
    rng = np.random.default_rng(0)
    poses, transes = [], []
    for (spec, _, pts), n in zip(objects[:2], (3, 5)):
        p, t = grasps.initial_grasps(proxies, pts, jax.random.PRNGKey(n), n, CONFIG,
                                     grasps.procedural_sdf(spec))  # fmt: skip
        poses.append(np.asarray(p) + rng.normal(0, 0.05, (n, 16, 3)).astype(np.float32))
        transes.append(np.asarray(t))
    out = grasps.refine_objects(proxies, poses, transes, grids, points, steps=5, config=CONFIG,
                                chunk=CHUNK)  # fmt: skip
    for r, p, t, g, pts in zip(out, poses, transes, grids, points):
        assert r.pose.shape == p.shape and r.trans.shape == t.shape
        _, before = grasps.evaluate_energies(proxies, p, t, grasps.grid_sdf(g), pts, CONFIG)
        assert np.all(r.energy <= np.asarray(before) + 1e-5)
    bad = [poses[0].copy(), poses[1]]
    bad[0][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        grasps.refine_objects(proxies, bad, transes, grids, points, steps=5, config=CONFIG,
                              chunk=CHUNK)  # fmt: skip


def test_ahead_of_time_compilation_serves_the_real_calls(proxies, objects, caplog):
    from mgd_jax.grasps import batch

    grids = [grasps.procedural_grid(s, RESOLUTION) for s, _, _ in objects[:2]]
    points = [p[:128] for _, _, p in objects[:2]]
    config = dataclasses.replace(CONFIG, steps=4)  # a compilation no other test made
    batch.precompile_synthesis(proxies, CHUNK, 3, RESOLUTION, 128, config)
    batch.precompile_refinement(proxies, CHUNK, 3, RESOLUTION, 128, 3, config)
    with jax.log_compiles(), caplog.at_level("DEBUG"):
        out = grasps.optimize_objects(proxies, grids, points, jax.random.PRNGKey(0), 3, config,
                                      CHUNK)  # fmt: skip
        grasps.refine_objects(proxies, [r.pose for r in out], [r.trans for r in out], grids,
                              points, steps=3, config=config, chunk=CHUNK)  # fmt: skip
    compiled = [r.getMessage() for r in caplog.records if "XLA compilation" in r.getMessage()]
    assert compiled, "jax.log_compiles recorded nothing: the check below would be empty"
    assert not [m for m in compiled if "_synthesize_chunk" in m or "_refine_chunk" in m], compiled


def test_refine_by_object_refines_each_grasp_on_its_object_and_skips_what_it_cannot(objects, caplog):
    model = hand.load()
    (_, mug, mug_points), (_, torus, _) = objects[1], objects[2]
    tiny = trimesh.creation.box(extents=(0.004, 0.003, 0.002))  # no hand can grasp it
    meshes = [mug, None, tiny, torus]
    rows = np.array([0, 0, 1, 2, 3, 0])
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.1, (6, 16, 3)).astype(np.float32)
    trans = np.tile(np.array([0.0, -0.09, 0.0], np.float32), (6, 1))
    pose[5, 0, 0] = np.nan  # a non-finite sample stays as it is
    with caplog.at_level("WARNING"):
        new_pose, new_trans = grasps.refine_by_object(
            model, pose, trans, rows, meshes, steps=3,
            object_points=[mug_points, None, None, None], names=["mug", "cloud", "speck", "torus"])  # fmt: skip
    assert new_pose.shape == pose.shape and new_trans.shape == trans.shape
    for i in (2, 3):  # no mesh / too small: untouched, and a warning names the object
        np.testing.assert_array_equal(new_pose[i], pose[i])
    np.testing.assert_array_equal(new_pose[5], pose[5])
    assert "cloud: no mesh" in caplog.text and "speck" in caplog.text
    for i in (0, 1, 4):
        assert np.isfinite(new_pose[i]).all() and not np.allclose(new_pose[i], pose[i])
    # Each grasp is refined on its own object: the same as refine_many on the grouped grasps.
    direct = grasps.refine_many(model, [pose[[0, 1]], pose[[4]]], [trans[[0, 1]], trans[[4]]],
                                [mug, torus], steps=3)  # fmt: skip
    np.testing.assert_array_equal(new_pose[[0, 1]], direct[0][0])
    np.testing.assert_array_equal(new_pose[4], direct[1][0][0])
    np.testing.assert_array_equal(new_trans[4], direct[1][1][0])


def _box(extents, offset=(0.0, 0.0, 0.0)):
    return trimesh.creation.box(extents=extents).apply_translation(offset)


@pytest.mark.parametrize(
    "mesh, match",
    [
        (_box((0.004, 0.003, 0.002)), "too small.*--units"),
        (_box((1.5, 0.5, 0.5)), "too big.*--units"),
        (trimesh.Trimesh(np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0.0]]), np.array([[0, 1, 2]])),
         "flat"),
        (trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), int)), "no faces"),
    ],
)
def test_meshes_no_hand_can_grasp_are_refused_with_the_fix(mesh, match):
    with pytest.raises(ValueError, match=match):
        grasps.check_graspable(mesh, "cup.obj")
    with pytest.raises(ValueError, match="cup.obj|the object mesh"):
        grasps.check_graspable(mesh, "cup.obj")


def test_real_world_style_meshes_are_accepted_and_grasped(proxies):
    """Open (a box without its lid), two components, and a thin handle: grids of one shape, one
    call, finite grasps near each object."""
    open_box = _box((0.08, 0.06, 0.05))
    open_box.update_faces(np.abs(open_box.face_normals[:, 2] - 1.0) > 1e-6)  # no top
    two = trimesh.util.concatenate([_box((0.05, 0.05, 0.05), (-0.04, 0, 0)),
                                    _box((0.04, 0.04, 0.04), (0.04, 0, 0))])  # fmt: skip
    thin = trimesh.util.concatenate([_box((0.06, 0.06, 0.06)),
                                     _box((0.09, 0.004, 0.01), (0.07, 0, 0))])  # fmt: skip
    meshes = [open_box, two, thin]
    for m in meshes:
        grasps.check_graspable(m)
    out = grasps.synthesize_many(proxies, meshes, 2, seed=0, config=CONFIG,
                                 resolution=RESOLUTION, chunk=CHUNK)  # fmt: skip
    model = hand.load()
    for (pose, trans, energy), mesh in zip(out, meshes):
        assert pose.shape == (2, 16, 3) and np.all(np.isfinite(pose)) and np.all(np.isfinite(energy))
        verts = np.asarray(hand.forward(model, pose, trans).vertices)
        centre = mesh.bounds.mean(axis=0)
        # Every hand is at the object: its nearest vertex within 3 cm of the bounding box.
        gap = np.max(np.maximum(np.abs(verts - centre) - 0.5 * mesh.extents, 0.0), axis=-1)
        assert np.all(gap.min(axis=1) < 0.03)
