"""Alpha-shape reconstruction of sampled point clouds (mgd_jax.objects.alpha_shape)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import trimesh

from mgd_jax import objects
from mgd_jax.objects.alpha_shape import circumradii

R_SPHERE = 0.05
BOX = (0.08, 0.05, 0.03)
R_TORUS, r_TORUS = 0.05, 0.015

# (mesh to sample, exact volume of the ideal solid, genus-dependent Euler characteristic)
SHAPES = {
    "sphere": (
        lambda: trimesh.creation.icosphere(subdivisions=4, radius=R_SPHERE),
        4.0 / 3.0 * np.pi * R_SPHERE**3,
        2,
    ),
    "box": (lambda: trimesh.creation.box(extents=BOX), float(np.prod(BOX)), 2),
    "torus": (
        lambda: trimesh.creation.torus(R_TORUS, r_TORUS, major_sections=64, minor_sections=32),
        2.0 * np.pi**2 * R_TORUS * r_TORUS**2,
        0,
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_shape_of_samples_is_watertight_with_the_right_volume(name, seed):
    make, true_volume, euler = SHAPES[name]
    pts = objects.sample_points(make(), 2048, seed=seed)
    mesh = objects.alpha_shape(pts)
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume > 0  # outward winding
    assert abs(mesh.volume - true_volume) / true_volume < 0.05
    assert mesh.body_count == 1
    assert mesh.euler_number == euler  # the torus keeps its hole
    # Vertices are input points, and nearly all points are used.
    assert len(mesh.vertices) >= 0.99 * len(pts)
    inputs = {tuple(p) for p in pts.astype(np.float64)}
    assert all(tuple(v) in inputs for v in mesh.vertices)


def test_face_normals_point_outward_on_a_sphere():
    pts = objects.sample_points(trimesh.creation.icosphere(subdivisions=4, radius=R_SPHERE), 2048)
    mesh = objects.alpha_shape(pts)
    radial = mesh.triangles_center / np.linalg.norm(mesh.triangles_center, axis=1, keepdims=True)
    assert (np.einsum("ij,ij->i", mesh.face_normals, radial) > 0.5).all()


def test_huge_alpha_gives_the_convex_hull():
    pts = objects.sample_points(trimesh.creation.torus(R_TORUS, r_TORUS), 512, seed=0)
    mesh = objects.alpha_shape(pts, alpha=10.0)
    hull = trimesh.convex.convex_hull(pts.astype(np.float64))
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.volume, hull.volume, rtol=1e-6)


def test_explicit_alpha_is_used_when_clean():
    box_pts = objects.sample_points(trimesh.creation.box(extents=BOX), 2048, seed=0)
    auto = objects.alpha_shape(box_pts)
    # Any alpha above the box's half-diagonal keeps every tetrahedron: the convex hull.
    big = objects.alpha_shape(box_pts, alpha=0.2)
    assert big.is_watertight and big.volume >= auto.volume - 1e-12


def test_too_small_explicit_alpha_is_raised_to_a_manifold_surface(caplog):
    box_pts = objects.sample_points(trimesh.creation.box(extents=BOX), 2048, seed=0)
    with caplog.at_level(logging.WARNING, logger="mgd_jax.objects.alpha_shape"):
        mesh = objects.alpha_shape(box_pts, alpha=0.003)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert any("non-manifold" in r.getMessage() for r in caplog.records)


def test_circumradius_matches_closed_form():
    rng = np.random.default_rng(0)
    center, radius = rng.normal(size=3), 0.3 + rng.random()
    dirs = rng.normal(size=(4, 3))
    pts = center + radius * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    np.testing.assert_allclose(circumradii(pts, np.array([[0, 1, 2, 3]])), [radius], rtol=1e-9)
    flat = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    assert np.isinf(circumradii(flat, np.array([[0, 1, 2, 3]]))).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_raise(bad):
    pts = np.random.default_rng(0).normal(size=(50, 3))
    pts[7, 1] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        objects.alpha_shape(pts)


def test_too_few_points_raise():
    with pytest.raises(ValueError, match="at least 4"):
        objects.alpha_shape(np.eye(3))
    # Four copies of two points are still too few.
    with pytest.raises(ValueError, match="at least 4"):
        objects.alpha_shape(np.repeat(np.eye(3)[:2], 4, axis=0))


def test_coplanar_points_raise():
    pts = np.random.default_rng(0).random((30, 3))
    pts[:, 2] = 0.0
    with pytest.raises(ValueError):
        objects.alpha_shape(pts)


def test_bad_alpha_and_shape_raise():
    pts = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="alpha"):
        objects.alpha_shape(pts, alpha=0.0)
    with pytest.raises(ValueError, match="shape"):
        objects.alpha_shape(pts[:, :2])
