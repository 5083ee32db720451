"""Object examples as stored by the object datasets: points, normals, id, source, scale.

Every object dataset (``datasets/object_folder``, ``datasets/shapenet``, ``datasets/mgd_objects``)
writes the same features, so the input pipeline can mix them freely.
"""

from __future__ import annotations

import hashlib

import numpy as np
import trimesh

from mgd_jax.objects.mesh_io import normalize
from mgd_jax.objects.sampling import sample_points

NUM_POINTS = 2048


def object_features(num_points: int = NUM_POINTS):
    """The TFDS ``FeaturesDict`` shared by the object datasets (imports tfds lazily)."""
    import tensorflow_datasets as tfds

    return tfds.features.FeaturesDict({
        "points": tfds.features.Tensor(shape=(num_points, 3), dtype=np.float32),  # meters
        "normals": tfds.features.Tensor(shape=(num_points, 3), dtype=np.float32),  # unit
        "object_id": tfds.features.Text(),
        "source": tfds.features.Text(),
        "scale": np.float32,  # factor applied to the source file's coordinates to get meters
    })  # fmt: skip


def hoi_features(num_points: int = NUM_POINTS):
    """The TFDS ``FeaturesDict`` shared by the hand-object datasets (mgd_synthetic, grab,
    oakink_shape): the object features plus one right hand in the object-centric frame.

    ``pose`` holds absolute MANO axis-angle rotations (global orientation, then the 15 finger
    joints in MANO order), i.e. what ``mgd_jax.hand.forward`` takes: a file stored with
    ``flat_hand_mean=False`` has ``hands_mean`` added before writing. ``trans`` is MANO ``transl``
    in meters, ``betas`` the 10 shape coefficients (zeros where the source has none).
    """
    import tensorflow_datasets as tfds

    features = dict(object_features(num_points).items())
    features.update({
        "pose": tfds.features.Tensor(shape=(16, 3), dtype=np.float32),  # radians
        "trans": tfds.features.Tensor(shape=(3,), dtype=np.float32),  # meters
        "betas": tfds.features.Tensor(shape=(10,), dtype=np.float32),
    })  # fmt: skip
    return tfds.features.FeaturesDict(features)


def stable_seed(object_id: str) -> int:
    """A seed from an object id that is the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:4], "little")


def split_of(object_id: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> str:
    """Deterministic split by object (an object never lands in two splits)."""
    u = stable_seed("split:" + object_id) / 2**32
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "validation"
    return "train"


def make_example(mesh: trimesh.Trimesh, object_id: str, source: str, scale: float,
                 num_points: int = NUM_POINTS) -> dict:  # fmt: skip
    """Centre the mesh (object-centric frame) and sample points + normals, seeded by the id.

    Args:
      mesh: the object in meters.
      object_id, source: identifiers stored with the example.
      scale: the factor that took the source file to meters (stored for provenance).

    Returns:
      Dict with points (num_points, 3) float32 meters, normals (num_points, 3), object_id,
      source, scale.
    """
    centred, _, _ = normalize(mesh)
    points, normals = sample_points(centred, num_points, seed=stable_seed(object_id),
                                    return_normals=True)  # fmt: skip
    return {
        "points": np.asarray(points, np.float32),
        "normals": np.asarray(normals, np.float32),
        "object_id": object_id,
        "source": source,
        "scale": np.float32(scale),
    }
