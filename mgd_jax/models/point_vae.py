"""Stage-1 point VAE: LION's point-latent VAE without the global latent (DESIGN §4).

Encoder: 2048 points -> per-point posterior over z_p = (latent xyz, D features); latent xyz =
input xyz + 0.01 * learned offset, so point order is kept. Decoder: z_p -> points = latent xyz +
0.01 * learned offset. Both are stacks of point-voxel convolutions (PVConv): average-voxelise
with segment_sum, two 3-D convolutions, trilinear devoxelise, plus a point-wise MLP branch, with
GroupNorm. The model works in "model units" = meters * ``input_scale`` so that objects are O(1).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

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


def devoxelize(grid: jnp.ndarray, coords01: jnp.ndarray) -> jnp.ndarray:
    """Trilinear interpolation of (B, R, R, R, C) at (B, N, 3) coordinates in [0, 1] -> (B, N, C)."""
    res = grid.shape[1]
    g = coords01 * (res - 1)
    i0 = jnp.clip(jnp.floor(g).astype(jnp.int32), 0, res - 2)
    f = jnp.clip(g - i0, 0.0, 1.0)

    def gather(grid_b, ix, iy, iz):
        return grid_b[ix, iy, iz]

    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = ((f[..., 0] if dx else 1 - f[..., 0]) * (f[..., 1] if dy else 1 - f[..., 1])
                     * (f[..., 2] if dz else 1 - f[..., 2]))  # fmt: skip
                vals = jax.vmap(gather)(grid, i0[..., 0] + dx, i0[..., 1] + dy, i0[..., 2] + dz)
                out = out + w[..., None] * vals
    return out


class PVConv(nn.Module):
    """Point-voxel convolution: voxel branch (2 x conv3d) + point branch (MLP), summed."""

    features: int  # output channels
    resolution: int  # voxel grid side
    groups: int = 8  # GroupNorm groups

    @nn.compact
    def __call__(self, feats: jnp.ndarray, coords01: jnp.ndarray) -> jnp.ndarray:
        groups = min(self.groups, self.features)
        v = voxelize(feats, coords01, self.resolution)
        for _ in range(2):
            v = nn.Conv(self.features, (3, 3, 3))(v)
            v = nn.swish(nn.GroupNorm(num_groups=groups)(v))
        voxel = devoxelize(v, coords01)
        point = nn.swish(nn.GroupNorm(num_groups=groups)(nn.Dense(self.features)(feats)))
        return voxel + point


class PVStack(nn.Module):
    """Dense lift, then PVConv at each (channels, resolution), then a linear head."""

    channels: Sequence[int]
    resolutions: Sequence[int]
    out_features: int

    @nn.compact
    def __call__(self, feats: jnp.ndarray, xyz: jnp.ndarray) -> jnp.ndarray:
        coords01 = _norm_coords(jax.lax.stop_gradient(xyz))
        h = nn.Dense(self.channels[0])(feats)
        for ch, res in zip(self.channels, self.resolutions):
            h = PVConv(ch, res)(h, coords01)
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

    def setup(self):
        d = 3 + self.latent_features
        self.encoder = PVStack(self.channels, self.resolutions, 2 * d)
        self.decoder = PVStack(self.channels, self.resolutions, 3)

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


def chamfer_distance(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """Symmetric Chamfer distance (mean of nearest-neighbour distances both ways), (B,N,3)x(B,M,3) -> (B,)."""
    d2 = jnp.sum((a[:, :, None, :] - b[:, None, :, :]) ** 2, axis=-1)
    d = jnp.sqrt(jnp.maximum(d2, 0.0))
    return 0.5 * (jnp.mean(jnp.min(d, axis=2), axis=1) + jnp.mean(jnp.min(d, axis=1), axis=1))
