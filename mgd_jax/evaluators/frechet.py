"""Frechet distance between two sets of features (FID's formula), with weight-free features.

FID (Heusel et al. 2017) fits a Gaussian to each feature set and returns
``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The paper's FID uses Inception features of
renders, which need weights we cannot download here; the distance is generic, takes any feature
extractor, and defaults to geometric features: joints in the object frame (cm) and, when given,
contact-map summaries.

Numerics: ``Tr (S1 S2)^(1/2)`` equals ``Tr (A S2 A)^(1/2)`` with ``A = S1^(1/2)``; the latter is
a symmetric PSD matrix, so we take it from ``eigh`` with negative round-off eigenvalues clipped
to zero. That is always real, unlike ``scipy.linalg.sqrtm(S1 @ S2)`` of a near-singular product
(which pytorch-fid patches with an ``eps * I`` offset and by dropping imaginary parts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FeatureExtractor = Callable[..., np.ndarray]  # batch -> (N, D) features


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (s + s.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
      mu1, mu2: (D,) means.
      sigma1, sigma2: (D, D) covariances (symmetric PSD).

    Returns:
      The distance in squared feature units, clipped at 0 (round-off can make a distance of
      identical rank-deficient Gaussians come out at -1e-8).
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} / {mu2.shape}, "
                         f"sigma {s1.shape} / {s2.shape}")  # fmt: skip
    a = _psd_sqrt(s1)
    m = a @ s2 @ a
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    tr_covmean = np.sqrt(np.clip(w, 0.0, None)).sum()
    diff = mu1 - mu2
    return max(0.0, float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, N >= 2."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be (N >= 2, D), got {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between two (N, D) feature sets."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def geometric_features(
    joints: np.ndarray,
    contact_maps: np.ndarray | None = None,
    finger_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Weight-free grasp features.

    Args:
      joints: (N, J, 3) joints in the object frame, meters.
      contact_maps: optional (N, V) bool per-vertex contact.
      finger_labels: optional (V,) labels 0..5 (palm, thumb, index, middle, ring, pinky); with
        contact maps, adds the fraction of each part's vertices in contact (6 features), else
        the overall fraction (1 feature).

    Returns:
      (N, 3 J [+ 6 or 1]) features: joints in cm, then contact fractions in [0, 1].
    """
    joints = np.asarray(joints, np.float64)
    feats = [100.0 * joints.reshape(len(joints), -1)]
    if contact_maps is not None:
        c = np.asarray(contact_maps, np.float64)
        if finger_labels is None:
            feats.append(c.mean(axis=1, keepdims=True))
        else:
            onehot = np.asarray(finger_labels)[:, None] == np.arange(6)
            feats.append((c @ onehot) / np.maximum(onehot.sum(axis=0), 1))
    return np.concatenate(feats, axis=1)


def frechet_distance_sets(
    set_a, set_b, extractor: FeatureExtractor = geometric_features
) -> float:
    """Frechet distance between two grasp sets after a (pluggable) feature extractor.

    Args:
      set_a, set_b: whatever ``extractor`` takes (default: (N, J, 3) joint arrays, meters).
      extractor: maps a set to (N, D) features (e.g. an image network on renders).
    """
    return frechet_distance_features(extractor(set_a), extractor(set_b))
