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

from mgd_jax.images import _intrinsics, edges_from_maps, normals_from_depth

__all__ = [
    "VIEW_PRESETS",
    "DEFAULT_VIEWS",
    "DEFAULT_MESH_RGBA",
    "DEFAULT_POINT_RGBA",
    "render_views",
    "resolve_views",
]

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

from mgd_jax.render_scene import (  # noqa: E402  (after the MUJOCO_GL default)
    _GL_HELP,
    MeshLike,
    _add_floor,
    _add_lights,
    _add_mesh,
    _add_points,
    _compile,
    _mesh_arrays,
    _point_array,
    _rgba_for,
    _scene_visual,
    mujoco,
)


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
