"""The inference floor: a trained run or an export, loaded and checked once.

    mgd = trained.load_mgd("runs/demo/mgd")        # a training workdir or an export folder
    mgd.config, mgd.params, mgd.vae, mgd.hand_model, mgd.step

Everything that samples (``generator``, ``sample``, ``export``, the experiment) loads through
here and never imports the training tasks. Loading checks the run's kind (``config.task.name``),
the hand model (an export records its fingerprint) and the parameter shapes against the config.

An export folder (written by :func:`write_export`, ``python -m mgd_jax.export``) holds

  params/        orbax checkpoint of ``{"mgd": EMA parameters, "point_vae": point-VAE EMA
                 parameters}`` (the frozen stage-1 VAE travels with the model)
  export.json    format version, the MGD run's config, the point VAE's architecture and input
                 scale, the hand model's name and fingerprint, the training step

Runs and exports written with the earlier config layout (``model.name`` + ``mgd``/``point_vae``
sections) are read through :func:`upgrade_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mgd_jax import checkpoint, hand
from mgd_jax.models import point_vae
from mgd_jax.models.mgd import MGD, decode_object_points, object_latents

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "mgd_jax-export"
EXPORT_VERSION = 1
EXPORT_META = "export.json"
EXPORT_PARAMS = "params"
# Point-VAE settings that belong to the task (data and loss), not to the network.
POINT_VAE_TASK_KEYS = ("num_points", "kl_weight", "kl_anneal_fraction")


# --------------------------------------------------------------------------------------------
# Configs


def upgrade_config(run_config: dict) -> dict:
    """A run config in the current layout (``task`` + ``model`` sections); earlier layouts
    (``model = {"name": ...}`` with the network in ``mgd`` / ``point_vae``) are converted."""
    config = copy.deepcopy(dict(run_config))
    if "task" in config:
        return config
    name = dict(config.get("model") or {}).get("name")
    if name == "point_vae":
        net = dict(config.pop("point_vae"))
        config["task"] = {"name": name, **{k: net.pop(k) for k in POINT_VAE_TASK_KEYS if k in net}}
        config["model"] = net
    elif name == "mgd":
        config["task"] = {"name": name, "point_vae": dict(config.pop("point_vae", {})).get("init", "")}
        config["model"] = config.pop("mgd")
    return config


def load_run(workdir: str, task: str) -> tuple[Any, ml_collections.ConfigDict, int]:
    """EMA parameters, config (current layout) and step of the ``task`` run in ``workdir``.

    Raises:
      FileNotFoundError naming the folder when it holds no checkpoint; ValueError when it is a run
      of another task or none of its checkpoints can be read.
    """
    params, run_config, step = checkpoint.load_trained(workdir)
    config = upgrade_config(run_config)
    kind = config.get("task", {}).get("name")
    if kind != task:
        raise ValueError(f"{workdir} is a '{kind}' run (config.task.name), not a '{task}' run")
    return params, ml_collections.ConfigDict(config), step


# --------------------------------------------------------------------------------------------
# The frozen point VAE


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


def load_point_vae(workdir: str) -> FrozenPointVAE:
    """The point VAE trained in ``workdir`` (``configs/point_vae.py``), EMA weights.

    Raises:
      FileNotFoundError with the command that trains it, when ``workdir`` has no checkpoint;
      ValueError when that run is not a point-VAE run.
    """
    if not workdir:
        raise FileNotFoundError(
            "config.task.point_vae is empty: point it at a trained point-VAE workdir, e.g. train "
            "one with `python launch.py --config=configs/point_vae.py --workdir=runs/point_vae`"
        )
    try:
        params, config, step = load_run(workdir, "point_vae")
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"config.task.point_vae={workdir}: {e}. Train the point VAE first: "
            f"`python launch.py --config=configs/point_vae.py --workdir={workdir}`"
        ) from e
    if step < config.get("total_steps", step):
        logger.warning("point VAE in %s is at step %d of %d (not finished)", workdir, step,
                       config.total_steps)  # fmt: skip
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return FrozenPointVAE(point_vae.from_config(config.model), {"params": params},
                          float(config.model.input_scale), workdir)  # fmt: skip


# --------------------------------------------------------------------------------------------
# A trained MGD model


@dataclasses.dataclass(frozen=True)
class TrainedMGD:
    """Everything sampling needs: the run's config, MGD EMA variables, frozen VAE, hand."""

    config: ml_collections.ConfigDict  # current layout; the network is config.model
    params: Any  # {"params": ...}
    vae: FrozenPointVAE
    hand_model: hand.HandModel
    step: int
    source: str  # the workdir or export folder it came from


