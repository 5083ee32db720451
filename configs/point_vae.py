"""Stage-1 point VAE (DESIGN §4): per-point latent, point-voxel convolutions.

    python -m mgd_jax.build_dataset datasets/mgd_objects --config=full   # once
    python launch.py --config=configs/point_vae.py --workdir=runs/point_vae        # GPU/TPU scale

    python -m mgd_jax.build_dataset datasets/mgd_objects --config=demo     # once, ~5 min
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=demo   # once, ~13 min
    python launch.py --config=configs/point_vae.py:cpu --workdir=runs/point_vae_cpu

    python launch.py --config=configs/point_vae.py:tiny --workdir=runs/point_vae_tiny

Arguments: '' is the paper scale (channels 32/64/128 at voxel resolutions 32/16/8, 2048 points,
``mgd_objects/full``); ``cpu`` is a narrower, coarser network (512 points, batch 16, 1500 steps) on
the procedural objects of ``mgd_objects/demo`` and ``mgd_synthetic/demo`` that trains on 2 CPU
cores in under 30 minutes, the stage-1 model of ``configs/demo.py``; ``cpu_pointnet`` is the same run with the PointNet baseline
(no voxels) at a matching parameter count; ``tiny`` is for tests (the embedded ``primitives``
source, 256 points, a few steps). Any ``tfds:<name>[@<split>]`` or ``primitives:<count>`` source
can replace ``config.data.sources``.
"""

import ml_collections

from configs import common

CPU_STEPS = 1500


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.total_steps = 20_000
    config.log_every_steps = 50
    config.num_devices = ml_collections.config_dict.placeholder(int)  # None: all devices

    config.task = ml_collections.ConfigDict()
    config.task.name = "point_vae"
    config.task.num_points = 2048  # surface points read per object
    config.task.kl_weight = 1e-3
    config.task.kl_anneal_fraction = 0.5  # KL weight ramps up over the first half

    config.data = ml_collections.ConfigDict()
    config.data.sources = ("tfds:mgd_objects/full",)
    config.data.weights = (1.0,)
    config.data.batch_size = 16
    config.data.prefetch = 2  # batches read and sent to the devices ahead of the step
    config.data.data_dir = ml_collections.config_dict.placeholder(str)

    config.model = ml_collections.ConfigDict()  # the network
    config.model.backbone = "pvcnn"  # or "pointnet", the baseline without voxels
    config.model.conv_impl = "auto"  # 3-D conv: "lax", "matmul" (fast on CPU), "auto"
    config.model.channels = (32, 64, 128)
    config.model.resolutions = (32, 16, 8)
    config.model.latent_features = 1
    config.model.input_scale = 10.0  # meters -> model units (objects become O(1))

    config.optim = common.optim(learning_rate=1e-3, warmup_steps=200, ema_decay=0.999)

    config.ckpt = common.ckpt(every_steps=1000)

    config.evals = ml_collections.ConfigDict()
    config.evals.num_objects = 64  # held-out objects for the Chamfer table
    config.evals.num_renders = 6  # objects drawn in <workdir>/reconstructions.png

    if arg in ("cpu", "cpu_pointnet"):
        config.total_steps = CPU_STEPS
        # The procedural objects: mgd_objects plus the object-only split of mgd_synthetic.
        config.data.sources = ("tfds:mgd_objects/demo", "tfds:mgd_synthetic/demo@train_objects")
        config.data.weights = (0.6, 0.4)
        config.data.batch_size = 16
        config.task.num_points = 512  # the points MGD reads in configs/demo.py
        config.model.channels = (16, 32, 32)
        config.model.resolutions = (16, 8, 4)
        config.optim.warmup_steps = 100
        config.ckpt.every_steps = 500
        if arg == "cpu_pointnet":  # the baseline, widened to the pvcnn config's parameter count
            config.model.backbone = "pointnet"
            config.model.channels = (128, 256, 256)  # 270k parameters vs 227k
    elif arg == "tiny":
        config.total_steps = 6
        config.log_every_steps = 1
        config.data.sources = ("primitives:12",)
        config.data.batch_size = 4
        config.model.channels = (8, 8)
        config.model.resolutions = (8, 4)
        config.task.num_points = 256
        config.optim.warmup_steps = 1
        config.ckpt.every_steps = 2
        config.evals.num_objects = 4
        config.evals.num_renders = 0
    elif arg not in (None, ""):
        raise ValueError(f"configs/point_vae.py: unknown argument '{arg}' (use '', 'cpu', 'cpu_pointnet' or 'tiny')")
    return config
