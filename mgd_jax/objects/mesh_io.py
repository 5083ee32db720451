"""Mesh loading with validation, folder loading, and the object-centric frame.

Every mesh leaves this module as a single ``trimesh.Trimesh`` in meters with finite vertices, no
zero-area faces (unless removing them would break a watertight mesh) and no unreferenced vertices.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np
import trimesh

logger = logging.getLogger(__name__)

UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}  # meters per unit
MESH_EXTENSIONS = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
MAX_EXTENT_M = 10.0  # larger than this (after unit conversion) is an error
MIN_EXTENT_M = 0.001  # smaller than this is an error
# Outside this range a hand-held object is suspicious: warn, but load.
HAND_HELD_RANGE_M = (0.01, 1.0)

PathLike = str | os.PathLike


def _suggest_units(extent_m: float, units: str) -> str:
    """The unit under which the largest extent lands closest to a hand-held 10 cm."""
    raw = extent_m / UNIT_SCALE[units]
    best = min(UNIT_SCALE, key=lambda u: abs(np.log10(max(raw * UNIT_SCALE[u], 1e-300) / 0.1)))
    return best


def _read_geometry(path: str) -> tuple[np.ndarray, np.ndarray]:
    """All mesh parts of a file merged, scene transforms applied.

    Returns:
      vertices (v, 3) float64 in file units, faces (f, 3) int64.
    """
    try:
        scene = trimesh.load_scene(path, process=False, skip_materials=True)
        parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh)]
    except Exception as e:  # trimesh raises many types for malformed files
        raise ValueError(f"{path}: could not read mesh ({type(e).__name__}: {e})") from e
    vertices, faces, offset = [], [], 0
    for g in parts:
        vertices.append(np.asarray(g.vertices, np.float64))
        faces.append(np.asarray(g.faces, np.int64).reshape(-1, 3) + offset)
        offset += len(g.vertices)
    if not vertices:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    return np.concatenate(vertices), np.concatenate(faces)


def load_mesh(path: PathLike, units: str = "m") -> trimesh.Trimesh:
    """Load and validate one mesh file, merged into a single mesh in meters.

    Reads OBJ, PLY, STL, OFF, GLB/GLTF. Multi-part files and scenes are merged with their scene
    graph transforms applied. Coincident vertices are merged (so STL triangle soups close up),
    zero-area faces and unreferenced vertices are removed; a watertight input stays watertight
    (degenerate faces are kept, with a warning, if removing them would open it).

    Args:
      path: mesh file.
      units: unit of the file's coordinates, one of 'm', 'cm', 'mm'; vertices are scaled to meters.

    Returns:
      The mesh, vertices in meters (float64).

    Raises:
      FileNotFoundError: no such file.
      ValueError: unknown ``units``, or, naming the file: unsupported or unreadable file, no faces,
        non-finite vertices, all faces degenerate, largest extent > 10 m or < 1 mm after unit
        conversion (the message suggests a better ``units``).
    """
    path = os.fspath(path)
    if units not in UNIT_SCALE:
        raise ValueError(f"{path}: units must be one of {sorted(UNIT_SCALE)}, got {units!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mesh file not found: {path}")
    if not path.lower().endswith(MESH_EXTENSIONS):
        supported = ", ".join(MESH_EXTENSIONS)
        raise ValueError(f"{path}: unsupported mesh format (supported: {supported})")

    vertices, faces = _read_geometry(path)
    if len(faces) == 0:
        raise ValueError(f"{path}: empty mesh (no faces)")
    if not np.all(np.isfinite(vertices)):
        bad = int((~np.isfinite(vertices)).any(1).sum())
        raise ValueError(f"{path}: {bad} vertices are NaN or Inf")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"{path}: face indices out of range for {len(vertices)} vertices")

    mesh = trimesh.Trimesh(vertices * UNIT_SCALE[units], faces, process=False)
    mesh.merge_vertices()

    extent = float(mesh.extents.max())
    if extent > MAX_EXTENT_M or extent < MIN_EXTENT_M:
        raise ValueError(
            f"{path}: absurd size, largest extent {extent:.3g} m with units={units!r}; "
            f"did you mean units={_suggest_units(extent, units)!r}?"
        )
    lo, hi = HAND_HELD_RANGE_M
    if not lo <= extent <= hi:
        logger.warning(
            "%s: largest extent %.3g m is unusual for a hand-held object; wrong units=%r? "
            "(units=%r would give %.3g m)",
            path, extent, units, _suggest_units(extent, units),
            extent / UNIT_SCALE[units] * UNIT_SCALE[_suggest_units(extent, units)],
        )

    areas = mesh.area_faces
    # Relative threshold: an exactly collinear triangle gives a round-off area, not 0.
    good = areas > 1e-12 * extent**2
    if not good.any():
        raise ValueError(f"{path}: all {len(faces)} faces are degenerate (zero area)")
    if not good.all():
        was_watertight = mesh.is_watertight
        cleaned = trimesh.Trimesh(mesh.vertices, mesh.faces[good], process=False)
        if was_watertight and not cleaned.is_watertight:
            logger.warning(
                "%s: kept %d zero-area faces, removing them would open the watertight mesh",
                path, int((~good).sum()),
            )
        else:
            mesh = cleaned
    mesh.remove_unreferenced_vertices()
    return mesh


def mesh_files(folder: str, extensions: tuple[str, ...] = MESH_EXTENSIONS) -> list[str]:
    """Files under ``folder`` (recursive, sorted walk) whose lower-cased name ends with one of
    ``extensions`` (default the mesh formats, MESH_EXTENSIONS)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        meshes = [f for f in sorted(files) if f.lower().endswith(extensions)]
        found.extend(os.path.join(root, f) for f in meshes)
    return found


