"""Tests for mgd_jax.render (headless MuJoCo rendering; small images, CPU GL)."""

import numpy as np
import pytest
import trimesh
from PIL import Image

from mgd_jax import images, render  # render sets MUJOCO_GL before mujoco is imported

import mujoco  # noqa: E402  (after render on purpose)

SIZE = (128, 128)
RADIUS = 0.05  # [m]


def _sphere(radius=RADIUS, center=(0.0, 0.0, 0.0)):
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    mesh.apply_translation(center)
    return mesh


BOX_CENTER = np.array([0.06, 0.0, 0.0])
BALL_CENTER = np.array([-0.05, 0.02, 0.03])


def _box_and_sphere():
    """Asymmetric scene so that every view looks different."""
    box = trimesh.creation.box((0.07, 0.05, 0.03))
    box.apply_translation(BOX_CENTER)
    return [box, _sphere(0.035, BALL_CENTER)]


def _project(out, point):
    """World point [m] -> (col, row) pixel coordinates via the returned camera."""
    p = np.linalg.inv(out["cam_to_world"]) @ np.append(point, 1.0)
    k = out["intrinsics"]
    return k[0, 0] * p[0] / -p[2] + k[0, 2], k[1, 1] * -p[1] / -p[2] + k[1, 2]


@pytest.fixture(scope="module")
def sphere_front():
    (out,) = render.render_views([_sphere()], views=["front"], size=SIZE)
    return out


@pytest.fixture(scope="module")
def pair_views():
    return render.render_views(
        _box_and_sphere(), views=["front", "top", "three_quarter"], size=SIZE
    )


def test_output_shapes_and_dtypes(sphere_front):
    h, w = SIZE
    expected = {
        "color": ((h, w, 3), np.uint8),
        "depth": ((h, w), np.float32),
        "normal": ((h, w, 3), np.float32),
        "mask": ((h, w), np.bool_),
        "segment": ((h, w), np.int32),
        "edge": ((h, w), np.uint8),
        "intrinsics": ((3, 3), np.float64),
        "cam_to_world": ((4, 4), np.float64),
    }
    for key, (shape, dtype) in expected.items():
        assert sphere_front[key].shape == shape, key
        assert sphere_front[key].dtype == dtype, key


def test_default_views_count():
    outs = render.render_views([_sphere()], size=(32, 32))
    assert len(outs) == len(render.DEFAULT_VIEWS)
    assert 3 <= len(outs) <= 4


def test_sphere_mask_centre_and_corners(sphere_front):
    mask = sphere_front["mask"]
    h, w = mask.shape
    assert mask[h // 2, w // 2]
    for r, c in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)]:
        assert not mask[r, c]
    # Projected disk of a sphere seen from distance d: angular radius asin(r/d).
    distance = np.linalg.norm(sphere_front["cam_to_world"][:3, 3])
    focal = sphere_front["intrinsics"][0, 0]
    disk_px = focal * np.tan(np.arcsin(RADIUS / distance))
    assert mask.sum() == pytest.approx(np.pi * disk_px**2, rel=0.05)
    # Auto-framing: the sphere fills most of the frame but is not clipped.
    ys, xs = np.nonzero(mask)
    assert ys.min() > 0 and xs.min() > 0 and ys.max() < h - 1 and xs.max() < w - 1
    assert ys.max() - ys.min() > 0.8 * h


def test_sphere_centre_depth(sphere_front):
    depth = sphere_front["depth"]
    h, w = depth.shape
    distance = np.linalg.norm(sphere_front["cam_to_world"][:3, 3])  # lookat = origin
    centre = depth[h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1].mean()
    assert centre == pytest.approx(distance - RADIUS, abs=2e-3)
    assert np.all(depth[~sphere_front["mask"]] == 0)
    assert np.all(depth[sphere_front["mask"]] > distance - RADIUS - 2e-3)


