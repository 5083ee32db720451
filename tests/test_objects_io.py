"""Mesh I/O, validation, folder loading, normalisation and surface sampling (mgd_jax.objects)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import trimesh

from mgd_jax import objects

BOX_EXTENTS = (0.08, 0.05, 0.03)  # meters


def _box() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=BOX_EXTENTS)


def _write_obj(path, vertices, faces) -> None:
    with open(path, "w") as f:
        f.write("# test fixture\n")
        for v in vertices:
            f.write("v {} {} {}\n".format(*v))
        for t in np.asarray(faces) + 1:
            f.write("f {} {} {}\n".format(*t))


def _write_off(path, vertices, faces) -> None:
    with open(path, "w") as f:
        f.write(f"OFF\n{len(vertices)} {len(faces)} 0\n")
        for v in vertices:
            f.write("{} {} {}\n".format(*v))
        for t in faces:
            f.write("3 {} {} {}\n".format(*t))


def _write_fixture(path, fmt: str, scale: float = 1.0) -> None:
    """The 8x5x3 cm box in the given format, coordinates multiplied by ``scale``."""
    box = _box()
    v, f = np.asarray(box.vertices) * scale, np.asarray(box.faces)
    if fmt == "obj":
        _write_obj(path, v, f)
    elif fmt == "off":
        _write_off(path, v, f)
    else:  # ply, stl written by trimesh's exporters (binary)
        trimesh.Trimesh(v, f, process=False).export(path)


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl", "off"])
def test_load_each_format_gives_watertight_box_in_meters(tmp_path, fmt):
    path = tmp_path / f"box.{fmt}"
    _write_fixture(path, fmt)
    mesh = objects.load_mesh(path)
    assert isinstance(mesh, trimesh.Trimesh)
    np.testing.assert_allclose(np.sort(mesh.extents), np.sort(BOX_EXTENTS), rtol=1e-6)
    assert len(mesh.vertices) == 8  # STL soup merged
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.volume, np.prod(BOX_EXTENTS), rtol=1e-6)


def test_load_glb_merges_two_parts_with_scene_transforms(tmp_path):
    scene = trimesh.Scene()
    a = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    b = trimesh.creation.icosphere(subdivisions=1, radius=0.01)
    shift = trimesh.transformations.translation_matrix
    scene.add_geometry(a, node_name="part_a", transform=shift([0.05, 0, 0]))
    scene.add_geometry(b, node_name="part_b", transform=shift([0, 0.07, 0]))
    path = tmp_path / "two_parts.glb"
    scene.export(path)
    mesh = objects.load_mesh(path)
    assert len(mesh.faces) == len(a.faces) + len(b.faces)
    assert mesh.body_count == 2
    # Parts sit where the scene graph put them.
    np.testing.assert_allclose(mesh.bounds[1, 0], 0.06, atol=1e-6)
    np.testing.assert_allclose(mesh.bounds[1, 1], 0.08, atol=1e-4)
    np.testing.assert_allclose(mesh.volume, a.volume + b.volume, rtol=1e-5)


@pytest.mark.parametrize("units,scale", [("m", 1.0), ("cm", 100.0), ("mm", 1000.0)])
def test_units_scale_to_meters(tmp_path, units, scale):
    path = tmp_path / f"box_{units}.obj"
    _write_fixture(path, "obj", scale=scale)
    mesh = objects.load_mesh(path, units=units)
    np.testing.assert_allclose(np.sort(mesh.extents), np.sort(BOX_EXTENTS), rtol=1e-6)


def test_millimeter_file_loaded_as_meters_is_rejected_with_units_hint(tmp_path):
    path = tmp_path / "box_in_mm.stl"
    _write_fixture(path, "stl", scale=1000.0)  # 80 m if read as meters
    with pytest.raises(ValueError, match=r"box_in_mm\.stl.*units='mm'"):
        objects.load_mesh(path)


def test_tiny_mesh_is_rejected_with_units_hint(tmp_path):
    path = tmp_path / "box_in_m_read_as_mm.obj"
    _write_fixture(path, "obj")  # 0.08 mm if read as millimeters
    with pytest.raises(ValueError, match=r"box_in_m_read_as_mm\.obj.*units='m'"):
        objects.load_mesh(path, units="mm")


def test_suspicious_size_logs_warning(tmp_path, caplog):
    path = tmp_path / "big.obj"
    _write_fixture(path, "obj", scale=30.0)  # 2.4 m: loads, but smells like centimeters
    with caplog.at_level(logging.WARNING, logger="mgd_jax.objects.mesh_io"):
        mesh = objects.load_mesh(path)
    assert mesh.extents.max() == pytest.approx(2.4)
    assert any("big.obj" in r.getMessage() and "units" in r.getMessage() for r in caplog.records)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.obj"):
        objects.load_mesh(tmp_path / "nope.obj")


def test_bad_units_argument(tmp_path):
    path = tmp_path / "box.obj"
    _write_fixture(path, "obj")
    with pytest.raises(ValueError, match="units"):
        objects.load_mesh(path, units="inch")


def _bad_file(tmp_path, case: str):
    tri_v = [[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05]]
    tet_f = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]
    if case == "garbage":
        path = tmp_path / "garbage.ply"
        header = b"ply\nformat binary_little_endian 1.0\nelement vertex 99\n"
        path.write_bytes(header + b"\x00\x01garbage")
    elif case == "unsupported":
        path = tmp_path / "mesh.xyz3"
        path.write_text("1 2 3\n")
    elif case == "no_faces":
        path = tmp_path / "points_only.obj"
        path.write_text("v 0 0 0\nv 0.05 0 0\nv 0 0.05 0\n")
    elif case == "nan":
        path = tmp_path / "nan_vertex.off"
        _write_off(path, [[np.nan, 0, 0]] + tri_v[1:], tet_f)
    elif case == "inf":
        path = tmp_path / "inf_vertex.obj"
        _write_obj(path, [[np.inf, 0, 0]] + tri_v[1:], tet_f)
    elif case == "degenerate":
        path = tmp_path / "flat.obj"  # all vertices on one line: every face has zero area
        _write_obj(path, [[0, 0, 0], [0.02, 0, 0], [0.05, 0, 0], [0.07, 0, 0]], tet_f)
    else:
        raise KeyError(case)
    return path


@pytest.mark.parametrize(
    "case,message",
    [
        ("garbage", "could not read"),
        ("unsupported", "unsupported"),
        ("no_faces", "no faces"),
        ("nan", "NaN or Inf"),
        ("inf", "NaN or Inf"),
        ("degenerate", "degenerate"),
    ],
)
def test_bad_input_raises_value_error_naming_the_file(tmp_path, case, message):
    path = _bad_file(tmp_path, case)
    with pytest.raises(ValueError) as info:
        objects.load_mesh(path)
    assert path.name in str(info.value)
    assert message in str(info.value)


def test_degenerate_faces_and_unreferenced_vertices_are_removed(tmp_path):
    box = _box()
    v = np.concatenate([box.vertices, [[0.0, 0.0, 0.0]]])  # 1 stray vertex
    f = np.concatenate([box.faces, [[0, 0, 1]]])  # 1 zero-area face
    path = tmp_path / "dirty.obj"
    _write_obj(path, v, f)
    mesh = objects.load_mesh(path)
    assert len(mesh.faces) == len(box.faces)
    assert len(mesh.vertices) == 8
    assert mesh.is_watertight


def test_degenerate_face_needed_for_watertightness_is_kept(tmp_path, caplog):
    # A tetrahedron whose edge 0-1 is split by vertex 4 on one side only; the zero-area sliver
    # (0, 1, 4) is what closes the T-junction.
    v = np.array([[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05], [0.025, 0, 0]])
    f = np.array([[0, 2, 1], [0, 3, 2], [1, 2, 3], [0, 4, 3], [4, 1, 3], [0, 1, 4]])
    assert trimesh.Trimesh(v, f, process=False).is_watertight
    path = tmp_path / "t_junction.obj"
    _write_obj(path, v, f)
    with caplog.at_level(logging.WARNING, logger="mgd_jax.objects.mesh_io"):
        mesh = objects.load_mesh(path)
    assert mesh.is_watertight and len(mesh.faces) == 6
    assert any("t_junction.obj" in r.getMessage() for r in caplog.records)


def test_load_meshes_skips_broken_files_and_counts_them(tmp_path, caplog):
    (tmp_path / "sub").mkdir()
    _write_fixture(tmp_path / "a.obj", "obj")
    _write_fixture(tmp_path / "sub" / "b.stl", "stl")
    _write_fixture(tmp_path / "sub" / "c.off", "off")
    broken = tmp_path / "sub" / "broken.ply"
    broken.write_bytes(b"not a ply at all")
    (tmp_path / "notes.txt").write_text("not a mesh, not even tried")
    with caplog.at_level(logging.INFO, logger="mgd_jax.objects.mesh_io"):
        loaded, skipped = objects.load_meshes(tmp_path)
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in loaded) == ["a.obj", "b.stl", "c.off"]
    assert len(skipped) == 1 and skipped[0][0].endswith("broken.ply")
    assert "broken.ply" in skipped[0][1]
    assert any("skipped 1" in r.getMessage() for r in caplog.records)
    # A list of paths works too, including a missing one.
    loaded, skipped = objects.load_meshes([tmp_path / "a.obj", tmp_path / "missing.obj"])
    assert len(loaded) == 1 and len(skipped) == 1 and "FileNotFoundError" in skipped[0][1]


def test_normalize_centres_bounding_box_and_keeps_scale():
    mesh = trimesh.creation.cone(radius=0.03, height=0.1)  # vertex mean != bbox centre
    mesh.apply_translation([0.2, -0.1, 0.05])
    before = mesh.vertices.copy()
    centred, center, scale = objects.normalize(mesh)
    np.testing.assert_array_equal(mesh.vertices, before)  # input untouched
    assert scale == 1.0
    np.testing.assert_allclose(center, (before.min(0) + before.max(0)) / 2)
    np.testing.assert_allclose(centred.bounds.sum(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(centred.extents, mesh.extents)
    np.testing.assert_allclose(centred.vertices * scale + center, before)
    assert np.abs(centred.vertices.mean(0)).max() > 1e-3  # not the vertex mean


def test_sample_points_is_seeded_and_deterministic():
    mesh = trimesh.creation.torus(0.05, 0.015)
    p0 = objects.sample_points(mesh, 2048, seed=3)
    p1 = objects.sample_points(mesh, 2048, seed=3)
    p2 = objects.sample_points(mesh, 2048, seed=4)
    assert p0.shape == (2048, 3) and p0.dtype == np.float32
    np.testing.assert_array_equal(p0, p1)
    assert not np.allclose(p0, p2)


def test_sampled_points_lie_on_the_surface():
    mesh = trimesh.creation.torus(0.05, 0.015)
    pts, normals = objects.sample_points(mesh, 2000, seed=0, return_normals=True)
    # trimesh's closest point is off by ~1 um next to edges, so test loosely with it...
    _, dist, _ = trimesh.proximity.closest_point(mesh, pts)
    assert dist.max() < 1e-5
    # ...and exactly through the sampled face: the face whose normal we got holds the point.
    tri = mesh.triangles
    rel = pts[:, None, :].astype(np.float64) - tri[None, :, 0]
    offsets = np.einsum("nfj,fj->nf", rel, mesh.face_normals)  # (n, f) signed plane distances
    aligned = np.abs(mesh.face_normals @ normals.T.astype(np.float64)).T > 1 - 1e-6  # (n, f)
    on_own_plane = np.where(aligned, np.abs(offsets), np.inf).min(1)
    assert on_own_plane.max() < 1e-8  # float32 rounding of ~5 cm coordinates


def test_sampling_is_area_weighted():
    # Two disjoint squares in z=0 with areas 1 : 3 (side 1 and sqrt(3)), each as two triangles.
    s = np.sqrt(3.0)
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                  [2, 0, 0], [2 + s, 0, 0], [2 + s, s, 0], [2, s, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    mesh = trimesh.Trimesh(v, f, process=False)
    n = 20000
    pts = objects.sample_points(mesh, n, seed=0)
    frac_small = float((pts[:, 0] < 1.5).mean())
    # Binomial std for p = 0.25, n = 20000 is 0.003; allow ~3 sigma.
    assert abs(frac_small - 0.25) < 0.01
    # Uniform inside a square: mean at its centre.
    np.testing.assert_allclose(pts[pts[:, 0] < 1.5, :2].mean(0), [0.5, 0.5], atol=0.02)


def test_normals_are_unit_and_outward_on_a_sphere():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    pts, normals = objects.sample_points(mesh, 1000, seed=1, return_normals=True)
    assert normals.shape == (1000, 3) and normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    radial = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    assert (normals * radial).sum(1).min() > 0.95


def test_sample_from_vertices():
    mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.05)  # 42 vertices
    pts, normals = objects.sample_points(mesh, 100, seed=0, from_vertices=True, return_normals=True)
    assert pts.shape == (100, 3)
    verts = {tuple(v) for v in mesh.vertices.astype(np.float32)}
    assert all(tuple(p) in verts for p in pts)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert ((normals * pts).sum(1) > 0).all()
    # Fewer points than vertices: no repeats.
    few = objects.sample_points(mesh, 30, seed=0, from_vertices=True)
    assert len(np.unique(few, axis=0)) == 30


def test_sample_points_rejects_bad_n():
    with pytest.raises(ValueError):
        objects.sample_points(_box(), 0)
