"""The latent-collapse remedies of the MGD loss (issue #13), each switched by ``config.loss``:
all off is the earlier loss bit for bit (values, metrics, gradients); stop-gradient on the latent
targets; the autoencoding loss on the clean latents; the variance hinge; the distance field to
the recovered object (eq. 16); object-only batches still leave the hand untouched; validation."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mgd_jax import diffusion, hand, latent_stats, losses
from mgd_jax.hand import fixtures
from mgd_jax.models import mgd
from param_utils import random_params
import legacy_mgd_loss

B = 4
NUM_POINTS = 64
T = 50
INPUT_SCALE = 10.0
ALL_ON = {"stop_gradient_targets": True, "autoencode_hand": 1.0, "autoencode_object": 1.0,
          "latent_variance": 1.0, "df_from_recovered_object": True}  # fmt: skip


def _batch(seed, is_hoi, betas=True):
    rng = np.random.default_rng(seed)
    hoi = np.asarray(is_hoi, np.float32)
    batch = {
        "points": rng.normal(0.0, 0.04, (B, NUM_POINTS, 3)).astype(np.float32),
        "pose": (rng.normal(0.0, 0.3, (B, 16, 3)) * hoi[:, None, None]).astype(np.float32),
        "trans": (rng.normal(0.0, 0.05, (B, 3)) * hoi[:, None]).astype(np.float32),
        "is_hoi": hoi,
    }
    if betas:
        batch["betas"] = (rng.normal(0.0, 1.0, (B, 10)) * hoi[:, None]).astype(np.float32)
        batch["wrist_offset"] = (rng.normal(0.0, 0.003, (B, 3)) * hoi[:, None]).astype(np.float32)
    latent = np.concatenate([batch["points"] * INPUT_SCALE,
                             rng.normal(0.0, 0.1, (B, NUM_POINTS, 1))], -1)  # fmt: skip
    return {k: jnp.asarray(v) for k, v in batch.items()}, jnp.asarray(latent, jnp.float32)


def decode_points(latent_points):
    """A stand-in for the frozen VAE decoder: latent xyz back to meters (differentiable)."""
    return latent_points[..., :3] / INPUT_SCALE


@pytest.fixture(scope="module")
def setup():
    model = mgd.MGD.from_config(mgd.tiny_config())
    batch, latent = _batch(0, [1, 1, 1, 1])
    params = random_params(model, batch["pose"], batch["trans"], latent)
    arrays = fixtures.random_mano_arrays(seed=0, num_vertices=120, num_faces=60)
    hand_model = hand.io.from_mano_arrays(arrays, "<random>", "right")
    kw = dict(model=model, hand_model=hand_model, schedule=diffusion.make_schedule(T))

    compiled = {}  # one compile per (loss function, weights, extras): compiles dominate here

    def make(fn, weights, **extra):
        items = weights.items() if hasattr(weights, "items") else vars(weights).items()
        key = (fn.__module__, tuple(sorted(items)), tuple(sorted(extra.items(), key=str)))
        if key not in compiled:
            def loss(params, batch, latent, rng):
                return fn(params, batch, rng, object_latent_points=latent, weights=weights,
                          **kw, **extra)  # fmt: skip

            compiled[key] = jax.jit(jax.value_and_grad(loss, has_aux=True))
        return compiled[key]

    return {"params": params, "make": make}


def _config(**changes):
    config = losses.default_config()
    config.update(changes)
    return config


def _run(setup, weights, batch_latent, key=1, fn=None, **extra):
    fn = fn or losses.mgd_loss
    if fn is losses.mgd_loss:
        extra = {"decode_points": decode_points, "input_scale": INPUT_SCALE, **extra}
    step = setup["make"](fn, weights, **extra)
    (loss, metrics), grads = step(setup["params"], *batch_latent, jax.random.PRNGKey(key))
    return loss, jax.device_get(metrics), grads["params"]


def _max_abs(tree):
    return max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(tree))


def _assert_trees_equal(a, b):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                      err_msg=jax.tree_util.keystr(path))


def test_all_remedies_off_is_the_earlier_loss_bit_for_bit(setup):
    data = _batch(3, [1, 0, 1, 1])
    loss, metrics, grads = _run(setup, losses.default_config(), data)
    old_loss, old_metrics, old_grads = _run(setup, legacy_mgd_loss.default_weights(), data,
                                            fn=legacy_mgd_loss.mgd_loss)  # fmt: skip
    assert float(loss) == float(old_loss)
    for k, v in old_metrics.items():
        assert float(metrics[k]) == float(v), k
    _assert_trees_equal(grads, old_grads)
    # A section written before the switches existed means the same.
    section = {k: v for k, v in losses.default_config().items() if k in losses.WEIGHT_KEYS}
    assert float(_run(setup, section, data)[0]) == float(old_loss)
    # The new diagnostics are there, finite, and leave the loss alone.
    for k in ("latent/hand_cos_mean", "latent/object_rank", "autoenc/pose_component_deg",
              "autoenc/trans_mm", "autoenc/joints_mm"):
        assert np.isfinite(metrics[k]), k
    assert "autoenc/loss" not in metrics and "latent/variance_hinge" not in metrics
    assert "autoenc/object_chamfer_mm" not in metrics  # a Chamfer search: only with its loss on


def test_stop_gradient_targets_changes_only_the_tokenizer_gradients(setup):
    data = _batch(4, [1, 1, 0, 1])
    loss, _, grads = _run(setup, losses.default_config(), data)
    loss_sg, _, grads_sg = _run(setup, _config(stop_gradient_targets=True), data)
    assert float(loss_sg) == float(loss)  # same forward pass
    for name in ("hand_tokenizer", "object_tokenizer"):
        assert not np.allclose(np.asarray(jax.tree.leaves(grads[name])[0]),
                               np.asarray(jax.tree.leaves(grads_sg[name])[0])), name  # fmt: skip
    # The denoiser sees the same target value either way.
    for a, b in zip(jax.tree.leaves(grads["denoiser"]), jax.tree.leaves(grads_sg["denoiser"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_autoencoding_loss_is_the_weighted_sum_of_its_terms(setup):
    data = _batch(5, [1, 0, 1, 1])
    base, _, _ = _run(setup, losses.default_config(), data)
    weights = _config(autoencode_hand=0.5, autoencode_object=2.0)
    loss, metrics, grads = _run(setup, weights, data)
    w = losses.default_config()
    want = (0.5 * sum(w[k] * metrics[f"autoenc/{k}"] for k in ("pose", "trans", "joints"))
            + 2.0 * w.object_points * metrics["autoenc/object_points"])  # fmt: skip
    np.testing.assert_allclose(metrics["autoenc/loss"], want, rtol=1e-5)
    np.testing.assert_allclose(float(loss) - float(base), metrics["autoenc/loss"], rtol=1e-4)
    assert metrics["autoenc/object_chamfer_mm"] > 0
    # Independent check of the hand pose term: decode(encode(x)) by hand.
    model = mgd.MGD.from_config(mgd.tiny_config())
    batch, latent = data
    v = {"params": setup["params"]["params"]}
    z_h = model.apply(v, batch["pose"], batch["trans"], method=model.encode_hand)
    pose_hat, _ = model.apply(v, z_h, method=model.decode_hand)
    delta = np.asarray(pose_hat, np.float64) - np.asarray(batch["pose"])
    d2 = np.sum(np.square(delta), -1).mean(-1)
    hoi = np.asarray(batch["is_hoi"]) > 0.5
    np.testing.assert_allclose(metrics["autoenc/pose"], d2[hoi].mean(), rtol=1e-4)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_variance_hinge_term(setup):
    data = _batch(6, [1, 1, 1, 0])
    base, _, _ = _run(setup, losses.default_config(), data)
    loss, metrics, _ = _run(setup, _config(latent_variance=3.0, latent_variance_target=0.5), data)
    model = mgd.MGD.from_config(mgd.tiny_config())
    batch, latent = data
    v = {"params": setup["params"]["params"]}
    z_h = model.apply(v, batch["pose"], batch["trans"], method=model.encode_hand)
    z_o = model.apply(v, latent, method=model.encode_object)
    hoi = np.asarray(batch["is_hoi"]) > 0.5
    want = latent_stats.variance_hinge(z_h, hoi, 0.5) + latent_stats.variance_hinge(z_o, None, 0.5)
    np.testing.assert_allclose(metrics["latent/variance_hinge"], float(want), rtol=1e-5)
    np.testing.assert_allclose(float(loss) - float(base), 3.0 * float(want), rtol=1e-4)


def test_distance_field_to_the_recovered_object(setup):
    data = _batch(7, [1, 1, 1, 1])
    only_field = dict(latent=0.0, pose=0.0, trans=0.0, joints=0.0, object_points=0.0)
    _, metrics, grads = _run(setup, _config(**only_field), data)
    recovered = _config(**only_field, df_from_recovered_object=True)
    _, metrics_rec, grads_rec = _run(setup, recovered, data)
    # The joint branch's field now sees the generated object; the conditional branch does not.
    assert metrics_rec["joint/distance_field"] != metrics["joint/distance_field"]
    assert metrics_rec["cond/distance_field"] == metrics["cond/distance_field"]
    # Only the recovered object connects the field to the object decoder.
    assert _max_abs(grads["object_detokenizer"]) == 0.0
    assert _max_abs(grads_rec["object_detokenizer"]) > 0.0
    with pytest.raises(ValueError, match="decode_points"):
        _run(setup, _config(df_from_recovered_object=True), data, decode_points=None)


def test_object_only_batch_leaves_the_hand_untouched_with_every_remedy(setup):
    data = _batch(8, [0, 0, 0, 0])
    _, metrics, grads = _run(setup, _config(**ALL_ON), data)
    for name in ("hand_tokenizer", "hand_detokenizer"):
        assert _max_abs(grads[name]) == 0.0, name
    assert _max_abs(grads["object_tokenizer"]) > 0.0
    assert np.isnan(metrics["latent/hand_cos_mean"]) and np.isnan(metrics["autoenc/joints_mm"])
    assert np.isfinite(metrics["autoenc/object_chamfer_mm"]) and np.isfinite(metrics["loss"])


def test_every_remedy_on_gives_finite_values_and_gradients(setup):
    loss, metrics, grads = _run(setup, _config(**ALL_ON), _batch(9, [1, 0, 1, 1]))
    assert np.isfinite(float(loss))
    for k, v in metrics.items():
        assert np.isfinite(v), k
    for leaf in jax.tree.leaves(grads):
        assert np.isfinite(np.asarray(leaf)).all()


@pytest.mark.parametrize("changes,match", [
    ({"autoencode_hand": -1.0}, "config.loss.autoencode_hand must be a number >= 0"),
    ({"latent_variance_target": 0.0}, "latent_variance_target must be > 0"),
    ({"stop_gradient_targets": 1}, "config.loss.stop_gradient_targets must be True or False"),
    ({"pose": "x"}, "config.loss.pose must be a number"),
])  # fmt: skip
def test_validation_names_the_field(changes, match):
    config = ml_collections.ConfigDict({**losses.default_config().to_dict(), **changes})
    with pytest.raises(ValueError, match=match):
        losses.validate_config(config)


def test_validation_of_keys():
    losses.validate_config(losses.default_config())
    with pytest.raises(ValueError, match="unknown keys"):
        losses.validate_config({**losses.default_config().to_dict(), "autoencode": 1.0})
    with pytest.raises(ValueError, match="missing the weights"):
        losses.validate_config({"latent": 1.0})
