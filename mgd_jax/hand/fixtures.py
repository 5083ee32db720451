"""Random MANO-format arrays of MANO's exact sizes, for tests and benchmarks.

The geometry is random (not a hand); field names, shapes and dtypes match the official
``MANO_RIGHT.pkl`` (``specs/mano.md``), so readers and the forward model can be exercised
without the licensed file.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from mgd_jax.hand.model import MANO_PARENTS

MANO_NUM_VERTICES = 778
MANO_NUM_FACES = 1538


def random_mano_arrays(
    seed: int = 0, num_vertices: int = MANO_NUM_VERTICES, num_faces: int = MANO_NUM_FACES
) -> dict[str, object]:
    """Arrays laid out like the official MANO pickle (float64, uint32 kintree/faces, CSC regressor).

    ``shapedirs`` has 10 components here; the official file's chumpy ``Select`` view over a
    larger array is built by the test that writes the pickle.
    """
    rng = np.random.default_rng(seed)
    v_template = rng.normal(0.0, 0.03, size=(num_vertices, 3))
    rows, cols, vals = [], [], []
    for j in range(16):
        idx = rng.choice(num_vertices, size=12, replace=False)
        w = rng.uniform(0.1, 1.0, size=12)
        rows += [j] * 12
        cols += list(idx)
        vals += list(w / w.sum())
    j_regressor = scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(16, num_vertices))
    logits = rng.normal(0.0, 2.0, size=(num_vertices, 16))
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    kintree = np.array([[p if p >= 0 else 4294967295 for p in MANO_PARENTS], list(range(16))],
                       dtype=np.uint32)  # fmt: skip
    faces = np.stack(
        [rng.choice(num_vertices, size=3, replace=False) for _ in range(num_faces)]
    ).astype(np.uint32)
    comps, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.005, size=(num_vertices, 3, 10)),
        "posedirs": rng.normal(0.0, 0.002, size=(num_vertices, 3, 135)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces,
        "hands_components": comps,
        "hands_mean": rng.normal(0.0, 0.1, size=45),
        "hands_coeffs": rng.normal(0.0, 1.0, size=(32, 45)),
        "J": np.asarray(j_regressor @ v_template),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
