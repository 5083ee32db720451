"""MGD training loss: finite values and gradients, exactly zero hand gradients on object-only
batches, synchronous/conditional timestep draws, the distance field and Chamfer against numpy
brute force, masked means, weights, and a few Adam steps that lower the loss."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mgd_jax import diffusion, hand, losses
from mgd_jax.hand import fixtures
from mgd_jax.models import mgd
from mgd_jax.objects.chamfer import chamfer_distance
from param_utils import random_params

B = 4
NUM_POINTS = 64  # the tiny config's latent point count; also the object points per example
T = 50
HAND_ONLY = ("hand_tokenizer", "hand_detokenizer")


def _batch(seed, is_hoi):
    rng = np.random.default_rng(seed)
    is_hoi = np.asarray(is_hoi, np.float32)
    hoi = is_hoi[:, None]
    pose = rng.normal(0.0, 0.3, (B, 16, 3)) * hoi[:, :, None]
    trans = rng.normal(0.0, 0.05, (B, 3)) * hoi
    points = rng.normal(0.0, 0.04, (B, NUM_POINTS, 3))
    latent = np.concatenate([points * 10.0, rng.normal(0.0, 0.1, (B, NUM_POINTS, 1))], -1)
    batch = {
        "points": jnp.asarray(points, jnp.float32),
        "pose": jnp.asarray(pose, jnp.float32),
        "trans": jnp.asarray(trans, jnp.float32),
        "is_hoi": jnp.asarray(is_hoi),
    }
    return batch, jnp.asarray(latent, jnp.float32)


@pytest.fixture(scope="module")
def setup():
    """model, params, hand model, schedule and a jitted value-and-grad of the loss."""
    model = mgd.MGD.from_config(mgd.tiny_config())
    batch, latent = _batch(0, [1, 1, 1, 1])
    params = random_params(model, batch["pose"], batch["trans"], latent)
    arrays = fixtures.random_mano_arrays(seed=0, num_vertices=120, num_faces=60)
    hand_model = hand.io.from_mano_arrays(arrays, "<random>", "right")
    schedule = diffusion.make_schedule(T)

    def loss_fn(params, batch, rng, latent, async_schedulers, train):
        return losses.mgd_loss(
            params,
            batch,
            rng,
            model=model,
            hand_model=hand_model,
            schedule=schedule,
            object_latent_points=latent,
            weights=losses.default_config(),
            async_schedulers=async_schedulers,
            train=train,
        )

    grad_fn = jax.jit(
        jax.value_and_grad(loss_fn, has_aux=True), static_argnames=("async_schedulers", "train")
    )
    value_fn = jax.jit(loss_fn, static_argnames=("async_schedulers", "train"))
    return {"model": model, "params": params, "grad": grad_fn, "value": value_fn}


def _grad(setup, is_hoi, seed=0, key=0):
    batch, latent = _batch(seed, is_hoi)
    (loss, metrics), grads = setup["grad"](
        setup["params"], batch, jax.random.PRNGKey(key), latent, async_schedulers=True, train=True
    )
    return loss, metrics, grads["params"]


def _leaves_abs_max(tree):
    return max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(tree))


def test_loss_and_gradients_finite_on_mixed_batch(setup):
    loss, metrics, grads = _grad(setup, [1, 0, 1, 0])
    assert loss.shape == () and np.isfinite(float(loss)) and float(loss) > 0
    for name, value in metrics.items():
        assert np.shape(value) == () and np.isfinite(float(value)), name
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf)))
    # The total is the weighted sum of the reported terms of both branches.
    weights = losses.default_config()
    expected = 0.0
    for branch in losses.BRANCHES:
        for name in losses.WEIGHT_KEYS:
            key = f"{branch}/{name}"
            if key in metrics:
                expected += weights[name] * float(metrics[key])
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["hoi_fraction"]), 0.5)
    assert float(metrics["cond/t_object"]) == 0.0
    assert "cond/object_points" not in metrics  # the clean object is a condition, not a target


def test_object_only_batch_leaves_hand_parameters_untouched(setup):
    loss, metrics, grads = _grad(setup, [0, 0, 0, 0])
    assert np.isfinite(float(loss))
    for name in HAND_ONLY:
        for leaf in jax.tree.leaves(grads[name]):
            assert np.all(np.asarray(leaf) == 0.0), name
    assert _leaves_abs_max(grads["object_tokenizer"]) > 0
    assert _leaves_abs_max(grads["object_detokenizer"]) > 0
    for term in ("pose", "trans", "joints", "distance_field", "latent"):
        assert float(metrics[f"cond/{term}"]) == 0.0, term
    assert float(metrics["joint/latent_hand"]) == 0.0
    assert float(metrics["joint/object_points"]) > 0


def test_hoi_batch_trains_hand_parameters(setup):
    _, _, grads = _grad(setup, [1, 1, 1, 1])
    for name in HAND_ONLY:
        assert _leaves_abs_max(grads[name]) > 0, name


def test_one_hoi_example_is_enough_to_reach_the_hand(setup):
    _, metrics, grads = _grad(setup, [0, 0, 1, 0])
    for name in HAND_ONLY:
        assert _leaves_abs_max(grads[name]) > 0, name
    assert float(metrics["cond/joints"]) > 0


def test_branch_timesteps_async_sync_and_conditional():
    key = jax.random.PRNGKey(3)
    is_hoi = jnp.asarray([1, 1, 0, 1] * 16, jnp.float32)
    hoi = np.asarray(is_hoi) > 0.5
    t = losses.branch_timesteps(key, is_hoi, T, conditional=False, async_schedulers=False)
    th, to = np.asarray(t["hand"]), np.asarray(t["object"])
    np.testing.assert_array_equal(th[hoi], to[hoi])
    assert np.all(th[~hoi] == T) and np.all((to >= 1) & (to <= T))
    t = losses.branch_timesteps(key, is_hoi, T, conditional=False, async_schedulers=True)
    th, to = np.asarray(t["hand"]), np.asarray(t["object"])
    assert np.mean(th[hoi] != to[hoi]) > 0.5
    assert np.all((th >= 1) & (th <= T)) and np.all((to >= 1) & (to <= T))
    t = losses.branch_timesteps(key, is_hoi, T, conditional=True)
    th, to = np.asarray(t["hand"]), np.asarray(t["object"])
    assert np.all(to == 0)
    assert np.all((th[hoi] >= 1) & (th[hoi] <= T)) and len(np.unique(th[hoi])) > 5
    assert np.all(th[~hoi] == T)


def test_mgd_loss_draws_equal_timesteps_without_async_schedulers(setup):
    batch, latent = _batch(1, [1, 1, 1, 1])
    value = functools.partial(setup["value"], setup["params"], batch, latent=latent, train=False)
    for k in range(3):
        metrics = value(jax.random.PRNGKey(k), async_schedulers=False)[1]
        assert float(metrics["joint/t_gap"]) == 0.0
        assert float(metrics["joint/t_hand"]) == float(metrics["joint/t_object"]) > 0
    # The asynchronous draw of the same batch (in the gradient test) does differ.
    _, metrics, _ = _grad(setup, [1, 1, 1, 1], seed=1)
    assert float(metrics["joint/t_gap"]) > 0


def test_noised_latents_replace_object_only_hand_by_noise():
    schedule = diffusion.make_schedule(T)
    rng = np.random.default_rng(0)
    z0 = {
        "hand": jnp.asarray(rng.normal(size=(4, 8)), jnp.float32),
        "object": jnp.asarray(rng.normal(size=(4, 8)), jnp.float32),
    }
    is_hoi = jnp.asarray([1, 0, 1, 0], jnp.float32)
    t = {"hand": jnp.asarray([0, T, 0, T]), "object": jnp.asarray([0, 0, 0, 0])}
    key = jax.random.PRNGKey(0)
    z_t = losses.noised_latents(key, schedule, z0, t, is_hoi)
    np.testing.assert_array_equal(np.asarray(z_t["object"]), np.asarray(z0["object"]))
    np.testing.assert_array_equal(np.asarray(z_t["hand"])[[0, 2]], np.asarray(z0["hand"])[[0, 2]])
    noise = jax.random.normal(jax.random.split(key)[0], (4, 8))
    np.testing.assert_array_equal(np.asarray(z_t["hand"])[[1, 3]], np.asarray(noise)[[1, 3]])
    grad = jax.grad(lambda h: jnp.sum(losses.noised_latents(key, schedule, {**z0, "hand": h},
                                                            t, is_hoi)["hand"]))(z0["hand"])  # fmt: skip
    np.testing.assert_array_equal(np.asarray(grad)[[1, 3]], 0.0)
    np.testing.assert_array_equal(np.asarray(grad)[[0, 2]], 1.0)


def _field_numpy(joints, points, k):
    out = np.zeros(joints.shape[:2] + (k, 3))
    for b in range(joints.shape[0]):
        for j in range(joints.shape[1]):
            diff = points[b] - joints[b, j]
            order = np.argsort(np.sum(diff * diff, -1), kind="stable")[:k]
            out[b, j] = diff[order]
    return out


def test_distance_field_matches_brute_force():
    rng = np.random.default_rng(7)
    joints = rng.normal(0.0, 0.05, (3, 21, 3))
    points = rng.normal(0.0, 0.05, (3, 200, 3))
    got = losses.distance_field(jnp.asarray(joints, jnp.float32), jnp.asarray(points, jnp.float32))
    assert got.shape == (3, 21, losses.NUM_FIELD_NEIGHBOURS, 3)
    want = _field_numpy(joints, points, losses.NUM_FIELD_NEIGHBOURS)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)
    # Gradient flows through the joint positions only: d(sum field)/d joint = -k per axis.
    g = jax.grad(lambda j: jnp.sum(losses.distance_field(j, jnp.asarray(points, jnp.float32))))(
        jnp.asarray(joints, jnp.float32)
    )
    np.testing.assert_allclose(np.asarray(g), -float(losses.NUM_FIELD_NEIGHBOURS))


def test_chamfer_matches_brute_force():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(2, 50, 4))
    b = rng.normal(size=(2, 70, 4)) + 0.3
    got = chamfer_distance(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), squared=True)
    d2 = np.sum((a[:, :, None] - b[:, None]) ** 2, -1)
    want = d2.min(2).mean(1) + d2.min(1).mean(1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    perm = rng.permutation(70)
    again = chamfer_distance(jnp.asarray(a, jnp.float32), jnp.asarray(b[:, perm], jnp.float32), squared=True)
    np.testing.assert_allclose(np.asarray(again), np.asarray(got), rtol=1e-6)
    assert float(chamfer_distance(jnp.asarray(a), jnp.asarray(a), squared=True).max()) == 0.0


def test_masked_mean_counts_only_masked_examples():
    values = jnp.asarray([1.0, 2.0, 3.0, 10.0])
    np.testing.assert_allclose(
        float(losses.masked_mean(values, jnp.asarray([1, 0, 1, 0]) > 0)), 2.0
    )
    assert float(losses.masked_mean(values, jnp.zeros(4, bool))) == 0.0


def test_weights_are_read_by_name():
    w = losses.default_config()
    assert set(w.keys()) == set(losses.LOSS_KEYS)
    assert losses._weight({"pose": 2.0}, "pose") == 2.0
    with pytest.raises(KeyError, match="distance_field"):
        losses._weight({"pose": 2.0}, "distance_field")


def test_adam_steps_lower_the_loss(setup):
    batch, latent = _batch(2, [1, 1, 0, 1])
    key = jax.random.PRNGKey(5)  # fixed: timesteps, noise and dropout are the same every step
    opt = optax.adam(3e-3)
    params = setup["params"]
    state = opt.init(params)

    @jax.jit
    def update(grads, state, params):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    history = []
    for _ in range(15):
        (loss, _), grads = setup["grad"](
            params, batch, key, latent, async_schedulers=True, train=True
        )
        history.append(float(loss))
        params, state = update(grads, state, params)
    assert history[-1] < 0.7 * history[0], history
