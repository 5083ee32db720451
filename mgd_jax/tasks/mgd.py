"""The MGD training task (``config.task.name = "mgd"``) on the frozen stage-1 point VAE.

``config.model`` is the MGD network (``mgd_jax.models.mgd.default_config``), ``config.task.point_vae``
the trained point-VAE workdir (frozen), ``config.diffusion`` T and the asynchronous schedulers,
``config.loss`` the term weights.

Data: every source is mapped to one example layout, so HOI and object-only sources mix freely in
one batch (DESIGN §5):

  points   (N, 3) float32  object surface points, meters, object-centric frame (first N stored)
  pose     (16, 3) float32 MANO axis-angle, radians (zeros for object-only examples)
  trans    (3,) float32    meters, for the MEAN-SHAPE hand: the stored ``trans`` plus
                           ``J0(betas) - J0(0)``, so the wrist is where the dataset puts it
                           (``hand.mean_shape_trans``); zeros for object-only examples
  betas    (10,) float32   the stored shape (zeros when the source has none)
  wrist_offset (3,) float32 ``J0(betas) - J0(0)``, meters: the loss poses the hand it compares
                           as ``forward(pose, trans - wrist_offset, betas)``, the stored hand
  is_hoi   () float32      1 for a hand-object example, 0 for object-only

MGD generates ``pose`` and the mean-shape ``trans``: a generated grasp posed with betas 0 has its
wrist where a training hand of any shape had it.

An example is HOI when its source stores a hand (``pose``) and, where the source says so
(``has_hand`` in mgd_synthetic), that flag is set. Object datasets (mgd_objects, shapenet,
object_folder, ``primitives``) are object-only.
"""

from __future__ import annotations

import logging
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import diffusion, hand, losses, trained
from mgd_jax.data import sources
from mgd_jax.models.mgd import MGD
from mgd_jax.tasks import Task

logger = logging.getLogger(__name__)


def mgd_example(example: dict, num_points: int, hand_model: hand.HandModel | None = None) -> dict:
    """One source example -> the MGD layout (module docstring); numpy in, numpy out.

    ``hand_model`` (the run's) turns stored betas into the mean-shape ``trans`` and the
    ``wrist_offset``; without it the betas are taken as zeros.
    """
    points = np.asarray(example["points"], np.float32)
    if points.shape[0] < num_points:
        raise ValueError(f"example has {points.shape[0]} points, config.model.num_points={num_points}")
    has_pose = "pose" in example
    is_hoi = has_pose and bool(np.asarray(example.get("has_hand", True)))
    out = {"points": points[:num_points], "pose": np.zeros((16, 3), np.float32),
           "trans": np.zeros(3, np.float32), "betas": np.zeros(hand.NUM_BETAS, np.float32),
           "wrist_offset": np.zeros(3, np.float32), "is_hoi": np.float32(is_hoi)}  # fmt: skip
    if not is_hoi:
        return out
    out["pose"] = np.asarray(example["pose"], np.float32)
    trans = np.asarray(example["trans"], np.float32)
    betas = np.asarray(example.get("betas", out["betas"]), np.float32)
    if hand_model is None or not betas.any():
        out["trans"] = trans
        return out
    offset = hand.rest_root_joint(hand_model, betas) - hand.rest_root_joint(hand_model)
    out["betas"] = betas
    out["trans"] = (trans + offset).astype(np.float32)  # hand.mean_shape_trans
    out["wrist_offset"] = offset.astype(np.float32)
    return out


FIX_HAND = ("Set --config.mano_path to the MANO file the dataset was built with, or rebuild the "
            "dataset with `python -m mgd_jax.build_dataset ... --mano_path=<this run's MANO file>`.")


