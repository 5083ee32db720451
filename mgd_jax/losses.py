"""MGD training loss (paper §3.3.3, DESIGN §4 "Training losses"): joint + conditional branches.

One call of :func:`mgd_loss` encodes a batch, builds two noised copies of its latent and denoises
both in one pass of the denoiser (the two branches are stacked on the batch axis):

- **joint branch** (eq. 11): t_h, t_o uniform in {1..T}, independent with asynchronous
  schedulers, equal with ``async_schedulers=False`` (the ablation);
- **conditional branch** (eqs. 12-13): t_o = 0 (the object latent is clean, a condition) and
  t_h uniform in {1..T}; only the hand is supervised, since the object is an input here.

The total is the **sum** of the two branch losses, i.e. the paper's 1:1 ratio on one draw of the
batch (a mean would only halve every weight).

Object-only examples (``is_hoi == 0``, eqs. 14-15) supervise the object part alone. Their hand
input to the denoiser is replaced, by ``jnp.where``, with pure Gaussian noise at t_h = T, so the
hand tokenizer is never on their computation path; every hand term of theirs is masked out, and
the conditional branch contributes nothing for them. On a batch of object-only examples the
gradients of the hand tokenizer and hand detokenizer are therefore exactly zero.

Targets are in raw space through the detokenizers, applied to the denoiser's x0 predictions:

  term             what                                                    unit of the term
  latent           MSE between predicted and clean z, per channel          (unit-RMS latent)^2
  pose             mean over the 16 joints of |delta axis-angle|^2         rad^2
  trans            |delta trans|^2                                          m^2
  joints           mean over the 21 joints of |delta position|^2           m^2
  object_points    Chamfer between decoded and VAE latent points           (model units)^2
  distance_field   mean over (21, 10) of |delta field vector|^2             m^2

Lengths stay in meters and the weights make the terms commensurate (:func:`default_config`):
with them a 1 cm error on a hand position (trans, a joint, a distance-field vector) costs about
what a 0.1 rad error on every joint rotation costs (0.01 each). Squared errors everywhere: no
square root sits on the differentiated path, so an exact zero error still has a finite gradient.

HOI-only terms (all hand terms) are per-example means gated by ``is_hoi``: the masked mean divides
by the number of HOI examples and is 0 when there are none. Object terms average over every
example.

Remedies for latent collapse (issue #13), each switched by ``config.loss`` (:func:`default_config`;
all off = the loss above, bit-identical):

- ``stop_gradient_targets``: the latent MSE's target z0 is ``stop_gradient(z0)``, so the tokenizers
  cannot lower it by moving the target (they still learn through the denoiser's input and the
  raw-space terms);
- ``autoencode_hand`` / ``autoencode_object``: an autoencoding loss on the clean latents, without
  diffusion: decode(z0_h) against pose, trans and joints (the ``pose``/``trans``/``joints``
  weights, times ``autoencode_hand``, HOI examples), decode(z0_o) against the VAE latent points
  (squared Chamfer, the ``object_points`` weight times ``autoencode_object``, every example);
- ``latent_variance``: VICReg's variance hinge (:func:`latent_stats.variance_hinge`) on z0_h (HOI
  examples) plus z0_o, asking every channel for a spread of ``latent_variance_target`` across the
  batch;
- ``df_from_recovered_object``: the joint branch's predicted distance field is taken to the
  RECOVERED object (eq. 16): the predicted object latent decoded by D_o and the frozen point-VAE
  decoder (``decode_points``), so the joint branch ties the hand to the object it generates. The
  target field and the conditional branch keep the ground-truth points.

Metrics are a flat dict of scalars: ``loss``; per branch (``joint/``, ``cond/``) ``loss``, each
weighted term's raw value, readable errors (``joints_mm``, ``trans_mm``, ``pose_deg``,
``distance_field_mm``) and timestep statistics (``t_hand``, ``t_object`` means, ``t_gap`` = mean
|t_h - t_o| over HOI examples: 0 with synchronous schedulers); the collapse diagnostics of the
batch's clean latents (``latent/hand_*``, ``latent/object_*``) and the tokenizers' autoencoding
errors (``autoenc/*``; the object's, ``autoenc/object_chamfer_mm``, only with
``autoencode_object`` on, since it costs a Chamfer search), :func:`latent_stats.summarize`, which
carry no gradient; ``autoenc/loss`` (+ raw terms) and ``latent/variance_hinge`` when those terms
are on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from mgd_jax import diffusion, latent_stats
from mgd_jax.hand import HandModel
from mgd_jax.hand import forward as hand_forward
from mgd_jax.models.mgd import MGD
from mgd_jax.objects.chamfer import chamfer_distance

NUM_FIELD_NEIGHBOURS = 10  # object points per hand joint in the distance field
WEIGHT_KEYS = ("latent", "pose", "trans", "joints", "object_points", "distance_field")
BRANCHES = ("joint", "cond")
# The collapse remedies (module docstring); these values reproduce the plain loss bit for bit.
OPTION_DEFAULTS = {
    "stop_gradient_targets": False,  # latent MSE target stop_gradient(z0)
    "autoencode_hand": 0.0,  # x (pose, trans, joints weights) on decode(z0_h); 0 = off
    "autoencode_object": 0.0,  # x object_points weight on Chamfer(decode(z0_o)); 0 = off
    "latent_variance": 0.0,  # weight of the variance hinge on z0_h and z0_o; 0 = off
    "latent_variance_target": 1.0,  # per-channel std the hinge asks for (unit-RMS latent)
    "df_from_recovered_object": False,  # joint branch: predicted field to the recovered object
}
LOSS_KEYS = WEIGHT_KEYS + tuple(OPTION_DEFAULTS)


def default_config() -> ml_collections.ConfigDict:
    """The ``config.loss`` section: term weights and the collapse remedies (``OPTION_DEFAULTS``,
    all off). Units of each term in the module docstring.

    - ``latent`` 1.0: the diffusion objective itself (eq. 11-14) on a unit-RMS latent.
    - ``pose`` 1.0: rad^2; a 0.1 rad error on every joint costs 0.01.
    - ``trans`` 100.0: m^2; a 1 cm error costs 0.01 (the same as weight 1 in decimeters).
    - ``joints`` 100.0: m^2; a 1 cm error on every joint costs 0.01.
    - ``object_points`` 1.0: Chamfer (both directions) in the VAE's model units, which are
      decimeters at the default ``input_scale = 10``; a 1 cm error on every point costs 0.02.
    - ``distance_field`` 100.0: m^2; a 1 cm error on every field vector costs 0.01.
    """
    return ml_collections.ConfigDict(
        {
            "latent": 1.0,
            "pose": 1.0,
            "trans": 100.0,
            "joints": 100.0,
            "object_points": 1.0,
            "distance_field": 100.0,
            **OPTION_DEFAULTS,
        }
    )


def _weight(weights: Any, name: str) -> float:
    """``weights.name`` or ``weights[name]`` (ConfigDict, dataclass or mapping)."""
    if isinstance(weights, Mapping):
        if name not in weights:
            raise KeyError(f"loss weights have no '{name}' (expected keys {WEIGHT_KEYS})")
        return weights[name]
    if not hasattr(weights, name):
        raise KeyError(f"loss weights have no '{name}' (expected keys {WEIGHT_KEYS})")
    return getattr(weights, name)


def option(loss_config: Any, name: str) -> Any:
    """``config.loss.<name>`` of a remedy switch, its ``OPTION_DEFAULTS`` value when absent (a
    section written before the switch existed)."""
    if isinstance(loss_config, Mapping):
        return loss_config.get(name, OPTION_DEFAULTS[name])
    return getattr(loss_config, name, OPTION_DEFAULTS[name])


def validate_config(loss_config: Any) -> None:
    """Check a ``config.loss`` section: known keys, non-negative weights, a positive variance
    target, boolean switches. Raises ValueError naming the field."""
    keys = set(loss_config.keys())
    unknown = keys - set(LOSS_KEYS)
    if unknown:
        raise ValueError(f"config.loss has unknown keys {sorted(unknown)}; known: {LOSS_KEYS}")
    missing = set(WEIGHT_KEYS) - keys
    if missing:
        raise ValueError(f"config.loss is missing the weights {sorted(missing)}")
    for name in WEIGHT_KEYS + ("autoencode_hand", "autoencode_object", "latent_variance"):
        value = _weight(loss_config, name) if name in WEIGHT_KEYS else option(loss_config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"config.loss.{name} must be a number >= 0, got {value!r}")
    target = option(loss_config, "latent_variance_target")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or target <= 0:
        raise ValueError(f"config.loss.latent_variance_target must be > 0, got {target!r}")
    for name in ("stop_gradient_targets", "df_from_recovered_object"):
        if not isinstance(option(loss_config, name), bool):
            raise ValueError(f"config.loss.{name} must be True or False, got "
                             f"{option(loss_config, name)!r}")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Geometry helpers


def distance_field(
    joints: jnp.ndarray, points: jnp.ndarray, k: int = NUM_FIELD_NEIGHBOURS
) -> jnp.ndarray:
    """Vectors from each hand joint to its k nearest object points.

    The neighbour indices come from ``lax.top_k`` on negative squared distances (no gradient);
    the gradient flows through the joint positions (and the gathered points).

    Args:
      joints: (B, J, 3) hand joints, meters.
      points: (B, P, 3) object surface points, meters, P >= k.
      k: neighbours per joint.

    Returns:
      (B, J, k, 3) vectors ``point - joint`` in meters, nearest first.
    """
    d2 = jnp.sum(jnp.square(joints[:, :, None, :] - points[:, None, :, :]), axis=-1)  # (B,J,P)
    _, idx = jax.lax.top_k(-jax.lax.stop_gradient(d2), k)  # (B, J, k)
    nearest = jnp.take_along_axis(points[:, None, :, :], idx[..., None], axis=2)  # (B,J,k,3)
    return nearest - joints[:, :, None, :]


def hand_shape(batch: dict) -> tuple[jnp.ndarray | None, jnp.ndarray]:
    """(betas (B, 10) or None, wrist offset (B, 3) meters) of a batch; zeros when absent."""
    offset = batch.get("wrist_offset")
    if offset is None:
        offset = jnp.zeros_like(batch["trans"])
    return batch.get("betas"), offset


def ground_truth_hand(hand_model: HandModel, batch: dict):
    """The hand the loss compares with: the stored hand of each example,
    ``forward(pose, trans - wrist_offset, betas)`` (``trans`` is the mean-shape translation the
    model generates; see ``tasks.mgd.mgd_example``). Vertices and joints in meters."""
    betas, offset = hand_shape(batch)
    return hand_forward(hand_model, batch["pose"], batch["trans"] - offset, betas)


def masked_mean(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Mean of ``values`` (B,) over examples where ``mask`` (B,) bool is true; 0 if none is."""
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask.astype(values.dtype)), 1.0)


