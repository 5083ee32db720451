"""oakink_shape: OakInk-Shape grasps (Yang et al. 2022), hand in the object-centric frame.

Where the files go. Unzip the OakInk-Shape release (``metaV2.zip``, ``OakInkObjectsV2.zip``,
``oakink_shape_v2.zip``, ``OakInkVirtualObjectsV2.zip``) so that ``$OAKINK_DIR/shape/`` holds
``metaV2/``, ``oakink_shape_v2/``, ``OakInkObjectsV2/`` and ``OakInkVirtualObjectsV2/``, then:

    python -m mgd_jax.build_dataset datasets/oakink_shape --manual_dir=$OAKINK_DIR \\
        --mano_path=/path/to/MANO_RIGHT.pkl

(``--manual_dir`` may also be ``$OAKINK_DIR/shape``.) Without ``--mano_path`` the procedural hand
is used with a logged warning; the model's name and fingerprint are stored in the dataset
metadata (``hand_model``, ``hand_fingerprint``) because the translation depends on it (below).

Layout and keys assumed (oakink/OakInk: ``oikit/oi_shape/oi_shape.py`` ``OakInkShape`` and
``oikit/oi_shape/utils.py`` ``get_hand_parameter`` / ``get_obj_path``; ``docs/datasets.md``):
  - grasps: ``oakink_shape_v2/<category>/<object id>/<grasp id>/hand_param.pkl`` (a grasp on a
    real object) and ``.../<grasp id>/<virtual object id>/hand_param.pkl`` (the same grasp
    transferred to a virtual object); ``<grasp id>/source.txt`` names the OakInk-Image sequence
    ``<stage>/<object>_<intent id>_<subject>/<timestamp>`` (intent 0001 use, 0002 hold,
    0003 liftup, 0004 handover). Every grasp of every intent becomes one example (``oikit`` drops
    handover grasps without a partner only when asked for handover pairs; a single hand needs no
    partner).
  - ``hand_param.pkl`` is a pickled dict with ``pose`` (48: global orientation + 15 finger joints,
    axis-angle), ``shape`` (10 betas) and ``tsl`` (3, meters). ``docs/datasets.md`` describes
    ``pose`` as 16 x 4 quaternions, while ``oikit`` feeds it to an axis-angle MANO layer; we read
    48 values as axis-angle and 64 values as (w, x, y, z) quaternions (``manotorch``'s order).
  - MANO convention: ``oikit`` uses ``manotorch``'s ``ManoLayer(center_idx=0)`` with its default
    ``flat_hand_mean=True`` (lixiny/manotorch: ``manotorch/manolayer.py``), so ``pose`` is absolute,
    and the hand is ``MANO(pose, shape) - J0(shape) + tsl``: ``tsl`` is the wrist (root joint)
    position, not MANO ``transl``. Our ``trans`` is therefore ``tsl - J0(shape)``, J0 the rest
    root joint of the hand model at those betas.
  - object ids map to folder names through ``metaV2/object_id.json`` and
    ``metaV2/virtual_object_id.json`` (``docs/datasets.md`` spells it ``virtual_obj_id.json``;
    both are accepted), each ``{id: {"name": ...}}``; the mesh is the one ``*.obj`` / ``*.ply`` in
    ``OakInkObjectsV2/<name>/align/`` (or ``OakInkVirtualObjectsV2/``), preferring a file whose
    name contains ``align`` when there are several. Meshes are in meters.
  - frame: ``oikit`` centres each object mesh on its bounding-box centre (``get_obj_mesh``) and
    the hand annotation lives in that frame. ``mgd_jax.objects.normalize`` centres the cleaned
    mesh the same way; the hand is shifted by any difference between the raw-file centre and
    ours (non-zero only if the file has unreferenced vertices outside the surface).

Splits are official, by object id (``oi_shape.py``, ``docs/datasets.md``):
``int(md5(object_id).hexdigest(), 16) % 10`` < 8 train, == 8 validation, == 9 test, where the
object id is the virtual id for virtual-object grasps. Points: 2048 uniform surface samples (and
normals) per object (the paper: OakInk vertices are too sparse), object-centric, meters.

A grasp whose pickle is unreadable or malformed, or whose object is missing from the meta files or
has no loadable mesh, is skipped with a logged reason; the count is logged per split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re

import numpy as np
import tensorflow_datasets as tfds
import trimesh
from scipy.spatial.transform import Rotation

from datasets.hoi_common import HOIBuilder, hoi_example
from mgd_jax import objects
from mgd_jax.hand import rest_root_joint
from mgd_jax.objects import examples

INTENTS = {"0001": "use", "0002": "hold", "0003": "liftup", "0004": "handover"}
_SOURCE_PATTERN = re.compile(r"(.+)/(.{6})_(.{4})_([_0-9]+)/([\-0-9]+)")


def shape_root(manual_dir: str) -> str:
    """The ``shape/`` folder of an OakInk root (or ``manual_dir`` itself if it is that folder)."""
    for candidate in (os.path.join(manual_dir, "shape"), manual_dir):
        if os.path.isdir(os.path.join(candidate, "oakink_shape_v2")):
            return candidate
    raise FileNotFoundError(
        f"oakink_shape: {os.path.join(manual_dir, 'shape', 'oakink_shape_v2')} not found; "
        "--manual_dir must be the OakInk root ($OAKINK_DIR, holding shape/oakink_shape_v2, "
        "shape/metaV2, shape/OakInkObjectsV2, shape/OakInkVirtualObjectsV2)"
    )


def split_of(object_id: str) -> str:
    """The official OakInk-Shape split of an object id: 'train', 'validation' or 'test'."""
    r = int(hashlib.md5(object_id.encode("utf-8")).hexdigest(), 16) % 10
    return "train" if r < 8 else ("validation" if r == 8 else "test")


def grasp_files(shape_dir: str) -> list[dict]:
    """Every ``hand_param.pkl`` under ``oakink_shape_v2``, sorted by path.

    Returns:
      Dicts with path, category, object_id (virtual id for virtual grasps), raw_object_id,
      grasp_id, is_virtual.
    """
    grasp_root = os.path.join(shape_dir, "oakink_shape_v2")
    out = []
    for cur, dirs, files in os.walk(grasp_root):
        dirs.sort()
        if "hand_param.pkl" not in files:
            continue
        parts = os.path.relpath(cur, grasp_root).split(os.sep)
        if len(parts) not in (3, 4):
            logging.warning("oakink_shape: ignoring %s/hand_param.pkl: not at "
                            "<category>/<object>/<grasp>[/<virtual object>]", cur)  # fmt: skip
            continue
        out.append({
            "path": os.path.join(cur, "hand_param.pkl"),
            "category": parts[0],
            "raw_object_id": parts[1],
            "grasp_id": parts[2],
            "object_id": parts[3] if len(parts) == 4 else parts[1],
            "is_virtual": len(parts) == 4,
        })  # fmt: skip
    return out


def read_intent(grasp_dir: str) -> str:
    """Intent name from ``<grasp dir>/source.txt`` ('unknown' if absent or unparsable)."""
    try:
        with open(os.path.join(grasp_dir, "source.txt")) as f:
            match = _SOURCE_PATTERN.findall(f.read())
    except OSError:
        return "unknown"
    return INTENTS.get(match[0][2], "unknown") if match else "unknown"


def read_hand_param(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pose (16, 3) axis-angle radians, betas (10,), tsl (3,) meters from one ``hand_param.pkl``.

    Raises:
      ValueError naming the file and the key when it is unreadable or malformed.
    """
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except Exception as e:  # pickle raises many types on a damaged file
        raise ValueError(f"{path}: could not unpickle ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict with 'pose', 'shape', 'tsl', got {type(data)}")
    for key in ("pose", "shape", "tsl"):
        if key not in data:
            raise ValueError(f"{path}: missing '{key}' (has {sorted(data)})")
    pose = np.asarray(data["pose"], np.float64).reshape(-1)
    betas = np.asarray(data["shape"], np.float64).reshape(-1)
    tsl = np.asarray(data["tsl"], np.float64).reshape(-1)
    if pose.size == 64:  # (16, 4) quaternions, (w, x, y, z)
        quat = pose.reshape(16, 4)
        pose = Rotation.from_quat(quat[:, [1, 2, 3, 0]]).as_rotvec().reshape(-1)
    if pose.size != 48 or betas.size != 10 or tsl.size != 3:
        raise ValueError(f"{path}: expected pose (48,), shape (10,), tsl (3,), got "
                         f"{pose.size}, {betas.size}, {tsl.size} values")  # fmt: skip
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(betas)) and np.all(np.isfinite(tsl))):
        raise ValueError(f"{path}: NaN or Inf values")
    return pose.reshape(16, 3), betas, tsl


