"""Held-out hand-object data: TFDS splits read as object groups, and each object's mesh.

Hand parameters are MANO axis-angle (radians) and ``trans`` in meters, in the object-centric
frame of each object (bounding-box centre at the origin).
"""

from __future__ import annotations

import numpy as np
import trimesh

from mgd_jax import hand, objects
from mgd_jax.data import sources
from mgd_jax.objects import sdf_mesh


def tfds_split(name: str, split: str, data_dir: str | None):
    """``tfds.data_source(name, split)`` (array_record, random access, no TensorFlow)."""
    import tensorflow_datasets as tfds

    return tfds.data_source(name, split=split, data_dir=data_dir)


def text(value) -> str:
    """A TFDS text feature (bytes or str) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def object_mesh(object_id: str, source: str, points: np.ndarray) -> trimesh.Trimesh:
    """The object's mesh in its centric frame, meters: regenerated exactly for mgd_synthetic ids
    (``family/seed``), else the alpha shape of its (N, 3) points (meters)."""
    if source.startswith("mgd_synthetic/"):
        family, _, seed = object_id.partition("/")
        _, mesh = sdf_mesh.sample_object(family, int(seed), random_rotation=True)
        return objects.normalize(mesh)[0]
    return objects.alpha_shape(points)


def grouped_grasps(data, num_points: int, hand_model=None) -> dict[str, dict]:
    """Examples of an HOI split grouped by object id -> {"points" (num_points, 3) m, "source",
    "pose" (k, 16, 3) radians, "trans" (k, 3) m}; object-only examples are left out.

    With ``hand_model`` the dataset must have been built with it (``sources.check_hand``) and
    ``trans`` is for the mean-shape hand (``hand.mean_shape_trans`` of the stored betas), as
    MGD generates it: the wrist stays where the dataset puts it.
    """
    if hand_model is not None:
        info = getattr(data, "dataset_info", None)
        sources.check_hand(getattr(info, "metadata", None), getattr(info, "full_name", "dataset"),
                           hand_model, "Pass the MANO file the dataset was built with.")  # fmt: skip
    out: dict[str, dict] = {}
    for i in range(len(data)):
        ex = data[i]
        if "has_hand" in ex and not bool(ex["has_hand"]):
            continue
        oid = text(ex["object_id"])
        g = out.setdefault(oid, {"points": np.asarray(ex["points"], np.float32)[:num_points],
                                 "source": text(ex["source"]), "pose": [], "trans": []})  # fmt: skip
        g["pose"].append(np.asarray(ex["pose"], np.float32))
        trans = np.asarray(ex["trans"], np.float32)
        if hand_model is not None and "betas" in ex and np.asarray(ex["betas"]).any():
            trans = hand.mean_shape_trans(hand_model, trans, ex["betas"])
        g["trans"].append(trans)
    for g in out.values():
        g["pose"], g["trans"] = np.stack(g["pose"]), np.stack(g["trans"])
    return out