# --------------------------------------------------------------------------------------------
# Timesteps and noised inputs


def branch_timesteps(
    key: jax.Array,
    is_hoi: jnp.ndarray,
    num_timesteps: int,
    *,
    conditional: bool,
    async_schedulers: bool = True,
) -> dict[str, jnp.ndarray]:
    """Training timesteps of one branch, ``{"hand": (B,), "object": (B,)}`` int32.

    HOI examples get :func:`diffusion.draw_timesteps` (joint: t_h, t_o in {1..T}, independent or
    equal; conditional: t_o = 0). Object-only examples (``is_hoi == 0``) have t_h = T: their hand
    input is pure noise.
    """
    t = diffusion.draw_timesteps(
        key,
        is_hoi.shape[0],
        num_timesteps,
        conditional=conditional,
        async_schedulers=async_schedulers,
    )
    hand = jnp.where(is_hoi > 0.5, t["hand"], jnp.int32(num_timesteps))
    return {"hand": hand, "object": t["object"]}


def noised_latents(
    key: jax.Array,
    schedule: diffusion.Schedule,
    z0: dict[str, jnp.ndarray],
    t: dict[str, jnp.ndarray],
    is_hoi: jnp.ndarray,
) -> dict[str, jnp.ndarray]:
    """``q_sample`` per part; the hand of object-only examples is the noise itself.

    The replacement is a ``jnp.where``, so no gradient reaches the hand tokenizer from an
    object-only example (its pose/trans are zeros and carry no meaning).

    Args:
      z0: {"hand": (B, d_h), "object": (B, d_o)} clean latents.
      t: {"hand": (B,), "object": (B,)} int timesteps.
      is_hoi: (B,) float, 1 for hand-object examples, 0 for object-only ones.
    """
    k_h, k_o = jax.random.split(key)
    noise = {
        "hand": jax.random.normal(k_h, z0["hand"].shape, z0["hand"].dtype),
        "object": jax.random.normal(k_o, z0["object"].shape, z0["object"].dtype),
    }
    z_t = diffusion.q_sample(schedule, z0, t, noise)
    z_t["hand"] = jnp.where(is_hoi[:, None] > 0.5, z_t["hand"], noise["hand"])
    return z_t


