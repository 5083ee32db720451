"""Latent-collapse diagnostics: spread statistics against numpy float64, the collapse check that
fails on collapsed latents and passes on spread ones, the variance hinge, autoencoding errors in
their units, the task's eval.json and the report table."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgd_jax import latent_stats, report


def _reference(z, mask):
    """numpy float64: std, cosine mean/min over i != j, effective rank, over the masked rows."""
    z = np.asarray(z, np.float64)[np.asarray(mask, bool)]
    std = z.std(0).mean()
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    cos = unit @ unit.T
    off = ~np.eye(len(z), dtype=bool)
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return {"std": std, "cos_mean": cos[off].mean(), "cos_min": cos[off].min(),
            "rank": math.exp(-(p * np.log(p)).sum()), "count": len(z)}  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_stats_match_numpy_float64(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.3, 1.0, (12, 7)) * rng.uniform(0.2, 2.0, 7)
    mask = rng.random(12) < 0.6
    mask[:2] = True
    got = jax.jit(latent_stats.latent_stats)(jnp.asarray(z, jnp.float32), jnp.asarray(mask))
    want = _reference(z, mask)
    for k, v in want.items():
        np.testing.assert_allclose(float(got[k]), v, rtol=2e-5, atol=2e-6, err_msg=k)
    unmasked = latent_stats.latent_stats(jnp.asarray(z, jnp.float32))
    want_rank = _reference(z, np.ones(12))["rank"]
    np.testing.assert_allclose(float(unmasked["rank"]), want_rank, rtol=2e-5)


def test_collapsed_latents_fail_the_check():
    rng = np.random.default_rng(2)
    common = rng.normal(size=64)
    common /= np.sqrt(np.mean(common**2))
    constant = np.tile(common, (32, 1))
    stats = latent_stats.latent_stats(constant)
    np.testing.assert_allclose(float(stats["cos_mean"]), 1.0, atol=1e-6)
    np.testing.assert_allclose(float(stats["rank"]), 1.0, atol=1e-3)
    assert float(stats["std"]) < 1e-6
    with pytest.raises(latent_stats.LatentCollapseError, match="object latent collapsed.*cos_mean"):
        latent_stats.check_not_collapsed(stats, "object")
    # The demo's measured collapse (issue #13): a common mean of RMS 1 with a 0.035 spread.
    near = common + rng.normal(0.0, 0.035, (32, 64))
    stats = latent_stats.latent_stats(near)
    assert float(stats["cos_mean"]) > 0.99
    with pytest.raises(latent_stats.LatentCollapseError, match="std="):
        latent_stats.check_not_collapsed(stats)


def test_spread_latents_pass_the_check():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(64, 32))
    stats = latent_stats.latent_stats(z)
    assert abs(float(stats["cos_mean"])) < 0.05 and float(stats["cos_min"]) < -0.3
    assert float(stats["rank"]) > 20 and 0.9 < float(stats["std"]) < 1.1
    latent_stats.check_not_collapsed(stats)
    assert latent_stats.collapse_reasons(stats) == []


def test_fewer_than_two_examples_are_undefined_not_zero():
    z = np.random.default_rng(4).normal(size=(4, 8))
    stats = latent_stats.latent_stats(z, np.array([0, 1, 0, 0]))
    assert float(stats["count"]) == 1
    for k in ("std", "cos_mean", "cos_min", "rank"):
        assert np.isnan(float(stats[k])), k
    with pytest.raises(latent_stats.LatentCollapseError):
        latent_stats.check_not_collapsed(stats)


def test_variance_hinge_matches_numpy_and_has_finite_gradients():
    rng = np.random.default_rng(5)
    z = rng.normal(0.0, 0.5, (10, 6)) * np.linspace(0.1, 3.0, 6)
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1], bool)
    got = float(latent_stats.variance_hinge(jnp.asarray(z, jnp.float32), mask, 1.0))
    var = z[mask].var(0)
    np.testing.assert_allclose(got, np.maximum(1.0 - np.sqrt(var + 1e-4), 0).mean(), rtol=1e-5)
    assert float(latent_stats.variance_hinge(rng.normal(0, 3.0, (50, 4)), None, 1.0)) == 0.0
    g = jax.grad(lambda x: latent_stats.variance_hinge(x))(jnp.ones((5, 3)))
    assert np.isfinite(np.asarray(g)).all()
    # Gradient descent on the hinge spreads a collapsed batch.
    x = jnp.asarray(np.ones((8, 4)) + rng.normal(0, 1e-3, (8, 4)), jnp.float32)
    for _ in range(50):
        x = x - 0.5 * jax.grad(latent_stats.variance_hinge)(x)
    assert float(latent_stats.channel_std(x)) > 0.5


def test_autoencoding_errors_in_degrees_and_millimetres():
    rng = np.random.default_rng(6)
    pose = rng.normal(0, 0.3, (3, 16, 3))
    trans = rng.normal(0, 0.05, (3, 3))
    joints = rng.normal(0, 0.05, (3, 21, 3))
    pose_hat = pose + 0.1 * np.sign(rng.normal(size=pose.shape))
    err = latent_stats.hand_errors(pose, trans, joints, pose_hat, trans + [0.003, 0.004, 0.0],
                                   joints + [0.0, 0.0, 0.002])  # fmt: skip
    np.testing.assert_allclose(np.asarray(err["pose_component_deg"]), np.degrees(0.1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(err["trans_mm"]), 5.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(err["joints_mm"]), 2.0, rtol=1e-5)
    latent = rng.normal(0, 1.0, (2, 50, 4)).astype(np.float32)
    shifted = latent[:, ::-1] + np.float32(0.01) * np.array([1, 0, 0, 0], np.float32)  # reordered
    # Model units are decimeters at input_scale 10: 0.01 -> 1 mm (neighbours stay the shifted
    # copies: the random points are far apart compared with the shift).
    np.testing.assert_allclose(np.asarray(latent_stats.object_chamfer_mm(latent, shifted, 10.0)),
                               1.0, rtol=1e-3)  # fmt: skip


def test_chamfer_both_gives_both_reductions():
    from mgd_jax.objects.chamfer import chamfer_distance

    rng = np.random.default_rng(8)
    a = jnp.asarray(rng.normal(size=(2, 30, 4)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(2, 45, 4)) + 0.2, jnp.float32)
    squared, plain = latent_stats.chamfer_both(a, b)
    want = np.asarray(chamfer_distance(a, b, squared=True))
    np.testing.assert_allclose(np.asarray(squared), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(plain), np.asarray(chamfer_distance(a, b)), rtol=1e-6)


def test_summarize_masks_hand_statistics_by_is_hoi():
    rng = np.random.default_rng(7)
    z_h, z_o = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    is_hoi = np.array([1, 1, 0, 1, 0, 1], np.float32)
    errors = {"joints_mm": np.array([1, 2, 100, 3, 100, 4.0]),
              "object_chamfer_mm": np.arange(6.0)}  # fmt: skip
    out = latent_stats.summarize(z_h, z_o, is_hoi, errors)
    ref = _reference(z_h, is_hoi > 0.5)
    np.testing.assert_allclose(float(out["latent/hand_cos_mean"]), ref["cos_mean"], rtol=1e-5)
    assert float(out["latent/hand_count"]) == 4 and float(out["latent/object_count"]) == 6
    assert float(out["autoenc/joints_mm"]) == 2.5 and float(out["autoenc/object_chamfer_mm"]) == 2.5


def test_eval_json_has_the_diagnostics_and_the_report_shows_them(trained_mgd):
    root, _ = trained_mgd
    with open(root / "mgd" / "eval.json") as f:
        results = json.load(f)
    for split in ("heldout", "trainset"):
        assert results[f"{split}/latent_examples"] >= 2
        for name in ("hand", "object"):
            for stat in ("std", "cos_mean", "cos_min", "rank"):
                assert np.isfinite(results[f"{split}/latent/{name}_{stat}"]), (split, name, stat)
            rank = results[f"{split}/latent/{name}_rank"]
            assert 1.0 <= rank <= results[f"{split}/latent_examples"]
        for key in latent_stats.ERROR_KEYS:
            value = results[f"{split}/autoenc/{key}"]
            assert np.isfinite(value) and value > 0, (split, key)
    # The held-out loss averages do not mix in per-batch spread statistics.
    assert "heldout/latent/hand_cos_mean" in results and "heldout/joint/loss" in results
    table = report.latent_table({"point_vae": {}, "mgd": results})
    assert table.count("\n") == 4 and "| mgd | held-out (" in table and "hand cos mean" in table
    assert report.latent_table({"mgd": {"heldout/loss": 1.0}}) == ""
