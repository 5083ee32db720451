"""Diversity and Frechet distance against closed forms."""

import numpy as np
import pytest
import scipy.linalg

from mgd_jax import evaluators as ev


def _clustered_joints(counts, spread, rng):
    """Grasps in well-separated clusters; within a cluster, pairs at centre +- spread * unit."""
    joints, k = [], 0
    for c in counts:
        centre = rng.normal(0, 1.0, size=(21, 3))
        for j in range(c // 2):
            u = rng.normal(size=(21, 3))
            u /= np.linalg.norm(u)
            joints += [centre + spread * u, centre - spread * u]
        k += 1
    return np.stack(joints)


def test_diversity_entropy_and_cluster_size_closed_form():
    rng = np.random.default_rng()
    counts = [2, 4, 6, 8] * 5  # 20 clusters, unbalanced
    joints = _clustered_joints(counts, spread=0.001, rng=rng)
    out = ev.diversity(joints, k=20, whiten=False)
    p = np.array(counts) / sum(counts)
    assert out["entropy"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-9)
    assert out["cluster_size_cm"] == pytest.approx(0.1, rel=1e-6)  # 1 mm from each centre
    balanced = ev.diversity(_clustered_joints([4] * 20, 0.001, rng), k=20)
    assert balanced["entropy"] == pytest.approx(np.log(20), rel=1e-9)


def test_diversity_whitening_is_scale_free_and_seeded():
    rng = np.random.default_rng()
    joints = rng.normal(size=(200, 21, 3))
    scaled = joints * np.array([1.0, 3.0, 0.1])
    a, b = ev.diversity(joints, seed=1), ev.diversity(scaled, seed=1)
    assert a["entropy"] == pytest.approx(b["entropy"], rel=1e-9)
    assert a["cluster_size_whitened"] == pytest.approx(b["cluster_size_whitened"], rel=1e-9)
    assert ev.diversity(joints, seed=1) == a
    assert a["entropy"] <= np.log(20) + 1e-12


def test_mean_pairwise_joint_distance():
    rng = np.random.default_rng()
    base = rng.normal(size=(21, 3))
    shifts = np.array([[0, 0, 0], [0.03, 0, 0], [0, 0.04, 0]])
    joints = base[None] + shifts[:, None]
    want = 100 * np.mean([0.03, 0.04, 0.05])  # pair distances 3, 4, 5 cm
    assert ev.mean_pairwise_joint_distance_cm(joints) == pytest.approx(want, rel=1e-12)


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng()
    centres = rng.normal(0, 10, size=(5, 4))
    x = np.concatenate([c + 0.01 * rng.normal(size=(30, 4)) for c in centres])
    got, labels = ev.kmeans(x, 5, seed=0)
    assert len(np.unique(labels)) == 5
    for j in range(5):
        assert np.min(np.linalg.norm(got - centres[j], axis=1)) < 0.05


def test_frechet_identical_sets_is_zero():
    f = np.random.default_rng().normal(size=(500, 8))
    assert ev.frechet_distance_features(f, f) == pytest.approx(0.0, abs=1e-9)


def test_frechet_closed_forms():
    rng = np.random.default_rng()
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    d1, d2 = rng.uniform(0.1, 2, 4), rng.uniform(0.1, 2, 4)
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(d1) - sqrt(d2))^2.
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2)
    assert ev.frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2)) == pytest.approx(want, rel=1e-10)
    # General covariances against the textbook sqrtm formula.
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert ev.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)
    # Rank-deficient covariances stay finite and non-negative.
    s3 = np.outer(a[0], a[0])
    assert 0 <= ev.frechet_distance(mu1, s3, mu1, s3) < 1e-6


def test_frechet_with_geometric_features_and_a_custom_extractor():
    rng = np.random.default_rng()
    a = rng.normal(0, 0.01, size=(400, 21, 3))
    b = a + np.array([0.01, 0.0, 0.0])  # every joint moved 1 cm along x
    assert ev.frechet_distance_sets(a, b) == pytest.approx(21 * 1.0, rel=1e-9)  # 21 joints * 1 cm^2
    feats = ev.geometric_features(a, rng.random((400, 50)) < 0.2, rng.integers(0, 6, 50))
    assert feats.shape == (400, 63 + 6)
    got = ev.frechet_distance_sets(a, b, extractor=lambda j: j[:, 0])  # wrist only, meters
    assert got == pytest.approx(1e-4, rel=1e-9)