# --------------------------------------------------------------------------------------------
# The loss


def _hand_terms(pred, target, points, field_pred=None):
    """Per-example hand errors (each (B,)) and readable-unit errors (for metrics).

    pred/target: dicts with ``z_h`` (B, d_h), ``pose`` (B, 16, 3), ``trans`` (B, 3),
    ``joints`` (B, 21, 3); points (B, P, 3) meters. ``field_pred`` (B, 21, k, 3) replaces the
    predicted distance field (default: predicted joints to ``points``).
    """
    if field_pred is None:
        field_pred = distance_field(pred["joints"], points)
    field_true = distance_field(target["joints"], points)
    pose_d2 = jnp.sum(jnp.square(pred["pose"] - target["pose"]), -1)  # (B, 16) rad^2
    trans_d2 = jnp.sum(jnp.square(pred["trans"] - target["trans"]), -1)  # (B,) m^2
    joints_d2 = jnp.sum(jnp.square(pred["joints"] - target["joints"]), -1)  # (B, 21) m^2
    field_d2 = jnp.sum(jnp.square(field_pred - field_true), -1)  # (B, 21, k) m^2
    terms = {
        "latent": jnp.mean(jnp.square(pred["z_h"] - target["z_h"]), -1),
        "pose": jnp.mean(pose_d2, -1),
        "trans": trans_d2,
        "joints": jnp.mean(joints_d2, -1),
        "distance_field": jnp.mean(field_d2, (-2, -1)),
    }
    sg = jax.lax.stop_gradient
    readable = {
        "pose_deg": jnp.mean(jnp.sqrt(sg(pose_d2)), -1) * (180.0 / math.pi),
        "trans_mm": jnp.sqrt(sg(trans_d2)) * 1e3,
        "joints_mm": jnp.mean(jnp.sqrt(sg(joints_d2)), -1) * 1e3,
        "distance_field_mm": jnp.mean(jnp.sqrt(sg(field_d2)), (-2, -1)) * 1e3,
    }
    return terms, readable


