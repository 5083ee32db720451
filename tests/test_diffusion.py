"""Diffusion schedule, forward process, posterior and samplers, against float64 closed forms.

The sampler tests use a toy where the exact x0-denoiser is known: each of D dimensions holds a
(hand, object) pair that is jointly Gaussian, so E[x0 | x_t] (any per-part t, including t_o = 0)
is a 2x2 linear-Gaussian formula. The samplers must then reproduce the data distribution; the
small bias that a finite number of steps leaves is computed exactly by a float64 recursion.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgd_jax import diffusion

# Toy data: per dimension, (hand, object) ~ N((mu_h, mu_o), [[sh^2, r sh so], [r sh so, so^2]]).
MU_H = np.array([0.5, -1.0, 0.0])
SD_H = np.array([0.5, 1.0, 1.5])
MU_O = np.array([-0.3, 0.8, 1.2])
SD_O = np.array([1.0, 0.6, 0.8])
RHO = np.array([0.8, -0.6, 0.3])
D = 3
N = 8192  # samples per sampler test


def _cosine_f64(T, s=0.008, max_beta=0.999):
    """Independent float64 reference: alpha_bar from the beta recursion, slot 0 clean."""
    abar = [1.0]
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    f_prev = f0
    for t in range(1, T + 1):
        f = math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        beta = min(1.0 - f / f_prev, max_beta)
        abar.append(abar[-1] * (1.0 - beta))
        f_prev = f
    return np.array(abar)


# --------------------------------------------------------------------------------------------
# Schedule


def test_schedule_slot0_is_exactly_clean_and_tables_are_float32():
    sch = diffusion.make_schedule(1000)
    assert sch.num_timesteps == 1000
    for name, table in sch._asdict().items():
        assert table.shape == (1001,), name
        assert table.dtype == jnp.float32, name
        assert np.all(np.isfinite(np.asarray(table))), name
    assert float(sch.alphas_cumprod[0]) == 1.0
    assert float(sch.betas[0]) == 0.0
    assert float(sch.sqrt_alphas_cumprod[0]) == 1.0
    assert float(sch.sqrt_one_minus_alphas_cumprod[0]) == 0.0
    abar = np.asarray(sch.alphas_cumprod)
    assert np.all(np.diff(abar) < 0), "alpha_bar must strictly decrease"
    assert float(sch.betas.max()) <= 0.999 + 1e-7
    assert abar[-1] < 1e-4  # t = T is (almost) pure noise


def test_schedule_matches_cosine_closed_form():
    for T in (100, 1000):
        sch = diffusion.make_schedule(T)
        ref = _cosine_f64(T)
        np.testing.assert_allclose(np.asarray(sch.alphas_cumprod), ref, rtol=2e-5, atol=1e-12)
        # Unclipped slots telescope to f(t) / f(0).
        t = np.arange(T)
        f = np.cos((t / T + 0.008) / 1.008 * np.pi / 2) ** 2
        np.testing.assert_allclose(np.asarray(sch.alphas_cumprod[:T]), f / f[0], rtol=2e-5)
        assert float(sch.betas[T]) == pytest.approx(0.999)  # the last beta is clipped


def test_posterior_matches_gaussian_product_in_float64():
    """q(x_{t-1} | x_t, x0) as the normalised product of the two Gaussians
    N(x_t; sqrt(a_t) x_{t-1}, b_t) and N(x_{t-1}; sqrt(abar_{t-1}) x0, 1 - abar_{t-1})."""
    T = 1000
    sch = diffusion.make_schedule(T)
    abar = _cosine_f64(T)
    rng = np.random.default_rng(0)
    ts = np.concatenate([[2, 3, 10, 500, 999, T], rng.integers(2, T + 1, size=10)])
    x0 = rng.normal(size=(len(ts), 5))
    xt = rng.normal(size=(len(ts), 5))
    mean, var, logvar = diffusion.q_posterior_mean_variance(
        sch, jnp.asarray(x0, jnp.float32), jnp.asarray(xt, jnp.float32), jnp.asarray(ts)
    )
    alpha = abar[ts] / abar[ts - 1]
    beta = 1.0 - alpha
    precision = alpha / beta + 1.0 / (1.0 - abar[ts - 1])
    ref_var = 1.0 / precision
    ref_mean = ref_var[:, None] * (
        np.sqrt(alpha)[:, None] * xt / beta[:, None]
        + np.sqrt(abar[ts - 1])[:, None] * x0 / (1.0 - abar[ts - 1])[:, None]
    )
    np.testing.assert_allclose(np.asarray(var)[:, 0], ref_var, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(logvar)[:, 0], np.log(ref_var), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(mean), ref_mean, rtol=1e-4, atol=2e-5)
    # t = 1: the previous slot is clean, so the posterior is x0 itself with zero variance.
    m1, v1, _ = diffusion.q_posterior_mean_variance(
        sch, jnp.asarray(x0[:1], jnp.float32), jnp.asarray(xt[:1], jnp.float32), jnp.asarray([1])
    )
    np.testing.assert_allclose(np.asarray(m1), x0[:1], rtol=1e-6, atol=1e-6)
    assert float(v1[0, 0]) == 0.0


# --------------------------------------------------------------------------------------------
# Forward process and single steps


def test_q_sample_statistics_per_part():
    T = 1000
    sch = diffusion.make_schedule(T)
    abar = _cosine_f64(T)
    n = 40000
    rng = np.random.default_rng(1)
    x0 = {"hand": rng.normal(size=(1, 4)), "object": rng.normal(size=(1, 6))}
    x0_b = {k: jnp.asarray(np.repeat(v, n, 0), jnp.float32) for k, v in x0.items()}
    t = {"hand": jnp.full((n,), 37), "object": jnp.full((n,), 850)}
    noise = {
        "hand": jnp.asarray(rng.normal(size=(n, 4)), jnp.float32),
        "object": jnp.asarray(rng.normal(size=(n, 6)), jnp.float32),
    }
    xt = diffusion.q_sample(sch, x0_b, t, noise)
    for part, tt in (("hand", 37), ("object", 850)):
        x = np.asarray(xt[part], np.float64)
        sd = math.sqrt(1.0 - abar[tt])
        mean = math.sqrt(abar[tt]) * x0[part][0]
        np.testing.assert_allclose(x.mean(0), mean, atol=5 * sd / n**0.5)
        np.testing.assert_allclose(x.std(0), sd, rtol=0.02)
    # t = 0 returns the clean latent exactly; a shared scalar t applies to every part.
    clean = diffusion.q_sample(sch, x0_b, {"hand": jnp.zeros((n,), int), "object": 0}, noise)
    for part in x0:
        np.testing.assert_array_equal(np.asarray(clean[part]), np.asarray(x0_b[part]))
    with pytest.raises(TypeError, match="integers"):
        diffusion.q_sample(sch, x0_b["hand"], jnp.full((n,), 3.0), noise["hand"])


def test_split_and_join_latent_round_trip():
    rng = np.random.default_rng(2)
    z = jnp.asarray(rng.normal(size=(4, 7)), jnp.float32)
    parts = diffusion.split_latent(z, 3)
    assert parts["hand"].shape == (4, 3) and parts["object"].shape == (4, 4)
    np.testing.assert_array_equal(np.asarray(diffusion.join_latent(parts)), np.asarray(z))
    sch = diffusion.make_schedule(50)
    t = {"hand": jnp.array([1, 5, 9, 50]), "object": jnp.array([0, 2, 50, 7])}
    noise = jnp.asarray(rng.normal(size=z.shape), jnp.float32)
    by_dict = diffusion.q_sample(sch, parts, t, diffusion.split_latent(noise, 3))
    by_array = [
        diffusion.q_sample(sch, parts[k], t[k], diffusion.split_latent(noise, 3)[k])
        for k in ("hand", "object")
    ]
    np.testing.assert_array_equal(np.asarray(by_dict["hand"]), np.asarray(by_array[0]))
    np.testing.assert_array_equal(np.asarray(by_dict["object"]), np.asarray(by_array[1]))


def test_final_steps_land_on_x0_and_ddim_eta1_is_the_ddpm_posterior():
    sch = diffusion.make_schedule(200)
    x0, xt, noise = jnp.asarray(np.random.default_rng(4).normal(size=(3, 8, 5)), jnp.float32)
    one = jnp.ones((8,), jnp.int32)
    np.testing.assert_allclose(diffusion.ddpm_step(sch, x0, xt, one, noise), x0, atol=1e-6)
    for eta in (0.0, 1.0):
        out = diffusion.ddim_step(sch, x0, xt, jnp.full((8,), 37), 0, noise, eta)
        np.testing.assert_allclose(out, x0, atol=1e-6)
    t = jnp.array([2, 3, 10, 50, 100, 150, 199, 200])
    ddpm = diffusion.ddpm_step(sch, x0, xt, t, noise)
    ddim1 = diffusion.ddim_step(sch, x0, xt, t, t - 1, noise, eta=1.0)
    np.testing.assert_allclose(ddim1, ddpm, rtol=1e-4, atol=1e-4)
    # eps recovered from x0 reproduces x_t through q_sample.
    eps = diffusion.predict_noise_from_x0(sch, xt, t, x0)
    np.testing.assert_allclose(diffusion.q_sample(sch, x0, t, eps), xt, atol=1e-4)


def test_sampling_timesteps():
    p = diffusion.sampling_timesteps(5, "ddpm")
    np.testing.assert_array_equal(p, [[5, 4], [4, 3], [3, 2], [2, 1], [1, 0]])
    p = diffusion.sampling_timesteps(1000, "ddim", 50)
    assert p.shape == (50, 2) and p[0, 0] == 1000 and p[-1, 1] == 0
    assert np.all(p[:, 0] > p[:, 1]) and np.all(p[1:, 0] == p[:-1, 1])
    assert len(np.unique(p[:, 0])) == 50
    with pytest.raises(ValueError, match="ddpm"):
        diffusion.sampling_timesteps(1000, "ddpm", 50)
    with pytest.raises(ValueError, match="method"):
        diffusion.sampling_timesteps(1000, "euler", 50)


def test_draw_timesteps_branches():
    key = jax.random.key(5)
    t = diffusion.draw_timesteps(key, 4096, 100)
    for v in t.values():
        assert v.dtype == jnp.int32 and int(v.min()) == 1 and int(v.max()) == 100
    assert float(jnp.mean(t["hand"] == t["object"])) < 0.05  # independent (asynchronous)
    t = diffusion.draw_timesteps(key, 4096, 100, async_schedulers=False)
    np.testing.assert_array_equal(t["hand"], t["object"])
    t = diffusion.draw_timesteps(key, 4096, 100, conditional=True)
    assert int(t["object"].max()) == 0 and int(t["hand"].min()) >= 1


# --------------------------------------------------------------------------------------------
# The Gaussian toy and its exact denoiser


def _cov():
    c = RHO * SD_H * SD_O
    return np.stack([np.stack([SD_H**2, c], -1), np.stack([c, SD_O**2], -1)], -2)  # (D, 2, 2)


def _toy_apply(params, z, t):
    """Exact E[x0 | x_t] for the toy, per dimension: mu + S A (A S A + B^2)^-1 (x_t - A mu)."""
    schedule = params["schedule"]
    a_h = schedule.sqrt_alphas_cumprod[t["hand"]][:, None]
    a_o = schedule.sqrt_alphas_cumprod[t["object"]][:, None]
    b_h = schedule.sqrt_one_minus_alphas_cumprod[t["hand"]][:, None] ** 2
    b_o = schedule.sqrt_one_minus_alphas_cumprod[t["object"]][:, None] ** 2
    s_hh, s_ho, s_oo = params["s_hh"], params["s_ho"], params["s_oo"]
    r_h = z["hand"] - a_h * params["mu_h"]
    r_o = z["object"] - a_o * params["mu_o"]
    m_hh, m_ho, m_oo = a_h * a_h * s_hh + b_h, a_h * a_o * s_ho, a_o * a_o * s_oo + b_o
    det = m_hh * m_oo - m_ho * m_ho
    y_h = (m_oo * r_h - m_ho * r_o) / det
    y_o = (m_hh * r_o - m_ho * r_h) / det
    return {
        "hand": params["mu_h"] + s_hh * a_h * y_h + s_ho * a_o * y_o,
        "object": params["mu_o"] + s_ho * a_h * y_h + s_oo * a_o * y_o,
    }


def _toy_params(schedule):
    c = _cov()
    p = dict(mu_h=MU_H, mu_o=MU_O, s_hh=c[:, 0, 0], s_ho=c[:, 0, 1], s_oo=c[:, 1, 1])
    p = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    return dict(p, schedule=schedule)


def _toy_denoiser(schedule):
    # A module-level function with traced parameters: tests with equal shapes share one compile.
    return jax.tree_util.Partial(_toy_apply, _toy_params(schedule))


def _sampler_step_coefs(abar, t, tp, method, eta):
    """(c_x0, c_xt, noise variance) of one sampler step t -> tp, float64."""
    if method == "ddpm":
        eta = 1.0
    s2 = eta**2 * (1 - abar[tp]) / (1 - abar[t]) * (1 - abar[t] / abar[tp])
    k = math.sqrt(max(1 - abar[tp] - s2, 0.0) / (1 - abar[t]))
    return math.sqrt(abar[tp]) - k * math.sqrt(abar[t]), k, s2


def _reference_joint(T, method, num_steps, eta):
    """Exact mean (D, 2) and covariance (D, 2, 2) of the sampler's output on the toy, float64."""
    abar = _cosine_f64(T)
    ts = np.arange(T, -1, -1) if method == "ddpm" else np.round(np.linspace(T, 0, num_steps + 1))
    ts = ts.astype(int)
    mu = np.stack([MU_H, MU_O], -1)
    sig = _cov()
    m, cov = np.zeros((D, 2)), np.broadcast_to(np.eye(2), (D, 2, 2)).copy()
    for t, tp in zip(ts[:-1], ts[1:]):
        a, b2 = math.sqrt(abar[t]), 1 - abar[t]
        g = a * sig @ np.linalg.inv(a * a * sig + b2 * np.eye(2))  # x0_hat = mu + g (x - a mu)
        c1, c2, s2 = _sampler_step_coefs(abar, t, tp, method, eta)
        k = c1 * g + c2 * np.eye(2)
        m = np.einsum("dij,dj->di", k, m) + c1 * (mu - a * np.einsum("dij,dj->di", g, mu))
        cov = k @ cov @ np.swapaxes(k, -1, -2) + s2 * np.eye(2)
    return m, cov