def load_meshes(
    paths_or_folder: PathLike | Iterable[PathLike], units: str = "m"
) -> tuple[list[tuple[str, trimesh.Trimesh]], list[tuple[str, str]]]:
    """Load many meshes, skipping (and logging) the bad ones.

    Args:
      paths_or_folder: a folder, walked recursively (sorted) for files with a mesh extension, or
        an iterable of mesh file paths.
      units: unit of every file's coordinates ('m', 'cm', 'mm').

    Returns:
      loaded: list of (path, mesh in meters), in walk order.
      skipped: list of (path, reason) for files that failed to load or validate.

    Raises:
      ValueError: unknown ``units`` (a mistake for every file, so not a per-file skip).
    """
    if units not in UNIT_SCALE:
        raise ValueError(f"units must be one of {sorted(UNIT_SCALE)}, got {units!r}")
    if isinstance(paths_or_folder, (str, os.PathLike)):
        root = os.fspath(paths_or_folder)
        if os.path.isdir(root):
            paths: Sequence[str] = mesh_files(root)
        else:
            paths = [root]
    else:
        paths = [os.fspath(p) for p in paths_or_folder]

    loaded, skipped = [], []
    for p in paths:
        try:
            loaded.append((p, load_mesh(p, units=units)))
        except Exception as e:  # one bad file must never abort a dataset build
            reason = f"{type(e).__name__}: {e}"
            logger.warning("skipping %s", reason)
            skipped.append((p, reason))
    logger.info("loaded %d meshes, skipped %d", len(loaded), len(skipped))
    return loaded, skipped


def normalize(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Move a mesh into the object-centric frame: bounding-box centre at the origin, metric scale.

    This follows the OakInk-Shape loader, which centres each object mesh on its axis-aligned
    bounding-box centre ``(v.min(0) + v.max(0)) / 2`` and does not rescale
    (oakink/OakInk:oikit/oi_shape/oi_shape.py, ``OakInkShape.get_obj_mesh``; reused as-is by
    oakink/OakInk-Grasp-Generation:lib/datasets/oishape.py). MGD keeps metric scale, so
    ``scale`` is always 1.0; it is returned so callers can write ``original = v * scale + center``.

    Args:
      mesh: input mesh (meters); not modified.

    Returns:
      centred: a copy with vertices ``(v - center) / scale`` (meters).
      center: (3,) float64 bounding-box centre of the input (meters).
      scale: 1.0.
    """
    v = np.asarray(mesh.vertices, np.float64)
    center = (v.min(0) + v.max(0)) / 2.0
    scale = 1.0
    centred = mesh.copy()
    centred.vertices = (v - center) / scale
    return centred, center, scale