def _autoencode_terms(weights, pose, trans, joints, ae, latent_points, hoi, input_scale):
    """The autoencoding loss on the clean latents (0 and no terms when both weights are 0).

    ae: decode(z0) outputs ``pose`` (B, 16, 3), ``trans`` (B, 3), ``joints`` (B, 21, 3) meters,
    and, when ``autoencode_object`` is on, ``latent`` (B, N, point_dim). Returns ``(weighted
    loss, {raw term: scalar}, {"object_chamfer_mm": (B,)} or {})``: the object's readable error
    comes from the same nearest-neighbour search as its loss term.
    """
    w_hand, w_object = option(weights, "autoencode_hand"), option(weights, "autoencode_object")
    terms, errors, total = {}, {}, jnp.float32(0.0)
    if w_hand > 0:
        d2 = {"pose": jnp.mean(jnp.sum(jnp.square(ae["pose"] - pose), -1), -1),
              "trans": jnp.sum(jnp.square(ae["trans"] - trans), -1),
              "joints": jnp.mean(jnp.sum(jnp.square(ae["joints"] - joints), -1), -1)}  # fmt: skip
        for name, v in d2.items():
            terms[name] = masked_mean(v, hoi)
            total = total + w_hand * _weight(weights, name) * terms[name]
    if w_object > 0:
        squared, plain = latent_stats.chamfer_both(ae["latent"], latent_points)
        terms["object_points"] = jnp.mean(squared)
        total = total + w_object * _weight(weights, "object_points") * terms["object_points"]
        errors["object_chamfer_mm"] = plain * (1e3 / input_scale)
    return total, terms, errors


