"""Physics-guided conditional sampling (mgd_jax.physics_guidance) on the toy trained MGD."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from mgd_jax import physics_guidance, sample
from mgd_jax.generator import Generator
from mgd_jax.grasps.energy import energies, weighted_total
from mgd_jax.grasps.optimize import proxies_for
from mgd_jax.objects import procedural, sdf_grid

RADIUS = 0.035


@pytest.fixture(scope="module")
def spheres():
    """Two procedural spheres (3.5 and 5 cm), their stacked SDF grids and 256 surface points each."""
    specs = [procedural.ObjectSpec("sphere", np.array([r])) for r in (RADIUS, 0.05)]
    grids = physics_guidance.object_grids(specs)  # the sample CLI's resolution
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(256, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    points = np.stack([r * pts for r in (RADIUS, 0.05)]).astype(np.float32)
    return specs, grids, points


def test_lookup_of_a_stacked_row_is_the_lookup_of_that_grid(spheres):
    specs, grids, _ = spheres
    one = physics_guidance.object_grids(specs[1:])
    one = jax.tree.map(lambda x: x[0], one)
    pts = jnp.asarray(np.random.default_rng(1).uniform(-0.08, 0.08, (50, 3)), jnp.float32)
    np.testing.assert_allclose(np.asarray(sdf_grid.lookup(grids, pts, jnp.int32(1))),
                               np.asarray(sdf_grid.lookup(one, pts)), atol=1e-6)  # fmt: skip
    rows = jnp.array([0, 1, 1])
    many = jax.vmap(lambda r: sdf_grid.lookup(grids, pts, r))(rows)
    np.testing.assert_allclose(np.asarray(many[2]), np.asarray(many[1]))
    # Inside a sphere is negative, about minus its radius at the centre (between nodes).
    centre = sdf_grid.lookup(grids, jnp.zeros((1, 3)), jnp.int32(0))
    assert -RADIUS - 0.005 < float(centre[0]) < -RADIUS + 0.005  # trilinear between nodes


def test_guided_samples_have_lower_grasp_energy_than_unguided(trained_mgd, spheres):
    root, _ = trained_mgd
    _, grids, points = spheres
    gen = Generator.load(str(root / "mgd"))
    rows = np.repeat(np.arange(2), 4)
    pts = points[rows]
    plain = gen.conditional(pts, seed=0, num_steps=3)
    guidance = physics_guidance.PhysicsGuidance(scale=0.05, steps=3, iterations=10)
    guided = gen.conditional(pts, seed=0, num_steps=3, physics=guidance, grids=grids,
                             grid_rows=rows)  # fmt: skip
    # Only the last sampler step guided.
    last = gen.conditional(pts, seed=0, num_steps=3, grids=grids, grid_rows=rows,
                           physics=physics_guidance.PhysicsGuidance(0.05, steps=1, iterations=10))

    proxies = proxies_for(gen.hand_model, guidance.config)
    def energy(pose, trans):
        def one(row, p, t, x):
            return energies(proxies, p, t, lambda q: sdf_grid.lookup(grids, q, row), x,
                            guidance.config)  # fmt: skip

        terms = jax.vmap(one)(jnp.asarray(rows), jnp.asarray(pose), jnp.asarray(trans),
                              jnp.asarray(pts))  # fmt: skip
        return np.asarray(weighted_total(terms, guidance.config))

    e_plain, e_guided, e_last = energy(*plain), energy(*guided), energy(*last)
    assert np.all(np.isfinite(e_guided))
    assert e_guided.mean() < 0.8 * e_plain.mean(), (e_plain, e_guided)
    assert e_last.mean() < e_plain.mean(), (e_plain, e_last)
    assert not np.allclose(guided[0], last[0])
    # The same seed and settings give the same guided samples.
    again = gen.conditional(pts, seed=0, num_steps=3, physics=guidance, grids=grids,
                            grid_rows=rows)  # fmt: skip
    np.testing.assert_array_equal(again[0], guided[0])


def test_bad_guidance_settings_name_the_problem(trained_mgd, spheres):
    root, _ = trained_mgd
    _, grids, points = spheres
    gen = Generator.load(str(root / "mgd"))
    guidance = physics_guidance.PhysicsGuidance()
    with pytest.raises(ValueError, match="SDF grids"):
        gen.conditional(points, num_steps=3, physics=guidance)
    with pytest.raises(ValueError, match="index the 2 stacked grids"):
        gen.conditional(points, num_steps=3, physics=guidance, grids=grids,
                        grid_rows=np.array([0, 2]))  # fmt: skip
    with pytest.raises(ValueError, match="scale must be > 0"):
        physics_guidance.PhysicsGuidance(scale=0.0)
    with pytest.raises(ValueError, match="steps and iterations"):
        physics_guidance.PhysicsGuidance(steps=0)


@pytest.mark.slow
def test_sample_cli_guides_and_records_it(trained_mgd, tmp_path, caplog):
    root, _ = trained_mgd
    folder = tmp_path / "objs"
    folder.mkdir()
    trimesh.creation.box((6.0, 4.0, 8.0)).export(folder / "box.obj")  # centimeters
    trimesh.creation.icosphere(radius=3.5).export(folder / "ball.obj")
    out = tmp_path / "guided"
    args = ["--no_progress", "--steps=3", "--render_size=0", f"--checkpoint={root / 'mgd'}",
            f"--objects={folder}", "--units=cm", "--num_per_object=4"]  # fmt: skip
    index = sample.main([*args, "--physics_guidance=0.05", "--physics_steps=2", f"--out={out}"])
    assert index["physics_guidance"] == {"scale": 0.05, "steps": 2}
    with open(out / "index.json") as f:
        assert json.load(f)["physics_guidance"]["steps"] == 2
    assert np.isfinite(np.load(out / "grasps.npz")["hand_pose"]).all()
    with pytest.raises(ValueError, match="--mode=conditional"):
        sample.main(["--no_progress", f"--checkpoint={root / 'mgd'}", "--mode=joint",
                     "--physics_guidance=0.05", f"--out={tmp_path / 'j'}"])  # fmt: skip
    with pytest.raises(ValueError, match="must be > 0"):
        sample.main([*args, "--physics_guidance=-1", f"--out={tmp_path / 'n'}"])


def test_objects_without_a_graspable_mesh_get_an_empty_grid(caplog):
    flat = trimesh.creation.box((0.1, 0.1, 0.00001))
    grids = physics_guidance.object_grids([None, flat], resolution=8, names=["cloud", "sheet"])
    assert grids.values.shape == (2, 8, 8, 8)
    np.testing.assert_array_equal(np.asarray(grids.values), 1.0)
    assert "cloud: no mesh" in caplog.text and "sheet" in caplog.text
