"""Headless multi-view rendering of meshes and point clouds with MuJoCo.

Renders triangle meshes (e.g. a MANO hand and the grasped object) and point
clouds (drawn as small spheres) from several free-camera views, and returns
per view a shaded colour image plus geometric maps derived from the depth
buffer (depth, camera-space normals, foreground mask, per-item segmentation,
edges) that are later used as image-generation conditions.

Conventions:
  * All lengths are meters; the world frame is MuJoCo's (z up).
  * Views are ``(azimuth_deg, elevation_deg)`` in MuJoCo's free-camera
    convention: the camera looks along
    ``(cos(el) cos(az), cos(el) sin(az), sin(el))`` towards the look-at point,
    so ``elevation < 0`` looks down from above and ``azimuth = 90`` places the
    camera on the -y side of the scene looking towards +y ("front").
  * Camera space is OpenGL's: x right, y up, z pointing back towards the
    viewer (the camera looks along -z).  Pixel ``(row, col)`` has its centre
    at ``(col + 0.5, row + 0.5)``; row 0 is the top of the image.

The rendering backend is chosen by ``MUJOCO_GL`` when :mod:`mujoco` is first
imported; this module defaults it to ``egl`` (headless, works with Mesa's
llvmpipe on CPU-only machines).  ``osmesa`` works too when installed.
"""

from __future__ import annotations

import os

# Must happen before mujoco is imported anywhere: mujoco picks its GL backend
# at import time.
os.environ.setdefault("MUJOCO_GL", "egl")

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import trimesh

from mgd_jax.images import (  # noqa: F401  (re-exported: the public render API)
    _intrinsics,
    contact_sheet,
    depth_to_image,
    edges_from_maps,
    normal_to_image,
    normals_from_depth,
    save_png,
)

__all__ = [
    "VIEW_PRESETS",
    "DEFAULT_VIEWS",
    "DEFAULT_MESH_RGBA",
    "DEFAULT_POINT_RGBA",
    "render_views",
    "resolve_views",
    "normals_from_depth",
    "edges_from_maps",
    "depth_to_image",
    "normal_to_image",
    "save_png",
    "contact_sheet",
]

MeshLike = trimesh.Trimesh | tuple[np.ndarray, np.ndarray]
ViewLike = str | tuple[float, float]

#: Named views as (azimuth_deg, elevation_deg), MuJoCo convention (see module
#: docstring).  Elevations of exactly +-90 are avoided: the camera's up vector
#: is undefined there.
VIEW_PRESETS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "front": (90.0, -15.0),  # camera on -y
        "back": (-90.0, -15.0),  # camera on +y
        "left": (0.0, -15.0),  # camera on -x
        "right": (180.0, -15.0),  # camera on +x
        "top": (90.0, -89.0),  # camera above, image up = +y
        "bottom": (90.0, 89.0),  # camera below
        "three_quarter": (135.0, -30.0),  # camera on +x, -y, above
        "three_quarter_back": (-45.0, -30.0),  # camera on -x, +y, above
    }
)
DEFAULT_VIEWS: tuple[str, ...] = ("three_quarter", "front", "right", "top")

#: Skin-like colour for the first mesh (the hand), blue-grey for the second
#: (the object); further meshes cycle through the rest.
DEFAULT_MESH_RGBA: tuple[tuple[float, float, float, float], ...] = (
    (0.90, 0.70, 0.60, 1.0),
    (0.55, 0.62, 0.72, 1.0),
    (0.60, 0.75, 0.55, 1.0),
    (0.80, 0.65, 0.85, 1.0),
)
DEFAULT_POINT_RGBA: tuple[tuple[float, float, float, float], ...] = (
    (0.85, 0.20, 0.15, 1.0),
    (0.15, 0.45, 0.85, 1.0),
    (0.20, 0.65, 0.25, 1.0),
    (0.90, 0.60, 0.10, 1.0),
)

_GL_HELP = (
    "MuJoCo could not create an offscreen OpenGL context (MUJOCO_GL={gl!r}, "
    "backend {backend}).{hint} On a headless Linux machine install Mesa's EGL "
    "or OSMesa (Debian/Ubuntu: `apt-get install libegl1 libegl-mesa0 "
    "libgl1-mesa-dri` or `apt-get install libosmesa6`) and set MUJOCO_GL=egl "
    "or MUJOCO_GL=osmesa before mujoco is first imported. Original error: {err}"
)

