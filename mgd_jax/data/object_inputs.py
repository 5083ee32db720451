"""Objects to sample grasps on, read and normalised exactly as in training.

``collect_objects`` takes what a user names with ``--objects``: a mesh file, a folder of meshes
and ``.npy`` point clouds, or a TFDS split (``tfds:<name>[/<config>]@<split>``). Meshes go through
``objects.load_mesh`` (the files' ``units``), are moved to the object-centric frame (bounding-box
centre at the origin, meters) and surface-sampled with the object's seed; ``.npy`` files hold
(N, 3) points in ``units``. A bad file in a folder is skipped and reported; the others are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import numpy as np
import tqdm
import trimesh

from mgd_jax import objects
from mgd_jax.data import hoi, sources
from mgd_jax.objects import examples

logger = logging.getLogger(__name__)

POINT_EXTENSIONS = (".npy",)


@dataclasses.dataclass
class ObjectInput:
    """One object to sample on, in its object-centric frame (meters)."""

    name: str  # unique and file-safe
    source: str  # the file or dataset id it came from
    points: np.ndarray  # (N, 3) float32 surface points, meters
    mesh: trimesh.Trimesh | None  # None when a point cloud could not be meshed
    center_m: np.ndarray  # (3,) its frame's origin in the input file's frame, meters


def safe_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "object"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def load_point_file(path: str, units: str, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """An (N, 3) ``.npy`` point cloud -> (centred points float32 meters, centre meters).

    Raises:
      ValueError naming the file: unreadable, wrong shape, NaN/inf, fewer than ``num_points``.
    """
    try:
        pts = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  (any read failure means the file is unusable)
        raise ValueError(f"{path}: cannot read the point cloud ({e})") from e
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{path}: a point cloud must be (N, 3), got {pts.shape}")
    bad = int((~np.isfinite(pts).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} of {len(pts)} points are NaN or inf")
    if len(pts) < num_points:
        raise ValueError(f"{path}: {len(pts)} points, the model reads {num_points}; give more")
    pts = pts.astype(np.float64) * objects.UNIT_SCALE[units]
    center = (pts.min(0) + pts.max(0)) / 2.0
    rng = np.random.default_rng(examples.stable_seed(os.path.basename(path)))
    pick = rng.permutation(len(pts))[: max(num_points, min(len(pts), examples.NUM_POINTS))]
    return (pts[pick] - center).astype(np.float32), center


def load_object_file(path: str, rel: str, units: str, num_points: int):
    """(points (N,3) m, mesh or None, centre (3,) m) of one mesh or ``.npy`` file."""
    if path.lower().endswith(POINT_EXTENSIONS):
        points, center = load_point_file(path, units, num_points)
        return points, objects.alpha_shape_or_none(points), center
    mesh = objects.load_mesh(path, units=units)
    centred, center, _ = objects.normalize(mesh)
    ex = examples.make_example(mesh, rel, "file", objects.UNIT_SCALE[units])
    return ex["points"], centred, center


def collect_objects(spec: str, units: str, num_points: int, data_dir: str | None = None,
                    max_objects: int | None = None,
                    hand_model=None) -> tuple[list[ObjectInput], list[dict]]:  # fmt: skip
    """Objects named by ``--objects``: ``(objects, skipped [{"source", "reason"}])``.

    A single file that fails raises; in a folder or dataset, bad entries are skipped and listed.
    With ``hand_model``, a hand-object dataset must have been built with that hand.

    Raises:
      FileNotFoundError: no such file or folder; ValueError: unknown units, a bad single file, an
      empty folder, a folder in which every file failed (all reasons listed), or a dataset built
      with another hand model.
    """
    if units not in objects.UNIT_SCALE:
        raise ValueError(f"--units must be one of {sorted(objects.UNIT_SCALE)}, got {units!r}")
    if spec.startswith("tfds:"):
        return _dataset_objects(spec, num_points, data_dir, max_objects, hand_model)
    if os.path.isfile(spec):
        points, mesh, center = load_object_file(spec, os.path.basename(spec), units, num_points)
        name = safe_name(os.path.splitext(os.path.basename(spec))[0], set())
        return [ObjectInput(name, os.path.abspath(spec), points, mesh, center)], []
    if not os.path.isdir(spec):
        raise FileNotFoundError(f"--objects {spec}: no such file or folder (give a mesh file, a "
                                "folder of meshes, or tfds:<name>[/<config>]@<split>)")  # fmt: skip
    paths = objects.mesh_files(spec, objects.MESH_EXTENSIONS + POINT_EXTENSIONS)
    if not paths:
        raise ValueError(f"--objects {spec}: no mesh or point files "
                         f"({', '.join(objects.MESH_EXTENSIONS + POINT_EXTENSIONS)}) in this folder")  # fmt: skip
    out, skipped, taken = [], [], set()
    for path in tqdm.tqdm(paths, desc="reading objects", unit="file", disable=len(paths) < 20):
        rel = os.path.relpath(path, spec)
        try:
            points, mesh, center = load_object_file(path, rel, units, num_points)
        except (OSError, ValueError) as e:
            logger.warning("skipping %s: %s", path, e)
            skipped.append({"source": os.path.abspath(path), "reason": str(e)})
            continue
        name = safe_name(os.path.splitext(rel)[0].replace(os.sep, "__"), taken)
        out.append(ObjectInput(name, os.path.abspath(path), points, mesh, center))
        if max_objects and len(out) >= max_objects:
            break
    if not out:
        raise ValueError(f"--objects {spec}: every file failed: "
                         + "; ".join(f"{s['source']}: {s['reason']}" for s in skipped))  # fmt: skip
    if skipped:
        logger.warning("%d of %d files skipped (listed in index.json)", len(skipped), len(paths))
    return out, skipped


def _dataset_objects(spec: str, num_points: int, data_dir: str | None, max_objects: int | None,
                     hand_model=None):  # fmt: skip
    name, at, split = spec[len("tfds:"):].partition("@")
    if not at:
        raise ValueError(f"--objects {spec}: name the split, e.g. tfds:{name}@test")
    src = sources.build_source(f"tfds:{name}", split, 1.0, num_points, data_dir)
    if hand_model is not None:
        sources.check_hand(src.metadata, src.name, hand_model,
                           "Sample it with a model trained with that hand, or rebuild the dataset "
                           "with this model's MANO file (--mano_path).")  # fmt: skip
    data = src.data
    out, skipped, seen, taken = [], [], set(), set()
    for i in range(len(data)):
        ex = data[i]
        oid = hoi.text(ex.get("object_id", str(i)))
        if oid in seen:
            continue
        seen.add(oid)
        points = np.asarray(ex["points"], np.float32)
        if not np.isfinite(points).all():
            skipped.append({"source": f"{spec}:{oid}", "reason": "NaN or inf in the points"})
            continue
        source = hoi.text(ex.get("source", name))
        try:
            mesh = hoi.object_mesh(oid, source, points)
        except Exception as e:  # a cloud that cannot be meshed still gets grasps
            logger.warning("%s: no object mesh (%s)", oid, e)
            mesh = None
        out.append(ObjectInput(safe_name(oid.replace("/", "_"), taken), f"{spec}:{oid}",
                               points, mesh, np.zeros(3)))  # fmt: skip
        if max_objects and len(out) >= max_objects:
            break
    if not out:
        raise ValueError(f"--objects {spec}: no usable object in this split")
    return out, skipped
