"""The MGD training task (``config.task.name = "mgd"``) on the frozen stage-1 point VAE.

``config.model`` is the MGD network (``mgd_jax.models.mgd.default_config``), ``config.task.point_vae``
the trained point-VAE workdir (frozen), ``config.diffusion`` T and the asynchronous schedulers,
``config.loss`` the term weights and the latent-collapse remedies (``mgd_jax.losses``).

The evaluation (:meth:`MGDTask.evaluate`, ``eval.json``) reports the held-out loss and, on up to
``config.evals.latent_examples`` examples spread evenly over the held-out split (``heldout/``)
and over the first (HOI) training source (``trainset/``), the collapse diagnostics of
``mgd_jax.latent_stats``: each modality's clean-latent spread over the whole set
(``latent/hand_*``, ``latent/object_*``) and the tokenizers' autoencoding errors (``autoenc/*``).

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

from mgd_jax import diffusion, hand, latent_stats, losses, trained
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
            decode_points=self.vae.decode, input_scale=self.vae.input_scale,
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
        source's validation/test split, metrics averaged over up to ``evals.num_batches``; the
        collapse diagnostics on the held-out split and the training source (module docstring)."""
        del workdir
        source = self.config.data.sources[0]
        src = sources.held_out_source(source, 2048, self.config.data.get("data_dir"))
        out: dict = {}
        if self.sources and len(self.sources[0].data):
            out.update(self.diagnose(params, self.sources[0].data, "trainset"))
        if src is None or len(src.data) == 0:
            return {"skipped": f"no validation or test split in {source}", **out}
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
                if k.startswith(("latent/", "autoenc/")) and k not in PER_BATCH_KEYS:
                    continue  # per-batch diagnostics: the whole-set ones below replace them
                totals[k] = totals.get(k, 0.0) + float(v)
            count += 1
        out.update({f"heldout/{k}": v / count for k, v in totals.items()})
        out["heldout/num_examples"] = min(n, count * b)
        out["split"] = src.name
        out.update(self.diagnose(params, src.data, "heldout"))
        return out

    def encode_decode(self, params, batch: dict) -> tuple[jnp.ndarray, jnp.ndarray, dict]:
        """Clean latents and decode(encode(x)) errors of one batch (``mgd_example`` layout).

        Returns:
          z_hand (B, d_h), z_object (B, d_o), and per-example errors
          (``latent_stats.ERROR_KEYS``, each (B,), degrees / mm).
        """
        latent = self.vae.encode(batch["points"])

        def run(module):
            z_h = module.encode_hand(batch["pose"], batch["trans"])
            z_o = module.encode_object(latent)
            return z_h, z_o, module.decode_hand(z_h), module.decode_object(z_o)

        z_h, z_o, (pose, trans), latent_hat = self.model.apply({"params": params}, method=run)
        betas, offset = losses.hand_shape(batch)
        joints = hand.forward(self.hand_model, pose, trans - offset, betas).joints
        true = losses.ground_truth_hand(self.hand_model, batch).joints
        errors = latent_stats.hand_errors(batch["pose"], batch["trans"], true, pose, trans, joints)
        scale = self.vae.input_scale
        errors["object_chamfer_mm"] = latent_stats.object_chamfer_mm(latent, latent_hat, scale)
        return z_h, z_o, errors

    def diagnose(self, params, data, prefix: str) -> dict:
        """Collapse diagnostics (``latent_stats.summarize``) of up to
        ``evals.latent_examples`` examples spread evenly over ``data`` (a random-access source),
        as ``<prefix>/latent/...``, ``<prefix>/autoenc/...`` floats (NaN: undefined)."""
        n = min(len(data), int(self.config.evals.get("latent_examples", 256)))
        index = np.unique(np.linspace(0, len(data) - 1, n).round().astype(int))
        rows = [self.transform(data[int(i)]) for i in index]
        fn = jax.jit(self.encode_decode)
        parts = []
        b = self.config.data.batch_size
        for i in range(0, len(rows), b):
            chunk = rows[i : i + b]
            batch = {k: jnp.asarray(np.stack([r[k] for r in chunk])) for k in chunk[0]}
            parts.append(jax.device_get(fn(params, batch)) + (batch["is_hoi"],))
        z_h, z_o = (np.concatenate([p[j] for p in parts]) for j in (0, 1))
        errors = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
        is_hoi = np.concatenate([np.asarray(p[3]) for p in parts])
        stats = latent_stats.summarize(z_h, z_o, is_hoi, errors)
        out = {f"{prefix}/{k}": float(v) for k, v in stats.items()}
        out[f"{prefix}/latent_examples"] = len(rows)
        return out


# Per-batch metrics of the loss kept in the held-out averages (the others are whole-set
# diagnostics, computed by MGDTask.diagnose instead).
PER_BATCH_KEYS = ("autoenc/loss", "autoenc/pose", "autoenc/trans", "autoenc/joints",
                  "autoenc/object_points", "latent/variance_hinge")  # fmt: skip


def validate(config: ml_collections.ConfigDict) -> None:
    """MGD config checks, each naming the field."""
    for section in ("diffusion", "loss"):
        if section not in config:
            raise ValueError(f"an MGD config needs a config.{section} section (see configs/mgd_base.py)")
    if "point_vae" not in config.task:
        raise ValueError("an MGD config needs config.task.point_vae (the point-VAE workdir)")
    losses.validate_config(config.loss)
    if (config.get("evals") or {}).get("latent_examples", 256) < 2:
        raise ValueError("config.evals.latent_examples must be at least 2 (spread needs pairs)")
    if config.diffusion.num_timesteps < 2:
        raise ValueError("config.diffusion.num_timesteps must be at least 2")


def make_task(config: ml_collections.ConfigDict) -> Task:
    """The MGD ``Task`` (datasets are checked first, then the point VAE)."""
    t = MGDTask(config)
    hand_info = {"name": t.hand_model.name, "fingerprint": hand.fingerprint(t.hand_model),
                 "mano_path": config.get("mano_path") or ""}  # fmt: skip
    return Task(t.init, t.loss, t.train_sources, t.transform, t.evaluate, {"hand": hand_info})
