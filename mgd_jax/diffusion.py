"""Gaussian diffusion over the two-part MGD latent: schedule, q_sample, posterior, samplers.

Everything here is a pure function of arrays; the denoiser comes in as a function, so this module
knows nothing about any model.

Timesteps are integers. ``t = 0`` is the clean latent and ``t = T`` the noisiest; the schedule
tables have ``T + 1`` slots so that slot 0 is exactly clean (``alpha_bar = 1``, ``beta = 0``).
The latent ``z = [z_h; z_o]`` is handled as a dict ``{"hand": z_h, "object": z_o}``, each part
with its own timestep (the asynchronous schedulers of the paper, §3.3.2);
``split_latent``/``join_latent`` convert from/to one array split on the last axis.

Denoiser signature (x0 parameterisation)::

    denoise_fn(z: {"hand": (B, *hand_shape), "object": (B, *object_shape)} float32,
               t: {"hand": (B,) int32, "object": (B,) int32})
        -> {"hand": ..., "object": ...}  # predicted clean latent, same shapes

To sample with new parameters without recompiling, pass ``jax.tree_util.Partial(apply, params)``
with ``apply(params, z, t)``: the parameters then enter the jitted sampler as traced leaves.
A plain Python function also works; it is treated as static (one compile per function object).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PARTS = ("hand", "object")

Latent = Mapping[str, jax.Array]
DenoiseFn = Callable[[Latent, Latent], Latent]


# --------------------------------------------------------------------------------------------
# Schedule


class Schedule(NamedTuple):
    """Per-timestep tables, each float32 of shape (T + 1,), indexed by the integer t.

    Slot 0 is the clean latent (``alphas_cumprod[0] == 1``, ``betas[0] == 0``); slots 1..T are
    noisy. Posterior entries at slot t describe q(x_{t-1} | x_t, x_0) for t >= 1; at t = 1 the
    posterior is exactly x_0 (variance 0, ``posterior_mean_coef1 = 1``, ``coef2 = 0``). Slot 0 of
    the posterior tables is never used by a step and holds the same values as slot 1.
    """

    betas: jax.Array
    alphas_cumprod: jax.Array
    alphas_cumprod_prev: jax.Array  # alpha_bar_{t-1}; slot 0 holds 1
    sqrt_alphas_cumprod: jax.Array
    sqrt_one_minus_alphas_cumprod: jax.Array
    sqrt_recip_alphas_cumprod: jax.Array  # 1 / sqrt(alpha_bar_t)
    sqrt_recipm1_alphas_cumprod: jax.Array  # sqrt(1 / alpha_bar_t - 1)
    posterior_variance: jax.Array  # beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 1
    posterior_log_variance_clipped: jax.Array  # log of the variance, slot 1 (and 0) uses slot 2
    posterior_mean_coef1: jax.Array  # multiplies x_0
    posterior_mean_coef2: jax.Array  # multiplies x_t

    @property
    def num_timesteps(self) -> int:
        """T (static: read from the table shape, so it is known under jit)."""
        return self.betas.shape[0] - 1


def cosine_alphas_cumprod(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999):
    """Cosine schedule (Nichol & Dhariwal 2021) in float64 numpy.

    Returns ``(betas, alphas_cumprod)``, each float64 of shape (T + 1,) with slot 0 clean.
    ``beta_t = min(1 - f(t) / f(t - 1), max_beta)`` with ``f(t) = cos^2((t/T + s)/(1 + s) pi/2)``,
    and ``alpha_bar_t`` is the running product of ``1 - beta`` (so clipping is respected).
    """
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
    steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    f = np.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    betas = np.minimum(1.0 - f[1:] / f[:-1], max_beta)
    betas = np.concatenate([[0.0], betas])
    return betas, np.cumprod(1.0 - betas)


def make_schedule(num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Cosine-schedule tables, computed in float64 and stored as float32 jnp arrays (T + 1,)."""
    betas, abar = cosine_alphas_cumprod(num_timesteps, s, max_beta)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    one_minus = 1.0 - abar
    # Slot 0 has 1 - abar = 0; its posterior is unused, so fill it like slot 1 (no 0/0).
    denom = np.where(one_minus > 0, one_minus, 1.0)
    post_var = betas * (1.0 - abar_prev) / denom
    coef1 = betas * np.sqrt(abar_prev) / denom
    coef2 = (1.0 - abar_prev) * np.sqrt(1.0 - betas) / denom
    post_var[0], coef1[0], coef2[0] = post_var[1], coef1[1], coef2[1]
    # Variance is 0 at t = 1; the clipped log uses the next slot, as in DDPM codebases.
    floor = post_var[2] if num_timesteps >= 2 else 1e-20
    post_log_var = np.log(np.concatenate([[floor, floor], post_var[2:]]))
    tables = dict(
        betas=betas,
        alphas_cumprod=abar,
        alphas_cumprod_prev=abar_prev,
        sqrt_alphas_cumprod=np.sqrt(abar),
        sqrt_one_minus_alphas_cumprod=np.sqrt(one_minus),
        sqrt_recip_alphas_cumprod=np.sqrt(1.0 / abar),
        sqrt_recipm1_alphas_cumprod=np.sqrt(1.0 / abar - 1.0),
        posterior_variance=post_var,
        posterior_log_variance_clipped=post_log_var,
        posterior_mean_coef1=coef1,
        posterior_mean_coef2=coef2,
    )
    return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in tables.items()})


