"""The GrabNet-style baseline (CoarseNet CVAE, ``mgd_jax.baselines.grabnet``) at paper scale.

    python launch.py --config=configs/grabnet.py --workdir=runs/grabnet

GrabNet's settings: 4096 BPS points in a 15 cm ball, 512-unit residual blocks, a 16-D latent,
KL weight 0.005, Adam at 5e-4, batch 256. The demo (``configs/demo.py``) trains a CPU-sized copy
beside MGD on the same hand-object data with MGD's step budget. Sampling:
``mgd_jax.baselines.grabnet.GrabNetSampler.load(workdir).conditional(points_m)``.
"""

import ml_collections

from configs import common

from mgd_jax.baselines import grabnet


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.total_steps = 100_000
    config.log_every_steps = 100
    config.num_devices = ml_collections.config_dict.placeholder(int)  # None: all devices
    config.mano_path = ""  # "" = the procedural hand; else MANO_RIGHT.pkl (or our .npz)
    config.task = ml_collections.ConfigDict()
    config.task.name = "grabnet"
    config.task.num_points = 2048  # object points per example (BPS and the distance terms)
    config.task.kl_coef = 0.005
    config.task.contact_examples = 256  # training grasps the contact prior is counted on

    config.model = grabnet.default_config()

    config.data = ml_collections.ConfigDict()
    config.data.sources = ("tfds:grab/stride4", "tfds:oakink_shape")  # hand-object data only
    config.data.weights = (0.5, 0.5)
    config.data.batch_size = 256
    config.data.prefetch = 2
    config.data.data_dir = ml_collections.config_dict.placeholder(str)

    config.optim = common.optim(learning_rate=5e-4, warmup_steps=1000, ema_decay=0.999)
    config.ckpt = common.ckpt(every_steps=5000)
    config.evals = ml_collections.ConfigDict()
    config.evals.num_batches = 4
    if arg == "tiny":
        config.total_steps = 10
        config.log_every_steps = 5
        config.task.num_points = 256
        config.task.contact_examples = 8
        config.model = grabnet.tiny_config()
        config.data.sources = ("tfds:mgd_synthetic/tiny",)
        config.data.weights = (1.0,)
        config.data.batch_size = 4
        config.optim.warmup_steps = 2
        config.ckpt.every_steps = 5
        config.evals.num_batches = 1
    elif arg not in (None, ""):
        raise ValueError(f"configs/grabnet.py: unknown argument '{arg}' (use '' or 'tiny')")
    return config
