"""The MGD training config shared by ``configs/full.py`` and ``configs/demo.py`` (paper scale).

Sections (the same in every training config): ``task`` (``name`` and the task's own settings: here
``point_vae``, the trained stage-1 point-VAE workdir, frozen), ``model`` (the network:
``mgd_jax.models.mgd.default_config``), ``diffusion`` (T and the asynchronous schedulers switch),
``loss`` (term weights and the latent-collapse remedies, ``mgd_jax.losses.default_config``: all
off here, the loss as before them), ``data`` (sources mixed by weight: HOI sources first, then
object-only ones), ``optim``, ``ckpt``, ``evals`` (``latent_examples``: examples per split for
the latent-collapse diagnostics in ``eval.json``).
"""

import ml_collections

from configs import common

from mgd_jax import losses
from mgd_jax.models import mgd


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.total_steps = 300_000
    config.log_every_steps = 100
    config.num_devices = ml_collections.config_dict.placeholder(int)  # None: all devices
    config.mano_path = ""  # "" = the procedural hand; else MANO_RIGHT.pkl (or our .npz)
    config.task = ml_collections.ConfigDict()
    config.task.name = "mgd"
    config.task.point_vae = "runs/point_vae"  # configs/point_vae.py workdir (frozen here)

    config.model = mgd.default_config()
    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.num_timesteps = 1000  # T
    config.diffusion.async_schedulers = True  # independent t_h, t_o in the joint branch
    config.loss = losses.default_config()

    config.data = ml_collections.ConfigDict()
    config.data.sources = (
        "tfds:grab/stride4",
        "tfds:oakink_shape",
        "tfds:shapenet",  # object-only
    )
    config.data.weights = (0.4, 0.4, 0.2)
    config.data.batch_size = 256
    config.data.prefetch = 2
    config.data.data_dir = ml_collections.config_dict.placeholder(str)

    config.optim = common.optim(learning_rate=1e-4, warmup_steps=1000, ema_decay=0.9999)

    config.ckpt = common.ckpt(every_steps=5000)

    config.evals = ml_collections.ConfigDict()
    config.evals.num_batches = 4  # held-out loss after training
    config.evals.latent_examples = 256  # examples per split for the latent-collapse diagnostics
    return config
