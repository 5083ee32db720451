"""The GrabNet-style baseline: BPS encoding, CoarseNet, its loss terms, training and sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import trimesh

from configs import grabnet as grabnet_configs
from mgd_jax import hand, train
from mgd_jax.baselines import bps, grabnet
from mgd_jax.data import input_pipeline
from mgd_jax.data import sources as data_sources
from mgd_jax.tasks import grabnet as grabnet_task
import toy_mgd


def test_bps_is_fixed_inside_its_ball_and_matches_brute_force():
    basis = bps.basis_points(200, 0.15, seed=3)
    np.testing.assert_array_equal(basis, bps.basis_points(200, 0.15, seed=3))
    assert not np.allclose(basis, bps.basis_points(200, 0.15, seed=4))
    radii = np.linalg.norm(basis, axis=1)
    assert radii.max() <= 0.15 + 1e-6 and radii.min() < 0.05  # fills the ball, not its shell
    cloud = np.random.default_rng(0).normal(0, 0.03, (2, 100, 3)).astype(np.float32)
    got = np.asarray(bps.encode(cloud, basis))
    want = np.linalg.norm(basis[None, :, None] - cloud[:, None], axis=-1).min(-1)
    np.testing.assert_allclose(got, want, atol=2e-5)
    with pytest.raises(ValueError, match="radius"):
        bps.basis_points(10, 0.0, 0)


def test_signed_object_to_hand_distance_is_negative_inside():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    verts = jnp.asarray(sphere.vertices[None], jnp.float32)
    normals = grabnet_task.vertex_normals(verts, jnp.asarray(sphere.faces))
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert np.min(np.sum(np.asarray(normals[0]) * radial, axis=1)) > 0.99  # outward normals
    points = jnp.asarray([[[0.0, 0.0, 0.01], [0.0, 0.0, 0.08]]], jnp.float32)
    signed = np.asarray(grabnet_task.object_to_hand_signed(points, verts, normals))[0]
    assert signed[0] < -0.03 and signed[1] > 0.02  # inside the "hand", outside it
    edges = grabnet_task.unique_edges(np.asarray(sphere.faces))
    assert len(edges) == len(sphere.edges_unique)


def test_coarsenet_shapes_and_kl():
    c = grabnet.tiny_config()
    model = grabnet.CoarseNet.from_config(c)
    b, key = 3, jax.random.PRNGKey(0)
    dists = jnp.abs(jax.random.normal(key, (b, c.bps_size))) * 0.05
    pose = jax.random.normal(key, (b, 16, 3)) * 0.3
    params = model.init(key, dists, pose, jnp.zeros((b, 3)), key)
    pose_hat, trans_hat, mean, std = model.apply(params, dists, pose, jnp.zeros((b, 3)), key)
    assert pose_hat.shape == (b, 16, 3) and trans_hat.shape == (b, 3)
    assert mean.shape == std.shape == (b, c.latent_dim) and bool(jnp.all(std > 0))
    z = jnp.zeros((b, c.latent_dim))
    np.testing.assert_allclose(grabnet.kl_to_standard_normal(z, z + 1.0), 0.0, atol=1e-6)
    assert float(grabnet.kl_to_standard_normal(z + 1.0, z + 1.0)[0]) == pytest.approx(c.latent_dim / 2)


def _patch_sources(monkeypatch, rows):
    monkeypatch.setattr(data_sources, "build_source",
                        lambda spec, split, w=1.0, *a: input_pipeline.Source(f"{spec}:{split}", rows, w))  # fmt: skip
    monkeypatch.setattr(data_sources, "held_out_source",
                        lambda spec, *a: input_pipeline.Source(f"{spec}:test", rows, 1.0))  # fmt: skip


def test_the_loss_fits_a_batch(monkeypatch):
    """A few Adam steps on one batch bring the reconstructed hand closer (the loss can learn);
    object-only rows are masked out."""
    rows = toy_mgd.hoi_examples(4, 2)
    _patch_sources(monkeypatch, rows)
    config = grabnet_configs.get_config("tiny")
    task = grabnet_task.make_task(config)
    w = grabnet_task.GrabNetTask(config).v_weights
    assert w.shape == (hand.load(None).num_vertices,) and float(w.min()) >= 1.0
    batch = {k: jnp.asarray(np.stack([task.transform(r)[k] for r in rows])) for k in ("points", "pose", "trans", "betas", "wrist_offset", "is_hoi")}
    params = task.init(jax.random.PRNGKey(0), batch)
    opt = optax.adam(3e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        (loss, m), g = jax.value_and_grad(task.loss, has_aux=True)(params, batch, jax.random.PRNGKey(1), 0)
        updates, state = opt.update(g, state)
        return optax.apply_updates(params, updates), state, loss, m

    _, _, first, m0 = step(params, state)
    for _ in range(40):
        params, state, loss, m = step(params, state)
    assert np.isfinite(float(loss)) and float(loss) < 0.7 * float(first)
    assert float(m["vertex_error_mm"]) < float(m0["vertex_error_mm"])
    only_objects = dict(batch, is_hoi=jnp.zeros_like(batch["is_hoi"]))
    assert float(task.loss(params, only_objects, jax.random.PRNGKey(1), 0)[0]) == 0.0


def test_trained_by_the_trainer_and_sampled(monkeypatch, tmp_path, trained_mgd):
    rows = toy_mgd.hoi_examples(6, 0)
    _patch_sources(monkeypatch, rows)
    config = grabnet_configs.get_config("tiny")
    config.total_steps, config.ckpt.async_save = 4, False
    train.train_and_evaluate(config, str(tmp_path / "gn"))
    sampler = grabnet.GrabNetSampler.load(str(tmp_path / "gn"))
    points = np.stack([r["points"] for r in rows[:3]])
    pose, trans = sampler.conditional(points, seed=2, batch_size=2)
    assert pose.shape == (3, 16, 3) and trans.shape == (3, 3) and np.isfinite(pose).all()
    np.testing.assert_array_equal(pose, sampler.conditional(points, seed=2, batch_size=2)[0])
    assert not np.allclose(pose, sampler.conditional(points, seed=3, batch_size=2)[0])
    bad = points.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"objects \[2\]"):
        sampler.conditional(bad)
    with pytest.raises(ValueError, match=r"'mgd' run"):
        grabnet.GrabNetSampler.load(str(trained_mgd[0] / "mgd"))


def test_config_errors_name_the_field():
    config = grabnet_configs.get_config("tiny")
    config.task.kl_coef = 1.5
    with pytest.raises(ValueError, match="config.task.kl_coef"):
        grabnet_task.validate(config)
    config = grabnet_configs.get_config("tiny")
    config.model.bps_radius = 0.0
    with pytest.raises(ValueError, match="bps_radius"):
        grabnet_task.validate(config)
    with pytest.raises(ValueError, match="unknown argument"):
        grabnet_configs.get_config("huge")
