"""The Chamfer distance between point sets, used by the point-VAE report, the MGD loss and the
retrieval baseline (one implementation, two reductions).

Nearest neighbours are found on the expanded form ``|a|^2 + |b|^2 - 2 a.b`` (a (B, N, M) matrix,
no gradient); distances are then recomputed exactly from the gathered pairs, so values and
gradients are free of the expansion's cancellation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def nearest_index(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """For each row of a (B, N, C), the index into b (B, M, C) of its nearest row: (B, N) int."""
    d2 = (
        jnp.sum(jnp.square(a), -1)[:, :, None]
        + jnp.sum(jnp.square(b), -1)[:, None, :]
        - 2.0 * jnp.einsum("bnc,bmc->bnm", a, b)
    )
    return jnp.argmin(jax.lax.stop_gradient(d2), axis=-1)


def chamfer_distance(a: jnp.ndarray, b: jnp.ndarray, squared: bool = False) -> jnp.ndarray:
    """Symmetric, order-free Chamfer distance between (B, N, C) and (B, M, C) point sets.

    Args:
      a: (B, N, C) points (any C, e.g. 4-D latent points), any unit.
      b: (B, M, C) points, same unit.
      squared: False (the reporting metric, e.g. in mm): ``0.5 (mean_i min_j |a_i - b_j| +
        mean_j min_i |a_i - b_j|)``, in the points' unit. True (the training loss):
        ``mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2``, in the unit squared.

    Returns:
      (B,) distances.
    """
    nn_ab = jnp.take_along_axis(b, nearest_index(a, b)[..., None], axis=1)  # (B, N, C)
    nn_ba = jnp.take_along_axis(a, nearest_index(b, a)[..., None], axis=1)  # (B, M, C)
    d2_ab = jnp.sum(jnp.square(a - nn_ab), -1)
    d2_ba = jnp.sum(jnp.square(b - nn_ba), -1)
    if squared:
        return jnp.mean(d2_ab, -1) + jnp.mean(d2_ba, -1)
    return 0.5 * (jnp.mean(jnp.sqrt(d2_ab), -1) + jnp.mean(jnp.sqrt(d2_ba), -1))