# --------------------------------------------------------------------------------------------
# Per-part helpers


def split_latent(z: jax.Array, hand_dim: int) -> dict[str, jax.Array]:
    """``(..., d_h + d_o) -> {"hand": (..., d_h), "object": (..., d_o)}`` (z = [z_h; z_o])."""
    return {"hand": z[..., :hand_dim], "object": z[..., hand_dim:]}


def join_latent(parts: Latent) -> jax.Array:
    """Inverse of ``split_latent``: concatenate hand then object on the last axis."""
    return jnp.concatenate([parts["hand"], parts["object"]], axis=-1)


def _per_part(fn, x, t, *rest):
    """Apply ``fn(x, t, *rest)`` to an array, or per key to a dict (t may be a dict or shared)."""
    if isinstance(x, Mapping):
        return {
            k: fn(x[k], t[k] if isinstance(t, Mapping) else t, *(r[k] for r in rest)) for k in x
        }
    return fn(x, t, *rest)


def _extract(table: jax.Array, t, ndim: int) -> jax.Array:
    """``table[t]`` shaped ``t.shape + (1,) * (ndim - t.ndim)`` to broadcast over an array."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.integer):
        raise TypeError(f"timesteps must be integers (0 = clean), got dtype {t.dtype}")
    if t.ndim > ndim:
        raise ValueError(f"t has shape {t.shape}, more axes than the array ({ndim})")
    return table[t].reshape(t.shape + (1,) * (ndim - t.ndim))


# --------------------------------------------------------------------------------------------
# Forward process and posterior


def q_sample(schedule: Schedule, x0, t, noise):
    """Noise clean latents to step t: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

    Args:
      schedule: the tables.
      x0: clean latent, float (B, ...), or a dict of such arrays (e.g. ``{"hand", "object"}``).
      t: int timesteps, () or (B,) broadcast over the trailing axes; 0 returns x0 exactly.
        For a dict ``x0`` either one array shared by all parts or a dict with one per part.
      noise: standard normal, same structure and shapes as ``x0``.
    Returns:
      x_t with the structure, shapes and dtype of ``x0``.
    """

    def one(x, tt, n):
        a = _extract(schedule.sqrt_alphas_cumprod, tt, x.ndim)
        b = _extract(schedule.sqrt_one_minus_alphas_cumprod, tt, x.ndim)
        return (a * x + b * n).astype(x.dtype)

    return _per_part(one, x0, t, noise)


def q_posterior_mean_variance(schedule: Schedule, x0, x_t, t):
    """q(x_{t-1} | x_t, x_0) for t >= 1.

    Args:
      x0: clean (or predicted clean) latent, (B, ...) or a dict of parts.
      x_t: latent at step t, same structure.
      t: int timesteps in 1..T, () or (B,), or a dict per part.
    Returns:
      ``(mean, variance, log_variance_clipped)``; mean like ``x0``, the other two broadcastable
      (shape ``t.shape + (1,) * ...``). At t = 1 the mean is x0 and the variance 0.
    """

    def one(x, tt, xt):
        c1 = _extract(schedule.posterior_mean_coef1, tt, x.ndim)
        c2 = _extract(schedule.posterior_mean_coef2, tt, x.ndim)
        var = _extract(schedule.posterior_variance, tt, x.ndim)
        logv = _extract(schedule.posterior_log_variance_clipped, tt, x.ndim)
        return c1 * x + c2 * xt, var, logv

    out = _per_part(one, x0, t, x_t)
    if isinstance(x0, Mapping):
        return tuple({k: out[k][i] for k in out} for i in range(3))
    return out


def predict_noise_from_x0(schedule: Schedule, x_t, t, x0):
    """The noise implied by an x0 prediction: ``(x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)``.

    t must be >= 1 (at t = 0 there is no noise to recover).
    """

    def one(xt, tt, x):
        a = _extract(schedule.sqrt_alphas_cumprod, tt, xt.ndim)
        b = _extract(schedule.sqrt_one_minus_alphas_cumprod, tt, xt.ndim)
        return (xt - a * x) / b

    return _per_part(one, x_t, t, x0)


def ddpm_step(schedule: Schedule, x0_pred, x_t, t, noise):
    """One ancestral DDPM step t -> t-1 from an x0 prediction (the MDM sampler).

    ``x_{t-1} = mean + sqrt(posterior_variance_t) noise``; at t = 1 the variance is exactly 0,
    so the step lands on ``x0_pred`` (slot 0) with no noise.

    Args:
      x0_pred: predicted clean latent (B, ...) or dict of parts.
      x_t: current latent, same structure.
      t: int timesteps in 1..T, () or (B,), or a dict per part.
      noise: standard normal like ``x_t``.
    """

    def one(x, tt, xt, n):
        c1 = _extract(schedule.posterior_mean_coef1, tt, x.ndim)
        c2 = _extract(schedule.posterior_mean_coef2, tt, x.ndim)
        var = _extract(schedule.posterior_variance, tt, x.ndim)
        return (c1 * x + c2 * xt + jnp.sqrt(var) * n).astype(xt.dtype)

    return _per_part(one, x0_pred, t, x_t, noise)


def ddim_step(schedule: Schedule, x0_pred, x_t, t, t_prev, noise, eta=0.0):
    """One DDIM step t -> t_prev (< t, may skip steps) from an x0 prediction.

    ``x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma noise`` with
    ``eps`` the noise implied by x0 and
    ``sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)``.
    eta = 0 is deterministic; eta = 1 with t_prev = t - 1 is the DDPM posterior. At t_prev = 0
    the result is ``x0_pred`` exactly.

    Args:
      t, t_prev: int timesteps (1..T and 0..t-1), () or (B,); t (not t_prev) may be a dict.
      eta: float scalar (may be traced).
    """

    def one(x, tt, xt, n):
        abar = _extract(schedule.alphas_cumprod, tt, x.ndim)
        abar_prev = _extract(schedule.alphas_cumprod, t_prev, x.ndim)
        eps = (xt - jnp.sqrt(abar) * x) / jnp.sqrt(1.0 - abar)
        sigma = (
            eta
            * jnp.sqrt((1.0 - abar_prev) / (1.0 - abar))
            * jnp.sqrt(jnp.maximum(1.0 - abar / abar_prev, 0.0))
        )
        dir_coef = jnp.sqrt(jnp.maximum(1.0 - abar_prev - sigma**2, 0.0))
        return (jnp.sqrt(abar_prev) * x + dir_coef * eps + sigma * n).astype(xt.dtype)

    return _per_part(one, x0_pred, t, x_t, noise)


def sampling_timesteps(num_timesteps: int, method: str = "ddpm", num_steps: int | None = None):
    """The (t, t_prev) pairs a sampler visits, int32 numpy of shape (S, 2), t descending.

    ``"ddpm"``: all T steps, (T, T-1), ..., (1, 0). ``"ddim"``: ``num_steps`` evenly spaced steps
    from T down to 0 (rounded ``np.linspace(T, 0, num_steps + 1)``); T and 0 are always included.
    """
    if method == "ddpm":
        if num_steps not in (None, num_timesteps):
            raise ValueError(
                f"method='ddpm' runs all {num_timesteps} steps; got num_steps={num_steps} "
                "(use method='ddim' with eta=1 for a respaced ancestral sampler)"
            )
        ts = np.arange(num_timesteps, -1, -1)
    elif method == "ddim":
        n = num_timesteps if num_steps is None else int(num_steps)
        if not 1 <= n <= num_timesteps:
            raise ValueError(f"num_steps must be in 1..{num_timesteps}, got {num_steps}")
        ts = np.round(np.linspace(num_timesteps, 0, n + 1)).astype(np.int64)
    else:
        raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")
    return np.stack([ts[:-1], ts[1:]], axis=1).astype(np.int32)


def draw_timesteps(
    key: jax.Array,
    batch_size: int,
    num_timesteps: int,
    *,
    conditional: bool = False,
    async_schedulers: bool = True,
) -> dict[str, jax.Array]:
    """Training timesteps ``{"hand": (B,), "object": (B,)}`` int32.

    Joint branch: t_h, t_o uniform in {1..T}, independent (asynchronous schedulers) or equal
    (``async_schedulers=False``). Conditional branch: t_h uniform in {1..T}, t_o = 0 (clean).
    """
    k_h, k_o = jax.random.split(key)
    t_h = jax.random.randint(k_h, (batch_size,), 1, num_timesteps + 1, dtype=jnp.int32)
    if conditional:
        t_o = jnp.zeros_like(t_h)
    elif async_schedulers:
        t_o = jax.random.randint(k_o, (batch_size,), 1, num_timesteps + 1, dtype=jnp.int32)
    else:
        t_o = t_h
    return {"hand": t_h, "object": t_o}


# --------------------------------------------------------------------------------------------
# Samplers


def _step(schedule, method, x0, x_t, t, t_prev, noise, eta):
    if method == "ddpm":
        return ddpm_step(schedule, x0, x_t, t, noise)
    return ddim_step(schedule, x0, x_t, t, t_prev, noise, eta)


def _as_pytree_fn(fn: Callable) -> jax.tree_util.Partial:
    if isinstance(fn, jax.tree_util.Partial):
        return fn
    return jax.tree_util.Partial(fn)


def _normal_parts(key, batch_size, shapes):
    """Standard normal float32 ``{name: (B, *shape)}`` sliced from one draw.

    One PRNG kernel instead of one per part, and the barrier stops XLA from fusing a copy of it
    into each slice: on CPU every copy costs about a second of LLVM compile time. Every part is
    always drawn, so the noise a part gets does not depend on which other parts are used.
    """
    sizes = [math.prod(s) for s in shapes.values()]
    flat = jax.random.normal(key, (batch_size, sum(sizes)), jnp.float32)
    flat = jax.lax.optimization_barrier(flat)
    offsets = np.cumsum([0] + sizes)
    return {
        k: flat[:, offsets[j] : offsets[j + 1]].reshape(batch_size, *s)
        for j, (k, s) in enumerate(shapes.items())
    }


def _shape(s) -> tuple[int, ...]:
    return (int(s),) if isinstance(s, (int, np.integer)) else tuple(int(d) for d in s)


@functools.partial(
    jax.jit,
    static_argnames=("batch_size", "hand_shape", "object_shape", "method", "num_steps", "guided"),
)
def _sample(
    denoise_fn: jax.tree_util.Partial,
    schedule: Schedule,
    key: jax.Array,
    object_latent: jax.Array | None,
    eta: jax.Array,
    guidance_scale: jax.Array,
    x0_hook: jax.tree_util.Partial | None,
    *,
    batch_size: int,
    hand_shape: tuple[int, ...],
    object_shape: tuple[int, ...],
    method: str,
    num_steps: int | None,
    guided: bool,
) -> dict[str, jax.Array]:
    """Joint sampler when ``object_latent`` is None, object-conditioned sampler otherwise."""
    T = schedule.num_timesteps
    pairs = sampling_timesteps(T, method, num_steps)
    conditional = object_latent is not None
    B = batch_size
    # keys[0] draws x_T, keys[i + 1] the noise of step i; one vectorised fold_in for all of them.
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(len(pairs) + 1))
    shapes = {"hand": hand_shape, "object": object_shape}
    z = _normal_parts(keys[0], B, shapes)
    if conditional:
        del z["object"]
    shapes["guide"] = object_shape

    def body(z, x):
        step_key, t, t_prev = x
        noise = _normal_parts(step_key, B, shapes)
        tb = jnp.full((B,), t, jnp.int32)
        if conditional:
            t0 = jnp.zeros((B,), jnp.int32)
            z_in = {"hand": z["hand"], "object": object_latent}
            if guided:
                # x0_guided = (1+s) f(hand | clean object) - s f(hand | object noised to T),
                # both halves in one call on a doubled batch.
                obj_T = q_sample(schedule, object_latent, T, noise["guide"])
                z2 = {
                    "hand": jnp.concatenate([z["hand"], z["hand"]]),
                    "object": jnp.concatenate([object_latent, obj_T]),
                }
                t_T = jnp.full((B,), T, jnp.int32)
                t2 = {"hand": jnp.concatenate([tb, tb]), "object": jnp.concatenate([t0, t_T])}
                x0_h = denoise_fn(z2, t2)["hand"]
                x0_c, x0_u = x0_h[:B], x0_h[B:]
                x0_h = (1.0 + guidance_scale) * x0_c - guidance_scale * x0_u
            else:
                x0_h = denoise_fn(z_in, {"hand": tb, "object": t0})["hand"]
            if x0_hook is not None:  # e.g. physics guidance (mgd_jax.physics_guidance)
                x0_h = x0_hook(x0_h, t)
            hand = _step(schedule, method, x0_h, z["hand"], t, t_prev, noise["hand"], eta)
            return {"hand": hand}, None
        x0 = denoise_fn(z, {"hand": tb, "object": tb})
        noise = {k: noise[k] for k in PARTS}
        return _step(schedule, method, x0, z, t, t_prev, noise, eta), None

    xs = (keys[1:], jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1]))
    z, _ = jax.lax.scan(body, z, xs)
    if conditional:
        z = {"hand": z["hand"], "object": object_latent}
    return z


def sample_joint(
    denoise_fn: DenoiseFn,
    schedule: Schedule,
    key: jax.Array,
    *,
    batch_size: int,
    hand_shape: int | tuple[int, ...],
    object_shape: int | tuple[int, ...],
    method: str = "ddpm",
    num_steps: int | None = None,
    eta: float = 0.0,
) -> dict[str, jax.Array]:
    """Joint (unconditional) generation: t_h = t_o = t from T down to 1, then x_0.

    Starts both parts from N(0, I); each step predicts x0 with ``denoise_fn`` and moves to the
    next timestep with the DDPM posterior (``method="ddpm"``, all T steps) or DDIM
    (``method="ddim"``, ``num_steps`` respaced steps, stochasticity ``eta``). One jitted
    ``lax.scan``; x_T comes from ``fold_in(key, 0)`` and step i's noise from
    ``fold_in(key, i + 1)``.

    Returns:
      ``{"hand": (batch_size, *hand_shape), "object": (batch_size, *object_shape)}`` float32.
    """
    return _sample(_as_pytree_fn(denoise_fn), schedule, key, None, jnp.asarray(eta, jnp.float32),
                   jnp.zeros((), jnp.float32), None, batch_size=int(batch_size),
                   hand_shape=_shape(hand_shape), object_shape=_shape(object_shape),
                   method=method, num_steps=num_steps, guided=False)  # fmt: skip


def sample_conditional(
    denoise_fn: DenoiseFn,
    schedule: Schedule,
    key: jax.Array,
    object_latent: jax.Array,
    *,
    hand_shape: int | tuple[int, ...],
    method: str = "ddpm",
    num_steps: int | None = None,
    eta: float = 0.0,
    guidance_scale: float | None = None,
    x0_hook: jax.tree_util.Partial | None = None,
) -> dict[str, jax.Array]:
    """Object-conditioned grasp generation: hand from t = T to 0 with the object kept clean.

    At every step the model sees ``{"hand": x_t, "object": object_latent}`` with t_o = 0, and only
    the hand moves. With ``guidance_scale = s`` (a float, traced: changing it does not recompile)
    the hand's x0 prediction becomes ``(1 + s) f(hand | clean object, t_o = 0) -
    s f(hand | object noised to t_o = T)``, fresh object noise per step; ``None`` skips the
    second call. ``s = 0`` gives the unguided result. With guidance the denoiser is called once
    per step on a doubled batch (2B: the clean-object half first, then the noised-object half).
    The denoiser's "object" output is ignored here.

    With ``x0_hook`` (a ``jax.tree_util.Partial``: ``(x0_hand (B, *hand_shape), t ()) ->
    x0_hand``) every step's hand x0 prediction (after guidance) is replaced by the hook's output
    before the step is taken, e.g. :mod:`mgd_jax.physics_guidance`.

    Args:
      object_latent: clean object latent, float32 (B, *object_shape).
      hand_shape: per-example shape of the hand latent, e.g. 512 or (512,).
    Returns:
      ``{"hand": (B, *hand_shape), "object": object_latent}`` (the object returned unchanged).
    """
    object_latent = jnp.asarray(object_latent)
    scale = jnp.asarray(0.0 if guidance_scale is None else guidance_scale, jnp.float32)
    return _sample(_as_pytree_fn(denoise_fn), schedule, key, object_latent,
                   jnp.asarray(eta, jnp.float32), scale, x0_hook,
                   batch_size=int(object_latent.shape[0]), hand_shape=_shape(hand_shape),
                   object_shape=tuple(object_latent.shape[1:]), method=method,
                   num_steps=num_steps, guided=guidance_scale is not None)  # fmt: skip

