"""The procedural hand: MANO's layout, a watertight hand-sized mesh, sane skinning."""

import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax import hand


def test_same_layout_as_mano():
    model = hand.load(None)
    v = model.num_vertices
    assert model.parents == hand.MANO_PARENTS
    assert model.shapedirs.shape == (v, 3, 10) and model.posedirs.shape == (v, 3, 135)
    assert model.j_regressor.shape == (16, v) and model.weights.shape == (v, 16)
    assert model.hands_components.shape == (45, 45) and model.hands_mean.shape == (45,)
    assert 1000 <= v <= 4000
    np.testing.assert_allclose(np.asarray(model.weights).sum(axis=1), 1.0, atol=1e-5)
    out = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3))
    assert out.vertices.shape == (v, 3) and out.joints.shape == (21, 3)


def test_hand_size_and_fingertips():
    model = hand.load(None)
    out = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3))
    joints = np.asarray(out.joints)
    wrist, middle_tip = joints[0], joints[18]
    assert 0.175 <= np.linalg.norm(middle_tip - wrist) <= 0.195  # wrist to middle fingertip
    verts = np.asarray(out.vertices)
    # Tips are the extreme vertices along each finger: index tip beyond the index DIP, etc.
    owner = np.argmax(np.asarray(model.weights), axis=1)
    for tip, dip in ((17, 3), (18, 6), (19, 12), (20, 9), (16, 15)):
        axis = joints[tip] - joints[dip]
        assert np.linalg.norm(axis) > 0.012
        axis /= np.linalg.norm(axis)
        reach = (verts[owner == dip] - joints[dip]) @ axis
        assert axis @ (joints[tip] - joints[dip]) >= reach.max() - 0.002
    # Joints lie inside the mesh.
    mesh = hand.to_trimesh(verts, model)
    assert mesh.contains(joints[:16]).all()


def test_watertight_at_rest_and_in_random_poses_within_limits():
    model = hand.load(None)
    rng = np.random.default_rng(0)
    poses = hand.sample_pose_within_limits(model, rng, 6)
    poses[:, 0] = rng.normal(0.0, 1.0, size=(6, 3))
    poses = np.concatenate([np.zeros((1, 16, 3), np.float32), poses])
    trans = rng.normal(0.0, 0.1, size=(7, 3)).astype(np.float32)
    out = hand.forward(model, poses, trans)
    verts = np.asarray(out.vertices)
    assert np.all(np.isfinite(verts))
    for i in range(len(poses)):
        mesh = hand.to_trimesh(verts[i], model)
        assert mesh.is_watertight and mesh.is_winding_consistent
        assert mesh.volume > 1e-4  # outward orientation: positive volume, ~260 cm^3
    rest = hand.to_trimesh(verts[0], model)
    assert 1.5e-4 < rest.volume < 5e-4


def test_flexion_curls_fingers_towards_the_palm():
    model = hand.load(None)
    angles = np.zeros((15, 3), np.float32)
    angles[:, 2] = 0.8 * np.asarray(model.pose_upper)[:, 2]
    fist = jnp.concatenate([jnp.zeros((1, 3)), hand.from_anatomical(model, jnp.asarray(angles))])
    flat = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3)).joints
    bent = hand.forward(model, fist, jnp.zeros(3)).joints
    # Palm faces -y: a fist moves the non-thumb fingertips to -y, closer to the wrist.
    for tip in (17, 18, 19, 20):
        assert bent[tip, 1] < flat[tip, 1] - 0.02
        assert np.linalg.norm(bent[tip] - bent[0]) < np.linalg.norm(flat[tip] - flat[0]) - 0.03


def test_skinning_never_mixes_fingers():
    """Finger skin follows its own chain only; palm skin may blend the knuckles it touches."""
    model = hand.load(None)
    w = np.asarray(model.weights)
    w = w[w[:, 0] == 0]
    chains = [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12), (13, 14, 15)]
    for a in chains:
        for b in chains:
            if a != b:
                mixed = (w[:, list(a)].sum(1) > 0) & (w[:, list(b)].sum(1) > 0)
                assert not mixed.any()


def test_shape_blend_changes_size():
    model = hand.load(None)
    betas = np.zeros(10, np.float32)
    betas[0] = 2.0
    big = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3), betas)
    base = hand.forward(model, jnp.zeros((16, 3)), jnp.zeros(3))
    span = lambda o: np.linalg.norm(np.asarray(o.joints[18] - o.joints[0]))  # noqa: E731
    assert 1.06 < span(big) / span(base) < 1.10


def test_build_is_deterministic():
    a = hand.build_procedural_hand()
    assert hand.fingerprint(a) == hand.fingerprint(hand.load(None))
