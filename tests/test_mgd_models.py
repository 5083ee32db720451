"""MGD tokenizers, denoiser and assembly: shapes, order-free object tokens, unit-RMS latents,
timestep range, dropout, rotation conversions against scipy, a hand round trip that learns, and
the parameter count at paper scale."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.spatial.transform import Rotation

from mgd_jax.models import mgd, point_vae, tokenizers
from param_utils import random_params

B = 3


def _inputs(seed, n=64, b=B):
    rng = np.random.default_rng(seed)
    pose = jnp.asarray(rng.normal(0.0, 0.4, (b, 16, 3)), jnp.float32)
    trans = jnp.asarray(rng.normal(0.0, 0.05, (b, 3)), jnp.float32)
    points = jnp.asarray(rng.normal(0.0, 0.5, (b, n, 4)), jnp.float32)
    return pose, trans, points


def _tiny_model(**overrides):
    config = mgd.tiny_config()
    config.update(overrides)
    return mgd.MGD.from_config(config), config


@pytest.fixture(scope="module")
def tiny():
    """(model, config, params) of the tiny default MGD, with parameters drawn once."""
    model, cfg = _tiny_model()
    return model, cfg, random_params(model, *_inputs(0))


@functools.partial(jax.jit, static_argnames=("model", "deterministic"))
def _denoise(model, params, z, t, deterministic=True, key=None):
    rngs = None if key is None else {"dropout": key}
    return model.apply(params, z, t, deterministic, method=mgd.MGD.denoise, rngs=rngs)


def test_shapes_of_every_method(tiny):
    model, cfg, params = tiny
    pose, trans, points = _inputs(1)
    t = {"hand": jnp.array([0, 5, 1000]), "object": jnp.array([1000, 0, 7])}

    @jax.jit
    def run(params, pose, trans, points, t):
        z_h = model.apply(params, pose, trans, method=mgd.MGD.encode_hand)
        z_o = model.apply(params, points, method=mgd.MGD.encode_object)
        x0 = model.apply(params, {"hand": z_h, "object": z_o}, t, True, method=mgd.MGD.denoise)
        hand = model.apply(params, z_h, method=mgd.MGD.decode_hand)
        lp = model.apply(params, z_o, method=mgd.MGD.decode_object)
        return z_h, z_o, x0, hand, lp, model.apply(params, pose, trans, points, t)

    z_h, z_o, x0, (pose_hat, trans_hat), lp, out = run(params, pose, trans, points, t)
    d = cfg.latent_dim
    assert z_h.shape == (B, d) and z_o.shape == (B, d)
    assert x0["hand"].shape == (B, d) and x0["object"].shape == (B, d)
    assert pose_hat.shape == (B, 16, 3) and trans_hat.shape == (B, 3)
    assert lp.shape == (B, cfg.num_points, cfg.point_dim)
    assert out["latent_points"].shape == lp.shape
    np.testing.assert_allclose(out["x0"]["hand"], x0["hand"], atol=1e-5)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(out))


def test_rot6d_folding_and_post_ln_variants_have_the_same_shapes():
    model, cfg = _tiny_model(hand_rotation="rot6d", object_decoder="folding", norm="post")
    pose, trans, points = _inputs(2)

    def run(key):
        params = model.init({"params": key}, pose, trans, points)
        return params, model.apply(params, pose, trans, points)

    params, out = jax.eval_shape(run, jax.random.PRNGKey(0))
    assert out["pose"].shape == (B, 16, 3) and out["trans"].shape == (B, 3)
    assert out["latent_points"].shape == (B, cfg.num_points, cfg.point_dim)
    first = params["params"]["hand_tokenizer"]["MLP2_0"]["Dense_0"]["kernel"]
    assert first.shape == (16 * 6 + 3, cfg.tokenizer_hidden)  # rot6d input
    last = params["params"]["hand_detokenizer"]["MLP2_0"]["Dense_1"]["kernel"]
    assert last.shape == (cfg.tokenizer_hidden, 16 * 6 + 3)  # rot6d output


def test_config_errors_name_the_field():
    cfg = mgd.tiny_config()
    cfg.unknown_width = 3
    with pytest.raises(ValueError, match="unknown_width"):
        mgd.MGD.from_config(cfg)
    model, _ = _tiny_model(tokens_per_part=5)
    with pytest.raises(ValueError, match="tokens_per_part"):
        jax.eval_shape(lambda k: model.init({"params": k}, *_inputs(0)), jax.random.PRNGKey(0))
    model, _ = _tiny_model(hand_rotation="quat")
    with pytest.raises(ValueError, match="hand_rotation"):
        jax.eval_shape(lambda k: model.init({"params": k}, *_inputs(0)), jax.random.PRNGKey(0))


def test_object_tokenizer_ignores_point_order_but_sees_points(tiny):
    model, _, params = tiny
    _, _, points = _inputs(3)
    perm = np.random.default_rng(4).permutation(points.shape[1])
    moved = points.at[:, 0, :3].add(0.5)
    encode = jax.jit(lambda x: model.apply(params, x, method=mgd.MGD.encode_object))
    z = encode(points)
    np.testing.assert_allclose(encode(points[:, perm]), z, atol=1e-5)
    assert float(jnp.max(jnp.abs(encode(moved) - z))) > 1e-3


def test_tokenizer_outputs_have_unit_rms_at_any_input_scale(tiny):
    model, _, params = tiny
    pose, trans, points = _inputs(5)

    @jax.jit
    def encode(s):
        return (
            model.apply(params, s * pose, s * trans, method=mgd.MGD.encode_hand),
            model.apply(params, s * points, method=mgd.MGD.encode_object),
        )

    for s in (0.1, 1.0, 30.0):
        for z in encode(s):
            np.testing.assert_allclose(jnp.sqrt(jnp.mean(z**2, axis=-1)), 1.0, rtol=1e-3)
    np.testing.assert_allclose(tokenizers.unit_rms(jnp.array([[3.0, -4.0]])), [[0.6 * 2**0.5,
                               -0.8 * 2**0.5]], rtol=1e-5)  # fmt: skip


def _latents(seed, d):
    rng = np.random.default_rng(seed)
    return {p: jnp.asarray(rng.normal(size=(B, d)), jnp.float32) for p in ("hand", "object")}


def test_denoiser_accepts_t0_and_tT_and_uses_t(tiny):
    model, cfg, params = tiny
    z = _latents(6, cfg.latent_dim)
    t0 = {p: jnp.zeros((B,), jnp.int32) for p in ("hand", "object")}
    tT = {p: jnp.full((B,), 1000, jnp.int32) for p in ("hand", "object")}
    out0, outT = _denoise(model, params, z, t0), _denoise(model, params, z, tT)
    for out in (out0, outT):
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in out.values())
    assert float(jnp.max(jnp.abs(out0["hand"] - outT["hand"]))) > 1e-4
    # Only the object's timestep changes: the hand prediction still sees it through attention.
    mixed = {"hand": t0["hand"], "object": tT["object"]}
    assert float(jnp.max(jnp.abs(_denoise(model, params, z, mixed)["hand"] - out0["hand"]))) > 1e-4


def test_dropout_is_off_when_deterministic_and_follows_the_rng_when_on(tiny):
    model, cfg, params = tiny
    z = _latents(7, cfg.latent_dim)
    t = {p: jnp.full((B,), 10, jnp.int32) for p in ("hand", "object")}
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    a = _denoise(model, params, z, t, True, k1)
    b = _denoise(model, params, z, t, True, k2)
    np.testing.assert_array_equal(a["hand"], b["hand"])
    c = _denoise(model, params, z, t, False, k1)
    c2 = _denoise(model, params, z, t, False, k1)
    d = _denoise(model, params, z, t, False, k2)
    np.testing.assert_array_equal(c["object"], c2["object"])
    assert float(jnp.max(jnp.abs(c["object"] - d["object"]))) > 1e-4
    assert float(jnp.max(jnp.abs(c["object"] - a["object"]))) > 1e-4


def _random_axis_angles(seed, n, max_angle):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * rng.uniform(0.0, max_angle, (n, 1))


_to6d = jax.jit(tokenizers.axis_angle_to_rot6d)
_from6d = jax.jit(tokenizers.rot6d_to_axis_angle)


def test_rot6d_round_trip_matches_scipy_including_near_pi_and_zero():
    aa = _random_axis_angles(5, 500, np.pi - 1e-3)
    near_pi = np.eye(3) * (np.pi - 0.01)  # each Shepperd branch: rotations about x, y, z
    tiny = np.array([[1e-5, 0.0, 0.0], [0.0, 0.0, 0.0], [2e-4, -1e-4, 3e-4]])
    aa = np.concatenate([aa, near_pi, -near_pi, tiny]).astype(np.float32)
    d6 = _to6d(jnp.asarray(aa))
    mats = Rotation.from_rotvec(aa.astype(np.float64)).as_matrix()
    np.testing.assert_allclose(d6, mats[:, :2, :].reshape(-1, 6), atol=2e-6)
    back = np.asarray(_from6d(d6))
    np.testing.assert_allclose(back, aa, atol=5e-4)
    np.testing.assert_allclose(back[-3:], aa[-3:], atol=1e-7)
    # Unnormalised, non-orthogonal 6-D vectors map to the Gram-Schmidt rotation.
    raw = jnp.asarray(np.random.default_rng(6).normal(size=(50, 6)), jnp.float32)
    m = np.asarray(jax.jit(tokenizers.rot6d_to_matrix)(raw))
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape),
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-5)
    want = Rotation.from_matrix(m.astype(np.float64)).as_rotvec()
    np.testing.assert_allclose(_from6d(raw), want, atol=5e-4)


def test_rot6d_gradients_are_finite_and_identity_at_zero_pose():
    tok = tokenizers.HandTokenizer(32, 64, "rot6d")
    detok = tokenizers.HandDetokenizer(64, "rot6d")
    pose0, trans0 = jnp.zeros((2, 16, 3)), jnp.zeros((2, 3))
    identity6 = jnp.tile(jnp.array([1.0, 0, 0, 0, 1, 0]), (2, 16, 1))
    pt = random_params(tok, pose0, trans0)
    pd = random_params(detok, jnp.zeros((2, 32)))

    @jax.jit
    def grads(pt, pd):
        def round_trip(p):
            return tokenizers.rot6d_to_axis_angle(tokenizers.axis_angle_to_rot6d(p))

        aa = tokenizers.rot6d_to_axis_angle
        return (
            jax.jacrev(round_trip)(jnp.zeros(3)),
            jax.grad(lambda p: jnp.sum(tok.apply(pt, p, trans0) ** 3))(pose0),
            jax.grad(lambda d: jnp.sum(aa(d) ** 2 + aa(d)))(identity6),
            jax.grad(lambda z: jnp.sum(detok.apply(pd, z)[0]))(jnp.zeros((2, 32))),
        )

    jac_rev, g_tok, g6, g_detok = grads(pt, pd)
    np.testing.assert_allclose(jac_rev, np.eye(3), atol=1e-5)
    # Linearised Gram-Schmidt at the identity: rows (1, d1, d2), (-d1, 1, d5) = I + skew(w) with
    # w = (-d5, d2, -d1); d0, d3, d4 (row lengths, row-2 shear) do not rotate. d(sum w)/d(6-D):
    np.testing.assert_allclose(g6[0, 0], [0.0, -1.0, 1.0, 0.0, 0.0, -1.0], atol=1e-5)
    assert bool(jnp.all(jnp.isfinite(g_tok))) and float(jnp.max(jnp.abs(g_tok))) > 0
    assert bool(jnp.all(jnp.isfinite(g_detok))) and float(jnp.max(jnp.abs(g_detok))) > 0


def test_hand_tokenizer_round_trip_overfits_a_small_batch():
    tok = tokenizers.HandTokenizer(64, 128)
    detok = tokenizers.HandDetokenizer(128)
    pose, trans, _ = _inputs(7, b=8)

    def decode(p):
        return detok.apply(p["detok"], tok.apply(p["tok"], pose, trans))

    def loss_fn(p):
        pose_hat, trans_hat = decode(p)
        return jnp.mean((pose_hat - pose) ** 2) + jnp.mean((10.0 * (trans_hat - trans)) ** 2)

    opt = optax.adam(3e-3)

    @jax.jit
    def fit(key):
        k1, k2 = jax.random.split(key)
        params = {"tok": tok.init(k1, pose, trans), "detok": detok.init(k2, jnp.zeros((1, 64)))}

        def step(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p)
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), loss

        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=300)
        return decode(params), losses

    (pose_hat, trans_hat), losses = fit(jax.random.PRNGKey(0))
    first, loss = losses[0], losses[-1]
    assert float(loss) < 1e-2 * first
    np.testing.assert_allclose(pose_hat, pose, atol=0.05)  # radians
    np.testing.assert_allclose(trans_hat, trans, atol=3e-3)  # meters


def test_object_latents_come_from_the_frozen_vae_mean_in_model_units():
    vae = point_vae.PointVAE((8,), (8,), 1, backbone="pointnet")
    pts = jnp.asarray(np.random.default_rng(8).uniform(-0.1, 0.1, (2, 32, 3)), jnp.float32)

    @jax.jit
    def run(pts):
        vparams = vae.init({"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(1)}, pts)
        lat = mgd.object_latents(vae, vparams, pts, 10.0)
        g = jax.grad(lambda p: jnp.sum(mgd.object_latents(vae, p, pts, 10.0) ** 2))(vparams)
        back = mgd.decode_object_points(vae, vparams, lat, 10.0)
        gl = jax.grad(lambda z: jnp.sum(mgd.decode_object_points(vae, vparams, z, 10.0)))(lat)
        return lat, g, back, gl

    lat, g, back, gl = run(pts)
    assert lat.shape == (2, 32, 4)
    np.testing.assert_allclose(lat[..., :3], 10.0 * pts, atol=1e-5)  # zero-initialised heads
    assert all(float(jnp.max(jnp.abs(x))) == 0.0 for x in jax.tree.leaves(g))  # VAE is frozen
    np.testing.assert_allclose(back, pts, atol=1e-6)  # meters
    assert float(jnp.max(jnp.abs(gl))) > 0  # gradients reach the latent points


def test_param_count_at_paper_scale():
    model = mgd.MGD.from_config(mgd.default_config())
    shapes = jax.eval_shape(
        lambda k: model.init(
            {"params": k}, jnp.zeros((1, 16, 3)), jnp.zeros((1, 3)), jnp.zeros((1, 2048, 4))
        ),
        jax.random.PRNGKey(0),
    )
    counts = {
        name: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(sub))
        for name, sub in shapes["params"].items()
    }
    total = sum(counts.values())
    print("MGD parameters at paper scale:", total, counts)
    assert total == 29_585_139  # the number stated in mgd_jax/models/mgd.py's docstring
    assert counts["denoiser"] == 18_415_616