def read_meta(shape_dir: str) -> tuple[dict, dict]:
    """(real id -> folder name, virtual id -> folder name) from ``metaV2``."""
    meta_dir = os.path.join(shape_dir, "metaV2")
    real_path = os.path.join(meta_dir, "object_id.json")
    virtual_paths = [os.path.join(meta_dir, n)
                     for n in ("virtual_object_id.json", "virtual_obj_id.json")]  # fmt: skip
    if not os.path.isfile(real_path):
        raise FileNotFoundError(f"oakink_shape: {real_path} not found (from metaV2.zip)")
    virtual_path = next((p for p in virtual_paths if os.path.isfile(p)), None)
    if virtual_path is None:
        raise FileNotFoundError(f"oakink_shape: {virtual_paths[0]} not found (from metaV2.zip)")
    out = []
    for path in (real_path, virtual_path):
        try:
            with open(path) as f:
                meta = json.load(f)
            out.append({k: v["name"] for k, v in meta.items()})
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"oakink_shape: {path} is not {{id: {{'name': ...}}}}: {e}") from e
    return out[0], out[1]


def object_mesh_path(shape_dir: str, folder: str, is_virtual: bool) -> str:
    """The single aligned mesh of an object folder (``get_obj_path``'s rule); raises if none."""
    base = "OakInkVirtualObjectsV2" if is_virtual else "OakInkObjectsV2"
    align = os.path.join(shape_dir, base, folder, "align")
    names = os.listdir(align) if os.path.isdir(align) else []
    found = sorted(os.path.join(align, f) for f in names if f.endswith((".obj", ".ply")))
    if len(found) > 1:
        found = [p for p in found if "align" in os.path.basename(p)]
    if len(found) != 1:
        raise ValueError(f"expected one .obj/.ply in {align}, found {len(found)}")
    return found[0]