def test_sphere_centre_normal_faces_camera(sphere_front):
    normal = sphere_front["normal"]
    h, w = SIZE
    n = normal[h // 2, w // 2]
    assert np.linalg.norm(n) == pytest.approx(1.0, abs=1e-4)
    assert n[2] > 0.98
    fg = sphere_front["mask"]
    assert np.allclose(np.linalg.norm(normal[fg], axis=-1), 1.0, atol=1e-3)
    assert np.all(normal[~fg] == 0)
    # Left half of the disk tilts left (-x), top half tilts up (+y).
    ys, xs = np.nonzero(fg)
    cy, cx = ys.mean(), xs.mean()
    assert normal[int(cy), int(cx - 0.6 * (cx - xs.min()))][0] < -0.4
    assert normal[int(cy - 0.6 * (cy - ys.min())), int(cx)][1] > 0.4


def test_color_background_and_shading(sphere_front):
    color = sphere_front["color"].astype(int)
    fg = sphere_front["mask"]
    assert np.all(color[~fg] >= 240), "background must be white / very light"
    assert color[fg].mean() < 230, "object must stand out from the background"
    # Skin-like default for the first mesh: red > green > blue.
    r, g, b = color[fg].mean(axis=0)
    assert r > g > b
    # Shading varies over the sphere (lit, not flat).
    lum = color[fg].mean(axis=-1)
    assert np.percentile(lum, 95) - np.percentile(lum, 5) > 40


def test_key_light_from_upper_left(sphere_front):
    lum = sphere_front["color"].astype(float).mean(axis=-1)
    fg = sphere_front["mask"]
    ys, xs = np.nonzero(fg)
    cy, cx = ys.mean(), xs.mean()
    rows, cols = np.indices(fg.shape)
    upper_left = fg & (rows < cy) & (cols < cx)
    lower_right = fg & (rows > cy) & (cols > cx)
    assert lum[upper_left].mean() > lum[lower_right].mean() + 30


def test_framing_fits_non_square_image():
    rod = trimesh.creation.box((0.3, 0.02, 0.02))  # long along x = image width
    (out,) = render.render_views([rod], views=["front"], size=(64, 128), shadows=False)
    ys, xs = np.nonzero(out["mask"])
    assert xs.min() > 0 and xs.max() < 127 and ys.min() > 0 and ys.max() < 63
    assert xs.max() - xs.min() > 0.8 * 128


def test_projection_matches_image(sphere_front):
    col, row = _project(sphere_front, np.zeros(3))
    assert col == pytest.approx(SIZE[1] / 2, abs=0.5)
    assert row == pytest.approx(SIZE[0] / 2, abs=0.5)


def test_views_differ(pair_views):
    colors = [o["color"].astype(int) for o in pair_views]
    for i in range(len(colors)):
        for j in range(i + 1, len(colors)):
            assert np.abs(colors[i] - colors[j]).mean() > 5.0
    masks = [o["mask"] for o in pair_views]
    assert (masks[0] != masks[1]).mean() > 0.05
    views = np.array([o["view"] for o in pair_views])
    assert len(np.unique(views, axis=0)) == 3


def test_segment_and_default_colors(pair_views):
    front = pair_views[0]  # camera on -y: world +x is image right
    seg, color = front["segment"], front["color"].astype(int)
    box_col, box_row = _project(front, BOX_CENTER)
    sph_col, sph_row = _project(front, BALL_CENTER)
    assert box_col > sph_col
    assert seg[round(box_row), round(box_col)] == 0
    assert seg[round(sph_row), round(sph_col)] == 1
    assert set(np.unique(seg)) == {-1, 0, 1}
    assert np.array_equal(front["mask"], seg >= 0)
    # First mesh skin-like (red-dominant), second blue-grey (blue-dominant).
    r0, _, b0 = color[seg == 0].mean(axis=0)
    r1, _, b1 = color[seg == 1].mean(axis=0)
    assert r0 > b0 + 20
    assert b1 > r1 + 10


def test_edges_on_silhouette_and_creases(pair_views):
    quarter = pair_views[2]
    edge, seg = quarter["edge"] > 0, quarter["segment"]
    assert set(np.unique(quarter["edge"])) <= {0, 255}
    # Every silhouette pixel (foreground next to background) is an edge.
    fg = seg >= 0
    inner = np.roll(fg, 1, 0) & np.roll(fg, -1, 0) & np.roll(fg, 1, 1) & np.roll(fg, -1, 1)
    boundary = fg & ~inner
    assert edge[boundary].all()
    # The box's creases give edges well inside its region ...
    box = seg == 0
    interior = box.copy()
    for shift in range(1, 3):
        for axis in (0, 1):
            interior &= np.roll(box, shift, axis) & np.roll(box, -shift, axis)
    assert edge[interior].sum() > 20
    # ... while the smooth sphere interior has (almost) none.
    sph = seg == 1
    sph_int = sph.copy()
    for shift in range(1, 4):
        for axis in (0, 1):
            sph_int &= np.roll(sph, shift, axis) & np.roll(sph, -shift, axis)
    assert sph_int.sum() > 50
    assert edge[sph_int].mean() < 0.05


def test_points_render_as_spheres():
    rng = np.random.default_rng(0)
    cloud = rng.uniform(-0.05, 0.05, size=(5000, 3))
    single = np.array([[0.0, 0.0, 0.08]])
    (out,) = render.render_views(
        [_sphere(0.03)], points=[cloud, single], views=["three_quarter"], size=SIZE,
        point_radius=0.003, point_rgba=[None, (0.0, 1.0, 0.0)],
    )
    seg, color = out["segment"], out["color"].astype(int)
    assert (seg == 1).sum() > 200  # first cloud -> id len(meshes) + 0
    assert (seg == 2).sum() > 3  # single point
    r, g, b = color[seg == 1].mean(axis=0)
    assert r > g + 40 and r > b + 40  # default red cloud
    r, g, b = color[seg == 2].mean(axis=0)
    assert g > r + 40 and g > b + 40  # user colour


def test_point_sphere_depth():
    radius = 0.01
    (out,) = render.render_views(
        [], points=[np.zeros((1, 3))], point_radius=radius, views=["front"], size=SIZE
    )
    h, w = SIZE
    distance = np.linalg.norm(out["cam_to_world"][:3, 3])
    # Low-poly sphere: the centre pixel hits a face slightly inside the radius.
    assert out["depth"][h // 2, w // 2] == pytest.approx(distance - radius, abs=1.5e-3)
    assert out["normal"][h // 2, w // 2][2] > 0.9


def test_point_cap():
    cloud = np.random.default_rng(1).normal(size=(10_000, 3))
    kept = render._point_array(cloud, 0, max_points=2048)
    assert kept.shape == (2048, 3)
    # Kept points are original points, no duplicates, repeatable.
    assert len(np.unique(kept, axis=0)) == 2048
    assert np.isin(kept[:, 0], cloud[:, 0]).all()
    assert np.array_equal(kept, render._point_array(cloud, 0, max_points=2048))


def test_mesh_rgba_override_and_vertex_face_pairs():
    sphere = _sphere()
    (out,) = render.render_views(
        [(sphere.vertices, sphere.faces)], mesh_rgba=[(0.1, 0.2, 0.9, 1.0)],
        views=[(45.0, -20.0)], size=(48, 64),
    )
    assert out["color"].shape == (48, 64, 3)
    r, g, b = out["color"][out["mask"]].astype(int).mean(axis=0)
    assert b > r + 60 and b > g + 40


@pytest.mark.parametrize(
    "bad, message",
    [
        ((np.zeros((0, 3)), np.zeros((0, 3), int)), "mesh 1: empty"),
        ((np.full((4, 3), np.nan), np.array([[0, 1, 2]])), "mesh 1: 4 vertices have non-finite"),
        ((np.eye(4, 3), np.array([[0, 1, 4]])), "mesh 1: face indices out of range"),
        ((np.eye(4, 3), np.array([[0, 1, -1]])), "mesh 1: face indices out of range"),
        ((np.zeros((4, 2)), np.array([[0, 1, 2]])), "mesh 1: vertices must have shape"),
        ((np.eye(4, 3), np.array([0, 1, 2])), "mesh 1: faces must have shape"),
        ("not a mesh", "mesh 1: expected a trimesh.Trimesh"),
    ],
)
def test_bad_mesh_raises_naming_the_mesh(bad, message):
    with pytest.raises(ValueError, match=message):
        render.render_views([_sphere(), bad], size=(16, 16))


def test_bad_points_and_views_raise():
    with pytest.raises(ValueError, match="points 0: 1 points have non-finite"):
        render.render_views([_sphere()], points=[np.array([[0.0, np.inf, 0.0]])], size=(16, 16))
    with pytest.raises(ValueError, match=r"points 0: must have shape \(N, 3\)"):
        render.render_views([_sphere()], points=[np.zeros((3, 2))], size=(16, 16))
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        render.render_views([_sphere()], views=["sideways"], size=(16, 16))
    with pytest.raises(ValueError, match="nothing to render"):
        render.render_views([], size=(16, 16))


def test_missing_gl_backend_raises_helpful_runtime_error(monkeypatch):
    def no_gl(*args, **kwargs):
        raise mujoco.FatalError("gladLoadGL error")

    monkeypatch.setattr(mujoco, "Renderer", no_gl)
    with pytest.raises(RuntimeError, match="libegl1 libegl-mesa0 libgl1-mesa-dri") as info:
        render.render_views([_sphere()], size=(16, 16))
    assert "libosmesa6" in str(info.value) and "MUJOCO_GL" in str(info.value)


def test_resolve_views():
    views = render.resolve_views(["front", (10, -20)])
    assert views == [render.VIEW_PRESETS["front"], (10.0, -20.0)]
    assert render.resolve_views(None) == [render.VIEW_PRESETS[v] for v in render.DEFAULT_VIEWS]
    with pytest.raises(ValueError):
        render.resolve_views([(0.0, -90.0)])


def test_depth_and_normal_images(sphere_front):
    depth_img = images.depth_to_image(sphere_front["depth"])
    normal_img = images.normal_to_image(sphere_front["normal"])
    fg = sphere_front["mask"]
    h, w = SIZE
    assert depth_img.dtype == np.uint8 and depth_img.shape == SIZE
    assert np.all(depth_img[~fg] == 0)
    assert depth_img[h // 2, w // 2] >= 250  # nearest point is brightest
    assert depth_img[fg].min() >= 40
    assert normal_img.shape == (h, w, 3) and np.all(normal_img[~fg] == 0)
    assert np.abs(normal_img[h // 2, w // 2].astype(int) - [128, 128, 255]).max() <= 4


def test_save_png_roundtrip(tmp_path, sphere_front):
    for name, image in [
        ("color.png", sphere_front["color"]),
        ("edge.png", sphere_front["edge"]),
        ("normal.png", images.normal_to_image(sphere_front["normal"])),
    ]:
        path = images.save_png(tmp_path / "sub" / name, image)
        assert np.array_equal(np.asarray(Image.open(path)), image)
    with pytest.raises(ValueError):
        images.save_png(tmp_path / "bad.png", sphere_front["depth"])


def test_contact_sheet_layout():
    red = np.zeros((20, 30, 3), np.uint8)
    red[..., 0] = 255
    grey = np.full((10, 10), 90, np.uint8)
    sheet = images.contact_sheet([red, grey, red], ncols=2, pad=2)
    assert sheet.shape == (2 * 20 + 3 * 2, 2 * 30 + 3 * 2, 3)
    assert np.array_equal(sheet[2, 2], [255, 0, 0])  # first tile at the pad offset
    assert np.array_equal(sheet[2 + 20 + 2 + 10, 2 + 30 + 2 + 15], [255, 255, 255])  # empty cell
    assert np.array_equal(sheet[2 + 10, 2 + 30 + 2 + 15], [90, 90, 90])  # grey tile centred
    labelled = images.contact_sheet([red, grey, red], ncols=2, pad=2, labels=["a", "b", "c"])
    assert labelled.shape[0] > sheet.shape[0] and labelled.shape[1] == sheet.shape[1]
    strip = labelled[2 : labelled.shape[0] // 2 - 20, 2:32]
    assert strip.min() < 128  # text drawn in the label strip
    with pytest.raises(ValueError):
        images.contact_sheet([red], ncols=1, labels=["a", "b"])
