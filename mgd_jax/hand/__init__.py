"""MANO in JAX: model loading (official pickle without chumpy, our .npz), forward kinematics with
linear blend skinning, fingertips, PCA poses, anatomical joint limits, and the procedural hand.

Units: meters for lengths, radians (axis-angle) for poses.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os

from mgd_jax.hand.io import load_file, read_mano_pickle, read_npz, save_npz
from mgd_jax.hand.kinematics import (
    forward,
    forward_jit,
    full_pose,
    mean_shape_trans,
    pca_to_pose,
    posed_vertices,
    rest_root_joint,
    rodrigues,
)
from mgd_jax.hand.limits import (
    from_anatomical,
    limit_violation,
    sample_pose_within_limits,
    to_anatomical,
)
from mgd_jax.hand.model import (
    JOINT_NAMES,
    MANO_PARENTS,
    NUM_BETAS,
    HandModel,
    HandOutput,
    fingerprint,
    from_openpose_order,
    to_openpose_order,
)
from mgd_jax.hand.procedural import build_procedural_hand


def _procedural_cache_path() -> str:
    """Where the built procedural hand is cached: keyed by a hash of the code that builds it."""
    h = hashlib.sha256()
    here = os.path.dirname(__file__)
    for name in ("procedural.py", "limits.py", "model.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    root = os.environ.get("MGD_JAX_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "mgd_jax"
    )
    return os.path.join(root, f"procedural_hand-{h.hexdigest()[:16]}.npz")


@functools.lru_cache(maxsize=1)
def procedural_hand() -> HandModel:
    """The procedural right hand: deterministic, built once and cached on disk.

    The cache lives in ``$MGD_JAX_CACHE`` (default ``~/.cache/mgd_jax``); an unreadable cache
    file is rebuilt, never trusted.
    """
    path = _procedural_cache_path()
    if os.path.exists(path):
        try:
            return read_npz(path)
        except ValueError as e:
            logging.warning("Rebuilding the procedural hand: cached %s unreadable (%s)", path, e)
    model = build_procedural_hand()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        save_npz(model, tmp)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home still works, just slower
        logging.warning("Could not cache the procedural hand at %s: %s", path, e)
    return model


def load(path: str | os.PathLike | None = None, side: str | None = None) -> HandModel:
    """Load a hand model.

    Args:
      path: the official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (read without chumpy), an
        ``.npz`` written by ``save_npz``, or ``None`` for the procedural hand.
      side: "right" or "left" for a MANO file; by default from the file name.

    Returns:
      A ``HandModel`` pytree (meters).

    Raises:
      FileNotFoundError / ValueError naming the path and what was expected.
    """
    if path is None or path == "":
        return procedural_hand()
    return load_file(os.fspath(path), side=side)


def to_trimesh(vertices, model: HandModel):
    """A ``trimesh.Trimesh`` of one posed hand: vertices (V, 3) meters, the model's faces."""
    import numpy as np
    import trimesh

    return trimesh.Trimesh(np.asarray(vertices, np.float64), model.faces_np, process=False)


__all__ = [
    "JOINT_NAMES",
    "MANO_PARENTS",
    "NUM_BETAS",
    "HandModel",
    "HandOutput",
    "build_procedural_hand",
    "fingerprint",
    "forward",
    "forward_jit",
    "from_anatomical",
    "from_openpose_order",
    "full_pose",
    "limit_violation",
    "load",
    "pca_to_pose",
    "posed_vertices",
    "mean_shape_trans",
    "rest_root_joint",
    "read_mano_pickle",
    "read_npz",
    "rodrigues",
    "sample_pose_within_limits",
    "save_npz",
    "to_anatomical",
    "to_openpose_order",
    "to_trimesh",
]
