"""Denoiser G of MGD: an MDM-style transformer encoder that predicts the clean latent (x0).

Tokens, in order (sequence length 2 + 2k with k = ``tokens_per_part``)::

    [time(t_h), time(t_o), hand_1 .. hand_k, object_1 .. object_k]

Each part's latent (B, d) is cut into k chunks of d / k channels; chunk i is projected to the
model width by its own matrix (a block-diagonal linear map of the whole latent), and a learned
embedding per position tells tokens (and so parts and chunks) apart. The default k = 8 (chunks of
64 at d = 512) gives attention several tokens per part to relate, at a sequence of 18 tokens that
is still cheap; k = 1 is one token per part. Timesteps go through the sinusoidal embedding and an
MLP (MDM's TimestepEmbedder), shared by both time tokens; ``t = 0`` (clean) is a valid input like
any other integer. The output token of each chunk is mapped back to its d / k channels by its own
matrix.

Layers are pre-LN by default (``norm="pre"``, LayerNorm before attention and feed-forward, a
final LayerNorm): it trains stably without learning-rate warm-up. ``norm="post"`` reproduces
MDM's PyTorch ``nn.TransformerEncoder`` (post-LN). Dropout (rate ``dropout``) acts on the input
tokens, the attention weights and both residual branches, under the ``"dropout"`` rng, and is off
when ``deterministic=True``.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

PARTS = ("hand", "object")  # the latent's parts, in token order (as in mgd_jax.diffusion)


def timestep_embedding(t: jnp.ndarray, dim: int, max_period: float = 10000.0) -> jnp.ndarray:
    """Sinusoidal embedding of integer timesteps: (B,) -> (B, dim), [sin | cos] halves."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = t.astype(jnp.float32)[:, None] * freqs[None]
    emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)
    if dim % 2:
        emb = jnp.pad(emb, ((0, 0), (0, 1)))
    return emb


class EncoderLayer(nn.Module):
    """Self-attention + GELU feed-forward, pre- or post-LN. (B, L, width) -> (B, L, width)."""

    heads: int
    ff: int
    dropout: float
    norm: str = "pre"

    @nn.compact
    def __call__(self, x: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
        width = x.shape[-1]
        drop = nn.Dropout(self.dropout)

        def attn(h):
            return nn.MultiHeadDotProductAttention(
                num_heads=self.heads, dropout_rate=self.dropout, deterministic=deterministic
            )(h, h)

        def ffn(h):
            h = nn.gelu(nn.Dense(self.ff)(h))
            h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
            return nn.Dense(width)(h)

        if self.norm == "pre":
            x = x + drop(attn(nn.LayerNorm()(x)), deterministic=deterministic)
            return x + drop(ffn(nn.LayerNorm()(x)), deterministic=deterministic)
        if self.norm == "post":
            x = nn.LayerNorm()(x + drop(attn(x), deterministic=deterministic))
            return nn.LayerNorm()(x + drop(ffn(x), deterministic=deterministic))
        raise ValueError(f"denoiser norm must be 'pre' or 'post', got '{self.norm}'")


class ChunkProject(nn.Module):
    """Per-chunk linear maps: (B, k, c_in) -> (B, k, c_out), one (c_in, c_out) matrix per chunk."""

    features: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        k, c = x.shape[-2:]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(batch_axis=(0,)), (k, c, self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (k, self.features))
        return jnp.einsum("bkc,kcf->bkf", x, kernel) + bias


class Denoiser(nn.Module):
    """x0-predicting transformer over [t_h, t_o, hand tokens, object tokens]."""

    hand_dim: int = 512  # d_h
    object_dim: int = 512  # d_o
    width: int = 512
    layers: int = 8
    heads: int = 4
    ff: int = 1024
    dropout: float = 0.1
    tokens_per_part: int = 8  # k: each part's latent is split into k tokens
    norm: str = "pre"  # "pre" or "post" (MDM)

    @nn.compact
    def __call__(
        self, z: dict[str, jnp.ndarray], t: dict[str, jnp.ndarray], deterministic: bool = True
    ) -> dict[str, jnp.ndarray]:
        """Predict the clean latent.

        Args:
          z: {"hand": (B, d_h), "object": (B, d_o)} noisy latents (unit-RMS scale when clean).
          t: {"hand": (B,), "object": (B,)} integer timesteps in [0, T]; 0 means clean.
          deterministic: disable dropout; otherwise needs the ``"dropout"`` rng.

        Returns:
          {"hand": (B, d_h), "object": (B, d_o)} x0 predictions.
        """
        k = self.tokens_per_part
        dims = {"hand": self.hand_dim, "object": self.object_dim}
        for part, d in dims.items():
            if d % k:
                raise ValueError(f"tokens_per_part={k} must divide the {part} latent dim {d}")
        b = z["hand"].shape[0]

        time_mlp = nn.Sequential(
            [nn.Dense(self.width), nn.silu, nn.Dense(self.width)], name="time_mlp"
        )
        tokens = [time_mlp(timestep_embedding(t[p], self.width))[:, None] for p in PARTS]
        for part in PARTS:
            chunks = z[part].reshape(b, k, dims[part] // k)
            tokens.append(ChunkProject(self.width, name=f"{part}_in")(chunks))
        x = jnp.concatenate(tokens, axis=1)  # (B, 2 + 2k, width)
        pos = self.param(
            "pos_embedding", nn.initializers.normal(0.02), (x.shape[1], self.width)
        )
        x = nn.Dropout(self.dropout)(x + pos[None], deterministic=deterministic)
        for i in range(self.layers):
            x = EncoderLayer(self.heads, self.ff, self.dropout, self.norm, name=f"layer_{i}")(
                x, deterministic
            )
        if self.norm == "pre":
            x = nn.LayerNorm(name="final_norm")(x)
        out = {}
        for j, part in enumerate(PARTS):
            h = x[:, 2 + j * k : 2 + (j + 1) * k]
            out[part] = ChunkProject(dims[part] // k, name=f"{part}_out")(h).reshape(b, dims[part])
        return out