try:
    import mujoco
except (AttributeError, OSError) as _err:
    # PyOpenGL fails this way at import when MUJOCO_GL names a backend whose
    # system library (libEGL / libOSMesa) is missing.
    raise RuntimeError(
        _GL_HELP.format(gl=os.environ.get("MUJOCO_GL"), backend="none", hint="", err=_err)
    ) from _err


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


def _mesh_arrays(mesh: MeshLike, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Validates one mesh; returns vertices (V,3) float64 [m], faces (F,3) int32."""
    if isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh.vertices, mesh.faces
    else:
        try:
            vertices, faces = mesh
        except (TypeError, ValueError):
            raise ValueError(
                f"mesh {index}: expected a trimesh.Trimesh or a (vertices, faces) "
                f"pair, got {type(mesh).__name__}"
            ) from None
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"mesh {index}: vertices must have shape (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"mesh {index}: faces must have shape (F, 3), got {faces.shape}")
    if len(vertices) == 0 or len(faces) == 0:
        raise ValueError(
            f"mesh {index}: empty mesh ({len(vertices)} vertices, {len(faces)} faces)"
        )
    if len(vertices) < 4:
        raise ValueError(f"mesh {index}: MuJoCo needs at least 4 vertices, got {len(vertices)}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"mesh {index}: faces must be integers, got dtype {faces.dtype}")
    n_bad = int(np.count_nonzero(~np.isfinite(vertices).all(axis=1)))
    if n_bad:
        raise ValueError(f"mesh {index}: {n_bad} vertices have non-finite (NaN/inf) coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(
            f"mesh {index}: face indices out of range [0, {len(vertices)}): "
            f"min {int(faces.min())}, max {int(faces.max())}"
        )
    return vertices, faces.astype(np.int32)


def _point_array(points: np.ndarray, index: int, max_points: int) -> np.ndarray:
    """Validates one cloud; returns (N',3) float64 [m], N' <= max_points.

    Larger clouds are subsampled with a fixed seed so renders are repeatable.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points {index}: must have shape (N, 3), got {points.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(points).all(axis=1)))
    if n_bad:
        raise ValueError(f"points {index}: {n_bad} points have non-finite (NaN/inf) coordinates")
    if len(points) > max_points:
        keep = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points = points[np.sort(keep)]
    return points


def resolve_views(views: Sequence[ViewLike] | None) -> list[tuple[float, float]]:
    """Turns preset names and/or (azimuth_deg, elevation_deg) pairs into pairs.

    ``None`` gives :data:`DEFAULT_VIEWS`.
    """
    if views is None:
        views = DEFAULT_VIEWS
    if isinstance(views, str):
        views = [views]
    out = []
    for view in views:
        if isinstance(view, str):
            if view not in VIEW_PRESETS:
                raise ValueError(f"unknown view {view!r}; presets: {sorted(VIEW_PRESETS)}")
            out.append(VIEW_PRESETS[view])
        else:
            az, el = (float(v) for v in view)
            if not (math.isfinite(az) and -90.0 < el < 90.0):
                raise ValueError(f"view {view!r}: need finite azimuth and -90 < elevation < 90")
            out.append((az, el))
    if not out:
        raise ValueError("views is empty")
    return out


def _rgba_for(index: int, rgba: Sequence | None, palette: Sequence) -> np.ndarray:
    """Colour of item ``index``: user RGBA list entry if given, else palette."""
    if rgba is not None and index < len(rgba) and rgba[index] is not None:
        color = np.asarray(rgba[index], dtype=np.float64)
        if color.shape == (3,):
            color = np.append(color, 1.0)
        if color.shape != (4,):
            raise ValueError(f"colour {index} must be RGB or RGBA in [0, 1], got {color}")
        return color
    return np.asarray(palette[index % len(palette)], dtype=np.float64)


# ---------------------------------------------------------------------------
# Scene construction
# ---------------------------------------------------------------------------


def _scene_visual(spec: mujoco.MjSpec, size: tuple[int, int], fovy_deg: float,
                  background: np.ndarray, shadows: bool) -> None:
    """Sets offscreen buffer, camera fov, headlight, sky and render quality."""
    vis = spec.visual
    vis.global_.offheight, vis.global_.offwidth = int(size[0]), int(size[1])
    vis.global_.fovy = float(fovy_deg)
    vis.headlight.ambient = [0.32, 0.32, 0.32]
    vis.headlight.diffuse = [0.28, 0.28, 0.28]
    vis.headlight.specular = [0.05, 0.05, 0.05]
    vis.rgba.haze = [*background, 1.0]
    vis.quality.shadowsize = 2048 if shadows else 0
    sky = spec.add_texture()
    sky.name = "sky"
    sky.type = mujoco.mjtTexture.mjTEXTURE_SKYBOX
    sky.builtin = mujoco.mjtBuiltin.mjBUILTIN_GRADIENT
    sky.rgb1 = sky.rgb2 = list(background)
    sky.width = sky.height = 8


def _add_lights(spec: mujoco.MjSpec, shadows: bool) -> None:
    """Key and fill directional lights; their directions are set per view."""
    for name, diffuse, specular in (("key", 0.55, 0.25), ("fill", 0.22, 0.0)):
        light = spec.worldbody.add_light()
        light.name = name
        light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
        light.diffuse = [diffuse] * 3
        light.specular = [specular] * 3
        light.ambient = [0.0] * 3
        light.castshadow = shadows and name == "key"
        light.dir = [0.0, 0.0, -1.0]


def _add_mesh(spec: mujoco.MjSpec, name: str, vertices: np.ndarray,
              faces: np.ndarray, rgba: np.ndarray) -> None:
    """Adds mesh asset ``name`` [m] and a static, non-colliding geom using it."""
    asset = spec.add_mesh()
    asset.name = name
    asset.uservert = vertices.astype(np.float32).ravel()
    asset.userface = faces.ravel()
    # Shell inertia tolerates open meshes (the MANO wrist hole); the inertia
    # itself is irrelevant for a static scene.
    asset.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
    geom = spec.worldbody.add_geom()
    geom.name = name
    geom.type = mujoco.mjtGeom.mjGEOM_MESH
    geom.meshname = name
    geom.rgba = rgba
    geom.contype = geom.conaffinity = 0
    geom.material = _add_material(spec, f"mat_{name}")


def _add_material(spec: mujoco.MjSpec, name: str) -> str:
    """Adds a matte, slightly specular material; returns its name."""
    material = spec.add_material()
    material.name = name
    material.specular, material.shininess, material.reflectance = 0.25, 0.35, 0.0
    return name


def _sphere_cloud_mesh(points: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """One mesh of low-poly spheres: (N,3) centres [m] -> vertices (42N,3) [m],
    faces (80N,3).

    A single mesh is one draw call; thousands of sphere geoms are several times
    slower on software GL.
    """
    ico = trimesh.creation.icosphere(subdivisions=1, radius=radius)
    vertices = (points[:, None, :] + ico.vertices[None]).reshape(-1, 3)
    offsets = np.arange(len(points))[:, None, None] * len(ico.vertices)
    faces = (ico.faces[None] + offsets).reshape(-1, 3)
    return vertices, faces.astype(np.int32)


def _add_points(spec: mujoco.MjSpec, index: int, points: np.ndarray,
                radius: float, rgba: np.ndarray) -> None:
    """Adds cloud ``index``, (N,3) centres [m], as one mesh of spheres."""
    vertices, faces = _sphere_cloud_mesh(points, radius)
    _add_mesh(spec, f"points_{index}", vertices, faces, rgba)


def _add_floor(spec: mujoco.MjSpec, lo: np.ndarray, hi: np.ndarray) -> None:
    """Light-grey plane just under the scene's lowest point (world z)."""
    geom = spec.worldbody.add_geom()
    geom.name = "floor"
    geom.type = mujoco.mjtGeom.mjGEOM_PLANE
    half = float(np.max(hi - lo)) * 3.0
    geom.size = [half, half, 0.01]
    geom.pos = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2] - 1e-4]
    geom.rgba = [0.78, 0.78, 0.78, 1.0]
    geom.contype = geom.conaffinity = 0


