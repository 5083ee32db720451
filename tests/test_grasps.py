"""Grasp synthesis: energies, the annealed optimiser, refinement and the quality filter."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from mgd_jax import grasps, hand
from mgd_jax.grasps import energy as energy_lib
from mgd_jax.objects import procedural

# One small configuration for every optimiser call, so the scan compiles once per mode.
CONFIG = dataclasses.replace(grasps.GraspConfig(), steps=40)
RADIUS = 0.035


@pytest.fixture(scope="module")
def model():
    return hand.load()


@pytest.fixture(scope="module")
def proxies(model):
    return grasps.build_proxies(model, num_energy_vertices=256)


@pytest.fixture(scope="module")
def sphere():
    spec = procedural.ObjectSpec("sphere", np.array([RADIUS]))
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(128, 3))
    pts = RADIUS * pts / np.linalg.norm(pts, axis=1, keepdims=True)
    return grasps.procedural_sdf(spec), jnp.asarray(pts, jnp.float32)


@pytest.fixture(scope="module")
def optimized(proxies, sphere):
    sdf_fn, pts = sphere
    return grasps.optimize(proxies, sdf_fn, pts, jax.random.key(3), 4, CONFIG)


def _energies(proxies, pose, trans, sphere):
    sdf_fn, pts = sphere
    return grasps.evaluate_energies(proxies, pose, trans, sdf_fn, pts, CONFIG)


def test_energies_and_gradients_finite_on_random_grasps(proxies, sphere):
    sdf_fn, pts = sphere
    key = jax.random.key(1)
    pose, trans = grasps.initial_grasps(proxies, pts, key, 4, CONFIG, sdf_fn)
    pose = pose + 0.2 * jax.random.normal(jax.random.key(2), pose.shape)

    def total(p, t):
        terms = jax.vmap(energy_lib.energies, (None, 0, 0, None, None, None))(
            proxies, p, t, sdf_fn, pts, CONFIG
        )
        return jnp.sum(grasps.weighted_total(terms, CONFIG)), terms

    (value, terms), grads = jax.jit(jax.value_and_grad(total, (0, 1), has_aux=True))(pose, trans)
    assert set(terms) == set(grasps.TERMS)
    assert np.isfinite(float(value))
    for name, v in terms.items():
        assert np.all(np.isfinite(np.asarray(v))) and np.all(np.asarray(v) >= 0), name
    for g in grads:
        g = np.asarray(g)
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_penetration_zero_far_away_and_positive_inside(model, proxies, sphere):
    rest = jnp.zeros((4, 16, 3))
    centre = hand.forward(model, rest[:1], jnp.zeros((1, 3))).vertices[0].mean(axis=0)
    far = jnp.array([0.5, 0.0, 0.0]) - centre
    inside = -centre  # the hand's centroid at the sphere's centre
    terms, _ = _energies(proxies, rest, jnp.stack([far, inside, far, inside]), sphere)
    np.testing.assert_array_equal(np.asarray(terms["hand_penetration"])[::2], 0.0)
    np.testing.assert_array_equal(np.asarray(terms["object_penetration"])[::2], 0.0)
    assert np.all(np.asarray(terms["hand_penetration"])[1::2] > 0.01)
    assert np.all(np.asarray(terms["object_penetration"])[1::2] > 0.01)
    # Far away, each pad is ~0.5 m from the surface: the contact term measures that distance.
    assert float(terms["contact"][0]) > 0.4 * sum(CONFIG.finger_contact)


def test_joint_limit_term_zero_inside_limits_positive_outside(model, proxies, sphere):
    rng = np.random.default_rng(4)
    pose = jnp.asarray(hand.sample_pose_within_limits(model, rng, 4))
    trans = jnp.zeros((4, 3))
    terms, _ = _energies(proxies, pose, trans, sphere)
    np.testing.assert_allclose(np.asarray(terms["joint_limits"]), 0.0, atol=1e-5)
    # Bend every finger joint 0.5 rad past its upper limit: 15 joints x 0.5 rad.
    angles = hand.to_anatomical(model, pose).at[:, :, 2].set(model.pose_upper[:, 2] + 0.5)
    over = pose.at[:, 1:].set(hand.from_anatomical(model, angles))
    terms, _ = _energies(proxies, over, trans, sphere)
    np.testing.assert_allclose(np.asarray(terms["joint_limits"]), 7.5, rtol=1e-3)


def test_self_collision_zero_at_rest_positive_when_fingers_cross(model, proxies, sphere):
    rest = jnp.zeros((16, 3))
    # Spread index and middle towards each other, in both senses (one of them crosses).
    angles = jnp.zeros((15, 3)).at[0, 1].set(-0.6).at[3, 1].set(0.6)
    crossed = rest.at[1:].set(hand.from_anatomical(model, angles))
    spread = rest.at[1:].set(hand.from_anatomical(model, -angles))
    poses = jnp.stack([rest, crossed, spread, rest])
    terms, _ = _energies(proxies, poses, jnp.zeros((4, 3)), sphere)
    collision = np.asarray(terms["self_collision"])
    assert collision[0] == 0.0 and collision[3] == 0.0
    assert max(collision[1], collision[2]) > 1e-3


def test_optimisation_lowers_energy_and_brings_fingers_to_the_surface(proxies, sphere, optimized):
    sdf_fn, pts = sphere
    k_init, _ = jax.random.split(jax.random.key(3))
    pose0, trans0 = grasps.initial_grasps(proxies, pts, k_init, 4, CONFIG, sdf_fn)
    terms0, total0 = _energies(proxies, pose0, trans0, sphere)
    assert optimized.pose.shape == (4, 16, 3) and optimized.trans.shape == (4, 3)
    assert optimized.history.shape == (CONFIG.steps,)
    assert np.all(np.asarray(optimized.energy) < np.asarray(total0))
    assert np.mean(optimized.terms["contact"]) < 0.5 * np.mean(terms0["contact"])
    _, recomputed = _energies(proxies, optimized.pose, optimized.trans, sphere)
    np.testing.assert_allclose(np.asarray(recomputed), np.asarray(optimized.energy), rtol=1e-4)


def test_optimiser_is_deterministic_given_the_key(proxies, sphere, optimized):
    sdf_fn, pts = sphere
    again = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(3), 4, CONFIG)
    np.testing.assert_array_equal(np.asarray(again.pose), np.asarray(optimized.pose))
    np.testing.assert_array_equal(np.asarray(again.trans), np.asarray(optimized.trans))
    other = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(4), 4, CONFIG)
    assert not np.allclose(np.asarray(other.trans), np.asarray(optimized.trans))


def test_refine_never_increases_energy(proxies, sphere, optimized):
    sdf_fn, pts = sphere
    noisy_pose = optimized.pose + 0.05 * jax.random.normal(jax.random.key(5), optimized.pose.shape)
    noisy_trans = optimized.trans + 0.01 * jax.random.normal(jax.random.key(6), (4, 3))
    _, before = _energies(proxies, noisy_pose, noisy_trans, sphere)
    out = grasps.refine_with_sdf(proxies, noisy_pose, noisy_trans, sdf_fn, steps=CONFIG.steps,
                        object_points=pts, config=CONFIG)  # fmt: skip
    after = np.asarray(out.energy)
    assert np.all(after <= np.asarray(before) + 1e-6)
    assert np.mean(after) < np.mean(np.asarray(before))


def test_accept_mask_applies_each_threshold():
    fingers = np.zeros((6, 6), bool)
    fingers[:, 1:4] = True  # thumb, index, middle
    fingers[3, 1] = False  # no thumb (but index, middle, ring)
    fingers[3, 4] = True
    fingers[4, 3] = False  # only thumb and index
    metrics = {
        "penetration_depth_cm": np.array([0.0, 0.49, 0.5, 0.1, 0.1, 0.1]),
        "finger_contact": fingers,
        "sim_displacement_cm": np.array([0.0, 1.99, 0.1, 0.1, 0.1, 2.0]),
    }
    keep = grasps.accept_mask(metrics, grasps.QualityThresholds())
    np.testing.assert_array_equal(keep, [True, True, False, False, False, False])
    loose = grasps.QualityThresholds(max_penetration_cm=1.0, min_fingers=2, require_thumb=False,
                                     max_displacement_cm=3.0)  # fmt: skip
    np.testing.assert_array_equal(grasps.accept_mask(metrics, loose), [True] * 6)


def test_filter_rejects_far_and_penetrating_hands(model):
    box = trimesh.creation.box((0.06, 0.06, 0.06))
    rest = np.zeros((2, 16, 3), np.float32)
    centre = np.asarray(hand.forward(model, rest[:1], np.zeros((1, 3))).vertices[0].mean(axis=0))
    trans = np.stack([np.array([0.5, 0.0, 0.0]) - centre, -centre]).astype(np.float32)
    keep, metrics = grasps.filter_grasps(model, rest, trans, box, simulate=False)
    assert not keep.any()
    assert metrics["num_fingers_in_contact"][0] == 0  # far: no contact
    assert metrics["penetration_depth_cm"][0] == 0.0
    assert metrics["penetration_depth_cm"][1] > 0.5  # through the box
    # The same penetrating hand passes once the depth limit is above its depth.
    deep = float(metrics["penetration_depth_cm"][1])
    loose = grasps.QualityThresholds(max_penetration_cm=deep + 0.01, min_fingers=0,
                                     require_thumb=False)  # fmt: skip
    keep, _ = grasps.filter_grasps(model, rest[1:], trans[1:], box, loose, simulate=False)
    assert keep.all()


def test_public_synthesize_and_refine_on_a_user_mesh():
    from mgd_jax.objects import sdf_grid

    model = hand.load()
    mesh = trimesh.creation.box(extents=(0.06, 0.05, 0.08))
    config = grasps.GraspConfig(steps=20)
    pose, trans, energy = grasps.synthesize(model, mesh, num=2, seed=3, config=config)
    assert pose.shape == (2, 16, 3) and trans.shape == (2, 3) and energy.shape == (2,)
    again = grasps.synthesize(model, mesh, num=2, seed=3, config=config)
    np.testing.assert_array_equal(again[0], pose)
    sdf_fn = grasps.grid_sdf(sdf_grid.build_sdf_grid(mesh))
    noisy = pose + 0.2
    _, before = grasps.evaluate_energies(model, noisy, trans, sdf_fn, config=config)
    new_pose, new_trans = grasps.refine(model, noisy, trans, mesh, steps=10, config=config)
    assert new_pose.shape == pose.shape and new_trans.shape == trans.shape
    _, after = grasps.evaluate_energies(model, new_pose, new_trans, sdf_fn, config=config)
    assert np.all(np.asarray(after) <= np.asarray(before) + 1e-6)
    assert np.any(np.asarray(after) < np.asarray(before))
    with pytest.raises(TypeError, match="trimesh"):
        grasps.refine(model, pose, trans, "mug.obj")
    with pytest.raises(ValueError, match="NaN"):
        grasps.refine(model, np.full_like(pose, np.nan), trans, mesh)
