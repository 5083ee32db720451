"""The JAX MANO layer against an independent numpy float64 reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mgd_jax import hand
from mgd_jax.hand import fixtures


def reference_forward(arrays, pose, trans, betas):
    """Straight transcription of specs/mano.md in numpy float64, one hand at a time."""
    v_template = arrays["v_template"]
    j_reg = np.asarray(arrays["J_regressor"].toarray())
    parents = [-1 if p == 4294967295 else int(p) for p in arrays["kintree_table"][0]]
    v_shaped = v_template + np.einsum("vck,k->vc", arrays["shapedirs"][:, :, :10], betas)
    joints = j_reg @ v_shaped
    rots = Rotation.from_rotvec(pose).as_matrix()
    feat = (rots[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + np.einsum("vck,k->vc", arrays["posedirs"], feat)
    glob = [None] * 16
    for k in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[k]
        local[:3, 3] = joints[k] if parents[k] < 0 else joints[k] - joints[parents[k]]
        glob[k] = local if parents[k] < 0 else glob[parents[k]] @ local
    rel = []
    for k in range(16):
        g = glob[k].copy()
        g[:3, 3] -= g[:3, :3] @ joints[k]
        rel.append(g)
    rel = np.stack(rel)
    t = np.einsum("vk,kij->vij", arrays["weights"], rel)
    homo = np.concatenate([v_posed, np.ones((len(v_posed), 1))], axis=1)
    verts = np.einsum("vij,vj->vi", t, homo)[:, :3] + trans
    posed_joints = np.stack([g[:3, 3] for g in glob]) + trans
    return verts, posed_joints


@pytest.fixture(scope="module")
def mano_like():
    arrays = fixtures.random_mano_arrays(seed=3)
    return arrays, hand.io.from_mano_arrays(arrays, "<random>", "right")


def test_matches_numpy_reference_on_random_poses(mano_like):
    arrays, model = mano_like
    rng = np.random.default_rng(11)
    pose = rng.normal(0.0, 0.8, size=(5, 16, 3))
    trans = rng.normal(0.0, 0.2, size=(5, 3))
    betas = rng.normal(0.0, 1.0, size=(5, 10))
    out = hand.forward(model, jnp.asarray(pose, jnp.float32), jnp.asarray(trans, jnp.float32),
                       jnp.asarray(betas, jnp.float32))  # fmt: skip
    for i in range(5):
        ref_v, ref_j = reference_forward(arrays, pose[i], trans[i], betas[i])
        assert np.max(np.abs(np.asarray(out.vertices[i]) - ref_v)) < 1e-5
        assert np.max(np.abs(np.asarray(out.joints[i, :16]) - ref_j)) < 1e-5
        tips = ref_v[list(model.tip_vertex_ids)]
        np.testing.assert_allclose(np.asarray(out.joints[i, 16:]), tips, atol=1e-5)


def test_procedural_hand_matches_reference_too():
    model = hand.load(None)
    arrays = {
        "v_template": np.asarray(model.v_template, np.float64),
        "J_regressor": _Dense(np.asarray(model.j_regressor, np.float64)),
        "kintree_table": np.array([[4294967295] + list(model.parents[1:]), range(16)]),
        "shapedirs": np.asarray(model.shapedirs, np.float64),
        "posedirs": np.asarray(model.posedirs, np.float64),
        "weights": np.asarray(model.weights, np.float64),
    }
    rng = np.random.default_rng(5)
    pose = hand.sample_pose_within_limits(model, rng, 3).astype(np.float64)
    pose[:, 0] = rng.normal(0, 1.0, size=(3, 3))
    trans = rng.normal(0, 0.1, size=(3, 3))
    betas = rng.normal(0, 1.0, size=(3, 10))
    out = hand.forward(model, pose.astype(np.float32), trans.astype(np.float32),
                       betas.astype(np.float32))  # fmt: skip
    for i in range(3):
        ref_v, _ = reference_forward(arrays, pose[i], trans[i], betas[i])
        assert np.max(np.abs(np.asarray(out.vertices[i]) - ref_v)) < 1e-5


class _Dense:
    def __init__(self, a):
        self.a = a

    def toarray(self):
        return self.a


def test_global_rotation_and_translation_equivariance(mano_like):
    _, model = mano_like
    rng = np.random.default_rng(2)
    pose = rng.normal(0.0, 0.5, size=(16, 3)).astype(np.float32)
    trans = rng.normal(0.0, 0.1, size=3).astype(np.float32)
    base = hand.forward(model, pose, trans)
    rot = Rotation.from_rotvec(rng.normal(size=3))
    rotated = pose.copy()
    rotated[0] = (rot * Rotation.from_rotvec(pose[0])).as_rotvec()
    shift = rng.normal(0.0, 0.1, size=3).astype(np.float32)
    moved = hand.forward(model, rotated, trans + shift)
    # Global orientation rotates about the rest wrist joint J0, before the translation.
    j0 = np.asarray(model.j_regressor @ model.v_template)[0]
    expect = rot.apply(np.asarray(base.vertices) - trans - j0) + j0 + trans + shift
    np.testing.assert_allclose(np.asarray(moved.vertices), expect, atol=2e-6)


def test_any_batch_shape_jit_and_vmap(mano_like):
    _, model = mano_like
    rng = np.random.default_rng(0)
    pose = jnp.asarray(rng.normal(0, 0.3, size=(2, 3, 16, 3)), jnp.float32)
    trans = jnp.asarray(rng.normal(0, 0.1, size=(2, 3, 3)), jnp.float32)
    out = hand.forward(model, pose, trans)
    assert out.vertices.shape == (2, 3, 778, 3) and out.joints.shape == (2, 3, 21, 3)
    jitted = jax.jit(hand.forward)(model, pose, trans)
    vmapped = jax.vmap(lambda p, t: hand.forward(model, p, t))(pose, trans)
    single = hand.forward(model, pose[1, 2], trans[1, 2])
    np.testing.assert_allclose(jitted.vertices, out.vertices, atol=1e-6)
    np.testing.assert_allclose(vmapped.vertices, out.vertices, atol=1e-6)
    np.testing.assert_allclose(single.vertices, out.vertices[1, 2], atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 1e-5, 1.0, np.pi - 1e-4, np.pi])
def test_rodrigues_value_and_gradient_finite_and_exact(scale):
    rng = np.random.default_rng(int(scale * 1000))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    r = axis * scale
    got = np.asarray(hand.rodrigues(jnp.asarray(r, jnp.float32)))
    np.testing.assert_allclose(got, Rotation.from_rotvec(r).as_matrix(), atol=2e-6)
    weights = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
    grad = jax.grad(lambda v: jnp.sum(hand.rodrigues(v) * weights))(jnp.asarray(r, jnp.float32))
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("where", ["zero", "random", "near_pi"])
def test_forward_gradient_matches_finite_differences(mano_like, where):
    _, model = mano_like
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        model64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), model)
        model64 = model64.replace(faces=model.faces)
        if where == "zero":
            pose = np.zeros((16, 3))
        elif where == "random":
            pose = rng.normal(0, 0.6, size=(16, 3))
        else:
            axis = rng.normal(size=(16, 3))
            pose = (np.pi - 1e-3) * axis / np.linalg.norm(axis, axis=1, keepdims=True)
        weights = jnp.asarray(rng.normal(size=(778, 3)))

        def energy(p):
            out = hand.forward(model64, p.reshape(16, 3), jnp.zeros(3, jnp.float64))
            return jnp.sum(out.vertices * weights) + jnp.sum(out.joints**2)

        p0 = jnp.asarray(pose.reshape(-1), jnp.float64)
        grad = np.asarray(jax.grad(energy)(p0))
        assert np.all(np.isfinite(grad))
        eps = 1e-6
        for i in rng.choice(48, size=8, replace=False):
            e = np.zeros(48)
            e[i] = eps
            fd = (float(energy(p0 + e)) - float(energy(p0 - e))) / (2 * eps)
            assert abs(fd - grad[i]) <= 1e-5 * max(1.0, abs(fd)), (i, fd, grad[i])


def test_large_batches_run_in_chunks_with_identical_results(mano_like):
    _, model = mano_like
    rng = np.random.default_rng(9)
    num = 2 * 128 + 37  # above the chunking threshold, not a multiple of the chunk
    pose = jnp.asarray(rng.normal(0, 0.5, size=(num, 16, 3)), jnp.float32)
    trans = jnp.asarray(rng.normal(0, 0.1, size=(num, 3)), jnp.float32)
    betas = jnp.asarray(rng.normal(0, 1.0, size=(num, 10)), jnp.float32)
    out = hand.forward(model, pose, trans, betas)
    assert out.vertices.shape == (num, 778, 3)
    for i in (0, 128, num - 1):
        one = hand.forward(model, pose[i], trans[i], betas[i])
        np.testing.assert_allclose(out.vertices[i], one.vertices, atol=1e-6)
        np.testing.assert_allclose(out.joints[i], one.joints, atol=1e-6)


def test_pca_to_pose(mano_like):
    _, model = mano_like
    rng = np.random.default_rng(1)
    coeffs = rng.normal(size=(4, 24)).astype(np.float32)
    flat = np.asarray(hand.pca_to_pose(model, coeffs, flat_hand_mean=True))
    comps = np.asarray(model.hands_components)
    np.testing.assert_allclose(flat, coeffs @ comps[:24], atol=1e-5)
    relaxed = np.asarray(hand.pca_to_pose(model, coeffs, flat_hand_mean=False))
    np.testing.assert_allclose(relaxed - flat, np.broadcast_to(model.hands_mean, (4, 45)),
                               atol=1e-5)  # fmt: skip
    full = hand.full_pose(np.zeros((4, 3)), flat)
    assert full.shape == (4, 16, 3)
    with pytest.raises(ValueError, match="1..45"):
        hand.pca_to_pose(model, np.zeros((2, 46)))


def test_joint_order_conversion_round_trip():
    j = np.arange(21 * 3, dtype=np.float32).reshape(21, 3)
    op = np.asarray(hand.to_openpose_order(j))
    assert np.array_equal(op[0], j[0])  # wrist
    assert np.array_equal(op[4], j[16])  # thumb tip
    assert np.array_equal(op[20], j[20])  # pinky tip
    assert np.array_equal(np.asarray(hand.from_openpose_order(op)), j)


def test_limit_violation_zero_inside_positive_outside():
    model = hand.load(None)
    inside = hand.sample_pose_within_limits(model, np.random.default_rng(0), 16)
    assert float(jnp.max(hand.limit_violation(model, inside))) < 1e-5
    angles = np.zeros((15, 3), np.float32)
    angles[0, 2] = float(model.pose_upper[0, 2]) + 0.3  # index MCP bent 0.3 rad too far
    pose = hand.from_anatomical(model, jnp.asarray(angles))
    viol = np.asarray(hand.limit_violation(model, pose))
    assert abs(viol[0, 2] - 0.3) < 1e-4 and viol.sum() == pytest.approx(viol[0, 2], abs=1e-4)


def test_bad_shapes_raise(mano_like):
    _, model = mano_like
    with pytest.raises(ValueError, match="16, 3"):
        hand.forward(model, np.zeros((15, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="betas"):
        hand.forward(model, np.zeros((16, 3)), np.zeros(3), np.zeros(5))
