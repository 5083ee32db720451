"""MANO forward kinematics and linear blend skinning in JAX.

Follows ``specs/mano.md`` step by step ('lrotmin' pose blend shapes). Every function accepts any
leading batch shape and is safe under ``jit``, ``vmap`` and ``grad`` (Rodrigues is NaN-free in value
and gradient at zero rotation and near pi).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mgd_jax.hand.model import NUM_BETAS, NUM_JOINTS, HandModel, HandOutput

# Below this squared angle (rad^2) Rodrigues switches to its Taylor series. The series' first
# dropped terms are O(theta^6) ~ 1e-18 here, far below float32 resolution.
_SMALL_ANGLE_SQ = 1e-6


def rodrigues(axis_angle: jnp.ndarray) -> jnp.ndarray:
    """Axis-angle to rotation matrix.

    R = I + A K + B K^2 with K = skew(r), A = sin(t)/t, B = (1 - cos t)/t^2 and t = |r|, where
    B is evaluated as 0.5 * (sin(t/2)/(t/2))^2 to avoid cancellation in float32.

    Args:
      axis_angle: (..., 3) rotation vectors, radians.

    Returns:
      (..., 3, 3) rotation matrices.
    """
    r = axis_angle
    theta_sq = jnp.sum(r * r, axis=-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    # Evaluate the trigonometric branch at a safe angle so neither it nor its gradient is NaN.
    safe_sq = jnp.where(small, 1.0, theta_sq)
    theta = jnp.sqrt(safe_sq)
    half = 0.5 * theta
    a_trig = jnp.sin(theta) / theta
    b_trig = 0.5 * jnp.square(jnp.sin(half) / half)
    a_taylor = 1.0 - theta_sq / 6.0 + jnp.square(theta_sq) / 120.0
    b_taylor = 0.5 - theta_sq / 24.0 + jnp.square(theta_sq) / 720.0
    a = jnp.where(small, a_taylor, a_trig)[..., None, None]
    b = jnp.where(small, b_taylor, b_trig)[..., None, None]
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    zero = jnp.zeros_like(x)
    k = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1)
    k = k.reshape(r.shape[:-1] + (3, 3))
    eye = jnp.eye(3, dtype=r.dtype)
    return eye + a * k + b * (k @ k)


@functools.lru_cache(maxsize=None)
def _tree_levels(parents: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Joints grouped by depth in the kinematic tree, so each level is one batched matmul."""
    depth = []
    for j, p in enumerate(parents):
        depth.append(0 if p < 0 else depth[p] + 1)
    levels = []
    for d in range(1, max(depth) + 1):
        levels.append(tuple(j for j in range(len(parents)) if depth[j] == d))
    return tuple(levels)