def _reference_conditional_sd(T, method, num_steps, eta):
    """Exact std of hand - E[hand | object] after conditional sampling, float64, (D,)."""
    abar = _cosine_f64(T)
    ts = np.arange(T, -1, -1) if method == "ddpm" else np.round(np.linspace(T, 0, num_steps + 1))
    ts = ts.astype(int)
    sc2 = SD_H**2 * (1 - RHO**2)
    v = np.ones(D)
    for t, tp in zip(ts[:-1], ts[1:]):
        a, b2 = math.sqrt(abar[t]), 1 - abar[t]
        c1, c2, s2 = _sampler_step_coefs(abar, t, tp, method, eta)
        v = (c1 * a * sc2 / (a * a * sc2 + b2) + c2) ** 2 * v + s2
    return np.sqrt(v)


DDPM = pytest.param("ddpm", None, 0.0, id="ddpm-all-steps")
DDIM = pytest.param("ddim", 50, 0.0, id="ddim50-eta0")
DDIM_ETA1 = pytest.param("ddim", 100, 1.0, id="ddim100-eta1")
T_TOY = 200


@pytest.mark.parametrize("method,num_steps,eta", [DDPM, DDIM])
def test_joint_sampler_reproduces_toy_gaussian(method, num_steps, eta):
    sch = diffusion.make_schedule(T_TOY)
    out = diffusion.sample_joint(
        _toy_denoiser(sch), sch, jax.random.key(10), batch_size=N, hand_shape=D,
        object_shape=(D,), method=method, num_steps=num_steps, eta=eta,
    )  # fmt: skip
    assert out["hand"].shape == (N, D) and out["object"].shape == (N, D)
    x = np.stack([np.asarray(out["hand"], np.float64), np.asarray(out["object"], np.float64)], -1)
    mean, sd = x.mean(0), x.std(0)
    corr = np.mean((x[..., 0] - mean[:, 0]) * (x[..., 1] - mean[:, 1]), 0) / (sd[:, 0] * sd[:, 1])
    target_sd = np.stack([SD_H, SD_O], -1)
    # The data distribution, within Monte Carlo error plus the finite-step bias.
    np.testing.assert_allclose(mean, np.stack([MU_H, MU_O], -1), atol=5 * target_sd.max() / N**0.5)
    np.testing.assert_allclose(sd, target_sd, rtol=0.08)
    np.testing.assert_allclose(corr, RHO, atol=0.05)
    # The exact output law of this discretisation, within Monte Carlo error only.
    ref_m, ref_cov = _reference_joint(T_TOY, method, num_steps, eta)
    ref_sd = np.sqrt(np.diagonal(ref_cov, axis1=-2, axis2=-1))
    np.testing.assert_allclose(mean, ref_m, atol=4.5 * ref_sd.max() / N**0.5)
    np.testing.assert_allclose(sd, ref_sd, rtol=4.5 / (2 * N) ** 0.5)