def is_export(path: str) -> bool:
    """True when ``path`` is a folder written by :func:`write_export`."""
    return os.path.isfile(os.path.join(path, EXPORT_META))


def load_mgd(path: str, mano_path: str | None = None,
             point_vae_workdir: str | None = None) -> TrainedMGD:  # fmt: skip
    """An MGD export folder or training workdir, whichever ``path`` is, checked.

    Args:
      path: an export (``export.json``) or a training workdir (``checkpoints/``).
      mano_path: the MANO file; default the run's (a workdir) or the recorded one (an export).
      point_vae_workdir: a workdir only: overrides the run's ``config.task.point_vae``.

    Raises:
      FileNotFoundError naming ``path`` when it is neither; ValueError for another kind of run,
      another hand model than the export was trained with, or parameters not matching the config.
    """
    if is_export(path):
        return _load_export(path, mano_path)
    if not os.path.isdir(os.path.join(path, "checkpoints")):
        raise FileNotFoundError(
            f"{path}: neither an export (no export.json) nor a training workdir (no checkpoints/); "
            "give the folder of `python -m mgd_jax.export --out` or of `launch.py --workdir`"
        )
    params, config, step = load_run(path, "mgd")
    vae = load_point_vae(point_vae_workdir or config.task.point_vae)
    hand_model = hand.load(mano_path or config.get("mano_path") or None)
    run_info = os.path.join(path, "run.json")
    if os.path.isfile(run_info):  # written by the trainer (runs before it have none)
        with open(run_info) as f:
            check_hand(path, json.load(f).get("hand"), hand_model)
    _check_mgd_shapes(path, config, params, vae)
    params = {"params": jax.tree_util.tree_map(jnp.asarray, params)}
    return TrainedMGD(config, params, vae, hand_model, step, path)


def check_hand(path: str, recorded: dict | None, hand_model: hand.HandModel) -> None:
    """Refuse another hand model than the one the model was trained with."""
    if recorded and hand.fingerprint(hand_model) != recorded["fingerprint"]:
        raise ValueError(
            f"{path} was trained with hand '{recorded['name']}' (fingerprint "
            f"{recorded['fingerprint'][:12]}), but the hand given ('{hand_model.name}', "
            f"{hand.fingerprint(hand_model)[:12]}) differs; pass the MANO file it was trained "
            "with (--mano_path)"
        )


def _check_shapes(path: str, what: str, params: Any, expected: Any) -> None:
    got = {jax.tree_util.keystr(k): np.shape(v)
           for k, v in jax.tree_util.tree_leaves_with_path(params)}  # fmt: skip
    want = {jax.tree_util.keystr(k): tuple(v.shape)
            for k, v in jax.tree_util.tree_leaves_with_path(expected)}  # fmt: skip
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        shape = [f"{k}: {got[k]} vs config {want[k]}" for k in sorted(set(got) & set(want))
                 if got[k] != want[k]][:3]  # fmt: skip
        raise ValueError(
            f"{path}: the {what} parameters do not match the stored config (missing {missing}, "
            f"unexpected {extra}, shapes {shape}); the parameters and their config disagree, "
            "export (or train) the run again"
        )


def _check_mgd_shapes(path: str, config, params: Any, vae: FrozenPointVAE) -> None:
    n = int(config.model.num_points)
    key = jax.random.PRNGKey(0)
    model = MGD.from_config(config.model)
    shapes = jax.eval_shape(
        lambda: model.init(key, jnp.zeros((1, 16, 3)), jnp.zeros((1, 3)),
                           jnp.zeros((1, n, vae.point_dim)))  # fmt: skip
    )["params"]
    _check_shapes(path, "MGD", params, shapes)


# --------------------------------------------------------------------------------------------
# Exports


