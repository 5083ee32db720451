"""The stage-1 point-VAE task (``config.task.name = "point_vae"``, ``configs/point_vae.py``).

``config.model`` is the network (``backbone``, ``channels``, ``resolutions``, ``latent_features``,
``input_scale`` meters -> model units); ``config.task`` holds ``num_points`` read per example,
``kl_weight`` and ``kl_anneal_fraction``. Points are meters in the data, model units inside.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax.data import sources
from mgd_jax.models import point_vae
from mgd_jax.objects.chamfer import chamfer_distance
from mgd_jax.tasks import Task


def validate(config: ml_collections.ConfigDict) -> None:
    """Point-VAE config checks, each naming the field."""
    net = config.model
    if len(net.channels) != len(net.resolutions):
        raise ValueError("config.model.channels and .resolutions must have equal length")
    if net.backbone not in ("pvcnn", "pointnet"):
        raise ValueError(f"config.model.backbone must be 'pvcnn' or 'pointnet', got "
                         f"'{net.backbone}'")  # fmt: skip


def make_task(config: ml_collections.ConfigDict) -> Task:
    """The point-VAE task: L1 reconstruction + annealed KL on ``config.task.num_points`` points."""
    pv = config.task
    model = point_vae.from_config(config.model)
    scale = float(config.model.input_scale)  # meters -> model units
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
            sources.build_source(s, "train", w, pv.num_points, config.data.get("data_dir"))
            for s, w in zip(config.data.sources, config.data.weights)
        ]

    def transform(example):  # stored clouds are random surface samples: a prefix is a subset
        points = np.asarray(example["points"], np.float32)
        if points.shape[0] < pv.num_points:
            raise ValueError(f"an example has {points.shape[0]} points; config.task."
                             f"num_points={pv.num_points}")  # fmt: skip
        return {"points": points[: pv.num_points]}

    def evaluate(params, workdir: str) -> dict:
        """Chamfer distance (mm) of reconstructions of held-out objects, from the posterior mean
        and from a sampled latent; writes ``reconstructions.png`` (input | mean | sample)."""
        src = sources.held_out_source(config.data.sources[0], pv.num_points,
                                      config.data.get("data_dir"))  # fmt: skip
        if src is None:
            return {"skipped": f"no validation or test split in {config.data.sources[0]}"}
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
        return mean, sample, chamfer_distance(mean, p), chamfer_distance(sample, p)

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
    from mgd_jax import images, render  # rendering only when a report is asked for

    tiles, labels = [], []
    for i, clouds in enumerate(zip(inputs, means, samples)):
        for name, cloud in zip(("input", "posterior mean", "sampled z"), clouds):
            view = render.render_views([], points=[cloud], views=[(135.0, -25.0)], size=(size, size),
                                       point_radius=0.0015, shadows=False)[0]  # fmt: skip
            tiles.append(view["color"])
            labels.append(f"object {i}: {name}")
    images.save_png(path, images.contact_sheet(tiles, ncols=3, labels=labels))
