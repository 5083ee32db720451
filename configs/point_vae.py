"""Stage-1 point VAE (DESIGN §4): per-point latent, point-voxel convolutions at 32/16/8.

    python launch.py --config=configs/point_vae.py --workdir=runs/point_vae
    python launch.py --config=configs/point_vae.py:tiny --workdir=runs/point_vae_tiny

``tiny`` is for tests (widths 8, resolutions 8/4, 256 points, a few steps). Data: the embedded
``primitives`` source (hand-scale boxes, spheres, cylinders, capsules, cones); swap
``config.data.sources`` for ``tfds:<name>`` once a dataset is built.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.total_steps = 20_000
    config.log_every_steps = 50
    config.num_devices = ml_collections.config_dict.placeholder(int)  # None: all devices

    config.model = ml_collections.ConfigDict({"name": "point_vae"})

    config.data = ml_collections.ConfigDict()
    config.data.sources = ("primitives:2000",)
    config.data.weights = (1.0,)
    config.data.batch_size = 16
    config.data.data_dir = ml_collections.config_dict.placeholder(str)

    config.point_vae = ml_collections.ConfigDict()
    config.point_vae.channels = (32, 64, 128)
    config.point_vae.resolutions = (32, 16, 8)
    config.point_vae.latent_features = 1
    config.point_vae.num_points = 2048
    config.point_vae.input_scale = 10.0  # meters -> model units (objects become O(1))
    config.point_vae.kl_weight = 1e-3
    config.point_vae.kl_anneal_fraction = 0.5  # KL weight ramps up over the first half

    config.optim = ml_collections.ConfigDict()
    config.optim.learning_rate = 1e-3
    config.optim.warmup_steps = 200
    config.optim.b1 = 0.9
    config.optim.b2 = 0.999
    config.optim.weight_decay = 0.0
    config.optim.grad_clip = 1.0
    config.optim.ema_decay = 0.999

    config.ckpt = ml_collections.ConfigDict()
    config.ckpt.every_steps = 1000
    config.ckpt.max_to_keep = 3
    config.ckpt.async_save = True

    config.evals = ml_collections.ConfigDict()
    config.evals.num_objects = 64

    if arg == "tiny":
        config.total_steps = 6
        config.log_every_steps = 1
        config.data.sources = ("primitives:12",)
        config.data.batch_size = 4
        config.point_vae.channels = (8, 8)
        config.point_vae.resolutions = (8, 4)
        config.point_vae.num_points = 256
        config.optim.warmup_steps = 1
        config.ckpt.every_steps = 2
        config.evals.num_objects = 4
    elif arg not in (None, ""):
        raise ValueError(f"configs/point_vae.py: unknown argument '{arg}' (use '' or 'tiny')")
    return config
