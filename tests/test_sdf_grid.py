"""Mesh SDF grids: agreement with analytic SDFs, signs, the non-watertight fallback, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from mgd_jax.objects import sdf_grid

HALF = np.array([0.03, 0.02, 0.04])


def _box_sdf(p: np.ndarray) -> np.ndarray:
    q = np.abs(p) - HALF
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(1), 0.0)


@pytest.fixture(scope="module")
def sphere_grid():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    return mesh, sdf_grid.build_sdf_grid(mesh, resolution=40, padding=0.02)


@pytest.fixture(scope="module")
def box_grid():
    mesh = trimesh.creation.box(extents=2 * HALF)
    return mesh, sdf_grid.build_sdf_grid(mesh, resolution=40, padding=0.02)


def test_grid_layout(box_grid):
    mesh, grid = box_grid
    assert grid.values.dtype == jnp.float32 and max(grid.values.shape) == 40
    hi = np.asarray(grid.origin) + float(grid.spacing) * (np.array(grid.values.shape) - 1)
    assert np.all(np.asarray(grid.origin) <= mesh.bounds[0] - 0.02 + 1e-6)
    assert np.all(hi >= mesh.bounds[1] + 0.02 - 1e-6)


def test_point_triangle_distance_matches_brute_force():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(3, 500, 3))
    p = 2.0 * rng.normal(size=(500, 3))
    got = sdf_grid.point_triangle_distance(p, a, b, c)
    # Brute force: dense barycentric sampling of each triangle (upper bound, converges from above).
    s = np.linspace(0.0, 1.0, 201)
    u, v = np.meshgrid(s, s, indexing="ij")
    keep = u + v <= 1.0
    u, v = u[keep], v[keep]
    pts = a[:, None] + u[None, :, None] * (b - a)[:, None] + v[None, :, None] * (c - a)[:, None]
    ref = np.linalg.norm(pts - p[:, None], axis=-1).min(1)
    assert np.all(got <= ref + 1e-9)
    np.testing.assert_allclose(got, ref, atol=2e-2)


def test_sphere_lookup_matches_analytic(sphere_grid):
    mesh, grid = sphere_grid
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.065, 0.065, (4000, 3))
    got = np.asarray(jax.jit(sdf_grid.lookup)(grid, jnp.asarray(pts, jnp.float32)))
    ref = np.linalg.norm(pts, axis=1) - 0.05
    half_diag = 0.5 * np.sqrt(3.0) * float(grid.spacing)
    # The icosphere is inscribed: its chordal error adds to the interpolation error.
    chord = 0.05 - np.min(np.linalg.norm(mesh.triangles_center, axis=1))
    assert np.max(np.abs(got - ref)) < half_diag + chord
    far = np.abs(ref) > half_diag + chord
    np.testing.assert_array_equal(np.sign(got[far]), np.sign(ref[far]))


def test_box_lookup_matches_analytic(box_grid):
    _, grid = box_grid
    pts = np.random.default_rng(1).uniform(-0.05, 0.05, (4000, 3))
    got = np.asarray(sdf_grid.lookup(grid, jnp.asarray(pts, jnp.float32)))
    ref = _box_sdf(pts)
    half_diag = 0.5 * np.sqrt(3.0) * float(grid.spacing)
    assert np.max(np.abs(got - ref)) < half_diag
    far = np.abs(ref) > half_diag
    np.testing.assert_array_equal(np.sign(got[far]), np.sign(ref[far]))


def test_outside_grid_is_clamped_distance_plus_border(box_grid):
    _, grid = box_grid
    p = jnp.array([[0.3, 0.0, 0.0], [0.0, -0.25, 0.1]])
    got = np.asarray(sdf_grid.lookup(grid, p))
    assert np.all(got > 0.15)
    np.testing.assert_allclose(got, _box_sdf(np.asarray(p)), rtol=0.02)


def test_non_watertight_box_negative_deep_inside(caplog):
    box = trimesh.creation.box(extents=2 * HALF)
    open_box = box.copy()
    open_box.update_faces(np.arange(len(box.faces))[2:])  # drop one square side
    assert not open_box.is_watertight
    with caplog.at_level("WARNING"):
        grid = sdf_grid.build_sdf_grid(open_box, resolution=24, padding=0.02)
    assert "not watertight" in caplog.text
    inside = jnp.array([[0.0, 0.0, 0.0], [0.01, -0.005, 0.02], [-0.015, 0.01, -0.02]])
    got = np.asarray(sdf_grid.lookup(grid, inside))
    assert np.all(got < -0.004)
    assert float(sdf_grid.lookup(grid, jnp.array([[0.0, 0.0, 0.07]]))[0]) > 0.02


def test_winding_number_closed_mesh():
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    pts = np.array([[0.0, 0.0, 0.0], [0.02, 0.01, 0.0], [0.1, 0.0, 0.0]])
    w = sdf_grid.winding_number(mesh, pts)
    np.testing.assert_allclose(w, [1.0, 1.0, 0.0], atol=1e-6)


def test_lookup_gradient_finite_and_outward(sphere_grid):
    _, grid = sphere_grid
    rng = np.random.default_rng(2)
    d = rng.normal(size=(200, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = jnp.asarray(d * rng.uniform(0.03, 0.1, (200, 1)), jnp.float32)  # some outside the grid
    g = np.asarray(jax.jit(jax.grad(lambda p: sdf_grid.lookup(grid, p).sum()))(pts))
    assert np.all(np.isfinite(g))
    cos = np.sum(g * d, 1) / np.linalg.norm(g, axis=1)
    assert np.all(cos > 0.9)
    # Trilinear gradients are piecewise and not unit; they stay near 1 on a 3.8 mm grid.
    assert np.all(np.abs(np.linalg.norm(g, axis=1) - 1.0) < 0.35)


def test_grid_of_procedural_mesh_matches_exact_sdf():
    from mgd_jax.objects import procedural, sdf_mesh

    spec, mesh = sdf_mesh.sample_object("cone", 2)  # exact SDF; mesh within 1 mm of it
    grid = sdf_grid.build_sdf_grid(mesh, resolution=32, padding=0.02)
    pts = np.random.default_rng(4).uniform(mesh.bounds[0] - 0.01, mesh.bounds[1] + 0.01, (3000, 3))
    got = np.asarray(sdf_grid.lookup(grid, jnp.asarray(pts, jnp.float32)))
    ref = np.asarray(procedural.sdf(spec, jnp.asarray(pts, jnp.float32)))
    assert np.max(np.abs(got - ref)) < 0.5 * np.sqrt(3.0) * float(grid.spacing) + 1e-3
