"""Tokenizers E_h, E_o and detokenizers D_h, D_o of MGD (paper §3.3.1, DESIGN §4).

Hand: MANO parameters (pose (B, 16, 3) axis-angle radians, trans (B, 3) meters) -> z_h (B, d_h)
and back. Object: the frozen point VAE's latent point set (B, N, 3 + D) in model units -> z_o
(B, d_o) and back. Every tokenizer output is divided by its root-mean-square over the feature axis
(``unit_rms``, no learned gain), so each latent has unit variance per channel on average and the
diffusion schedule's signal-to-noise ratio means what it says.

Hand rotations enter as axis-angle (the paper's choice, ``hand_rotation="axis_angle"``) or as the
continuous 6-D representation (``"rot6d"``: the first two rows of each joint's rotation matrix,
Zhou et al. 2019). With rot6d the detokenizer outputs 6-D vectors, orthonormalises them by
Gram-Schmidt and converts the matrix to axis-angle through a quaternion (Shepperd's method, the
branch picked by the largest diagonal term, then ``2 atan2(|v|, w) v / |v|`` with a Taylor branch
at |v| -> 0). Every step is NaN-free in value and gradient, including at the zero pose.

The object tokenizer is a set encoder (shared per-point MLP, then max and mean pooling over
points) followed by the 2-layer MLP, so z_o does not depend on point order. The object
detokenizer therefore cannot reproduce the input order: it emits the set in its own order, and
losses against the VAE latent points must be order-free (e.g. Chamfer). Two decoders:
``"mlp"`` (default) maps z_o through a 2-layer MLP to N * (3 + D) numbers, the fully connected
point-set decoder of Achlioptas et al. 2018: the simplest map, each output slot free to specialise;
``"folding"`` deforms a fixed Fibonacci sphere of N points with a per-point MLP conditioned on z_o
(FoldingNet-style; fewer parameters, outputs tied to a smooth template). Which one reconstructs
the latent point sets better has not been measured yet; both share the interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mgd_jax.hand.kinematics import rodrigues

NUM_HAND_JOINTS = 16
RMS_EPS = 1e-8
_SMALL_SQ = 1e-6  # below this squared quaternion-vector norm the axis-angle map uses its series
_NORM_EPS = 1e-12


def unit_rms(z: jnp.ndarray, eps: float = RMS_EPS) -> jnp.ndarray:
    """Unit root-mean-square over the last axis, no learned gain: (..., d) -> (..., d)."""
    return z * jax.lax.rsqrt(jnp.mean(jnp.square(z), axis=-1, keepdims=True) + eps)


# ----------------------------------------------------------------------------------------------
# Rotation conversions (all accept any leading batch shape)


def axis_angle_to_rot6d(axis_angle: jnp.ndarray) -> jnp.ndarray:
    """(..., 3) axis-angle, radians -> (..., 6): the first two rows of the rotation matrix."""
    r = rodrigues(axis_angle)
    return r[..., :2, :].reshape(axis_angle.shape[:-1] + (6,))


def _safe_normalize(v: jnp.ndarray) -> jnp.ndarray:
    return v * jax.lax.rsqrt(jnp.sum(v * v, axis=-1, keepdims=True) + _NORM_EPS)


def rot6d_to_matrix(d6: jnp.ndarray) -> jnp.ndarray:
    """(..., 6) -> (..., 3, 3) rotation matrix by Gram-Schmidt; the 6 numbers are rows 1 and 2."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = _safe_normalize(a1)
    b2 = _safe_normalize(a2 - jnp.sum(b1 * a2, axis=-1, keepdims=True) * b1)
    b3 = jnp.cross(b1, b2)
    return jnp.stack([b1, b2, b3], axis=-2)


