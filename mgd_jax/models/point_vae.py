"""Stage-1 point VAE: LION's point-latent VAE without the global latent (DESIGN §4).

Encoder: 2048 points -> per-point posterior over z_p = (latent xyz, D features); latent xyz =
input xyz + 0.01 * learned offset, so point order is kept. Decoder: z_p -> points = latent xyz +
0.01 * learned offset. Both are stacks of point-voxel convolutions (PVConv): average-voxelise
with segment_sum, two 3-D convolutions, trilinear devoxelise, plus a point-wise MLP branch, with
GroupNorm. The model works in "model units" = meters * ``input_scale`` so that objects are O(1).

``backbone="pointnet"`` swaps both stacks for a plain PointNet (shared per-point MLP + a global
max-pooled feature, no voxels): the baseline that shows what the voxel branch buys.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

_LOG_SIGMA_OFFSET = 6.0  # posterior log-sigma starts near -6: the VAE begins almost deterministic
_OFFSET_SCALE = 0.01  # latent xyz / output = xyz + 0.01 * offset (LION)


def _norm_coords(xyz: jnp.ndarray) -> jnp.ndarray:
    """(B, N, 3) -> per-shape coordinates in [0, 1]^3 (centred, scaled by the max radius)."""
    centred = xyz - jnp.mean(xyz, axis=1, keepdims=True)
    radius = jnp.max(jnp.linalg.norm(centred, axis=-1), axis=1)[:, None, None]
    return centred / (2.0 * radius + 1e-6) + 0.5


def voxelize(features: jnp.ndarray, coords01: jnp.ndarray, res: int) -> jnp.ndarray:
    """Average point features into a (B, res, res, res, C) grid (segment_sum, empty voxels 0)."""
    b, n, c = features.shape
    idx = jnp.clip(jnp.round(coords01 * (res - 1)).astype(jnp.int32), 0, res - 1)
    flat = (idx[..., 0] * res + idx[..., 1]) * res + idx[..., 2]
    flat = flat + (jnp.arange(b)[:, None] * res**3)
    sums = jax.ops.segment_sum(features.reshape(b * n, c), flat.reshape(-1), num_segments=b * res**3)
    counts = jax.ops.segment_sum(jnp.ones((b * n,), features.dtype), flat.reshape(-1),
                                 num_segments=b * res**3)  # fmt: skip
    grid = sums / jnp.maximum(counts, 1.0)[:, None]
    return grid.reshape(b, res, res, res, c)


_CORNERS = np.array([[dx, dy, dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)], np.int32)


def devoxelize(grid: jnp.ndarray, coords01: jnp.ndarray) -> jnp.ndarray:
    """Trilinear interpolation of (B, R, R, R, C) at (B, N, 3) coordinates in [0, 1] -> (B, N, C)."""
    b, res = grid.shape[0], grid.shape[1]
    g = coords01 * (res - 1)
    i0 = jnp.clip(jnp.floor(g).astype(jnp.int32), 0, res - 2)
    f = jnp.clip(g - i0, 0.0, 1.0)
    idx = i0[:, :, None, :] + _CORNERS  # (B, N, 8, 3)
    flat = (idx[..., 0] * res + idx[..., 1]) * res + idx[..., 2]
    flat = flat + (jnp.arange(b) * res**3)[:, None, None]
    weights = jnp.prod(jnp.where(_CORNERS == 1, f[:, :, None, :], 1.0 - f[:, :, None, :]), axis=-1)
    # One gather over the flattened grid (its gradient is one scatter-add, far cheaper on CPU
    # than eight vmapped gathers).
    values = jnp.take(grid.reshape(-1, grid.shape[-1]), flat, axis=0)  # (B, N, 8, C)
    return jnp.einsum("bnk,bnkc->bnc", weights, values)


def _shifted_windows(x: jnp.ndarray) -> jnp.ndarray:
    """(B, X, Y, Z, C) -> (B, X + 2, Y + 2, Z, 3C): x/y zero-padded, the 3 z taps in channels."""
    r = x.shape[3]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([xp[:, :, :, k : k + r] for k in range(3)], axis=-1)


class Conv3D(nn.Module):
    """3x3x3 'SAME' convolution, channels last, with two interchangeable implementations.

    ``impl="lax"`` is ``lax.conv_general_dilated`` (fast on GPU/TPU). ``impl="matmul"`` computes the
    same function as 9 matrix products over shifted windows with the z taps folded into channels;
    XLA's CPU backend runs 3-D convolutions far slower than matrix products, so ``"auto"`` picks
    ``matmul`` on CPU and ``lax`` elsewhere. Parameters are identical, so checkpoints move freely.
    """

    features: int
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        c = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, 3, c, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        impl = self.impl
        if impl == "auto":
            impl = "matmul" if jax.default_backend() == "cpu" else "lax"
        if impl == "lax":
            y = jax.lax.conv_general_dilated(
                x, kernel, (1, 1, 1), "SAME", dimension_numbers=("NDHWC", "DHWIO", "NDHWC")
            )
        elif impl == "matmul":
            r = x.shape[1:4]
            windows = _shifted_windows(x)  # (B, Rx+2, Ry+2, Rz, 3C)
            y = 0.0
            for i in range(3):
                for j in range(3):
                    w = kernel[i, j].reshape(3 * c, self.features)
                    y = y + windows[:, i : i + r[0], j : j + r[1]] @ w
        else:
            raise ValueError(f"Conv3D impl must be 'auto', 'lax' or 'matmul', got '{impl}'")
        return y + bias


class PVConv(nn.Module):
    """Point-voxel convolution: voxel branch (2 x conv3d) + point branch (MLP), summed."""

    features: int  # output channels
    resolution: int  # voxel grid side
    groups: int = 8  # GroupNorm groups
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, feats: jnp.ndarray, coords01: jnp.ndarray) -> jnp.ndarray:
        groups = min(self.groups, self.features)
        v = voxelize(feats, coords01, self.resolution)
        for _ in range(2):
            v = Conv3D(self.features, self.conv_impl)(v)
            v = nn.swish(nn.GroupNorm(num_groups=groups)(v))
        voxel = devoxelize(v, coords01)
        point = nn.swish(nn.GroupNorm(num_groups=groups)(nn.Dense(self.features)(feats)))
        return voxel + point


class PVStack(nn.Module):
    """Dense lift, then PVConv at each (channels, resolution), then a linear head."""

    channels: Sequence[int]
    resolutions: Sequence[int]
    out_features: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, feats: jnp.ndarray, xyz: jnp.ndarray) -> jnp.ndarray:
        coords01 = _norm_coords(jax.lax.stop_gradient(xyz))
        h = nn.Dense(self.channels[0])(feats)
        for ch, res in zip(self.channels, self.resolutions):
            h = PVConv(ch, res, conv_impl=self.conv_impl)(h, coords01)
        return nn.Dense(self.out_features, kernel_init=nn.initializers.zeros)(h)


class PointNetStack(nn.Module):
    """Baseline: shared per-point MLP; after the first layer every point also sees the shape's
    max-pooled global feature (PointNet segmentation style). No neighbourhoods, no voxels."""

    channels: Sequence[int]
    out_features: int
    groups: int = 8

    @nn.compact
    def __call__(self, feats: jnp.ndarray, xyz: jnp.ndarray) -> jnp.ndarray:
        del xyz  # positions are already in feats; kept for the PVStack signature
        h = feats
        for i, ch in enumerate(self.channels):
            h = nn.Dense(ch)(h)
            h = nn.swish(nn.GroupNorm(num_groups=min(self.groups, ch))(h))
            if i == 0:
                pooled = jnp.max(h, axis=1, keepdims=True)
                h = jnp.concatenate([h, jnp.broadcast_to(pooled, h.shape)], axis=-1)
        return nn.Dense(self.out_features, kernel_init=nn.initializers.zeros)(h)


@flax.struct.dataclass
class PointVAEOutput:
    recon: jnp.ndarray  # (B, N, 3) reconstructed points, model units
    z: jnp.ndarray  # (B, N, 3 + D) sampled latent points
    mu: jnp.ndarray  # (B, N, 3 + D) posterior mean
    log_sigma: jnp.ndarray  # (B, N, 3 + D) posterior log-sigma


class PointVAE(nn.Module):
    """Per-point latent VAE. Inputs/outputs in model units (meters * input_scale)."""

    channels: Sequence[int] = (32, 64, 128)
    resolutions: Sequence[int] = (32, 16, 8)
    latent_features: int = 1  # D: extra latent channels beside xyz
    backbone: str = "pvcnn"  # or "pointnet" (the baseline)
    conv_impl: str = "auto"  # Conv3D implementation; "auto" picks by backend

    def setup(self):
        d = 3 + self.latent_features
        if self.backbone == "pvcnn":
            self.encoder = PVStack(self.channels, self.resolutions, 2 * d, self.conv_impl)
            self.decoder = PVStack(self.channels, self.resolutions, 3, self.conv_impl)
        elif self.backbone == "pointnet":
            self.encoder = PointNetStack(self.channels, 2 * d)
            self.decoder = PointNetStack(self.channels, 3)
        else:
            raise ValueError(f"PointVAE backbone must be 'pvcnn' or 'pointnet', got '{self.backbone}'")

    def encode(self, points: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(B, N, 3) points -> posterior mean and log-sigma, each (B, N, 3 + D)."""
        d = 3 + self.latent_features
        raw = self.encoder(points, points)
        mu = jnp.concatenate([points + _OFFSET_SCALE * raw[..., :3], raw[..., 3:d]], axis=-1)
        return mu, raw[..., d:] - _LOG_SIGMA_OFFSET

    def decode(self, z: jnp.ndarray) -> jnp.ndarray:
        """(B, N, 3 + D) latent points -> (B, N, 3) points."""
        xyz = z[..., :3]
        return xyz + _OFFSET_SCALE * self.decoder(z, xyz)

    def __call__(self, points: jnp.ndarray, sample: bool = True) -> PointVAEOutput:
        mu, log_sigma = self.encode(points)
        if sample:
            eps = jax.random.normal(self.make_rng("latent"), mu.shape, mu.dtype)
            z = mu + jnp.exp(log_sigma) * eps
        else:
            z = mu
        return PointVAEOutput(recon=self.decode(z), z=z, mu=mu, log_sigma=log_sigma)


def kl_to_standard_normal(mu: jnp.ndarray, log_sigma: jnp.ndarray) -> jnp.ndarray:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over channels, (B, N, C) -> (B, N)."""
    return 0.5 * jnp.sum(mu**2 + jnp.exp(2 * log_sigma) - 1.0 - 2.0 * log_sigma, axis=-1)


def from_config(section) -> PointVAE:
    """A ``PointVAE`` from a point-VAE ``config.model`` section (ConfigDict or plain dict)."""
    get = section.get if hasattr(section, "get") else lambda k, d=None: getattr(section, k, d)
    return PointVAE(
        tuple(get("channels")), tuple(get("resolutions")), int(get("latent_features")),
        backbone=get("backbone", "pvcnn"), conv_impl=get("conv_impl", "auto"),
    )  # fmt: skip
