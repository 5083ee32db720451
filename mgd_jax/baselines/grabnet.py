"""A GrabNet-style baseline: CoarseNet, a conditional VAE over MANO parameters given the object's BPS.

The design follows GrabNet's CoarseNet (Taheri et al., ECCV 2020): the object enters as its
basis-point-set distances (``mgd_jax.baselines.bps``, 4096 basis points in a 15 cm ball); the
encoder sees those distances with the hand's global rotation (3x3) and translation and gives a
16-D Gaussian; the decoder maps a latent and the distances through two residual MLP blocks (512
units, leaky ReLU 0.2, dense skip connections from the input) to the full pose (16 joints as 6-D
rotations) and the translation. Training (``mgd_jax.tasks.grabnet``) uses GrabNet's losses and
weights. Two documented departures: the BatchNorm layers are LayerNorm (the trainer keeps no batch
statistics), with the BPS distances divided by the ball radius and the translation by
``trans_scale`` before them; and GrabNet's RefineNet is stood in for by this project's grasp
optimiser (``grasps.refine_by_object``), named "GrabNet-style + refine".

    sampler = GrabNetSampler.load("runs/demo/grabnet")
    pose, trans = sampler.conditional(points_m, seed=0)   # one grasp per row, as MGD's Generator

Poses are MANO axis-angle (16, 3), radians; translations meters (the mean-shape hand's, as MGD
generates), object-centric frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import hand
from mgd_jax.baselines import bps
from mgd_jax.hand.kinematics import rodrigues
from mgd_jax.models.tokenizers import rot6d_to_axis_angle


def default_config() -> ml_collections.ConfigDict:
    """CoarseNet's sizes as GrabNet has them; lengths in meters."""
    return ml_collections.ConfigDict({
        "bps_size": 4096,  # basis points
        "bps_radius": 0.15,  # meters: the ball the basis points fill
        "bps_seed": 0,  # the fixed basis (part of the model: never change it after training)
        "hidden": 512,  # units of the residual blocks
        "latent_dim": 16,
        "trans_scale": 0.1,  # meters -> network units of the translation (in and out)
    })  # fmt: skip


def tiny_config() -> ml_collections.ConfigDict:
    """A toy size for tests."""
    c = default_config()
    c.update(bps_size=64, hidden=32, latent_dim=4)
    return c


def _leaky(x):
    return nn.leaky_relu(x, 0.2)


class ResBlock(nn.Module):
    """GrabNet's residual block: dense-norm-act-dense-norm plus a (projected) skip, then act."""

    features: int
    hidden: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        skip = x if x.shape[-1] == self.features else _leaky(nn.Dense(self.features, name="skip")(x))
        h = _leaky(nn.LayerNorm(name="norm1")(nn.Dense(self.hidden, name="fc1")(x)))
        h = nn.LayerNorm(name="norm2")(nn.Dense(self.features, name="fc2")(h))
        return _leaky(skip + h)