def mgd_loss(
    params: Any,
    batch: Mapping[str, jnp.ndarray],
    rng: jax.Array,
    *,
    model: MGD,
    hand_model: HandModel,
    schedule: diffusion.Schedule,
    object_latent_points: jnp.ndarray,
    weights: Any,
    async_schedulers: bool = True,
    train: bool = True,
    decode_points: Callable[[jnp.ndarray], jnp.ndarray] | None = None,
    input_scale: float = 10.0,
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """MGD's training loss on one batch: joint branch + conditional branch (sum).

    Args:
      params: MGD variables as passed to ``model.apply`` (``{"params": ...}``).
      batch: ``points`` (B, P, 3) object surface points, meters, object-centric frame;
        ``pose`` (B, 16, 3) MANO axis-angle, radians; ``trans`` (B, 3) meters;
        ``is_hoi`` (B,) float32, 1 = hand-object example, 0 = object-only (pose/trans ignored).
        Optional ``betas`` (B, 10) and ``wrist_offset`` (B, 3) meters: the examples' hand shapes
        (``tasks.mgd.mgd_example``); the joint terms then pose both hands with them.
      rng: one key; split here into timestep, noise and dropout keys.
      model: the ``MGD`` module.
      hand_model: MANO-layout hand for joint positions (``hand.forward``).
      schedule: diffusion tables (T + 1 slots).
      object_latent_points: (B, N, point_dim) the frozen point VAE's posterior-mean latent of
        ``batch["points"]``, model units (no gradient flows into it).
      weights: the ``config.loss`` section (:func:`default_config`; ConfigDict, dataclass or
        mapping): the weights ``WEIGHT_KEYS`` and the remedy switches ``OPTION_DEFAULTS``
        (absent ones take their default).
      async_schedulers: joint-branch t_o independent of t_h (True) or equal to it (False).
      train: dropout on (needs ``rng``); False makes the denoiser deterministic.
      decode_points: the frozen point-VAE decoder, (B, N, point_dim) latent points, model units
        -> (B, N, 3) points, meters (``trained.FrozenPointVAE.decode``); needed by
        ``df_from_recovered_object`` only.
      input_scale: the point VAE's meters -> model units factor (``configs/point_vae.py``: 10),
        for the object autoencoding error in mm.

    Returns:
      ``(loss, metrics)``: a float32 scalar, and a flat dict of float32 scalars (module
      docstring).
    """
    T = schedule.num_timesteps
    is_hoi = jnp.asarray(batch["is_hoi"], jnp.float32)
    hoi = is_hoi > 0.5
    batch_size = is_hoi.shape[0]
    pose, trans, points = batch["pose"], batch["trans"], batch["points"]
    latent_points = jax.lax.stop_gradient(object_latent_points)
    df_recovered = option(weights, "df_from_recovered_object")
    if df_recovered and decode_points is None:
        raise ValueError("config.loss.df_from_recovered_object needs decode_points (the frozen "
                         "point-VAE decoder)")  # fmt: skip
    k_tj, k_tc, k_nj, k_nc, k_drop = jax.random.split(rng, 5)
    t_joint = branch_timesteps(
        k_tj, is_hoi, T, conditional=False, async_schedulers=async_schedulers
    )
    t_cond = branch_timesteps(k_tc, is_hoi, T, conditional=True)

    def run(module: MGD):
        z0 = {"hand": module.encode_hand(pose, trans), "object": module.encode_object(latent_points)}
        z_j = noised_latents(k_nj, schedule, z0, t_joint, is_hoi)
        z_c = noised_latents(k_nc, schedule, z0, t_cond, is_hoi)
        # Both branches in one denoiser pass: [joint; cond] on the batch axis.
        z_t = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), z_j, z_c)
        t = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), t_joint, t_cond)
        x0 = module.denoise(z_t, t, not train)
        pose_hat, trans_hat = module.decode_hand(x0["hand"])
        latent_hat = module.decode_object(x0["object"][:batch_size])  # joint branch only
        # decode(z0), no diffusion: the autoencoding loss and diagnostics. The object's costs a
        # Chamfer search, so only when its loss is on (the task's evaluation always reports it).
        ae_pose, ae_trans = module.decode_hand(z0["hand"])
        ae = {"pose": ae_pose, "trans": ae_trans}
        if option(weights, "autoencode_object") > 0:
            ae["latent"] = module.decode_object(z0["object"])
        return z0, x0, pose_hat, trans_hat, latent_hat, ae

    z0, x0, pose_hat, trans_hat, latent_hat, ae = model.apply(
        params, method=run, rngs={"dropout": k_drop} if train else {}
    )
    def twice(x):
        return jnp.concatenate([x, x])

    betas, offset = hand_shape(batch)
    joints_hat = hand_forward(hand_model, pose_hat, trans_hat - twice(offset),
                              None if betas is None else twice(betas)).joints  # (2B, 21, 3)
    joints_true = jax.lax.stop_gradient(ground_truth_hand(hand_model, batch).joints)
    ae["joints"] = hand_forward(hand_model, ae["pose"], ae["trans"] - offset, betas).joints

    z_target = jax.lax.stop_gradient(z0) if option(weights, "stop_gradient_targets") else z0
    pred = {"z_h": x0["hand"], "pose": pose_hat, "trans": trans_hat, "joints": joints_hat}
    target = {"z_h": twice(z_target["hand"]), "pose": twice(pose), "trans": twice(trans)}
    target["joints"] = twice(joints_true)
    field_pred = None
    if df_recovered:  # eq. 16: the joint branch's hand against the object it generates
        recovered = decode_points(latent_hat)  # (B, N, 3) meters
        field_pred = jnp.concatenate([distance_field(joints_hat[:batch_size], recovered),
                                      distance_field(joints_hat[batch_size:], points)])  # fmt: skip
    hand_terms, readable = _hand_terms(pred, target, twice(points), field_pred)

    metrics = {}
    total = jnp.float32(0.0)
    for i, branch in enumerate(BRANCHES):
        part = slice(i * batch_size, (i + 1) * batch_size)
        terms = {name: masked_mean(v[part], hoi) for name, v in hand_terms.items()}
        if branch == "joint":
            metrics["joint/latent_hand"] = terms["latent"]
            latent_object = jnp.mean(jnp.square(x0["object"][part] - z_target["object"]))
            metrics["joint/latent_object"] = latent_object
            terms["latent"] = terms["latent"] + latent_object
            terms["object_points"] = jnp.mean(chamfer_distance(latent_hat, latent_points, squared=True))
        branch_loss = sum(_weight(weights, name) * v for name, v in terms.items())
        total = total + branch_loss
        metrics[f"{branch}/loss"] = branch_loss
        metrics.update({f"{branch}/{name}": v for name, v in terms.items()})
        metrics.update({f"{branch}/{n}": masked_mean(v[part], hoi) for n, v in readable.items()})
        t = t_joint if branch == "joint" else t_cond
        metrics[f"{branch}/t_hand"] = masked_mean(t["hand"].astype(jnp.float32), hoi)
        metrics[f"{branch}/t_object"] = jnp.mean(t["object"].astype(jnp.float32))
        t_gap = jnp.abs(t["hand"] - t["object"]).astype(jnp.float32)
        metrics[f"{branch}/t_gap"] = masked_mean(t_gap, hoi)

    ae_loss, ae_terms, errors = _autoencode_terms(weights, pose, trans, joints_true, ae,
                                                  latent_points, hoi, input_scale)  # fmt: skip
    if ae_terms:
        total = total + ae_loss
        metrics["autoenc/loss"] = ae_loss
        metrics.update({f"autoenc/{name}": v for name, v in ae_terms.items()})
    if option(weights, "latent_variance") > 0:
        target_std = option(weights, "latent_variance_target")
        hinge = (latent_stats.variance_hinge(z0["hand"], hoi, target_std)
                 + latent_stats.variance_hinge(z0["object"], None, target_std))  # fmt: skip
        total = total + option(weights, "latent_variance") * hinge
        metrics["latent/variance_hinge"] = hinge
    errors.update(latent_stats.hand_errors(pose, trans, joints_true, ae["pose"], ae["trans"],
                                           ae["joints"]))  # fmt: skip
    metrics.update(latent_stats.summarize(z0["hand"], z0["object"], is_hoi, errors))
    metrics["loss"] = total
    metrics["hoi_fraction"] = jnp.mean(is_hoi)
    return total, metrics
