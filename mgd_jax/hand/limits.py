"""Anatomical joint limits for MANO-layout hands.

Each finger joint's axis-angle is read in an anatomical frame built from the rest-pose joints:
twist about the bone, spread about the palm normal, bend about the flexion axis (positive bend
curls the finger towards the palm). Limits are boxes in that frame, radians. The same table
serves the official MANO model and the procedural hand, since both are built from the joints.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mgd_jax.hand.model import HandModel

# Child joint of each of the 15 finger joints (MANO order); -1 means the bone ends at a fingertip.
_CHILD = {1: 2, 2: 3, 3: -1, 4: 5, 5: 6, 6: -1, 7: 8, 8: 9, 9: -1, 10: 11, 11: 12, 12: -1,
          13: 14, 14: 15, 15: -1}  # fmt: skip
_THUMB = (13, 14, 15)

# (twist, spread, bend) lower / upper limits in radians, per joint kind. Sources: typical
# active ranges of motion (MCP flexion ~90 deg, hyperextension ~20 deg, PIP ~110 deg,
# DIP ~80 deg; thumb CMC/MCP/IP as in hand-biomechanics tables), slightly widened.
_RANGES = {
    "mcp": ((-0.15, -0.35, -0.35), (0.15, 0.35, 1.60)),
    "pip": ((-0.10, -0.10, -0.05), (0.10, 0.10, 1.90)),
    "dip": ((-0.10, -0.10, -0.15), (0.10, 0.10, 1.40)),
    "thumb_cmc": ((-0.60, -0.60, -0.50), (0.60, 0.90, 1.00)),
    "thumb_mcp": ((-0.30, -0.20, -0.20), (0.30, 0.30, 1.00)),
    "thumb_ip": ((-0.10, -0.10, -0.30), (0.10, 0.10, 1.40)),
}
_KIND = ("mcp", "pip", "dip") * 4 + ("thumb_cmc", "thumb_mcp", "thumb_ip")


def default_limits() -> tuple[np.ndarray, np.ndarray]:
    """(15, 3) lower and (15, 3) upper limits of (twist, spread, bend), radians, MANO order."""
    lower = np.array([_RANGES[k][0] for k in _KIND], dtype=np.float32)
    upper = np.array([_RANGES[k][1] for k in _KIND], dtype=np.float32)
    return lower, upper


def joint_limits(rest_joints: np.ndarray, tips: np.ndarray, side: str) -> dict[str, np.ndarray]:
    """The limit fields of a hand model, keyed as in ``HandModel``, all float32.

    Args:
      rest_joints: (16, 3) rest joints in MANO order, meters.
      tips: (5, 3) rest fingertips (thumb, index, middle, ring, pinky), meters.
      side: "right" or "left".

    Returns:
      ``limit_frames`` (15, 3, 3) from ``anatomical_frames``; ``pose_lower`` and ``pose_upper``
      (15, 3) from ``default_limits``, radians.
    """
    lower, upper = default_limits()
    return {
        "limit_frames": anatomical_frames(rest_joints, tips, side),
        "pose_lower": lower,
        "pose_upper": upper,
    }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def anatomical_frames(
    rest_joints: np.ndarray, tips: np.ndarray, side: str = "right"
) -> np.ndarray:
    """Per-joint anatomical frames from the rest pose.

    Args:
      rest_joints: (16, 3) rest joints in MANO order, meters.
      tips: (5, 3) rest fingertips (thumb, index, middle, ring, pinky), meters.
      side: "right" or "left" (mirrors the palm normal).

    Returns:
      (15, 3, 3) float32; row 0 twist axis (along the bone), row 1 spread axis (palm normal,
      orthogonalised), row 2 bend axis (positive rotation curls the finger to the palm).
    """
    j = np.asarray(rest_joints, dtype=np.float64)
    tips = np.asarray(tips, dtype=np.float64)
    tip_of = {3: tips[1], 6: tips[2], 9: tips[4], 12: tips[3], 15: tips[0]}
    forward_dir = _unit(j[[1, 4, 7, 10]].mean(axis=0) - j[0])
    thumb_side = _unit(j[1] - j[7])  # pinky MCP -> index MCP
    normal = -np.cross(forward_dir, thumb_side)  # palm normal of a right hand
    if side == "left":
        normal = -normal
    frames = np.zeros((15, 3, 3), dtype=np.float64)
    for k in range(1, 16):
        child = _CHILD[k]
        end = tip_of[k] if child < 0 else j[child]
        twist = _unit(end - j[k])
        # The thumb flexes across the palm, towards the palm and the little finger.
        target = _unit(normal - thumb_side) if k in _THUMB else normal
        spread = _unit(target - np.dot(target, twist) * twist)
        bend = np.cross(twist, spread)
        frames[k - 1] = np.stack([twist, spread, bend])
    return frames.astype(np.float32)


def to_anatomical(model: HandModel, pose: jnp.ndarray) -> jnp.ndarray:
    """Finger axis-angles in the anatomical frames.

    Args:
      pose: (..., 16, 3) full pose (global first) or (..., 15, 3) finger pose, radians.

    Returns:
      (..., 15, 3) (twist, spread, bend) components, radians.
    """
    fingers = pose[..., 1:, :] if pose.shape[-2] == 16 else pose
    return jnp.einsum("jab,...jb->...ja", model.limit_frames.astype(fingers.dtype), fingers)


def from_anatomical(model: HandModel, angles: jnp.ndarray) -> jnp.ndarray:
    """Inverse of ``to_anatomical``: (..., 15, 3) (twist, spread, bend) -> (..., 15, 3) axis-angle."""
    return jnp.einsum("jab,...ja->...jb", model.limit_frames.astype(angles.dtype), angles)


def limit_violation(model: HandModel, pose: jnp.ndarray) -> jnp.ndarray:
    """Per-DoF distance outside the limits, radians (0 inside), for a joint-limit loss.

    Args:
      pose: (..., 16, 3) or (..., 15, 3) axis-angle, radians.

    Returns:
      (..., 15, 3) non-negative violations.
    """
    a = to_anatomical(model, pose)
    lower = model.pose_lower.astype(a.dtype)
    upper = model.pose_upper.astype(a.dtype)
    return jnp.maximum(lower - a, 0.0) + jnp.maximum(a - upper, 0.0)


def sample_pose_within_limits(model: HandModel, rng: np.random.Generator, num: int) -> np.ndarray:
    """Uniform random finger poses inside the limit box, global orientation zero.

    Returns:
      (num, 16, 3) float32 axis-angle poses, radians.
    """
    lower = np.asarray(model.pose_lower)
    upper = np.asarray(model.pose_upper)
    angles = rng.uniform(lower, upper, size=(num, 15, 3)).astype(np.float32)
    fingers = np.asarray(from_anatomical(model, jnp.asarray(angles)))
    return np.concatenate([np.zeros((num, 1, 3), np.float32), fingers], axis=1)

