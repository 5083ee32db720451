"""Inside tests and exact surface distances against brute force, on fresh random points."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mgd_jax.evaluators import distance, inside, meshes


def _shapes():
    torus = trimesh.creation.torus(0.05, 0.015)
    cyl = trimesh.creation.cylinder(0.01, 0.2)  # long sliver side triangles
    box = trimesh.creation.box((0.04, 0.06, 0.03))
    t = np.eye(4)
    t[:3, :3] = Rotation.random(random_state=3).as_matrix()
    box.apply_transform(t)
    return {"torus": torus, "cylinder": cyl, "rotated_box": box,
            "sphere": trimesh.creation.icosphere(2, 0.05)}  # fmt: skip


@pytest.mark.parametrize("name", ["torus", "cylinder", "rotated_box", "sphere"])
def test_ray_parity_matches_winding_number(name):
    tm = _shapes()[name]
    mesh = meshes.as_mesh(tm)
    rng = np.random.default_rng()
    pts = rng.uniform(tm.bounds[0] - 0.01, tm.bounds[1] + 0.01, size=(3000, 3))
    index = inside.build_inside_index(mesh)
    assert index.closed
    got = inside.contains(index, pts)
    ref = np.abs(inside.winding_number(tm.vertices[tm.faces], pts)) > 0.5
    assert 0.05 < ref.mean() < 0.95  # the test has both kinds of points
    assert np.sum(got != ref) == 0


@pytest.mark.parametrize("name", ["torus", "cylinder", "rotated_box", "sphere"])
def test_surface_distance_is_exact(name):
    tm = _shapes()[name]
    rng = np.random.default_rng()
    surf, fi = trimesh.sample.sample_surface(tm, 400, seed=int(rng.integers(1 << 30)))
    near = surf + tm.face_normals[fi] * rng.uniform(-0.012, 0.012, size=(400, 1))
    far = rng.uniform(tm.bounds[0] - 0.05, tm.bounds[1] + 0.05, size=(200, 3))
    pts = np.concatenate([near, far])
    tri = tm.vertices[tm.faces]
    brute = np.sqrt(distance.point_triangle_sqdist(
        pts[:, None], tri[None, :, 0], tri[None, :, 1], tri[None, :, 2]).min(axis=1))  # fmt: skip
    index = distance.build_distance_index(meshes.as_mesh(tm))
    np.testing.assert_allclose(distance.surface_distance(index, pts), brute, rtol=0, atol=1e-9)
    capped = distance.surface_distance(index, pts, upper=0.005)
    below = brute <= 0.005
    np.testing.assert_allclose(capped[below], brute[below], rtol=0, atol=1e-9)
    assert np.all(capped[~below] > 0.005)


def test_point_triangle_distance_regions_and_degenerate():
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    pts = np.array([[0.2, 0.2, 0.5], [-1, -1, 0], [2, 0, 0], [0.5, -1, 0], [1, 1, 0], [0, 0.5, 0]])
    want = np.array([0.25, 2, 1, 1, 0.5, 0])
    got = distance.point_triangle_sqdist(pts, a, b, c)
    np.testing.assert_allclose(got, want, atol=1e-12)
    # A zero-area triangle (collinear vertices) falls back to its segments.
    d = distance.point_triangle_sqdist(np.array([[0.5, 1.0, 0]]), a, b, 0.5 * (a + b))
    np.testing.assert_allclose(d, [1.0], atol=1e-12)


def test_open_mesh_is_capped_and_inside_stays_right():
    box = trimesh.creation.box((0.04, 0.04, 0.04))
    keep = box.face_normals[:, 0] < 0.5  # drop the two triangles of the +x side
    open_box = meshes.Mesh(np.asarray(box.vertices), np.asarray(box.faces)[keep])
    assert not meshes.is_closed(open_box)
    capped = meshes.cap_holes(open_box)
    assert meshes.is_closed(capped)
    assert len(capped.vertices) == len(box.vertices) + 1
    pts = np.random.default_rng().uniform(-0.03, 0.03, size=(2000, 3))
    index = inside.build_inside_index(open_box)
    assert index.closed  # via capping
    np.testing.assert_array_equal(inside.contains(index, pts), np.all(np.abs(pts) < 0.02, axis=1))


def test_non_manifold_mesh_falls_back_to_winding_number():
    box = trimesh.creation.box((0.04, 0.04, 0.04))
    v = np.concatenate([box.vertices, [[0.0, 0.0, 0.06]]])
    # A fin on an existing edge: that edge now has three faces, so the mesh is not closed.
    e = box.faces[0][:2]
    f = np.concatenate([box.faces, [[e[0], e[1], 8]]])
    mesh = meshes.Mesh(v, f)
    index = inside.build_inside_index(mesh)
    assert not index.closed
    pts = np.random.default_rng().uniform(-0.03, 0.03, size=(1000, 3))
    np.testing.assert_array_equal(inside.contains(index, pts), np.all(np.abs(pts) < 0.02, axis=1))


def test_inside_is_independent_of_face_orientation():
    tm = trimesh.creation.torus(0.05, 0.015)
    flipped = meshes.Mesh(np.asarray(tm.vertices), np.asarray(tm.faces)[:, ::-1])
    pts = np.random.default_rng().uniform(-0.07, 0.07, size=(2000, 3))
    np.testing.assert_array_equal(
        inside.contains(inside.build_inside_index(flipped), pts),
        inside.contains(inside.build_inside_index(meshes.as_mesh(tm)), pts),
    )