def write_export(workdir: str, out: str, point_vae_workdir: str | None = None,
                 mano_path: str | None = None, overwrite: bool = False) -> dict:  # fmt: skip
    """Write the inference checkpoint of the MGD run in ``workdir`` to ``out``.

    Args:
      workdir: an MGD training folder (``launch.py --workdir``), newest readable checkpoint used.
      out: the export folder (created; must not exist unless ``overwrite``).
      point_vae_workdir: overrides the run's ``config.task.point_vae``.
      mano_path: overrides the run's ``config.mano_path`` (must be the hand it trained with).
      overwrite: replace an existing export at ``out``.

    Returns:
      The metadata written to ``out/export.json``.

    Raises:
      FileNotFoundError / ValueError naming the folder when the run or its point VAE is missing
      or is not an MGD run; FileExistsError when ``out`` exists and ``overwrite`` is False.
    """
    mgd = load_mgd(workdir, mano_path, point_vae_workdir)
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not overwrite:
            raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tree = {"mgd": jax.device_get(mgd.params["params"]),
            "point_vae": jax.device_get(mgd.vae.params["params"])}  # fmt: skip
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.join(tmp, EXPORT_PARAMS), tree)
        ckptr.wait_until_finished()
    pv = mgd.vae.model
    mano = mano_path or mgd.config.get("mano_path") or ""
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "step": int(mgd.step),
        "source_workdir": os.path.abspath(workdir),
        "config": mgd.config.to_dict(),
        "point_vae": {
            "channels": list(pv.channels),
            "resolutions": list(pv.resolutions),
            "latent_features": int(pv.latent_features),
            "backbone": pv.backbone,
            "conv_impl": pv.conv_impl,
            "input_scale": float(mgd.vae.input_scale),
            "source_workdir": os.path.abspath(mgd.vae.workdir),
        },
        "hand": {"name": mgd.hand_model.name, "fingerprint": hand.fingerprint(mgd.hand_model),
                 "mano_path": mano},  # fmt: skip
        "units": "meters, object-centric frame (bounding-box centre at the origin)",
    }
    checkpoint.write_json(os.path.join(tmp, EXPORT_META), meta)
    os.replace(tmp, out)  # the export appears whole or not at all
    logger.info("exported %s (step %d) to %s", workdir, mgd.step, out)
    return meta


def read_export_meta(path: str) -> dict:
    """The metadata of an export folder, checked for format and version."""
    file = os.path.join(path, EXPORT_META)
    if not os.path.isfile(file):
        raise FileNotFoundError(
            f"{path} is not an mgd_jax export (no {EXPORT_META}); write one with "
            f"`python -m mgd_jax.export --workdir=<MGD run> --out={path}`"
        )
    try:
        with open(file) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{file} is unreadable ({e}); export the run again") from e
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{file}: format '{meta.get('format')}' is not '{EXPORT_FORMAT}'")
    if int(meta.get("version", -1)) > EXPORT_VERSION:
        raise ValueError(f"{file}: export version {meta.get('version')} is newer than this "
                         f"mgd_jax reads ({EXPORT_VERSION}); update mgd_jax")  # fmt: skip
    return meta


def _load_export(path: str, mano_path: str | None = None) -> TrainedMGD:
    meta = read_export_meta(path)
    recorded = meta["hand"]
    mano = mano_path or recorded.get("mano_path") or None
    if mano and not os.path.exists(mano):
        raise FileNotFoundError(
            f"{path} was trained with hand '{recorded['name']}' read from {mano}, which is not "
            "here; pass the same MANO file with --mano_path"
        )
    hand_model = hand.load(mano)
    check_hand(path, recorded, hand_model)
    try:
        with ocp.StandardCheckpointer() as ckptr:
            tree = ckptr.restore(os.path.abspath(os.path.join(path, EXPORT_PARAMS)))
    except Exception as e:  # orbax raises several types for missing/torn files
        raise ValueError(f"{path}: the parameters in {EXPORT_PARAMS}/ cannot be read "
                         f"({type(e).__name__}: {str(e)[:200]}); export the run again") from e  # fmt: skip
    config = ml_collections.ConfigDict(upgrade_config(meta["config"]))
    pv = meta["point_vae"]
    vae_model = point_vae.from_config(pv)
    vae = FrozenPointVAE(vae_model, {"params": jax.tree_util.tree_map(jnp.asarray, tree["point_vae"])},
                         float(pv["input_scale"]), path)  # fmt: skip
    pts = jax.ShapeDtypeStruct((1, int(config.model.num_points), 3), jnp.float32)
    key = jax.random.PRNGKey(0)
    vae_shapes = jax.eval_shape(lambda p: vae_model.init({"params": key, "latent": key}, p), pts)
    _check_shapes(path, "point VAE", tree["point_vae"], vae_shapes["params"])
    _check_mgd_shapes(path, config, tree["mgd"], vae)
    params = {"params": jax.tree_util.tree_map(jnp.asarray, tree["mgd"])}
    return TrainedMGD(config, params, vae, hand_model, int(meta["step"]), path)