@pytest.mark.parametrize("method,num_steps,eta", [DDPM, DDIM_ETA1])
def test_conditional_sampler_matches_conditional_gaussian(method, num_steps, eta):
    sch = diffusion.make_schedule(T_TOY)
    rng = np.random.default_rng(11)
    obj = MU_O + SD_O * rng.normal(size=(N, D))
    obj_j = jnp.asarray(obj, jnp.float32)
    out = diffusion.sample_conditional(
        _toy_denoiser(sch), sch, jax.random.key(12), obj_j, hand_shape=(D,),
        method=method, num_steps=num_steps, eta=eta,
    )  # fmt: skip
    np.testing.assert_array_equal(np.asarray(out["object"]), np.asarray(obj_j))
    hand = np.asarray(out["hand"], np.float64)
    cond_mean = MU_H + RHO * SD_H / SD_O * (np.asarray(obj_j, np.float64) - MU_O)
    resid = hand - cond_mean
    cond_sd = SD_H * np.sqrt(1 - RHO**2)
    np.testing.assert_allclose(resid.mean(0), 0.0, atol=5 * cond_sd.max() / N**0.5)
    np.testing.assert_allclose(resid.std(0), cond_sd, rtol=0.08)
    ref_sd = _reference_conditional_sd(T_TOY, method, num_steps, eta)
    np.testing.assert_allclose(resid.std(0), ref_sd, rtol=4.5 / (2 * N) ** 0.5)
    # The residual carries no information about the object: the hand follows its condition.
    r_corr = np.mean((resid - resid.mean(0)) * (obj - obj.mean(0)), 0) / (resid.std(0) * obj.std(0))
    np.testing.assert_allclose(r_corr, 0.0, atol=0.04)


