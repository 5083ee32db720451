"""The hand-model pytree shared by the MANO file and the procedural hand.

Every field follows MANO's layout (``specs/mano.md``); lengths are meters. The same fields are
written to and read from our ``.npz`` schema (see ``mgd_jax.hand.io``).
"""

from __future__ import annotations

import hashlib

import flax.struct
import jax.numpy as jnp
import numpy as np

NUM_JOINTS = 16  # kinematic joints: wrist + 15 finger joints
NUM_FINGER_JOINTS = 15
NUM_BETAS = 10
NUM_JOINTS_WITH_TIPS = 21

# Parents of the 16 MANO joints (-1 for the wrist). Joint order: 0 wrist; 1-3 index (MCP, PIP,
# DIP); 4-6 middle; 7-9 pinky; 10-12 ring; 13-15 thumb (CMC, MCP, IP).
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Fingertip vertex ids of the official MANO mesh (manopth / manotorch convention), in the order
# thumb, index, middle, ring, pinky.
MANO_TIP_VERTEX_IDS = (745, 317, 444, 556, 673)

JOINT_NAMES = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
    "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip",
)  # fmt: skip

# Our 21-joint order (a): the 16 MANO joints, then tips (thumb, index, middle, ring, pinky).
# OPENPOSE_FROM_MANO[i] is the index in our order of OpenPose/manopth joint i (wrist, then thumb
# 1-2-3-tip, index, middle, ring, pinky).
OPENPOSE_FROM_MANO = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
MANO_FROM_OPENPOSE = tuple(int(i) for i in np.argsort(OPENPOSE_FROM_MANO))


@flax.struct.dataclass
class HandModel:
    """A MANO-layout hand model. Array fields are pytree leaves (jit/vmap-friendly).

    Shapes use V vertices and F faces (MANO: V = 778, F = 1538).
    """

    v_template: jnp.ndarray  # (V, 3) rest-pose vertices, meters
    shapedirs: jnp.ndarray  # (V, 3, 10) shape blend shapes, meters per unit beta
    posedirs: jnp.ndarray  # (V, 3, 135) pose-corrective blend shapes, meters
    j_regressor: jnp.ndarray  # (16, V) dense joint regressor
    weights: jnp.ndarray  # (V, 16) linear-blend-skinning weights, rows sum to 1
    faces: jnp.ndarray  # (F, 3) int32 triangle indices, counter-clockwise outward
    hands_components: jnp.ndarray  # (45, 45) PCA basis of the 45 finger DoF (rows = components)
    hands_mean: jnp.ndarray  # (45,) mean finger pose, radians (axis-angle)
    limit_frames: jnp.ndarray  # (15, 3, 3) rows: twist, spread, bend axes of each finger joint
    pose_lower: jnp.ndarray  # (15, 3) lower limits of (twist, spread, bend), radians
    pose_upper: jnp.ndarray  # (15, 3) upper limits of (twist, spread, bend), radians
    parents: tuple[int, ...] = flax.struct.field(pytree_node=False, default=MANO_PARENTS)
    tip_vertex_ids: tuple[int, ...] = flax.struct.field(
        pytree_node=False, default=MANO_TIP_VERTEX_IDS
    )  # thumb, index, middle, ring, pinky
    side: str = flax.struct.field(pytree_node=False, default="right")  # "right" | "left"
    name: str = flax.struct.field(pytree_node=False, default="mano")  # provenance, for humans

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def faces_np(self) -> np.ndarray:
        """(F, 3) int64 faces as numpy, for trimesh and renderers."""
        return np.asarray(self.faces, dtype=np.int64)


@flax.struct.dataclass
class HandOutput:
    """Posed hand. Leading dimensions ``...`` are the batch shape of the inputs."""

    vertices: jnp.ndarray  # (..., V, 3) meters
    joints: jnp.ndarray  # (..., 21, 3) meters: 16 MANO joints then 5 tips (thumb..pinky)


ARRAY_FIELDS = (
    "v_template",
    "shapedirs",
    "posedirs",
    "j_regressor",
    "weights",
    "faces",
    "hands_components",
    "hands_mean",
    "limit_frames",
    "pose_lower",
    "pose_upper",
)


def build_hand_model(
    *,
    v_template: np.ndarray,
    shapedirs: np.ndarray,
    posedirs: np.ndarray,
    j_regressor: np.ndarray,
    weights: np.ndarray,
    faces: np.ndarray,
    hands_components: np.ndarray,
    hands_mean: np.ndarray,
    limit_frames: np.ndarray,
    pose_lower: np.ndarray,
    pose_upper: np.ndarray,
    tip_vertex_ids,
    side: str,
    name: str,
    parents=MANO_PARENTS,
) -> HandModel:
    """A ``HandModel`` from numpy arrays (the MANO file, the procedural hand, our ``.npz``).

    Arrays (shapes and units as the ``HandModel`` fields, meters and radians) become jax arrays:
    ``faces`` int32, every other field float32. ``limits.joint_limits`` gives the three limit
    fields from the rest joints. ``tip_vertex_ids`` (5,) thumb..pinky; ``parents`` (16,).
    """
    arrays = {
        "v_template": v_template, "shapedirs": shapedirs, "posedirs": posedirs,
        "j_regressor": j_regressor, "weights": weights, "faces": faces,
        "hands_components": hands_components, "hands_mean": hands_mean,
        "limit_frames": limit_frames, "pose_lower": pose_lower, "pose_upper": pose_upper,
    }  # fmt: skip
    return HandModel(
        **{k: jnp.asarray(arrays[k], jnp.int32 if k == "faces" else jnp.float32)
           for k in ARRAY_FIELDS},  # fmt: skip
        parents=tuple(int(p) for p in parents),
        tip_vertex_ids=tuple(int(i) for i in tip_vertex_ids),
        side=str(side),
        name=str(name),
    )


def fingerprint(model: HandModel) -> str:
    """A stable sha256 hex digest of the model's geometry (arrays, tree, tips, side).

    Checkpoints record it so that a model trained with one hand refuses to run with another.
    """
    h = hashlib.sha256()
    for name in ARRAY_FIELDS:
        arr = np.ascontiguousarray(np.asarray(getattr(model, name)))
        dtype = np.int64 if arr.dtype.kind in "iu" else np.float32
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr.astype(dtype)).tobytes())
    h.update(repr((model.parents, model.tip_vertex_ids, model.side)).encode())
    return h.hexdigest()


def to_openpose_order(joints: jnp.ndarray) -> jnp.ndarray:
    """Reorder (..., 21, 3) joints from our order (MANO 16 + tips) to the OpenPose/manopth order."""
    return joints[..., OPENPOSE_FROM_MANO, :]


def from_openpose_order(joints: jnp.ndarray) -> jnp.ndarray:
    """Reorder (..., 21, 3) joints from the OpenPose/manopth order to ours (MANO 16 + tips)."""
    return joints[..., MANO_FROM_OPENPOSE, :]
