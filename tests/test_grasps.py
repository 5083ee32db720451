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
    # The optimiser starts from ``oversample`` x 4 pre-grasps and keeps the best 4.
    pose0, trans0 = grasps.initial_grasps(proxies, pts, k_init, 4 * CONFIG.oversample, CONFIG,
                                          sdf_fn)  # fmt: skip
    _, total0 = _energies(proxies, pose0, trans0, sphere)
    assert optimized.pose.shape == (4, 16, 3) and optimized.trans.shape == (4, 3)
    assert optimized.history.shape == (CONFIG.steps,)
    assert np.max(np.asarray(optimized.energy)) < np.median(np.asarray(total0))
    # The default pre-grasps already close in on the object; hovering ones (``init_close``
    # off) are where "bringing the fingers to the surface" starts from.
    hover = dataclasses.replace(CONFIG, init_close=False)
    pose_h, trans_h = grasps.initial_grasps(proxies, pts, k_init, 4, hover, sdf_fn)
    terms_h, _ = _energies(proxies, pose_h, trans_h, sphere)
    assert np.mean(optimized.terms["contact"]) < 0.5 * np.mean(terms_h["contact"])
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


# ----------------------------------------------------------------------------- the fast pipeline


def test_v1_preset_reproduces_the_old_defaults():
    old = grasps.GraspConfig.v1()
    assert (old.steps, old.lr_rotation, old.lr_fingers, old.lr_translation) == (300, 0.02, 0.04,
                                                                                 0.002)
    assert (old.noise_until, old.penetration_start, old.penetration_ramp) == (0.5, 0.1, 0.5)
    assert (old.init_bend, old.init_thumb) == ((0.5, 0.6, 0.3), (0.1, 0.8, 0.2, 0.2))
    assert not old.init_close and not old.final_close and old.oversample == 1
    assert old.adam_eps == 1e-8 and old.refine_lr_scale == 0.25
    assert old.penetration_tolerance == 0.0015
    assert old.num_energy_vertices is None and old.num_object_points is None
    assert grasps.GraspConfig.v1(steps=200).steps == 200


def test_first_contact_interpolates_the_crossing():
    first_contact = _opt()._first_contact
    values = jnp.array([[0.03, 0.02, 0.01, -0.01, -0.02],   # crosses 0 half-way from 2 to 3
                        [0.03, 0.02, 0.01, 0.005, 0.004],   # never
                        [-0.01, 0.02, 0.01, 0.0, -0.01]])   # inside at the start  # fmt: skip
    level, hit = first_contact(values, 0.0)
    np.testing.assert_allclose(np.asarray(level), [2.5, 4.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(hit), [True, False, True])
    level, _ = first_contact(values, 0.01)  # a margin outside the surface
    np.testing.assert_allclose(np.asarray(level)[0], 2.0, atol=1e-6)


def _opt():
    import importlib

    return importlib.import_module("mgd_jax.grasps.pregrasp")


def _finger_gaps(proxies, pose, trans, sdf_fn, full=None):
    """(B, 5) lowest signed distance of each finger's vertices (reduced model, or the full one),
    meters, and (B,) the lowest over the hand."""
    verts = hand.forward(proxies.reduced if full is None else full, pose, trans).vertices
    d = np.asarray(jax.vmap(sdf_fn)(verts))
    finger = np.asarray(proxies.vertex_finger if full is None else proxies.full_vertex_finger)
    return np.stack([d[:, finger == f].min(axis=1) for f in range(5)], axis=1), d.min(axis=1)


def test_closing_in_brings_the_fingers_onto_the_surface(proxies, sphere):
    sdf_fn, pts = sphere
    assert CONFIG.init_close
    key = jax.random.split(jax.random.key(3))[0]  # the pre-grasps of the optimiser tests
    pose, trans = grasps.initial_grasps(proxies, pts, key, 4, CONFIG, sdf_fn)
    gaps, deepest = _finger_gaps(proxies, pose, trans, sdf_fn)
    # Every hand touches (within 2 mm), most with three fingers or more, none sinks deep in.
    touching = (gaps < 0.002).sum(axis=1)
    assert np.all(touching >= 1) and np.mean(touching) >= 3, gaps
    assert np.all(deepest > -0.005), deepest
    # The same pre-grasps without closing hover: fewer fingers within 2 mm.
    hover = dataclasses.replace(CONFIG, init_close=False)
    pose0, trans0 = grasps.initial_grasps(proxies, pts, key, 4, hover, sdf_fn)
    gaps0, _ = _finger_gaps(proxies, pose0, trans0, sdf_fn)
    assert (gaps0 < 0.002).sum() < touching.sum()


def test_oversampling_keeps_the_lowest_energy_candidates(proxies, sphere):
    sdf_fn, pts = sphere
    # No steps that move anything: the result is the selection alone.
    config = dataclasses.replace(grasps.GraspConfig(), steps=1, oversample=3, prune_at=0.0,
                                 lr_rotation=0.0, lr_fingers=0.0, lr_translation=0.0,
                                 noise_until=0.0, final_close=False)  # fmt: skip
    out = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(8), 4, config)
    k_init, _ = jax.random.split(jax.random.key(8))
    pose, trans = grasps.initial_grasps(proxies, pts, k_init, 12, config, sdf_fn)
    _, energy = grasps.evaluate_energies(proxies, pose, trans, sdf_fn, pts, config)
    np.testing.assert_allclose(np.sort(np.asarray(out.energy)), np.sort(np.asarray(energy))[:4],
                               rtol=1e-5)  # fmt: skip