# --------------------------------------------------------------------------------------------


def test_guidance_scale_zero_equals_unguided():
    # Same configuration as the ddpm conditional toy test: the unguided sampler is reused.
    sch = diffusion.make_schedule(T_TOY)
    obj = jnp.asarray(np.random.default_rng(13).normal(size=(N, D)), jnp.float32)
    fn = _toy_denoiser(sch)
    kw = dict(hand_shape=D, method="ddpm")
    plain = diffusion.sample_conditional(fn, sch, jax.random.key(14), obj, **kw)
    zero = diffusion.sample_conditional(fn, sch, jax.random.key(14), obj, guidance_scale=0.0, **kw)
    np.testing.assert_allclose(zero["hand"], plain["hand"], rtol=1e-5, atol=1e-5)
    two = diffusion.sample_conditional(fn, sch, jax.random.key(14), obj, guidance_scale=2.0, **kw)
    assert float(jnp.max(jnp.abs(two["hand"] - plain["hand"]))) > 1e-2


T_PROBE = 30
PROBE_TRACES = []


def _guidance_probe(params, z, t):
    """NaN on any input the conditioned sampler should never give (NaN would reach the output);
    ``params["value"]`` for the clean condition (t_o = 0, object unchanged), 0 for the guidance
    branch (t_o = T, object noised). The guided output is then exactly (1 + s) * value."""
    PROBE_TRACES.append(1)  # runs only while tracing
    obj = params["object"]
    n = z["object"].shape[0]
    same = jnp.all(z["object"] == jnp.concatenate([obj, obj])[:n], axis=-1)
    ok_t = (t["hand"] >= 1) & (t["hand"] <= T_PROBE)
    cond = ok_t & (t["object"] == 0) & same
    uncond = ok_t & (t["object"] == T_PROBE) & ~same
    val = jnp.where(cond, params["value"], jnp.where(uncond, 0.0, jnp.nan))
    return {"hand": jnp.broadcast_to(val[:, None], z["hand"].shape), "object": z["object"]}


