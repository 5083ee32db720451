"""The MGD training task (``config.model.name = "mgd"``) and the frozen stage-1 point VAE it reads.

Data: every source is mapped to one example layout, so HOI and object-only sources mix freely in
one batch (DESIGN §5):

  points   (N, 3) float32  object surface points, meters, object-centric frame (first N stored)
  pose     (16, 3) float32 MANO axis-angle, radians (zeros for object-only examples)
  trans    (3,) float32    meters (zeros for object-only examples)
  is_hoi   () float32      1 for a hand-object example, 0 for object-only

An example is HOI when its source stores a hand (``pose``) and, where the source says so
(``has_hand`` in mgd_synthetic), that flag is set. Object datasets (mgd_objects, shapenet,
object_folder, ``primitives``) are object-only.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mgd_jax import checkpoint, data_sources, diffusion, hand, losses
from mgd_jax.models import point_vae
from mgd_jax.models.mgd import MGD, decode_object_points, object_latents

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FrozenPointVAE:
    """A trained point VAE used as a fixed function (never trained by MGD).

    ``params`` are its EMA variables ``{"params": ...}``; ``input_scale`` turns meters into the
    VAE's model units.
    """

    model: point_vae.PointVAE
    params: Any
    input_scale: float
    workdir: str

    @property
    def point_dim(self) -> int:
        return 3 + self.model.latent_features

    def encode(self, points_m: jnp.ndarray) -> jnp.ndarray:
        """(B, N, 3) meters -> (B, N, 3 + D) posterior-mean latent points, model units."""
        return object_latents(self.model, self.params, points_m, self.input_scale)

    def decode(self, latent_points: jnp.ndarray) -> jnp.ndarray:
        """(B, N, 3 + D) latent points -> (B, N, 3) points, meters."""
        return decode_object_points(self.model, self.params, latent_points, self.input_scale)


def point_vae_from_section(pv: Any) -> point_vae.PointVAE:
    """A ``PointVAE`` from a ``config.point_vae`` section (ConfigDict or plain dict)."""
    get = pv.get if hasattr(pv, "get") else lambda k, d=None: getattr(pv, k, d)
    return point_vae.PointVAE(
        tuple(get("channels")), tuple(get("resolutions")), int(get("latent_features")),
        backbone=get("backbone", "pvcnn"), conv_impl=get("conv_impl", "auto"),
    )  # fmt: skip


def load_point_vae(workdir: str) -> FrozenPointVAE:
    """The point VAE trained in ``workdir`` (``configs/point_vae.py``), EMA weights.

    Raises:
      FileNotFoundError with the command that trains it, when ``workdir`` has no checkpoint;
      ValueError when that run is not a point-VAE run.
    """
    if not workdir:
        raise FileNotFoundError(
            "config.point_vae.init is empty: point it at a trained point-VAE workdir, e.g. train "
            "one with `python launch.py --config=configs/point_vae.py --workdir=runs/point_vae`"
        )
    try:
        params, run_config, step = checkpoint.load_trained(workdir)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"config.point_vae.init={workdir}: {e}. Train the point VAE first: "
            f"`python launch.py --config=configs/point_vae.py --workdir={workdir}`"
        ) from e
    if run_config.get("model", {}).get("name") != "point_vae":
        raise ValueError(f"config.point_vae.init={workdir} is a "
                         f"'{run_config.get('model', {}).get('name')}' run, not a point VAE")  # fmt: skip
    pv = run_config["point_vae"]
    if step < run_config.get("total_steps", step):
        logger.warning("point VAE in %s is at step %d of %d (not finished)", workdir, step,
                       run_config["total_steps"])  # fmt: skip
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return FrozenPointVAE(point_vae_from_section(pv), {"params": params},
                          float(pv["input_scale"]), workdir)  # fmt: skip


def mgd_example(example: dict, num_points: int) -> dict:
    """One source example -> the MGD layout (module docstring); numpy in, numpy out."""
    points = np.asarray(example["points"], np.float32)
    if points.shape[0] < num_points:
        raise ValueError(f"example has {points.shape[0]} points, config.mgd.num_points={num_points}")
    has_pose = "pose" in example
    is_hoi = has_pose and bool(np.asarray(example.get("has_hand", True)))
    zeros = has_pose and not is_hoi
    return {
        "points": points[:num_points],
        "pose": np.zeros((16, 3), np.float32) if not has_pose or zeros
        else np.asarray(example["pose"], np.float32),
        "trans": np.zeros(3, np.float32) if not has_pose or zeros
        else np.asarray(example["trans"], np.float32),
        "is_hoi": np.float32(is_hoi),
    }  # fmt: skip


class MGDTask:
    """init / loss / sources / transform / evaluate of MGD, built once from the config."""

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.sources = self._build_sources()  # first: a missing dataset names its build command
        self.vae = load_point_vae(config.point_vae.init)
        if config.mgd.point_dim != self.vae.point_dim:
            raise ValueError(
                f"config.mgd.point_dim={config.mgd.point_dim} but the point VAE in "
                f"{self.vae.workdir} has {self.vae.point_dim}-D latent points; set them equal"
            )
        self.model = MGD.from_config(config.mgd)
        self.schedule = diffusion.make_schedule(config.diffusion.num_timesteps)
        self.hand_model = hand.load(config.get("mano_path") or None)

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
        # MGD's points are the first mgd.num_points of each stored cloud; sources store 2048.
        n = max(self.config.mgd.num_points, 2048)
        return [data_sources.build_source(s, "train", w, n, d.get("data_dir"))
                for s, w in zip(d.sources, d.weights)]  # fmt: skip

    def transform(self, example: dict) -> dict:
        return mgd_example(example, self.config.mgd.num_points)

    def evaluate(self, params, workdir: str) -> dict:
        """Held-out loss (deterministic: dropout off, fixed timesteps and noise) on the HOI
        source's validation/test split; metrics averaged over up to ``evals.num_batches``."""
        del workdir
        source = self.config.data.sources[0]
        src = None
        for split in ("validation", "test"):
            try:
                src = data_sources.build_source(source.split("@")[0], split, 1.0, 2048,
                                                self.config.data.get("data_dir"))  # fmt: skip
                break
            except ValueError:
                continue
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


def validate_mgd_config(config: ml_collections.ConfigDict) -> None:
    """MGD-specific config checks, each naming the field."""
    for section in ("mgd", "diffusion", "loss", "point_vae"):
        if section not in config:
            raise ValueError(f"an MGD config needs a config.{section} section (see configs/demo.py)")
    unknown = set(config.loss.keys()) - set(losses.WEIGHT_KEYS)
    if unknown:
        raise ValueError(f"config.loss has unknown keys {sorted(unknown)}; known: {losses.WEIGHT_KEYS}")
    if config.diffusion.num_timesteps < 2:
        raise ValueError("config.diffusion.num_timesteps must be at least 2")