class MGDTask:
    """init / loss / sources / transform / evaluate of MGD, built once from the config."""

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.sources = self._build_sources()  # first: a missing dataset names its build command
        self.vae = trained.load_point_vae(config.task.point_vae)
        if config.model.point_dim != self.vae.point_dim:
            raise ValueError(
                f"config.model.point_dim={config.model.point_dim} but the point VAE in "
                f"{self.vae.workdir} has {self.vae.point_dim}-D latent points; set them equal"
            )
        self.model = MGD.from_config(config.model)
        self.schedule = diffusion.make_schedule(config.diffusion.num_timesteps)
        self.hand_model = hand.load(config.get("mano_path") or None)
        for src in self.sources:
            sources.check_hand(src.metadata, src.name, self.hand_model, FIX_HAND)

    def init(self, rng: jax.Array, batch: dict) -> Any:
        latent = self.vae.encode(batch["points"])
        variables = self.model.init({"params": rng}, batch["pose"], batch["trans"], latent)
        return variables["params"]

    def loss(self, params, batch, rng, step, train: bool = True):
        del step
        latent = self.vae.encode(batch["points"])
        return losses.mgd_loss(
            {"params": params}, batch, rng, model=self.model, hand_model=self.hand_model,
            schedule=self.schedule, object_latent_points=latent, weights=self.config.loss,
            async_schedulers=self.config.diffusion.async_schedulers, train=train,
        )  # fmt: skip

    def train_sources(self) -> list:
        return self.sources

    def _build_sources(self) -> list:
        d = self.config.data
        # MGD's points are the first model.num_points of each stored cloud; sources store 2048.
        n = max(self.config.model.num_points, 2048)
        return [sources.build_source(s, "train", w, n, d.get("data_dir"))
                for s, w in zip(d.sources, d.weights)]  # fmt: skip

    def transform(self, example: dict) -> dict:
        return mgd_example(example, self.config.model.num_points, self.hand_model)

    def evaluate(self, params, workdir: str) -> dict:
        """Held-out loss (deterministic: dropout off, fixed timesteps and noise) on the HOI
        source's validation/test split; metrics averaged over up to ``evals.num_batches``."""
        del workdir
        source = self.config.data.sources[0]
        src = sources.held_out_source(source, 2048, self.config.data.get("data_dir"))
        if src is None or len(src.data) == 0:
            return {"skipped": f"no validation or test split in {source}"}
        b = self.config.data.batch_size
        n = min(len(src.data), b * self.config.evals.get("num_batches", 4))
        rows = [self.transform(src.data[i]) for i in range(n)]
        loss_fn = jax.jit(lambda p, batch, key: self.loss(p, batch, key, 0, train=False)[1])
        totals: dict[str, float] = {}
        count = 0
        for i in range(0, n - b + 1 if n >= b else 1, b):
            chunk = rows[i : i + b]
            batch = {k: jnp.asarray(np.stack([r[k] for r in chunk])) for k in chunk[0]}
            metrics = jax.device_get(loss_fn(params, batch, jax.random.PRNGKey(i)))
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            count += 1
        out = {f"heldout/{k}": v / count for k, v in totals.items()}
        out["heldout/num_examples"] = min(n, count * b)
        out["split"] = src.name
        return out


def validate(config: ml_collections.ConfigDict) -> None:
    """MGD config checks, each naming the field."""
    for section in ("diffusion", "loss"):
        if section not in config:
            raise ValueError(f"an MGD config needs a config.{section} section (see configs/mgd_base.py)")
    if "point_vae" not in config.task:
        raise ValueError("an MGD config needs config.task.point_vae (the point-VAE workdir)")
    unknown = set(config.loss.keys()) - set(losses.WEIGHT_KEYS)
    if unknown:
        raise ValueError(f"config.loss has unknown keys {sorted(unknown)}; known: {losses.WEIGHT_KEYS}")
    if config.diffusion.num_timesteps < 2:
        raise ValueError("config.diffusion.num_timesteps must be at least 2")


def make_task(config: ml_collections.ConfigDict) -> Task:
    """The MGD ``Task`` (datasets are checked first, then the point VAE)."""
    t = MGDTask(config)
    hand_info = {"name": t.hand_model.name, "fingerprint": hand.fingerprint(t.hand_model),
                 "mano_path": config.get("mano_path") or ""}  # fmt: skip
    return Task(t.init, t.loss, t.train_sources, t.transform, t.evaluate, {"hand": hand_info})