def _global_transforms(
    rotations: jnp.ndarray, joints: jnp.ndarray, parents: tuple[int, ...]
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Chain local rotations along the tree.

    Args:
      rotations: (B, J, 3, 3) local rotations.
      joints: (B, J, 3) rest joint positions, meters.
      parents: static parent indices (-1 for the root).

    Returns:
      (B, J, 3, 3) global rotations and (B, J, 3) global joint positions (meters).
    """
    num = len(parents)
    glob_r = [None] * num
    glob_t = [None] * num
    glob_r[0] = rotations[:, 0]
    glob_t[0] = joints[:, 0]
    for level in _tree_levels(parents):
        idx = jnp.asarray(level)
        par = [parents[j] for j in level]
        par_r = jnp.stack([glob_r[p] for p in par], axis=1)  # (B, L, 3, 3)
        par_t = jnp.stack([glob_t[p] for p in par], axis=1)  # (B, L, 3)
        offset = joints[:, idx] - joints[:, jnp.asarray(par)]
        new_r = par_r @ rotations[:, idx]
        new_t = par_t + jnp.einsum("blij,blj->bli", par_r, offset)
        for i, j in enumerate(level):
            glob_r[j] = new_r[:, i]
            glob_t[j] = new_t[:, i]
    return jnp.stack(glob_r, axis=1), jnp.stack(glob_t, axis=1)


def forward(
    model: HandModel,
    pose: jnp.ndarray,
    trans: jnp.ndarray,
    betas: jnp.ndarray | None = None,
) -> HandOutput:
    """Pose the hand: shape blend, pose blend, forward kinematics, skinning, translation.

    Args:
      model: the hand model (MANO file or procedural hand).
      pose: (..., 16, 3) axis-angle, radians: global orientation first, then the 15 finger
        joints in MANO joint order.
      trans: (..., 3) translation (MANO ``transl``), meters, added after posing.
      betas: (..., 10) shape coefficients; ``None`` means the mean shape (zeros).

    Returns:
      ``HandOutput`` with vertices (..., V, 3) and joints (..., 21, 3) in meters: the 16 MANO
      joints followed by the fingertips (thumb, index, middle, ring, pinky).
    """
    pose = jnp.asarray(pose)
    trans = jnp.asarray(trans)
    if pose.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"pose must have shape (..., 16, 3), got {pose.shape}")
    if trans.shape[-1:] != (3,):
        raise ValueError(f"trans must have shape (..., 3), got {trans.shape}")
    batch_shape = jnp.broadcast_shapes(pose.shape[:-2], trans.shape[:-1])
    if betas is not None:
        betas = jnp.asarray(betas)
        if betas.shape[-1:] != (NUM_BETAS,):
            raise ValueError(f"betas must have shape (..., 10), got {betas.shape}")
        batch_shape = jnp.broadcast_shapes(batch_shape, betas.shape[:-1])
    dtype = jnp.result_type(pose.dtype, jnp.float32)
    num_batch = 1
    for d in batch_shape:
        num_batch *= d
    pose = jnp.broadcast_to(pose, batch_shape + (NUM_JOINTS, 3)).reshape(num_batch, NUM_JOINTS, 3)
    trans = jnp.broadcast_to(trans, batch_shape + (3,)).reshape(num_batch, 3)
    if betas is not None:
        betas = jnp.broadcast_to(betas, batch_shape + (NUM_BETAS,)).reshape(num_batch, NUM_BETAS)
    pose, trans = pose.astype(dtype), trans.astype(dtype)
    if num_batch > 2 * _CHUNK:
        vertices, joints = _forward_chunked(model, pose, trans, betas)
    else:
        vertices, joints = _forward_flat(model, pose, trans, betas)
    return HandOutput(
        vertices=vertices.reshape(batch_shape + vertices.shape[1:]),
        joints=joints.reshape(batch_shape + joints.shape[1:]),
    )


def rest_root_joint(model: HandModel, betas=None) -> np.ndarray:
    """Rest-pose root (wrist) joint ``J0 = J_regressor[0] (v_template + shapedirs betas)``.

    Args:
      betas: (..., K) shape coefficients, or None for the mean shape.

    Returns:
      (..., 3) float64 meters. MANO rotates the hand about J0 and then adds ``trans``, so the
      posed wrist is at ``J0(betas) + trans`` whatever the pose.
    """
    v = np.asarray(model.v_template, np.float64)
    j0 = np.asarray(model.j_regressor, np.float64)[0]
    if betas is None:
        return j0 @ v
    dirs = np.einsum("v,vck->ck", j0, np.asarray(model.shapedirs, np.float64))  # (3, K)
    return j0 @ v + np.asarray(betas, np.float64) @ dirs.T


def mean_shape_trans(model: HandModel, trans, betas) -> np.ndarray:
    """The translation that puts a mean-shape hand's wrist where the hand of shape ``betas`` has
    it: ``trans + J0(betas) - J0(0)``; (..., 3) meters in, (..., 3) float32 out.

    The wrist (and the rotation about it) then match exactly; fingers differ only by the shape.
    """
    offset = rest_root_joint(model, betas) - rest_root_joint(model)
    return (np.asarray(trans, np.float64) + offset).astype(np.float32)


def posed_vertices(model: HandModel, pose, trans, betas=None, batch: int = 256) -> np.ndarray:
    """Posed hand vertices as numpy float64, ``batch`` hands per call (bounded memory).

    Args:
      pose: (B, 16, 3) axis-angle radians; trans: (B, 3) meters; betas: (B, K) or None.

    Returns:
      (B, V, 3) float64 meters.

    Raises:
      ValueError when ``betas`` has another size than the model's shape space.
    """
    num_betas = model.shapedirs.shape[-1]
    if betas is not None and np.shape(betas)[1] != num_betas:
        raise ValueError(f"betas have {np.shape(betas)[1]} entries, the hand model {num_betas}")
    out = []
    for s in range(0, len(pose), batch):
        b = None if betas is None else betas[s : s + batch]
        out.append(np.asarray(forward(model, pose[s : s + batch], trans[s : s + batch], b).vertices,
                              np.float64))  # fmt: skip
    return np.concatenate(out) if out else np.zeros((0, model.num_vertices, 3))


# Large batches run in chunks: the per-hand intermediates (V x 12 transforms) of a chunk stay in
# cache, which on CPU is over twice as fast per hand as one pass over a batch of thousands.
_CHUNK = 128


def _forward_chunked(model, pose, trans, betas):
    num_batch = pose.shape[0]
    num_chunks = -(-num_batch // _CHUNK)
    pad = num_chunks * _CHUNK - num_batch

    def split(x):
        x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
        return x.reshape((num_chunks, _CHUNK) + x.shape[1:])

    args = (split(pose), split(trans)) + (() if betas is None else (split(betas),))
    verts, joints = jax.lax.map(lambda a: _forward_flat(model, *a), args)
    verts = verts.reshape((-1,) + verts.shape[2:])[:num_batch]
    joints = joints.reshape((-1,) + joints.shape[2:])[:num_batch]
    return verts, joints


def _forward_flat(model, pose, trans, betas=None):
    """``forward`` on a flat batch: pose (B, 16, 3), trans (B, 3), betas (B, 10) or None."""
    num_batch = pose.shape[0]
    dtype = pose.dtype
    v_template = model.v_template.astype(dtype)
    j_regressor = model.j_regressor.astype(dtype)
    if betas is None:
        # Mean shape: the shape blend and joint regression are constants.
        v_shaped = jnp.broadcast_to(v_template, (num_batch,) + v_template.shape)
        rest_joints = jnp.broadcast_to(j_regressor @ v_template, (num_batch, NUM_JOINTS, 3))
    else:
        v_shaped = v_template + jnp.einsum("vck,bk->bvc", model.shapedirs.astype(dtype), betas)
        rest_joints = jnp.einsum("jv,bvc->bjc", j_regressor, v_shaped)

    rotations = rodrigues(pose)  # (B, 16, 3, 3)
    num_v = v_template.shape[0]
    pose_feature = (rotations[:, 1:] - jnp.eye(3, dtype=dtype)).reshape(num_batch, -1)
    posedirs = model.posedirs.astype(dtype).reshape(num_v * 3, -1)
    v_posed = v_shaped + (pose_feature @ posedirs.T).reshape(num_batch, num_v, 3)

    glob_r, glob_t = _global_transforms(rotations, rest_joints, model.parents)
    # Remove the rest pose: x -> R (x - J) + t.
    rel_t = glob_t - jnp.einsum("bjik,bjk->bji", glob_r, rest_joints)
    transform = jnp.concatenate([glob_r, rel_t[..., None]], axis=-1)  # (B, 16, 3, 4)
    # A batched matmul and an unrolled 3x4 apply: XLA:CPU fuses these far better than einsums.
    blended = jnp.matmul(model.weights.astype(dtype)[None], transform.reshape(num_batch, -1, 12))
    blended = blended.reshape(num_batch, num_v, 3, 4)
    vertices = (
        blended[..., 0] * v_posed[..., None, 0]
        + blended[..., 1] * v_posed[..., None, 1]
        + blended[..., 2] * v_posed[..., None, 2]
        + blended[..., 3]
    )
    vertices = vertices + trans[:, None, :]
    tips = vertices[:, jnp.asarray(model.tip_vertex_ids)]
    joints = jnp.concatenate([glob_t + trans[:, None, :], tips], axis=1)
    return vertices, joints


def pca_to_pose(
    model: HandModel, coeffs: jnp.ndarray, flat_hand_mean: bool = True
) -> jnp.ndarray:
    """Map MANO PCA coefficients to the 45-D finger pose.

    finger_pose = coeffs @ hands_components[:ncomps] (+ hands_mean unless ``flat_hand_mean``).

    Args:
      model: hand model carrying ``hands_components`` (45, 45) and ``hands_mean`` (45,).
      coeffs: (..., ncomps) PCA coefficients, 1 <= ncomps <= 45.
      flat_hand_mean: True means pose zero is the flat hand (no mean added), as in GRAB.

    Returns:
      (..., 45) axis-angle finger pose, radians; reshape to (..., 15, 3) for ``forward``.
    """
    coeffs = jnp.asarray(coeffs)
    ncomps = coeffs.shape[-1]
    if not 1 <= ncomps <= 45:
        raise ValueError(f"PCA coefficients must have 1..45 components, got {ncomps}")
    pose = coeffs @ model.hands_components[:ncomps].astype(coeffs.dtype)
    if not flat_hand_mean:
        pose = pose + model.hands_mean.astype(coeffs.dtype)
    return pose


def full_pose(global_orient: jnp.ndarray, finger_pose: jnp.ndarray) -> jnp.ndarray:
    """Assemble (..., 16, 3) pose from global orientation (..., 3) and finger pose (..., 45)."""
    finger_pose = jnp.asarray(finger_pose)
    fingers = finger_pose.reshape(finger_pose.shape[:-1] + (15, 3))
    return jnp.concatenate([jnp.asarray(global_orient)[..., None, :], fingers], axis=-2)


forward_jit = jax.jit(forward)
