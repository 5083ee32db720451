"""Basis point sets (BPS): an object as its distances from a fixed set of points.

A fixed set of basis points is drawn once, uniformly in a ball around the object-centric origin;
an object is encoded by, for every basis point, the distance to its nearest surface point. The
encoding has one length per basis point whatever the object's point count, which is why GrabNet
feeds it to plain MLPs. Lengths are meters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def basis_points(num: int, radius_m: float, seed: int) -> np.ndarray:
    """``num`` points uniform in the ball of ``radius_m`` meters around the origin.

    The same (num, radius, seed) give the same points on every machine (numpy's PCG64).

    Returns:
      (num, 3) float32, meters.
    """
    if num < 1 or not radius_m > 0:
        raise ValueError(f"a BPS needs num >= 1 and radius > 0, got num={num}, radius={radius_m}")
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(num, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = radius_m * rng.uniform(size=(num, 1)) ** (1.0 / 3.0)
    return (direction * r).astype(np.float32)


def encode(points_m: jnp.ndarray, basis_m: jnp.ndarray) -> jnp.ndarray:
    """BPS distances of object point clouds.

    Args:
      points_m: (B, P, 3) object surface points, meters, object-centric frame.
      basis_m: (K, 3) basis points, meters (:func:`basis_points`).

    Returns:
      (B, K) distance from each basis point to its nearest object point, meters.
    """
    basis_m = jnp.asarray(basis_m, jnp.float32)

    def one(points):  # one object at a time: (K, P) distances fit in memory for K = 4096
        d2 = (jnp.sum(basis_m**2, -1)[:, None] - 2.0 * basis_m @ points.T
              + jnp.sum(points**2, -1)[None, :])  # fmt: skip
        return jnp.sqrt(jnp.maximum(jnp.min(d2, axis=1), 0.0))

    return jax.lax.map(one, jnp.asarray(points_m, jnp.float32))
