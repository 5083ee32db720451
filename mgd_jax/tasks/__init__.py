"""What the trainer trains: each task gives init, loss, data sources and an evaluation.

Selected by ``config.task.name``; the network's sizes are ``config.model`` and the task's own
settings the rest of ``config.task``. The trainer only sees this small interface, so adding a
model means adding a module here and a line in ``_TASKS``, not touching the training loop.

  point_vae   stage-1 point VAE (``configs/point_vae.py``)
  mgd         MGD on the frozen point VAE (``configs/mgd_base.py``, ``full.py``, ``demo.py``)
  grabnet     the GrabNet-style CVAE baseline (``configs/grabnet.py``)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import ml_collections


# Sections of the earlier config layout and where their fields live now.
MOVED_SECTIONS = {
    "mgd": "config.model",
    "point_vae": "config.model (the network), config.task (num_points, kl_weight, "
                 "kl_anneal_fraction) or config.task.point_vae (the frozen VAE's workdir)",
}


@dataclasses.dataclass(frozen=True)
class Task:
    init: Callable[[jax.Array, dict], Any]  # (rng, example batch) -> params
    loss: Callable[..., tuple[jax.Array, dict]]  # (params, batch, rng, step) -> (loss, metrics)
    train_sources: Callable[[], list]  # -> list[data.input_pipeline.Source]
    transform: Callable[[dict], dict] | None  # per-example map before batching
    evaluate: Callable[[Any, str], dict] | None  # (EMA params, workdir) -> results (JSON-able)
    run_info: dict = dataclasses.field(default_factory=dict)  # written to <workdir>/run.json


def _modules() -> dict:
    from mgd_jax.tasks import grabnet, mgd, point_vae

    return {"point_vae": point_vae, "mgd": mgd, "grabnet": grabnet}


def validate(config: ml_collections.ConfigDict) -> None:
    """Every cross-field check of a training config, each message naming the field.

    Raises:
      ValueError naming the field and what it must be.
    """
    for old, new in MOVED_SECTIONS.items():
        if old in config:
            raise ValueError(f"config.{old}: this section moved to {new} (see configs/*.py)")
    for section in ("task", "model", "data", "optim", "ckpt"):
        if section not in config:
            raise ValueError(f"the config needs a config.{section} section (see configs/*.py)")
    modules = _modules()
    name = config.task.get("name")
    if name not in modules:
        raise ValueError(f"config.task.name='{name}' unknown; one of {sorted(modules)}")
    if config.total_steps <= 0:
        raise ValueError(f"config.total_steps must be positive, got {config.total_steps}")
    if config.optim.warmup_steps >= config.total_steps:
        raise ValueError("config.optim.warmup_steps must be smaller than config.total_steps")
    if not config.data.sources:
        raise ValueError("config.data.sources is empty")
    if len(config.data.weights) != len(config.data.sources):
        raise ValueError("config.data.weights needs one weight per entry of config.data.sources")
    modules[name].validate(config)


def get_task(config: ml_collections.ConfigDict) -> Task:
    """The ``Task`` named by ``config.task.name``, built from the config."""
    return _modules()[config.task.name].make_task(config)