class CoarseNet(nn.Module):
    """The conditional VAE. Inputs in meters; see :meth:`encode` and :meth:`decode`."""

    bps_size: int = 4096
    bps_radius: float = 0.15
    hidden: int = 512
    latent_dim: int = 16
    trans_scale: float = 0.1

    @classmethod
    def from_config(cls, c: ml_collections.ConfigDict) -> CoarseNet:
        return cls(int(c.bps_size), float(c.bps_radius), int(c.hidden), int(c.latent_dim),
                   float(c.trans_scale))  # fmt: skip

    def setup(self):
        self.enc_norm = nn.LayerNorm()
        self.enc_block1 = ResBlock(self.hidden, self.hidden)
        self.enc_block2 = ResBlock(self.hidden, self.hidden)
        self.enc_mu = nn.Dense(self.latent_dim)
        self.enc_sigma = nn.Dense(self.latent_dim)
        self.dec_norm = nn.LayerNorm()
        self.dec_block1 = ResBlock(self.hidden, self.hidden)
        self.dec_block2 = ResBlock(self.hidden, self.hidden)
        self.dec_pose = nn.Dense(16 * 6)
        self.dec_trans = nn.Dense(3)

    def encode(self, bps_m: jnp.ndarray, pose: jnp.ndarray, trans_m: jnp.ndarray):
        """q(z | object, hand): (B, K) BPS meters, (B, 16, 3) axis-angle, (B, 3) meters ->
        mean (B, d), standard deviation (B, d) (softplus, as GrabNet)."""
        rot = rodrigues(pose[:, 0]).reshape(pose.shape[0], 9)  # the global orientation only
        x0 = self.enc_norm(jnp.concatenate(
            [bps_m / self.bps_radius, rot, trans_m / self.trans_scale], axis=-1))  # fmt: skip
        x = self.enc_block1(x0)
        x = self.enc_block2(jnp.concatenate([x0, x], axis=-1))
        return self.enc_mu(x), nn.softplus(self.enc_sigma(x)) + 1e-6

    def decode(self, z: jnp.ndarray, bps_m: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """p(hand | z, object): (B, d) latent, (B, K) BPS meters -> pose (B, 16, 3) axis-angle
        radians, trans (B, 3) meters."""
        x0 = jnp.concatenate([z, self.dec_norm(bps_m / self.bps_radius)], axis=-1)
        x = self.dec_block1(x0)
        x = self.dec_block2(jnp.concatenate([x0, x], axis=-1))
        pose = rot6d_to_axis_angle(self.dec_pose(x).reshape(z.shape[0], 16, 6))
        return pose, self.dec_trans(x) * self.trans_scale

    def __call__(self, bps_m, pose, trans_m, key):
        """Reconstruction through a sampled latent: -> (pose, trans, mean, std)."""
        mean, std = self.encode(bps_m, pose, trans_m)
        z = mean + std * jax.random.normal(key, mean.shape)
        pose_hat, trans_hat = self.decode(z, bps_m)
        return pose_hat, trans_hat, mean, std


def basis(c: ml_collections.ConfigDict) -> np.ndarray:
    """The model's fixed (K, 3) basis points, meters."""
    return bps.basis_points(int(c.bps_size), float(c.bps_radius), int(c.bps_seed))


def kl_to_standard_normal(mean: jnp.ndarray, std: jnp.ndarray) -> jnp.ndarray:
    """KL(N(mean, std^2) || N(0, 1)) summed over the last axis: (B, d) -> (B,)."""
    return jnp.sum(0.5 * (jnp.square(mean) + jnp.square(std) - 1.0) - jnp.log(std), axis=-1)


@dataclasses.dataclass
class GrabNetSampler:
    """A trained CoarseNet with its hand model, ready to sample grasps on given objects."""

    config: ml_collections.ConfigDict  # the run's config; the network is config.model
    params: Any  # {"params": ...} (EMA)
    hand_model: hand.HandModel
    step: int = 0

    def __post_init__(self):
        model = CoarseNet.from_config(self.config.model)
        self._basis = jnp.asarray(basis(self.config.model))
        basis_m = self._basis

        def sample(params, points, key):
            z = jax.random.normal(key, (points.shape[0], model.latent_dim))
            return model.apply(params, z, bps.encode(points, basis_m), method=CoarseNet.decode)

        self._sample = jax.jit(sample)

    @classmethod
    def load(cls, workdir: str, mano_path: str | None = None) -> GrabNetSampler:
        """The EMA weights of a ``configs/grabnet.py`` training run in ``workdir``.

        Raises:
          FileNotFoundError naming the folder when it holds no checkpoint; ValueError when it is
          another kind of run or was trained with another hand than ``mano_path``.
        """
        from mgd_jax import trained  # the inference floor (checkpoint reading)

        params, config, step = trained.load_run(workdir, "grabnet")
        hand_model = hand.load(mano_path or config.get("mano_path") or None)
        run_info = os.path.join(workdir, "run.json")
        if os.path.isfile(run_info):
            with open(run_info) as f:
                trained.check_hand(workdir, json.load(f).get("hand"), hand_model)
        return cls(config, {"params": jax.tree_util.tree_map(jnp.asarray, params)}, hand_model,
                   step)  # fmt: skip

    @property
    def num_points(self) -> int:
        return int(self.config.task.num_points)

    def conditional(self, points_m: np.ndarray, seed: int = 0, batch_size: int = 256,
                    on_batch: Callable[[int], None] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """One grasp per row of ``points_m``, z ~ N(0, I) decoded with the object's BPS.

        Args:
          points_m: (B, N >= num_points, 3) object surface points, meters, object-centric frame.
          seed: batch i uses ``fold_in(PRNGKey(seed), i)``.
          batch_size: rows per jitted call.
          on_batch: called with the number of rows after each batch.

        Returns:
          pose (B, 16, 3) axis-angle radians, trans (B, 3) meters.
        """
        points_m = np.asarray(points_m, np.float32)
        if points_m.ndim != 3 or points_m.shape[-1] != 3 or points_m.shape[1] < self.num_points:
            raise ValueError(f"object points must be (B, N >= {self.num_points}, 3) meters, got "
                             f"{points_m.shape}")  # fmt: skip
        if not np.all(np.isfinite(points_m)):
            bad = np.flatnonzero(~np.isfinite(points_m).all(axis=(1, 2)))
            raise ValueError(f"object points of objects {bad.tolist()} contain NaN or inf")
        key = jax.random.PRNGKey(seed)
        poses, transs = [], []
        for i, start in enumerate(range(0, len(points_m), batch_size)):
            chunk = jnp.asarray(points_m[start : start + batch_size, : self.num_points])
            pose, trans = self._sample(self.params, chunk, jax.random.fold_in(key, i))
            poses.append(np.asarray(pose))
            transs.append(np.asarray(trans))
            if on_batch is not None:
                on_batch(len(chunk))
        return np.concatenate(poses), np.concatenate(transs)
