"""The trivial baseline: copy the grasps of the most similar training object.

For each test object, the training object nearest in Chamfer distance (256-point subsets, meters)
gives its grasps, copied into the test object's centric frame unchanged (MANO axis-angle radians,
``trans`` meters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mgd_jax.objects.chamfer import chamfer_distance

SUBSET = 256  # points per object compared
CHUNK = 128  # training objects per distance call


def nearest_neighbour_grasps(test: dict[str, dict], train_set: dict[str, dict], per_object: int,
                             seed: int) -> dict[str, dict]:  # fmt: skip
    """Grasps for every test object from its nearest training object.

    Args:
      test: object id -> {"points": (N, 3) meters, ...} (``data.hoi.grouped_grasps``).
      train_set: object id -> {"points" (N, 3) m, "pose" (k, 16, 3) rad, "trans" (k, 3) m}.
      per_object: grasps per test object (drawn with replacement when the neighbour has fewer).
      seed: the draw's seed.

    Returns:
      test id -> {"pose" (per_object, 16, 3), "trans" (per_object, 3), "retrieved": train id}.
    """
    rng = np.random.default_rng(seed)
    ids = list(train_set)
    bank = np.stack([train_set[k]["points"][:SUBSET] for k in ids]).astype(np.float32)
    to_query = jax.jit(lambda q, b: chamfer_distance(jnp.broadcast_to(q, b.shape), b))

    def distances(query: np.ndarray) -> np.ndarray:  # in chunks: memory stays ~CHUNK*SUBSET^2
        return np.concatenate([np.asarray(to_query(query[None], bank[i : i + CHUNK]))
                               for i in range(0, len(bank), CHUNK)])  # fmt: skip

    out = {}
    for oid, g in test.items():
        best = ids[int(np.argmin(distances(np.asarray(g["points"][:SUBSET], np.float32))))]
        src = train_set[best]
        pick = rng.choice(len(src["pose"]), per_object, replace=len(src["pose"]) < per_object)
        out[oid] = {"pose": src["pose"][pick], "trans": src["trans"][pick], "retrieved": best}
    return out
