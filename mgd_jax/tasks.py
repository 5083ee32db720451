"""What the trainer trains: each task gives init, loss, data sources and an evaluation.

Selected by ``config.model.name``. The trainer only sees this small interface, so adding a model
means adding a task, not touching the training loop.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import data_sources
from mgd_jax.models import point_vae


@dataclasses.dataclass(frozen=True)
class Task:
    init: Callable[[jax.Array, dict], Any]  # (rng, example batch) -> params
    loss: Callable[..., tuple[jax.Array, dict]]  # (params, batch, rng, step) -> (loss, metrics)
    train_sources: Callable[[], list]  # -> list[input_pipeline.Source]
    transform: Callable[[dict], dict] | None  # per-example map before batching
    evaluate: Callable[[Any, str], dict] | None  # (EMA params, workdir) -> results (JSON-able)


def validate(config: ml_collections.ConfigDict) -> None:
    """Cross-field checks with messages that name the field."""
    if config.model.name not in _TASKS:
        raise ValueError(f"config.model.name='{config.model.name}' unknown; one of {sorted(_TASKS)}")
    if config.total_steps <= 0:
        raise ValueError(f"config.total_steps must be positive, got {config.total_steps}")
    if config.optim.warmup_steps >= config.total_steps:
        raise ValueError("config.optim.warmup_steps must be smaller than config.total_steps")
    if not config.data.sources:
        raise ValueError("config.data.sources is empty")
    if len(config.data.weights) != len(config.data.sources):
        raise ValueError("config.data.weights needs one weight per entry of config.data.sources")
    if config.model.name == "point_vae":
        pv = config.point_vae
        if len(pv.channels) != len(pv.resolutions):
            raise ValueError("config.point_vae.channels and .resolutions must have equal length")
        if pv.backbone not in ("pvcnn", "pointnet"):
            raise ValueError(f"config.point_vae.backbone must be 'pvcnn' or 'pointnet', got "
                             f"'{pv.backbone}'")  # fmt: skip
    if config.model.name == "mgd":
        from mgd_jax import mgd_task

        mgd_task.validate_mgd_config(config)


def _point_vae_task(config: ml_collections.ConfigDict) -> Task:
    pv = config.point_vae
    model = point_vae.PointVAE(tuple(pv.channels), tuple(pv.resolutions), pv.latent_features,
                               backbone=pv.backbone, conv_impl=pv.conv_impl)  # fmt: skip
    scale = float(pv.input_scale)  # meters -> model units
    kl_ramp = max(1, int(config.total_steps * pv.kl_anneal_fraction))

    def init(rng, batch):
        return model.init({"params": rng, "latent": rng}, batch["points"] * scale)["params"]

    def loss(params, batch, rng, step):
        x = batch["points"] * scale
        out = model.apply({"params": params}, x, rngs={"latent": rng})
        recon = jnp.mean(jnp.abs(out.recon - x))
        kl = jnp.mean(point_vae.kl_to_standard_normal(out.mu, out.log_sigma))
        kl_weight = pv.kl_weight * jnp.minimum(1.0, step.astype(jnp.float32) / kl_ramp)
        total = recon + kl_weight * kl
        return total, {"recon_l1": recon, "kl": kl, "kl_weight": kl_weight}

    def train_sources():
        return [
            data_sources.build_source(s, "train", w, pv.num_points, config.data.get("data_dir"))
            for s, w in zip(config.data.sources, config.data.weights)
        ]

    def transform(example):  # stored clouds are random surface samples: a prefix is a subset
        points = np.asarray(example["points"], np.float32)
        if points.shape[0] < pv.num_points:
            raise ValueError(f"an example has {points.shape[0]} points; config.point_vae."
                             f"num_points={pv.num_points}")  # fmt: skip
        return {"points": points[: pv.num_points]}

    def evaluate(params, workdir: str) -> dict:
        """Chamfer distance (mm) of reconstructions of held-out objects, from the posterior mean
        and from a sampled latent; writes ``reconstructions.png`` (input | mean | sample)."""
        src = None
        for split in ("test", "validation"):  # held-out objects; small datasets may lack one
            try:
                src = data_sources.build_source(config.data.sources[0].split("@")[0], split, 1.0,
                                                pv.num_points,
                                                config.data.get("data_dir"))  # fmt: skip
                break
            except ValueError:
                continue
        if src is None:
            return {"skipped": f"no test or validation split in {config.data.sources[0]}"}
        n = min(len(src.data), config.evals.num_objects)
        points = np.stack([src.data[i]["points"][: pv.num_points] for i in range(n)]) * scale
        results, recons = point_vae_reconstruction_report(model, params, points, scale,
                                                          seed=config.seed)  # fmt: skip
        results["split"] = src.name
        if config.evals.num_renders > 0:
            path = os.path.join(workdir, "reconstructions.png")
            k = min(config.evals.num_renders, n)
            render_reconstructions(path, points[:k] / scale, recons["mean"][:k] / scale,
                                   recons["sample"][:k] / scale)  # fmt: skip
            results["renders"] = path
        return results

    return Task(init, loss, train_sources, transform, evaluate)


def point_vae_reconstruction_report(model, params, points: np.ndarray, scale: float,
                                    seed: int = 0, chunk: int = 8) -> tuple[dict, dict]:  # fmt: skip
    """Reconstruct (N, P, 3) model-unit point clouds from the posterior mean and from one sampled
    latent; Chamfer distance (mean nearest-neighbour distance, symmetric) in millimeters.

    Returns:
      (results: mean/std Chamfer in mm for both, recons: {"mean", "sample"} -> (N, P, 3) model units)
    """

    @jax.jit
    def recon(p, key):
        mean = model.apply({"params": params}, p, sample=False).recon
        sample = model.apply({"params": params}, p, sample=True, rngs={"latent": key}).recon
        return mean, sample, point_vae.chamfer_distance(mean, p), point_vae.chamfer_distance(sample, p)

    key = jax.random.PRNGKey(seed)
    outs = []
    for i in range(0, len(points), chunk):
        key, sub = jax.random.split(key)
        outs.append(jax.device_get(recon(jnp.asarray(points[i : i + chunk]), sub)))
    mean, sample, cd_mean, cd_sample = (np.concatenate(x) for x in zip(*outs))
    to_mm = 1000.0 / scale
    results = {
        "chamfer_mm_mean": float(cd_mean.mean() * to_mm),
        "chamfer_mm_std": float(cd_mean.std() * to_mm),
        "chamfer_mm_sampled_mean": float(cd_sample.mean() * to_mm),
        "chamfer_mm_sampled_std": float(cd_sample.std() * to_mm),
        "num_objects": int(len(points)),
    }
    return results, {"mean": mean, "sample": sample}


def render_reconstructions(path: str, inputs: np.ndarray, means: np.ndarray,
                           samples: np.ndarray, size: int = 256) -> None:  # fmt: skip
    """One row per object: input points | posterior-mean reconstruction | sampled; meters in."""
    from mgd_jax import images, render

    tiles, labels = [], []
    for i, clouds in enumerate(zip(inputs, means, samples)):
        for name, cloud in zip(("input", "posterior mean", "sampled z"), clouds):
            view = render.render_views([], points=[cloud], views=[(135.0, -25.0)], size=(size, size),
                                       point_radius=0.0015, shadows=False)[0]  # fmt: skip
            tiles.append(view["color"])
            labels.append(f"object {i}: {name}")
    images.save_png(path, images.contact_sheet(tiles, ncols=3, labels=labels))


def _mgd_task(config: ml_collections.ConfigDict) -> Task:
    from mgd_jax import mgd_task

    t = mgd_task.MGDTask(config)
    return Task(t.init, t.loss, t.train_sources, t.transform, t.evaluate)


_TASKS = {"point_vae": _point_vae_task, "mgd": _mgd_task}


def get_task(config: ml_collections.ConfigDict) -> Task:
    return _TASKS[config.model.name](config)
