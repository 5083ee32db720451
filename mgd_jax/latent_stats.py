"""Latent spread and tokenizer autoencoding: the diagnostics of latent collapse (issue #13).

MGD's tokenizers are trained end to end with the denoiser, so nothing in the plain loss stops them
from mapping every input to nearly the same latent (the latent MSE then becomes trivially small).
These functions measure that, on a batch of clean latents ``z`` (B, d):

  std        mean over channels of the per-channel standard deviation across examples
             (a unit-RMS latent spread like N(0, I) has 1; a collapsed one ~0)
  cos_mean   mean cosine similarity over pairs of different examples (1 = all parallel)
  cos_min    the smallest such cosine
  rank       effective rank (Roy & Vetterli 2007; RankMe, Garrido et al. 2023): exp of the
             Shannon entropy of the normalised singular values of ``z`` (uncentred),
             in [1, min(B, d)]
  count      examples that entered the statistics

and the tokenizers' autoencoding error without diffusion, decode(encode(x)) against x:

  pose_component_deg   mean |delta| over the 48 axis-angle components, degrees
  trans_mm             |delta trans|, mm
  joints_mm            mean over the 21 joints of |delta position| (``hand.forward``), mm
  object_chamfer_mm    Chamfer (:func:`objects.chamfer.chamfer_distance`, not squared) between
                       the decoded latent point set and the point VAE's latent points, all
                       3 + D channels, model units converted to mm by ``1000 / input_scale``

Everything is jnp (jit-able, used inside the train step under ``stop_gradient``) and also works on
numpy arrays on the host (the task's ``evaluate``). Statistics over fewer than two examples are
NaN: undefined, not zero.

:func:`variance_hinge` is the differentiable form of ``std`` used as a regulariser
(``config.loss.latent_variance``): VICReg's variance term (Bardes et al. 2022).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from mgd_jax.objects.chamfer import chamfer_distance, nearest_index

STAT_KEYS = ("std", "cos_mean", "cos_min", "rank", "count")
ERROR_KEYS = ("pose_component_deg", "trans_mm", "joints_mm", "object_chamfer_mm")
_EPS = 1e-12

# Thresholds of :func:`check_not_collapsed`: they flag the collapse measured on the demo model in
# issue #13 (object latents: mean cosine 0.9987, per-channel std 0.035); they are alarms, not
# quality targets. Independent random unit-RMS latents give cos_mean ~ 0, std ~ 1.
MAX_COS_MEAN = 0.95
MIN_STD = 0.1
MIN_RANK = 2.0


class LatentCollapseError(AssertionError):
    """A latent's spread statistics say it collapsed (see :func:`check_not_collapsed`)."""


def _weights(z: jnp.ndarray, mask: jnp.ndarray | None) -> jnp.ndarray:
    """(B,) float weights, 1 for examples that count (all when ``mask`` is None)."""
    dtype = jnp.asarray(z).dtype
    if mask is None:
        return jnp.ones(z.shape[:1], dtype)
    return (jnp.asarray(mask) > 0.5).astype(dtype)