def raw_bbox_center(path: str) -> np.ndarray:
    """Bounding-box centre of all vertices as ``oikit`` loads them (process=False), meters."""
    raw = trimesh.load(path, process=False, force="mesh", skip_materials=True)
    v = np.asarray(raw.vertices, np.float64)
    return (v.min(0) + v.max(0)) / 2.0


class OakinkShape(HOIBuilder):
    """OakInk-Shape grasps on real and virtual objects, in the object-centric frame, meters."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Pass the OakInk root ($OAKINK_DIR, holding shape/) with --manual_dir, and the MANO "
        "right-hand model with --mano_path."
    )

    def _split_generators(self, dl_manager):
        shape_dir = shape_root(os.fspath(dl_manager.manual_dir))
        meta = read_meta(shape_dir)
        grasps = grasp_files(shape_dir)
        if not grasps:
            raise ValueError(f"oakink_shape: no hand_param.pkl under {shape_dir}/oakink_shape_v2")
        model = self._hand_model()
        by_split = {"train": [], "validation": [], "test": []}
        for g in grasps:
            by_split[split_of(g["object_id"])].append(g)
        logging.info("oakink_shape: %d grasps on %d objects", len(grasps),
                     len({g["object_id"] for g in grasps}))  # fmt: skip
        return {s: self._generate_examples(shape_dir, meta, items, model)
                for s, items in by_split.items() if items}  # fmt: skip

    def _object(self, shape_dir, meta, grasp, cache):
        """(object example, hand offset) for the grasp's object, loaded once; raises on failure."""
        oid = grasp["object_id"]

        def load():
            names = meta[1] if grasp["is_virtual"] else meta[0]
            if oid not in names:
                kind = "virtual_object_id.json" if grasp["is_virtual"] else "object_id.json"
                raise ValueError(f"object id {oid} is not in metaV2/{kind}")
            path = object_mesh_path(shape_dir, names[oid], grasp["is_virtual"])
            mesh = objects.load_mesh(path, units="m")
            _, center, _ = objects.normalize(mesh)
            offset = raw_bbox_center(path) - center
            return examples.make_example(mesh, oid, "oakink_shape", 1.0), offset

        return self._cached(cache, oid, load, f"{grasp['path']}: object {oid}")

    def _generate_examples(self, shape_dir, meta, items, model):
        cache: dict = {}
        skipped = 0
        for g in items:
            try:
                pose, betas, tsl = read_hand_param(g["path"])
                obj_example, offset = self._object(shape_dir, meta, g, cache)
            except (ValueError, OSError) as e:  # one bad grasp never aborts the build
                skipped += 1
                logging.warning("oakink_shape: skipping grasp: %s", e)
                continue
            trans = tsl - rest_root_joint(model, betas) + offset
            intent = read_intent(os.path.dirname(g["path"]) if not g["is_virtual"]
                                 else os.path.dirname(os.path.dirname(g["path"])))  # fmt: skip
            key = "/".join([g["category"], g["raw_object_id"], g["grasp_id"]]
                           + ([g["object_id"]] if g["is_virtual"] else []))  # fmt: skip
            yield key, hoi_example(obj_example, pose, trans, betas,
                                   source=f"oakink_shape/{g['category']}/{intent}")  # fmt: skip
        if skipped:
            logging.warning("oakink_shape: skipped %d of %d grasps", skipped, len(items))
