"""Point VAE building blocks: the two 3-D conv paths agree, voxel ops are exact, point order is
kept, the baseline backbone works, and the reconstruction report measures what it says."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgd_jax.tasks import point_vae as point_vae_task
from mgd_jax.models import point_vae
from mgd_jax.objects.chamfer import chamfer_distance


def test_matmul_conv_equals_lax_conv():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 5, 4, 3)), jnp.float32)
    params = point_vae.Conv3D(7, "lax").init(jax.random.PRNGKey(0), x)
    lax_out = point_vae.Conv3D(7, "lax").apply(params, x)
    mm_out = point_vae.Conv3D(7, "matmul").apply(params, x)
    assert lax_out.shape == (2, 6, 5, 4, 7)
    np.testing.assert_allclose(mm_out, lax_out, atol=1e-5)
    with pytest.raises(ValueError, match="impl"):
        point_vae.Conv3D(7, "fft").apply(params, x)


def test_devoxelize_reproduces_linear_fields_exactly():
    res = 8
    ax = np.arange(res) / (res - 1)
    gx, gy, gz = np.meshgrid(ax, ax, ax, indexing="ij")
    field = np.stack([2 * gx - gy + 0.5 * gz, gx * 0 + 1.0], axis=-1)[None]  # (1, R, R, R, 2)
    coords = np.random.default_rng(1).uniform(size=(1, 100, 3))
    out = point_vae.devoxelize(jnp.asarray(field, jnp.float32), jnp.asarray(coords, jnp.float32))
    want = 2 * coords[..., 0] - coords[..., 1] + 0.5 * coords[..., 2]
    np.testing.assert_allclose(out[..., 0], want, atol=1e-5)
    np.testing.assert_allclose(out[..., 1], 1.0, atol=1e-6)


def test_voxelize_averages_points_per_cell():
    coords = jnp.asarray([[[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    feats = jnp.asarray([[[1.0], [3.0], [5.0]]])
    grid = point_vae.voxelize(feats, coords, 4)
    assert float(grid[0, 0, 0, 0, 0]) == pytest.approx(2.0)
    assert float(grid[0, 3, 3, 3, 0]) == pytest.approx(5.0)
    assert float(jnp.sum(grid)) == pytest.approx(7.0)  # every other cell is empty (0)


@pytest.mark.parametrize("backbone", ["pvcnn", "pointnet"])
def test_point_order_is_kept_and_latent_starts_at_the_input(backbone):
    model = point_vae.PointVAE((8, 8), (8, 4), 1, backbone=backbone)
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, size=(2, 64, 3)), jnp.float32)
    params = model.init({"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(1)}, x)
    out = model.apply(params, x, sample=False)
    perm = np.random.default_rng(3).permutation(64)
    out_p = model.apply(params, x[:, perm], sample=False)
    np.testing.assert_allclose(out_p.recon, out.recon[:, perm], atol=1e-5)
    # Zero-initialised heads: latent xyz == input, reconstruction == input at initialisation.
    np.testing.assert_allclose(out.mu[..., :3], x, atol=1e-6)
    np.testing.assert_allclose(out.recon, x, atol=1e-6)
    assert out.mu.shape == (2, 64, 4)


def test_unknown_backbone_is_refused():
    model = point_vae.PointVAE((8,), (4,), backbone="transformer")
    with pytest.raises(ValueError, match="backbone"):
        model.init({"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(0)},
                   jnp.zeros((1, 8, 3)))  # fmt: skip


def test_chamfer_distance_matches_brute_force():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(1, 30, 3)), rng.normal(size=(1, 40, 3))
    d = np.linalg.norm(a[0][:, None] - b[0][None], axis=-1)
    want = 0.5 * (d.min(1).mean() + d.min(0).mean())
    got = chamfer_distance(jnp.asarray(a), jnp.asarray(b))
    assert float(got[0]) == pytest.approx(want, rel=1e-5)


def test_reconstruction_report_and_render(tmp_path):
    model = point_vae.PointVAE((8,), (4,), 1, backbone="pointnet")
    pts = np.random.default_rng(5).uniform(-0.5, 0.5, size=(3, 128, 3)).astype(np.float32)
    params = model.init({"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(1)},
                        jnp.asarray(pts))["params"]  # fmt: skip
    # Make the posterior wide so the sampled latent is visibly worse than the mean.
    params = jax.tree_util.tree_map(lambda v: v, params)
    enc_bias = params["encoder"]["Dense_1"]["bias"]
    params["encoder"]["Dense_1"]["bias"] = enc_bias.at[4:].set(point_vae._LOG_SIGMA_OFFSET - 2.0)
    results, recons = point_vae_task.point_vae_reconstruction_report(model, params, pts, scale=10.0)
    assert results["chamfer_mm_mean"] == pytest.approx(0.0, abs=1e-3)  # identity at init
    assert results["chamfer_mm_sampled_mean"] > 1.0  # sigma = e^-2 model units ~ 13 mm
    assert recons["mean"].shape == recons["sample"].shape == pts.shape
    path = os.path.join(tmp_path, "recon.png")
    point_vae_task.render_reconstructions(path, pts[:1] / 10, recons["mean"][:1] / 10,
                                 recons["sample"][:1] / 10, size=64)  # fmt: skip
    assert os.path.getsize(path) > 1000