def _compile(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compiles the scene; MuJoCo's errors become ValueErrors."""
    try:
        return spec.compile()
    except ValueError as err:
        # MuJoCo names the offending asset in its message: "mesh_i" is
        # meshes[i], "points_j" is points[j].
        raise ValueError(f"MuJoCo rejected the scene: {err}") from err


# ---------------------------------------------------------------------------
# Camera
# ---------------------------------------------------------------------------


def _camera_axes(azimuth_deg: float, elevation_deg: float) -> tuple[np.ndarray, ...]:
    """World-frame (forward, right, up) unit vectors of a MuJoCo free camera."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.array([math.sin(az), -math.cos(az), 0.0])
    up = np.cross(right, forward)
    return forward, right, up


def _fit_distance(points: np.ndarray, pad: np.ndarray, center: np.ndarray,
                  views: Sequence[tuple[float, float]], fovy_deg: float,
                  aspect: float, margin: float) -> float:
    """Smallest camera distance [m] at which every view sees all points.

    Args:
      points: (N, 3) scene points [m] (mesh vertices, point-sphere centres).
      pad: (N,) extra radius per point [m] (sphere radius, 0 for vertices).
      center: (3,) look-at point [m].
      views: (azimuth_deg, elevation_deg) pairs.
      fovy_deg: vertical field of view [deg].
      aspect: width / height.
      margin: fraction of the half-frame kept free at the border.
    """
    tan_y = math.tan(math.radians(fovy_deg) / 2) * (1.0 - margin)
    tan_x = tan_y * aspect
    rel = points - center
    scale = max(float(np.max(np.linalg.norm(rel, axis=1) + pad)), 1e-6)
    distance = 0.0
    for az, el in views:
        forward, right, up = _camera_axes(az, el)
        along = rel @ forward  # > 0: farther from the camera than the centre
        need_x = (np.abs(rel @ right) + pad) / tan_x - along
        need_y = (np.abs(rel @ up) + pad) / tan_y - along
        need_front = -along + pad + 0.05 * scale  # stay in front of the camera
        distance = max(distance, float(np.max(np.maximum(np.maximum(need_x, need_y), need_front))))
    return distance


def _cam_to_world(scene: mujoco.MjvScene) -> np.ndarray:
    """(4,4) pose of the rendered camera, OpenGL axes, translation in meters.

    The scene always holds a stereo pair offset by +-ipd/2; without stereo,
    MuJoCo renders from their midpoint.
    """
    left, right = scene.camera[0], scene.camera[1]
    forward = (np.asarray(left.forward) + np.asarray(right.forward)) / 2
    up = (np.asarray(left.up) + np.asarray(right.up)) / 2
    forward /= np.linalg.norm(forward)
    up /= np.linalg.norm(up)
    pose = np.eye(4)
    pose[:3, 0] = np.cross(forward, up)
    pose[:3, 1] = up
    pose[:3, 2] = -forward
    pose[:3, 3] = (np.asarray(left.pos) + np.asarray(right.pos)) / 2
    return pose


def _aim_lights(model: mujoco.MjModel, data: mujoco.MjData, forward: np.ndarray,
                right: np.ndarray, up: np.ndarray, center: np.ndarray,
                distance: float) -> None:
    """Aims the key (upper left) and fill (right, low) lights for one view.

    Lights follow the camera so every view is lit alike.
    """
    directions = {
        "key": 0.5 * forward - 0.75 * up + 0.45 * right,
        "fill": 0.7 * forward + 0.2 * up - 0.7 * right,
    }
    for name, direction in directions.items():
        lid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_LIGHT, name)
        direction = direction / np.linalg.norm(direction)
        data.light_xdir[lid] = direction
        data.light_xpos[lid] = center - 3.0 * distance * direction


# ---------------------------------------------------------------------------
# Geometric maps
# ---------------------------------------------------------------------------


def _gl_backend() -> str:
    """Name of the GL context module mujoco chose at import, e.g. 'mujoco.egl'."""
    return getattr(getattr(mujoco, "GLContext", None), "__module__", "none")


def _open_renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    """One offscreen renderer for all views; RuntimeError with a fix if no GL."""
    try:
        return mujoco.Renderer(model, height=height, width=width, max_geom=model.ngeom + 16)
    except (ImportError, OSError, RuntimeError, AttributeError, mujoco.FatalError) as err:
        backend = _gl_backend()
        hint = ""
        if backend.endswith("glfw") and os.environ.get("MUJOCO_GL") in ("egl", "osmesa"):
            hint = (
                " mujoco was imported before MUJOCO_GL was set, so it chose GLFW, "
                "which needs a display; export MUJOCO_GL in the environment or "
                "import mgd_jax.render before mujoco."
            )
        message = _GL_HELP.format(
            gl=os.environ.get("MUJOCO_GL"), backend=backend, hint=hint, err=err
        )
        raise RuntimeError(message) from err


def _render_passes(renderer: mujoco.Renderer, geom_item: np.ndarray,
                   background: np.ndarray) -> dict[str, np.ndarray]:
    """Colour, depth and segmentation passes for the current scene."""
    color = renderer.render()
    renderer.enable_segmentation_rendering()
    seg = renderer.render()
    renderer.disable_segmentation_rendering()
    renderer.enable_depth_rendering()
    depth = renderer.render()
    renderer.disable_depth_rendering()
    is_geom = seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
    segment = np.where(is_geom, geom_item[np.clip(seg[..., 0], 0, None)], -1).astype(np.int32)
    empty = ~is_geom
    # The sky is already the background colour; this only makes it exact.
    color[empty] = np.round(background * 255).astype(np.uint8)
    mask = segment >= 0
    depth = np.where(mask, depth, 0.0).astype(np.float32)
    return {"color": color, "depth": depth, "mask": mask, "segment": segment}


def render_views(
    meshes: Sequence[MeshLike],
    points: Sequence[np.ndarray] | None = None,
    views: Sequence[ViewLike] | None = None,
    size: tuple[int, int] = (512, 512),
    *,
    mesh_rgba: Sequence | None = None,
    point_rgba: Sequence | None = None,
    point_radius: float = 0.002,
    max_points: int = 2048,
    fovy_deg: float = 30.0,
    margin: float = 0.06,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    floor: bool = False,
    shadows: bool = True,
) -> list[dict[str, np.ndarray]]:
    """Renders meshes and point clouds from several views.

    The free camera looks at the centre of the union bounding box of all items
    from one common distance, the smallest at which every view sees the whole
    scene with ``margin`` of the half-frame to spare.

    Args:
      meshes: ``trimesh.Trimesh`` objects or ``(vertices (V,3) [m], faces (F,3)
        int)`` pairs.  Default colours: skin for the first, blue-grey for the
        second (:data:`DEFAULT_MESH_RGBA`).
      points: optional point clouds, each (N,3) [m], drawn as spheres of
        ``point_radius``; clouds with more than ``max_points`` points are
        subsampled (fixed seed).
      views: preset names (:data:`VIEW_PRESETS`) and/or ``(azimuth_deg,
        elevation_deg)`` pairs, MuJoCo convention; ``None`` ->
        :data:`DEFAULT_VIEWS`.
      size: image (height, width) [px].
      mesh_rgba, point_rgba: per-item RGB(A) in [0, 1]; ``None`` entries, or a
        shorter list, fall back to the defaults.
      point_radius: sphere radius [m].
      max_points: cap on spheres per cloud.
      fovy_deg: vertical field of view [deg].
      margin: fraction of the half-frame left free around the scene.
      background: RGB in [0, 1] of the uniform background.
      floor: add a light-grey ground plane under the scene (world z-up); it
        is not part of ``mask``/``segment``.
      shadows: key light casts shadows (colour image only).

    Returns:
      One dict per view with
        ``color``: (H,W,3) uint8 RGB;
        ``depth``: (H,W) float32 z-depth along the optical axis [m], 0 on
        background (and on the floor);
        ``normal``: (H,W,3) float32 camera-space unit normals from the depth
        map (OpenGL axes: x right, y up, z towards the viewer), 0 on
        background;
        ``mask``: (H,W) bool, True on meshes and point spheres;
        ``segment``: (H,W) int32, mesh ``i`` -> ``i``, cloud ``j`` ->
        ``len(meshes) + j``, background -1;
        ``edge``: (H,W) uint8, 255 on silhouettes, depth jumps and creases;
        ``intrinsics``: (3,3) float64 pinhole matrix [px] (y down image rows);
        ``cam_to_world``: (4,4) float64 camera pose, OpenGL axes, meters;
        ``view``: (2,) float64 (azimuth_deg, elevation_deg).

    Raises:
      ValueError: invalid mesh/points (message names the item index), views
        or size.
      RuntimeError: no usable OpenGL backend (message says how to install
        one).
    """
    height, width = (int(s) for s in size)
    if height < 2 or width < 2:
        raise ValueError(f"size must be (height, width) >= 2 px, got {size}")
    view_list = resolve_views(views)
    mesh_arrays = [_mesh_arrays(m, i) for i, m in enumerate(meshes)]
    clouds = [_point_array(p, j, max_points) for j, p in enumerate(points or [])]
    if not mesh_arrays and not any(len(c) for c in clouds):
        raise ValueError("nothing to render: no meshes and no points")
    background = np.clip(np.asarray(background, dtype=np.float64)[:3], 0.0, 1.0)

    spec = mujoco.MjSpec()
    _scene_visual(spec, (height, width), fovy_deg, background, shadows)
    _add_lights(spec, shadows)
    item_of_geom: list[int] = []
    for i, (v, f) in enumerate(mesh_arrays):
        _add_mesh(spec, f"mesh_{i}", v, f, _rgba_for(i, mesh_rgba, DEFAULT_MESH_RGBA))
        item_of_geom.append(i)
    for j, cloud in enumerate(clouds):
        if len(cloud):
            _add_points(spec, j, cloud, point_radius, _rgba_for(j, point_rgba, DEFAULT_POINT_RGBA))
            item_of_geom.append(len(mesh_arrays) + j)

    scene_pts = np.concatenate([v for v, _ in mesh_arrays] + clouds, axis=0)
    pad = np.concatenate(
        [np.zeros(len(v)) for v, _ in mesh_arrays] + [np.full(len(c), point_radius) for c in clouds]
    )
    lo, hi = (scene_pts - pad[:, None]).min(0), (scene_pts + pad[:, None]).max(0)
    center = (lo + hi) / 2
    if floor:
        _add_floor(spec, lo, hi)
        item_of_geom.append(-1)
        # The shadow map must cover the floor around the scene, else the floor
        # shows shadow acne at the map's border.
        spec.visual.map.shadowclip = 2.0
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-4)
    distance = _fit_distance(scene_pts, pad, center, view_list, fovy_deg, width / height, margin)
    # Clip planes and shadow frusta are relative to the extent; keep the far
    # plane beyond the scene even for very narrow fields of view.
    spec.stat.extent = radius
    spec.stat.center = center
    spec.visual.map.zfar = max(50.0, 2.0 * (distance + radius) / radius)
    model = _compile(spec)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    geom_item = np.asarray(item_of_geom, dtype=np.int32)

    outputs = []
    renderer = _open_renderer(model, height, width)
    try:
        for az, el in view_list:
            camera = mujoco.MjvCamera()
            camera.type = mujoco.mjtCamera.mjCAMERA_FREE
            camera.lookat[:] = center
            camera.distance, camera.azimuth, camera.elevation = distance, az, el
            _aim_lights(model, data, *_camera_axes(az, el), center, distance)
            renderer.update_scene(data, camera)
            out = _render_passes(renderer, geom_item, background)
            out["normal"] = normals_from_depth(out["depth"], fovy_deg)
            out["edge"] = edges_from_maps(out["depth"], out["normal"], out["segment"], fovy_deg)
            out["intrinsics"] = _intrinsics(fovy_deg, height, width)
            out["cam_to_world"] = _cam_to_world(renderer.scene)
            out["view"] = np.array([az, el])
            outputs.append(out)
    finally:
        renderer.close()
    return outputs


# ---------------------------------------------------------------------------
# Image helpers
# ---------------------------------------------------------------------------