def test_final_close_settles_the_fingers_on_the_surface_and_refine_skips_it(model, proxies,
                                                                             sphere):  # fmt: skip
    sdf_fn, pts = sphere
    config = dataclasses.replace(CONFIG, final_close=False)
    loose = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(3), 4, config)
    tight = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(3), 4, CONFIG)
    full = proxies.full
    gaps_loose, _ = _finger_gaps(proxies, loose.pose, loose.trans, sdf_fn, full)
    gaps_tight, _ = _finger_gaps(proxies, tight.pose, tight.trans, sdf_fn, full)
    # On the full mesh: no finger sunk in (``final_margin`` is 0.5 mm inside), at least as many
    # touching (within 1.5 mm) as before.
    assert np.all(gaps_tight > -0.002), gaps_tight
    assert (np.abs(gaps_tight) < 0.0015).sum() >= (np.abs(gaps_loose) < 0.0015).sum()
    # Only the fingers moved.
    np.testing.assert_allclose(np.asarray(tight.trans), np.asarray(loose.trans), atol=1e-6)
    np.testing.assert_allclose(np.asarray(tight.pose)[:, 0], np.asarray(loose.pose)[:, 0],
                               atol=1e-6)  # fmt: skip
    # Refinement with the same config does not settle (its energy never rises).
    out = grasps.refine_with_sdf(proxies, loose.pose, loose.trans, sdf_fn, steps=CONFIG.steps,
                                 object_points=pts, config=CONFIG)  # fmt: skip
    assert np.all(np.asarray(out.energy) <= np.asarray(loose.energy) + 1e-6)


def test_refine_settle_recloses_the_fingers_after_the_adam_steps(proxies, sphere):
    sdf_fn, pts = sphere
    loose = grasps.optimize(proxies, sdf_fn, pts, jax.random.key(3), 4,
                            dataclasses.replace(CONFIG, final_close=False))  # fmt: skip
    # Open every finger a little, as a sample pushed off the surface would be.
    pose = np.asarray(loose.pose).copy()
    pose[:, 1:] *= 0.7
    plain = grasps.refine_with_sdf(proxies, pose, loose.trans, sdf_fn, steps=5, object_points=pts,
                                   config=CONFIG)  # fmt: skip
    settled = grasps.refine_with_sdf(proxies, pose, loose.trans, sdf_fn, steps=5,
                                     object_points=pts,
                                     config=dataclasses.replace(CONFIG, refine_settle=True))
    gaps_plain, _ = _finger_gaps(proxies, plain.pose, plain.trans, sdf_fn, proxies.full)
    gaps, _ = _finger_gaps(proxies, settled.pose, settled.trans, sdf_fn, proxies.full)
    assert np.all(gaps > -0.002), gaps
    assert (np.abs(gaps) < 0.0015).sum() > (np.abs(gaps_plain) < 0.0015).sum()
    # The Adam steps are the same; only the fingers moved after them.
    np.testing.assert_allclose(np.asarray(settled.trans), np.asarray(plain.trans), atol=1e-6)
    np.testing.assert_allclose(np.asarray(settled.pose)[:, 0], np.asarray(plain.pose)[:, 0],
                               atol=1e-6)  # fmt: skip


def test_filter_skipping_rejected_simulations_keeps_the_decisions(model, optimized):
    from mgd_jax.objects import sdf_mesh

    mesh = sdf_mesh.mesh(procedural.ObjectSpec("sphere", np.array([RADIUS])))
    far = np.asarray(optimized.trans) + np.array([0.3, 0.0, 0.0], np.float32)
    pose = np.concatenate([np.asarray(optimized.pose)] * 2)
    trans = np.concatenate([np.asarray(optimized.trans), far])
    keep, full = grasps.filter_grasps(model, pose, trans, mesh)
    keep_fast, fast = grasps.filter_grasps(model, pose, trans, mesh, simulate_rejected=False)
    np.testing.assert_array_equal(keep_fast, keep)
    assert not keep[4:].any() and np.isnan(fast["sim_displacement_cm"][4:]).all()
    tested = ~np.isnan(fast["sim_displacement_cm"])
    np.testing.assert_allclose(fast["sim_displacement_cm"][tested],
                               full["sim_displacement_cm"][tested])  # fmt: skip
