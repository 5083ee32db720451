"""What the trainer trains: each task gives init, loss, data sources and an evaluation.

Selected by ``config.model.name``. The trainer only sees this small interface, so adding a model
means adding a task, not touching the training loop.
"""

from __future__ import annotations

import dataclasses
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
    evaluate: Callable[[Any], dict] | None  # EMA params -> results (JSON-able)


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


def _point_vae_task(config: ml_collections.ConfigDict) -> Task:
    pv = config.point_vae
    model = point_vae.PointVAE(tuple(pv.channels), tuple(pv.resolutions), pv.latent_features)
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

    def transform(example):
        return {"points": np.asarray(example["points"], np.float32)}

    def evaluate(params) -> dict:
        """Chamfer distance (mm) of posterior-mean reconstructions on held-out objects."""
        src = None
        for split in ("test", "validation"):  # held-out objects; small datasets may lack one
            try:
                src = data_sources.build_source(config.data.sources[0], split, 1.0, pv.num_points,
                                                config.data.get("data_dir"))  # fmt: skip
                break
            except ValueError:
                continue
        if src is None:
            return {"skipped": f"no test or validation split in {config.data.sources[0]}"}
        n = min(len(src.data), config.evals.num_objects)
        points = np.stack([src.data[i]["points"] for i in range(n)]) * scale

        @jax.jit
        def recon(p):
            return model.apply({"params": params}, p, sample=False).recon

        cds = []
        for i in range(0, n, 8):
            chunk = jnp.asarray(points[i : i + 8])
            cds.append(np.asarray(point_vae.chamfer_distance(recon(chunk), chunk)))
        cd_mm = np.concatenate(cds) / scale * 1000.0
        return {"chamfer_mm_mean": float(cd_mm.mean()), "chamfer_mm_std": float(cd_mm.std()),
                "num_objects": int(n)}  # fmt: skip

    return Task(init, loss, train_sources, transform, evaluate)


_TASKS = {"point_vae": _point_vae_task}


def get_task(config: ml_collections.ConfigDict) -> Task:
    return _TASKS[config.model.name](config)
