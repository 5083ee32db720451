"""Building the MuJoCo scene that ``mgd_jax.render`` draws: validated meshes and point clouds as
mesh geoms with materials, lights and a floor. Lengths are meters; the world frame is MuJoCo's
(z up). Internal to the renderer: use ``render.render_views``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import trimesh

import mgd_jax  # noqa: F401  # pyflakes: ignore (sets the headless MUJOCO_GL default first)

MeshLike = trimesh.Trimesh | tuple[np.ndarray, np.ndarray]

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