def matrix_to_quaternion(m: jnp.ndarray) -> jnp.ndarray:
    """(..., 3, 3) rotation -> (..., 4) unit quaternion (w, x, y, z) with w >= 0 (Shepperd).

    Each of the four candidate rows equals 4 q_k * q; the one with the largest 4 q_k^2 (always
    >= 1 for a rotation) is divided by 2 sqrt(4 q_k^2): no square root of a small number is taken.
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    diag = jnp.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    cand = jnp.stack(
        [
            jnp.stack([diag[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
            jnp.stack([m21 - m12, diag[..., 1], m01 + m10, m02 + m20], -1),
            jnp.stack([m02 - m20, m01 + m10, diag[..., 2], m12 + m21], -1),
            jnp.stack([m10 - m01, m02 + m20, m12 + m21, diag[..., 3]], -1),
        ],
        axis=-2,
    )  # (..., 4, 4)
    # Select with a one-hot product rather than a gather: same values, a simpler gradient.
    onehot = jax.nn.one_hot(jnp.argmax(diag, axis=-1), 4, dtype=m.dtype)
    row = jnp.sum(onehot[..., :, None] * cand, axis=-2)
    dk = jnp.sum(onehot * diag, axis=-1, keepdims=True)
    q = row / (2.0 * jnp.sqrt(jnp.maximum(dk, 0.25)))
    q = _safe_normalize(q)
    return jnp.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: jnp.ndarray) -> jnp.ndarray:
    """(..., 4) unit quaternion (w, x, y, z), w >= 0 -> (..., 3) axis-angle, angle in [0, pi]."""
    w, v = q[..., 0], q[..., 1:]
    s_sq = jnp.sum(v * v, axis=-1)
    small = s_sq < _SMALL_SQ
    s = jnp.sqrt(jnp.where(small, 1.0, s_sq))
    w_small = jnp.where(small, w, 1.0)  # w ~ 1 on the series branch; keep 1/w finite elsewhere
    factor_trig = 2.0 * jnp.arctan2(s, w) / s
    # 2 atan(s / w) / s = (2 / w) (1 - s^2 / (3 w^2) + s^4 / (5 w^4) - ...)
    r_sq = s_sq / jnp.square(w_small)
    factor_series = (2.0 / w_small) * (1.0 - r_sq / 3.0 + jnp.square(r_sq) / 5.0)
    return v * jnp.where(small, factor_series, factor_trig)[..., None]


def matrix_to_axis_angle(m: jnp.ndarray) -> jnp.ndarray:
    """(..., 3, 3) rotation -> (..., 3) axis-angle, radians, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def rot6d_to_axis_angle(d6: jnp.ndarray) -> jnp.ndarray:
    """(..., 6) -> (..., 3) axis-angle, radians; NaN-free in value and gradient everywhere."""
    return matrix_to_axis_angle(rot6d_to_matrix(d6))


# ----------------------------------------------------------------------------------------------
# Hand


def _rot_dim(hand_rotation: str) -> int:
    if hand_rotation == "axis_angle":
        return 3
    if hand_rotation == "rot6d":
        return 6
    raise ValueError(f"hand_rotation must be 'axis_angle' or 'rot6d', got '{hand_rotation}'")


class MLP2(nn.Module):
    """Dense(hidden) -> GELU -> Dense(out)."""

    hidden: int
    out: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        h = nn.gelu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.out)(h)


class HandTokenizer(nn.Module):
    """E_h: MANO parameters -> unit-RMS hand latent z_h.

    ``trans`` is multiplied by ``trans_scale`` (meters -> decimeters by default) so that both
    inputs are O(1).
    """

    latent_dim: int = 512  # d_h
    hidden: int = 1024
    hand_rotation: str = "axis_angle"  # or "rot6d"
    trans_scale: float = 10.0  # trans [m] * trans_scale enters the MLP

    @nn.compact
    def __call__(self, pose: jnp.ndarray, trans: jnp.ndarray) -> jnp.ndarray:
        """Args: pose (B, 16, 3) axis-angle, radians; trans (B, 3) meters. Returns z_h (B, d_h)."""
        _rot_dim(self.hand_rotation)
        rot = axis_angle_to_rot6d(pose) if self.hand_rotation == "rot6d" else pose
        x = jnp.concatenate([rot.reshape(rot.shape[0], -1), trans * self.trans_scale], axis=-1)
        return unit_rms(MLP2(self.hidden, self.latent_dim)(x))