def channel_variance(z: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Per-channel (biased) variance across the masked examples.

    Args:
      z: (B, d) latents.
      mask: (B,) bool or 0/1, the examples that count; None = all.

    Returns:
      (d,) variances, in the latent's unit squared (0 when no example counts).
    """
    z = jnp.asarray(z)
    w = _weights(z, mask)
    n = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(w[:, None] * z, 0) / n
    return jnp.sum(w[:, None] * jnp.square(z - mean), 0) / n


def channel_std(z: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Mean over channels of the per-channel standard deviation across examples: (B, d) -> ()."""
    return jnp.mean(jnp.sqrt(channel_variance(z, mask)))


def pairwise_cosine(
    z: jnp.ndarray, mask: jnp.ndarray | None = None
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Mean and minimum cosine similarity over ordered pairs (i != j) of masked examples.

    Args:
      z: (B, d) latents (a zero row has cosine 0 with everything).
      mask: (B,) examples that count; None = all.

    Returns:
      ``(mean, min)``, two scalars in [-1, 1]; NaN when fewer than two examples count.
    """
    z = jnp.asarray(z)
    w = _weights(z, mask)
    unit = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), _EPS)
    cos = unit @ unit.T  # (B, B)
    pairs = w[:, None] * w[None, :] * (1.0 - jnp.eye(z.shape[0], dtype=z.dtype))
    num = jnp.sum(pairs)
    mean = jnp.where(num > 0, jnp.sum(pairs * cos) / jnp.maximum(num, 1.0), jnp.nan)
    low = jnp.min(jnp.where(pairs > 0, cos, jnp.inf))
    return mean, jnp.where(num > 0, low, jnp.nan)


def effective_rank(z: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """exp(entropy of p), p the singular values of the masked rows of ``z`` normalised to sum 1.

    Rows outside the mask are zeroed, which only adds zero singular values (p log p = 0 there).

    Args:
      z: (B, d) latents, uncentred (a collapsed latent, every row the same, has rank 1).
      mask: (B,) examples that count; None = all.

    Returns:
      () effective rank in [1, min(count, d)]; NaN when fewer than two examples count.
    """
    z = jnp.asarray(z)
    w = _weights(z, mask)
    s = jnp.linalg.svd(z * w[:, None], compute_uv=False)
    p = s / jnp.maximum(jnp.sum(s), _EPS)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return jnp.where(jnp.sum(w) >= 2, jnp.exp(entropy), jnp.nan)


def latent_stats(z: jnp.ndarray, mask: jnp.ndarray | None = None) -> dict[str, jnp.ndarray]:
    """The spread statistics ``STAT_KEYS`` (module docstring) of a batch of latents.

    Args:
      z: (B, d) clean latents (e.g. the tokenizer outputs, unit RMS).
      mask: (B,) examples that count (e.g. ``is_hoi`` for the hand); None = all.

    Returns:
      ``{"std", "cos_mean", "cos_min", "rank", "count"}``, scalars; every one but ``count`` NaN
      when fewer than two examples count. No gradient flows through them.
    """
    z = jax.lax.stop_gradient(jnp.asarray(z, jnp.float32))
    w = _weights(z, mask)
    count = jnp.sum(w)
    cos_mean, cos_min = pairwise_cosine(z, mask)
    std = jnp.where(count >= 2, channel_std(z, mask), jnp.nan)
    return {"std": std, "cos_mean": cos_mean, "cos_min": cos_min,
            "rank": effective_rank(z, mask), "count": count}  # fmt: skip


def variance_hinge(z: jnp.ndarray, mask: jnp.ndarray | None = None, target: float = 1.0,
                   eps: float = 1e-4) -> jnp.ndarray:  # fmt: skip
    """VICReg's variance term: mean over channels of ``relu(target - sqrt(var_c + eps))``.

    Differentiable (``eps`` keeps the square root's gradient finite at zero variance); it pushes
    each channel's spread across the batch up to ``target`` and is 0 once every channel is there.

    Args:
      z: (B, d) latents; mask: (B,) examples that count (None = all).
      target: the per-channel standard deviation asked for, in the latent's unit.
      eps: added to the variance under the square root.

    Returns:
      () the hinge, in the latent's unit; 0 when fewer than two examples count.
    """
    z = jnp.asarray(z)
    w = _weights(z, mask)
    hinge = jnp.mean(jax.nn.relu(target - jnp.sqrt(channel_variance(z, mask) + eps)))
    return jnp.where(jnp.sum(w) >= 2, hinge, 0.0)


# --------------------------------------------------------------------------------------------
# Autoencoding errors


def hand_errors(pose: jnp.ndarray, trans: jnp.ndarray, joints: jnp.ndarray,
                pose_hat: jnp.ndarray, trans_hat: jnp.ndarray,
                joints_hat: jnp.ndarray) -> dict[str, jnp.ndarray]:  # fmt: skip
    """Per-example hand autoencoding errors in readable units (no gradient).

    Args:
      pose, pose_hat: (B, 16, 3) axis-angle, radians (the input and decode(encode(input))).
      trans, trans_hat: (B, 3) meters.
      joints, joints_hat: (B, 21, 3) joint positions, meters.

    Returns:
      ``pose_component_deg``, ``trans_mm``, ``joints_mm``: each (B,).
    """
    sg = jax.lax.stop_gradient
    return {
        "pose_component_deg": jnp.mean(jnp.abs(sg(pose_hat - pose)), (-2, -1)) * (180.0 / math.pi),
        "trans_mm": jnp.linalg.norm(sg(trans_hat - trans), axis=-1) * 1e3,
        "joints_mm": jnp.mean(jnp.linalg.norm(sg(joints_hat - joints), axis=-1), -1) * 1e3,
    }


def object_chamfer_mm(latent_points: jnp.ndarray, latent_hat: jnp.ndarray,
                      input_scale: float) -> jnp.ndarray:  # fmt: skip
    """Chamfer (mean of both directions, not squared) between latent point sets, mm.

    Args:
      latent_points: (B, N, 3 + D) the point VAE's latent points, model units.
      latent_hat: (B, M, 3 + D) decoded latent points, model units (any order).
      input_scale: the VAE's meters -> model units factor.

    Returns:
      (B,) Chamfer distances, mm.
    """
    sg = jax.lax.stop_gradient
    return chamfer_distance(sg(latent_hat), sg(latent_points)) * (1e3 / input_scale)


def chamfer_both(a: jnp.ndarray, b: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Both reductions of :func:`objects.chamfer.chamfer_distance` from one nearest-neighbour
    search (the search dominates its cost): ``(squared, plain)``, each (B,).

    Args:
      a: (B, N, C), b: (B, M, C) point sets, same unit.

    Returns:
      ``squared``: mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2 (unit^2, differentiable);
      ``plain``: half the sum of the two mean nearest distances (unit, no gradient).
    """
    d2_ab = jnp.sum(jnp.square(a - jnp.take_along_axis(b, nearest_index(a, b)[..., None], 1)), -1)
    d2_ba = jnp.sum(jnp.square(b - jnp.take_along_axis(a, nearest_index(b, a)[..., None], 1)), -1)
    squared = jnp.mean(d2_ab, -1) + jnp.mean(d2_ba, -1)
    sg = jax.lax.stop_gradient
    plain = 0.5 * (jnp.mean(jnp.sqrt(sg(d2_ab)), -1) + jnp.mean(jnp.sqrt(sg(d2_ba)), -1))
    return squared, plain


def summarize(
    z_hand: jnp.ndarray,
    z_object: jnp.ndarray,
    is_hoi: jnp.ndarray,
    errors: Mapping[str, jnp.ndarray] | None = None,
) -> dict[str, jnp.ndarray]:
    """The flat diagnostics dict of one set of examples.

    Args:
      z_hand: (B, d_h) clean hand latents; only HOI examples count.
      z_object: (B, d_o) clean object latents; every example counts.
      is_hoi: (B,) 1 for hand-object examples, 0 for object-only ones.
      errors: per-example errors ``ERROR_KEYS`` (each (B,)); hand errors are averaged over HOI
        examples (NaN when there is none), the object error over every example.

    Returns:
      ``latent/hand_<stat>``, ``latent/object_<stat>`` (``STAT_KEYS``) and ``autoenc/<error>``,
      scalars.
    """
    hoi = jnp.asarray(is_hoi) > 0.5
    out = {}
    for name, z, mask in (("hand", z_hand, hoi), ("object", z_object, None)):
        out.update({f"latent/{name}_{k}": v for k, v in latent_stats(z, mask).items()})
    for key, values in (errors or {}).items():
        values = jnp.asarray(values, jnp.float32)
        w = jnp.ones_like(values) if key == "object_chamfer_mm" else hoi.astype(jnp.float32)
        n = jnp.sum(w)
        out[f"autoenc/{key}"] = jnp.where(n > 0, jnp.sum(w * values) / jnp.maximum(n, 1.0), jnp.nan)
    return out


# --------------------------------------------------------------------------------------------
# The collapse check


def collapse_reasons(
    stats: Mapping[str, float],
    max_cos_mean: float = MAX_COS_MEAN,
    min_std: float = MIN_STD,
    min_rank: float = MIN_RANK,
) -> list[str]:
    """Why a latent counts as collapsed, from :func:`latent_stats` (``std``, ``cos_mean``,
    ``rank``); an empty list when it does not. Undefined (NaN) statistics are reasons too."""
    reasons = []
    checks = (("cos_mean", "<=", max_cos_mean), ("std", ">=", min_std), ("rank", ">=", min_rank))
    for key, op, bound in checks:
        value = float(stats[key])
        ok = value <= bound if op == "<=" else value >= bound
        if not ok:  # NaN fails both comparisons
            reasons.append(f"{key}={value:.4g} (want {op} {bound:g})")
    return reasons


def check_not_collapsed(stats: Mapping[str, float], name: str = "latent", **thresholds) -> None:
    """Raise :class:`LatentCollapseError` naming ``name`` and every failed statistic when
    :func:`collapse_reasons` finds any (``thresholds``: its keyword arguments)."""
    reasons = collapse_reasons(stats, **thresholds)
    if reasons:
        raise LatentCollapseError(f"{name} latent collapsed: " + ", ".join(reasons))
