"""A toy trained MGD (2-step point VAE, 3-step MGD on in-memory data) shared by the tests."""

import numpy as np
import pytest

from configs import demo as demo_configs
from configs import point_vae as point_vae_configs
from mgd_jax import hand, train
from mgd_jax.data import input_pipeline
from mgd_jax.data import sources as data_sources


def hoi_examples(n_hoi: int, n_obj: int, seed: int = 0) -> list[dict]:
    """In-memory HOI (random in-limit poses near primitives) and object-only examples."""
    rng = np.random.default_rng(seed)
    model = hand.load(None)
    prims = data_sources.PrimitiveObjects(n_hoi + n_obj, "train", num_points=256)
    poses = hand.sample_pose_within_limits(model, rng, n_hoi)
    rows = []
    for i in range(n_hoi + n_obj):
        row = {"points": prims[i]["points"]}
        if i < n_hoi:
            row.update(pose=poses[i], trans=rng.normal(0, 0.05, 3).astype(np.float32),
                       has_hand=True)  # fmt: skip
        rows.append(row)
    return rows


def train_toy(root):
    """Train the toy point VAE into ``root/pv`` and the toy MGD into ``root/mgd``; returns the
    MGD config."""
    pv = point_vae_configs.get_config("tiny")
    pv.total_steps, pv.ckpt.async_save = 2, False
    train.train_and_evaluate(pv, str(root / "pv"))
    config = demo_configs.get_config("tiny").runs.mgd
    config.task.point_vae = str(root / "pv")
    config.total_steps, config.ckpt.async_save, config.ckpt.every_steps = 3, False, 3
    rows = hoi_examples(8, 4)
    patch = pytest.MonkeyPatch()
    patch.setattr(data_sources, "build_source",
                  lambda spec, split, w=1.0, *a: input_pipeline.Source(f"{spec}:{split}", rows, w))  # fmt: skip
    try:
        train.train_and_evaluate(config, str(root / "mgd"))
    finally:
        patch.undo()
    return config