class HandDetokenizer(nn.Module):
    """D_h: hand latent z_h -> MANO parameters (pose axis-angle radians, trans meters)."""

    hidden: int = 1024
    hand_rotation: str = "axis_angle"  # or "rot6d": emits 6-D, converted to axis-angle
    trans_scale: float = 10.0

    @nn.compact
    def __call__(self, z_h: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Args: z_h (B, d_h). Returns pose (B, 16, 3) axis-angle radians, trans (B, 3) meters."""
        rd = _rot_dim(self.hand_rotation)
        out = MLP2(self.hidden, NUM_HAND_JOINTS * rd + 3)(z_h)
        rot = out[:, : NUM_HAND_JOINTS * rd].reshape(-1, NUM_HAND_JOINTS, rd)
        pose = rot6d_to_axis_angle(rot) if self.hand_rotation == "rot6d" else rot
        return pose, out[:, NUM_HAND_JOINTS * rd :] / self.trans_scale


# ----------------------------------------------------------------------------------------------
# Object


class ObjectTokenizer(nn.Module):
    """E_o: latent point set (B, N, 3 + D), model units -> unit-RMS object latent z_o (B, d_o).

    Shared per-point MLP (GELU after every layer), then the concatenation of max and mean over
    the points, then the 2-layer MLP. Symmetric pooling makes the output independent of the order
    of the points (exactly for max, up to float summation order for the mean).
    """

    latent_dim: int = 512  # d_o
    hidden: int = 1024
    point_features: Sequence[int] = (64, 128, 256)  # per-point MLP widths

    @nn.compact
    def __call__(self, latent_points: jnp.ndarray) -> jnp.ndarray:
        h = latent_points
        for ch in self.point_features:
            h = nn.gelu(nn.Dense(ch)(h))
        pooled = jnp.concatenate([jnp.max(h, axis=-2), jnp.mean(h, axis=-2)], axis=-1)
        return unit_rms(MLP2(self.hidden, self.latent_dim)(pooled))


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) nearly uniform unit-sphere points in a fixed order (no randomness), float32."""
    i = np.arange(n, dtype=np.float64) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(1.0 - y * y, 0.0))
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=-1).astype(np.float32)


class ObjectDetokenizer(nn.Module):
    """D_o: object latent z_o (B, d_o) -> latent point set (B, N, 3 + D), model units.

    The output order is the decoder's own (see the module docstring): compare sets, not rows.
    """

    num_points: int = 2048  # N
    point_dim: int = 4  # 3 + D
    hidden: int = 1024
    decoder: str = "mlp"  # or "folding"
    folding_hidden: int = 256  # per-point MLP width of the folding decoder

    @nn.compact
    def __call__(self, z_o: jnp.ndarray) -> jnp.ndarray:
        b = z_o.shape[0]
        if self.decoder == "mlp":
            out = MLP2(self.hidden, self.num_points * self.point_dim)(z_o)
            return out.reshape(b, self.num_points, self.point_dim)
        if self.decoder == "folding":
            grid = jnp.asarray(fibonacci_sphere(self.num_points))
            code = MLP2(self.hidden, self.folding_hidden)(z_o)  # (B, H)
            # Dense on concat(grid, code) written as a sum, so the code is projected once per shape.
            h = nn.Dense(self.folding_hidden)(grid)[None] + code[:, None, :]
            h = nn.gelu(h)
            h = nn.gelu(nn.Dense(self.folding_hidden)(h))
            xyz_feat = nn.Dense(self.point_dim)(h)
            base = jnp.concatenate([grid, jnp.zeros((self.num_points, self.point_dim - 3))], -1)
            return base[None] + xyz_feat
        raise ValueError(f"object decoder must be 'mlp' or 'folding', got '{self.decoder}'")
