"""Point-cloud generation metrics (MMD-CD, COV-CD, 1-NNA-CD): the Chamfer matrix against numpy
float64, the exact values on identical and tied sets, the collapse check that fails on a
collapsed generator and passes on one drawn from the reference distribution, NaN rejection."""

import numpy as np
import pytest

from mgd_jax.evaluators import chamfer_matrix, generation_metrics


def _chamfer_mm_reference(a, b):
    """numpy float64 brute force: 0.5 (mean_i min_j |a_i - b_j| + mean_j min_i |a_i - b_j|), mm."""
    out = np.zeros((len(a), len(b)))
    for i, x in enumerate(np.asarray(a, np.float64)):
        for j, y in enumerate(np.asarray(b, np.float64)):
            d = np.linalg.norm(x[:, None] - y[None], axis=-1)
            out[i, j] = 0.5 * (d.min(1).mean() + d.min(0).mean())
    return 1e3 * out


def _shape(rng, n=256):
    """Surface points (meters) of a sphere (radius 2-8 cm) or a box (half-sides 1-4 cm)."""
    if rng.random() < 0.5:
        u = rng.normal(size=(n, 3))
        return u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(0.02, 0.08)
    p = rng.uniform(-1, 1, size=(n, 3))
    face = rng.integers(3, size=n)
    p[np.arange(n), face] = np.sign(p[np.arange(n), face])
    return p * rng.uniform(0.01, 0.04, size=3)


def _shapes(rng, k):
    return np.stack([_shape(rng) for _ in range(k)])


@pytest.mark.parametrize("seed", [0, 1])
def test_chamfer_matrix_matches_numpy_brute_force(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(5, 40, 3)) * 0.05  # 5 and 3 clouds: blocks of 2 with padding
    b = rng.normal(size=(3, 27, 3)) * 0.05 + 0.01
    np.testing.assert_allclose(chamfer_matrix(a, b, chunk=2), _chamfer_mm_reference(a, b),
                               rtol=1e-5)  # fmt: skip
    self_d = chamfer_matrix(a, chunk=2)  # upper blocks mirrored
    np.testing.assert_allclose(self_d, _chamfer_mm_reference(a, a), rtol=1e-5, atol=1e-9)
    assert (self_d == self_d.T).all() and (np.diag(self_d) == 0).all()


def test_identical_sets_cover_everything_at_zero_distance():
    ref = _shapes(np.random.default_rng(0), 12)
    out = generation_metrics(ref, ref)
    assert out["mmd_cd_mm"] == 0.0 and out["cov_cd"] == 1.0
    # Not 0.5: every cloud's nearest is its exact copy in the other set, so the leave-one-out
    # classifier gets all of them wrong (PointFlow: below 50% means memorised samples).
    assert out["nna_cd"] == 0.0
    assert out["num_generated"] == out["num_reference"] == 12
    assert out["nna_cd_chance"] == 11 / 23  # (n - 1) / (2n - 1): 0.5 as n grows


def test_ties_go_to_the_lowest_index_reference_first():
    rng = np.random.default_rng(1)
    a, b = _shape(rng), _shape(rng)
    out = generation_metrics(np.stack([a, a]), np.stack([a, b]))
    # Union order r0=a, r1=b, g0=a, g1=a. r0 -> g0 (0, first of two ties): wrong; r1 -> r0
    # (tied with g0, g1 at CD(a, b)): right; g0 -> r0 (tied with g1): wrong; g1 -> r0: wrong.
    assert out["nna_cd"] == 0.25
    assert out["cov_cd"] == 0.5
    np.testing.assert_allclose(out["mmd_cd_mm"], 0.5 * _chamfer_mm_reference([a], [b])[0, 0],
                               rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_collapsed_generator_fails_and_matching_distribution_passes(seed):
    rng = np.random.default_rng(seed)
    ref = _shapes(rng, 24)
    collapsed = generation_metrics(np.repeat(_shape(rng)[None], 24, axis=0), ref)
    assert collapsed["cov_cd"] == 1 / 24  # every generated cloud has the same nearest reference
    assert collapsed["nna_cd"] >= 0.9
    u = rng.normal(size=(24, 256, 3))  # the same 5 cm sphere, points resampled per cloud
    resampled = generation_metrics(0.05 * u / np.linalg.norm(u, axis=-1, keepdims=True), ref)
    assert resampled["cov_cd"] <= 2 / 24 and resampled["nna_cd"] >= 0.9
    matching = generation_metrics(_shapes(rng, 24), ref)
    assert matching["cov_cd"] >= 0.4, matching  # i.i.d. sets of 24 cover about 1 - 1/e
    assert matching["nna_cd"] <= 0.75, matching
    assert matching["mmd_cd_mm"] < collapsed["mmd_cd_mm"]


def test_subsampling_is_seeded():
    rng = np.random.default_rng(3)
    gen, ref = _shapes(rng, 6), _shapes(rng, 5)
    a = generation_metrics(gen, ref, seed=4, max_points=64)
    assert a == generation_metrics(gen, ref, seed=4, max_points=64)
    assert a["mmd_cd_mm"] != generation_metrics(gen, ref, seed=5, max_points=64)["mmd_cd_mm"]
    assert generation_metrics(gen, ref, max_points=256) == generation_metrics(gen, ref)


def test_non_finite_points_are_rejected():
    rng = np.random.default_rng(4)
    gen, ref = _shapes(rng, 4), _shapes(rng, 3)
    gen[2, 7, 1] = np.nan
    with pytest.raises(ValueError, match=r"generated: 1 of 4 point clouds .*\[2\]"):
        generation_metrics(gen, ref)
    with pytest.raises(ValueError, match="NaN"):
        chamfer_matrix(ref, gen)
    with pytest.raises(ValueError, match="shape"):
        generation_metrics(gen[:0], ref)