def test_guidance_formula_and_one_compile_across_keys_params_and_scales():
    sch = diffusion.make_schedule(T_PROBE)
    rng = np.random.default_rng(15)
    PROBE_TRACES.clear()
    for i, scale in enumerate([None, 0.5, 3.0, 0.0, -0.5]):
        params = {
            "object": jnp.asarray(rng.normal(size=(5, 4)), jnp.float32),
            "value": jnp.float32(1.0 + i),
        }
        out = diffusion.sample_conditional(
            jax.tree_util.Partial(_guidance_probe, params), sch, jax.random.key(i),
            params["object"], hand_shape=2, guidance_scale=scale,
        )  # fmt: skip
        s = 0.0 if scale is None else scale
        np.testing.assert_allclose(out["hand"], np.full((5, 2), (1.0 + s) * (1.0 + i)), rtol=1e-5)
        np.testing.assert_array_equal(out["object"], params["object"])
    # The probe is traced once for the unguided sampler and once for the guided one: new keys,
    # parameter values and guidance scales reuse the compiled sampler.
    assert len(PROBE_TRACES) == 2


def test_samplers_are_deterministic_given_the_key():
    # Same configuration as the stochastic conditional toy test, so the sampler is reused.
    sch = diffusion.make_schedule(T_TOY)
    fn = _toy_denoiser(sch)
    obj = jnp.asarray(np.random.default_rng(20).normal(size=(N, D)), jnp.float32)
    kw = dict(hand_shape=D, method="ddim", num_steps=100, eta=1.0)
    a = diffusion.sample_conditional(fn, sch, jax.random.key(20), obj, **kw)["hand"]
    b = diffusion.sample_conditional(fn, sch, jax.random.key(20), obj, **kw)["hand"]
    c = diffusion.sample_conditional(fn, sch, jax.random.key(21), obj, **kw)["hand"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a), np.asarray(c))
