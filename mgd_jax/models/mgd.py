"""MGD assembly: hand/object tokenizers and detokenizers around the transformer denoiser.

Usage::

    model = MGD.from_config(config.model)
    params = model.init({"params": key}, pose, trans, latent_points)      # every parameter at once
    z_h = model.apply(params, pose, trans, method=MGD.encode_hand)
    x0 = model.apply(params, z, t, False, method=MGD.denoise, rngs={"dropout": key})

The object branch reads the frozen stage-1 point VAE's posterior-mean latent points (model units),
produced by :func:`object_latents`; :func:`decode_object_points` turns latent points back into
points in meters. The VAE is not part of this module: its parameters are separate and never
trained here. The object tokenizer ignores point order, so ``decode_object`` returns the set in
its own order: compare it with the VAE latents by an order-free loss (e.g. Chamfer), not per row.
``deterministic`` is a Python bool (static under ``jit``).

Config keys read from the ``config.model`` section of an MGD run (see :func:`default_config`):

  latent_dim        d_h = d_o, tokenizer output size                        (512)
  tokenizer_hidden  hidden width of every tokenizer/detokenizer 2-layer MLP (1024)
  hand_rotation     "axis_angle" (paper) or "rot6d"                         ("axis_angle")
  trans_scale       MANO trans [m] is multiplied by this before the MLP      (10.0)
  point_features    per-point MLP widths of the object set encoder           ((64, 128, 256))
  num_points        N, points of the latent point set                        (2048)
  point_dim         3 + D, channels of a latent point                        (4)
  object_decoder    "mlp" (N * point_dim outputs) or "folding"               ("mlp")
  folding_hidden    per-point width of the folding decoder                   (256)
  width, layers, heads, ff, dropout   transformer encoder                    (512, 8, 4, 1024, 0.1)
  tokens_per_part   tokens per part latent (must divide latent_dim)          (8)
  norm              "pre" or "post" (MDM's) LayerNorm placement              ("pre")

Parameter count at :func:`default_config`: 29,585,139 (checked by
``tests/test_mgd_models.py::test_param_count_at_paper_scale``): denoiser 18.42 M, object
detokenizer 8.92 M, object tokenizer 1.09 M, hand tokenizer 0.58 M, hand detokenizer 0.58 M.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from mgd_jax.models.denoiser import Denoiser
from mgd_jax.models.tokenizers import (
    HandDetokenizer,
    HandTokenizer,
    ObjectDetokenizer,
    ObjectTokenizer,
)


def default_config() -> ml_collections.ConfigDict:
    """The MGD ``config.model`` section at paper scale (d = 512, MLP hidden 1024, MDM transformer)."""
    return ml_collections.ConfigDict(
        {
            "latent_dim": 512,
            "tokenizer_hidden": 1024,
            "hand_rotation": "axis_angle",
            "trans_scale": 10.0,
            "point_features": (64, 128, 256),
            "num_points": 2048,
            "point_dim": 4,
            "object_decoder": "mlp",
            "folding_hidden": 256,
            "width": 512,
            "layers": 8,
            "heads": 4,
            "ff": 1024,
            "dropout": 0.1,
            "tokens_per_part": 8,
            "norm": "pre",
        }
    )


def tiny_config() -> ml_collections.ConfigDict:
    """A few-thousand-parameter section for tests (64 points, width 16, 2 layers)."""
    config = default_config()
    config.latent_dim = 32
    config.tokenizer_hidden = 64
    config.point_features = (16, 16)
    config.num_points = 64
    config.folding_hidden = 16
    config.width = 16
    config.layers = 2
    config.heads = 2
    config.ff = 32
    config.tokens_per_part = 4
    return config


class MGD(nn.Module):
    """E_h, D_h, E_o, D_o and the denoiser G. All sizes as in :func:`default_config`."""

    latent_dim: int = 512
    tokenizer_hidden: int = 1024
    hand_rotation: str = "axis_angle"
    trans_scale: float = 10.0
    point_features: tuple[int, ...] = (64, 128, 256)
    num_points: int = 2048
    point_dim: int = 4
    object_decoder: str = "mlp"
    folding_hidden: int = 256
    width: int = 512
    layers: int = 8
    heads: int = 4
    ff: int = 1024
    dropout: float = 0.1
    tokens_per_part: int = 8
    norm: str = "pre"

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> MGD:
        """Build from an MGD ``config.model`` section; unknown keys raise, naming the key."""
        fields = {f for f in cls.__dataclass_fields__ if f not in ("parent", "name")}
        unknown = set(config.keys()) - fields
        if unknown:
            raise ValueError(f"config.model has unknown keys {sorted(unknown)}")
        kwargs = dict(config.to_dict())
        if "point_features" in kwargs:
            kwargs["point_features"] = tuple(kwargs["point_features"])
        return cls(**kwargs)

    def setup(self):
        self.hand_tokenizer = HandTokenizer(
            self.latent_dim, self.tokenizer_hidden, self.hand_rotation, self.trans_scale
        )
        self.hand_detokenizer = HandDetokenizer(
            self.tokenizer_hidden, self.hand_rotation, self.trans_scale
        )
        self.object_tokenizer = ObjectTokenizer(
            self.latent_dim, self.tokenizer_hidden, tuple(self.point_features)
        )
        self.object_detokenizer = ObjectDetokenizer(
            self.num_points,
            self.point_dim,
            self.tokenizer_hidden,
            self.object_decoder,
            self.folding_hidden,
        )
        self.denoiser = Denoiser(
            hand_dim=self.latent_dim,
            object_dim=self.latent_dim,
            width=self.width,
            layers=self.layers,
            heads=self.heads,
            ff=self.ff,
            dropout=self.dropout,
            tokens_per_part=self.tokens_per_part,
            norm=self.norm,
        )

    def encode_hand(self, pose: jnp.ndarray, trans: jnp.ndarray) -> jnp.ndarray:
        """pose (B, 16, 3) axis-angle radians, trans (B, 3) meters -> z_h (B, d_h), unit RMS."""
        return self.hand_tokenizer(pose, trans)

    def encode_object(self, latent_points: jnp.ndarray) -> jnp.ndarray:
        """Latent point set (B, N, point_dim), model units -> z_o (B, d_o), unit RMS."""
        return self.object_tokenizer(latent_points)

    def denoise(
        self, z: dict[str, jnp.ndarray], t: dict[str, jnp.ndarray], deterministic: bool = True
    ) -> dict[str, jnp.ndarray]:
        """{"hand": (B, d_h), "object": (B, d_o)} at int timesteps {"hand": (B,), "object": (B,)}
        -> x0 predictions of the same shapes. Dropout needs the ``"dropout"`` rng when on."""
        return self.denoiser(z, t, deterministic)

    def decode_hand(self, z_h: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """z_h (B, d_h) -> pose (B, 16, 3) axis-angle radians, trans (B, 3) meters."""
        return self.hand_detokenizer(z_h)

    def decode_object(self, z_o: jnp.ndarray) -> jnp.ndarray:
        """z_o (B, d_o) -> latent point set (B, N, point_dim), model units, decoder's own order."""
        return self.object_detokenizer(z_o)

    def __call__(
        self,
        pose: jnp.ndarray,
        trans: jnp.ndarray,
        latent_points: jnp.ndarray,
        t: dict[str, jnp.ndarray] | None = None,
        deterministic: bool = True,
    ) -> dict[str, jnp.ndarray]:
        """Encode, denoise the (clean unless noised elsewhere) latents at ``t`` (default 0),
        decode. Touches every submodule, so ``init`` creates all parameters.

        Returns a dict: ``z_h``, ``z_o`` (tokens), ``x0`` (denoiser output dict), ``pose`` (B,16,3),
        ``trans`` (B,3) and ``latent_points`` (B,N,point_dim) decoded from ``x0``.
        """
        z = {"hand": self.encode_hand(pose, trans), "object": self.encode_object(latent_points)}
        if t is None:
            zeros = jnp.zeros((pose.shape[0],), jnp.int32)
            t = {"hand": zeros, "object": zeros}
        x0 = self.denoise(z, t, deterministic)
        pose_hat, trans_hat = self.decode_hand(x0["hand"])
        return {
            "z_h": z["hand"],
            "z_o": z["object"],
            "x0": x0,
            "pose": pose_hat,
            "trans": trans_hat,
            "latent_points": self.decode_object(x0["object"]),
        }


def object_latents(
    point_vae_model: nn.Module, point_vae_params, points_m: jnp.ndarray, input_scale: float
) -> jnp.ndarray:
    """Posterior-mean latent points of the frozen point VAE (no gradient flows into it).

    Args:
      point_vae_model: a ``PointVAE`` module.
      point_vae_params: its variables (``{"params": ...}``).
      points_m: (B, N, 3) object surface points, meters, object-centric frame.
      input_scale: meters -> model units factor the VAE was trained with.

    Returns:
      (B, N, 3 + D) latent points, model units, in the input's point order.
    """
    mu, _ = point_vae_model.apply(
        point_vae_params, points_m * input_scale, method=point_vae_model.encode
    )
    return jax.lax.stop_gradient(mu)


def decode_object_points(
    point_vae_model: nn.Module, point_vae_params, latent_points: jnp.ndarray, input_scale: float
) -> jnp.ndarray:
    """(B, N, 3 + D) latent points, model units -> (B, N, 3) points, meters (frozen VAE decoder)."""
    params = jax.lax.stop_gradient(point_vae_params)
    points = point_vae_model.apply(params, latent_points, method=point_vae_model.decode)
    return points / input_scale
