"""The embedded default, end to end on CPU: datasets, point VAE, MGD, sampling, evaluation, report.

    python launch.py --config=configs/demo.py --workdir=runs/demo        # the quickstart
    python launch.py --config=configs/demo.py:tiny --workdir=/tmp/smoke  # toy size, < 5 minutes

Stages (``mgd_jax.experiment``), each cached in the workdir and resumed when interrupted:
datasets (``mgd_objects`` and ``mgd_synthetic`` at the ``datasets.config`` size, built into
``data_dir``, default ``~/tensorflow_datasets``, reused when present), the point VAE
(``runs.point_vae``, a whole ``configs/point_vae.py`` run config), MGD (``runs.mgd``, a whole
``configs/mgd_base.py`` run config), the learned baselines named in ``baselines``
(``runs.grabnet``, a whole ``configs/grabnet.py`` run config: the GrabNet-style CVAE), the
ablations named in ``ablations`` (same MGD config with
``async_schedulers=False`` / without object-only sources), conditional sampling on the held-out
test objects and joint sampling (main model and ``sync_schedulers``), evaluation with
``mgd_jax.evaluators``, renders, and ``report.md`` + ``report.html``.

Arguments: '' is the CPU demo; ``tiny`` the smoke test (data inside the workdir);
``noablations`` the demo without the two ablation runs.
"""

import ml_collections

from configs import grabnet as grabnet_configs
from configs import mgd_base
from configs import point_vae as point_vae_configs
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.experiment = "demo"
    config.seed = 0
    config.mano_path = ""  # "" = the procedural hand
    config.data_dir = ml_collections.config_dict.placeholder(str)  # None: ~/tensorflow_datasets
    config.data_in_workdir = False  # True: <workdir>/data (isolated, e.g. for the smoke test)

    config.datasets = ml_collections.ConfigDict()
    config.datasets.config = "demo"  # builder config of mgd_objects and mgd_synthetic

    # Stage 1: the point VAE on the procedural objects (configs/point_vae.py:cpu).
    config.runs = ml_collections.ConfigDict()
    config.runs.point_vae = point_vae_configs.get_config("cpu")  # 512 points, as MGD reads

    # Stage 2: MGD, CPU-sized.
    m = mgd_base.get_config()
    m.total_steps = 2500  # about 15 minutes on 2 CPU cores (2.7 steps/s)
    m.log_every_steps = 100
    m.data.sources = ("tfds:mgd_synthetic/demo", "tfds:mgd_synthetic/demo@train_objects",
                      "tfds:mgd_objects/demo")  # HOI first, then object-only
    m.data.weights = (0.6, 0.2, 0.2)
    m.data.batch_size = 32
    m.model.latent_dim = 128
    m.model.tokenizer_hidden = 256
    m.model.point_features = (32, 64, 128)
    m.model.num_points = 512
    m.model.width = 128
    m.model.layers = 4
    m.model.heads = 4
    m.model.ff = 256
    m.model.tokens_per_part = 4
    m.optim.learning_rate = 5e-4
    m.optim.warmup_steps = 200
    m.optim.ema_decay = 0.995
    m.ckpt.every_steps = 500
    # Latent-collapse remedy, chosen on this demo (benchmarks/RESULTS.md, "Latent collapse"):
    # stop-gradient latent targets, autoencoding of the clean latents, a variance hinge on them.
    m.loss.update(stop_gradient_targets=True, autoencode_hand=1.0, autoencode_object=1.0,
                  latent_variance=1.0)
    config.runs.mgd = m

    # The GrabNet-style baseline (configs/grabnet.py): GrabNet's sizes, trained on MGD's
    # hand-object source with MGD's budget (steps, batch) and the same 512 object points.
    g = grabnet_configs.get_config()
    g.total_steps = m.total_steps
    g.log_every_steps = m.log_every_steps
    g.task.num_points = m.model.num_points
    g.data.sources = m.data.sources[:1]
    g.data.weights = (1.0,)
    g.data.batch_size = m.data.batch_size
    g.optim.warmup_steps = m.optim.warmup_steps
    g.optim.ema_decay = m.optim.ema_decay
    g.ckpt.every_steps = m.ckpt.every_steps
    config.runs.grabnet = g
    config.baselines = ("grabnet",)

    # Ablations (paper Tables 2-4 at demo scale): each is a full MGD run in its own folder.
    config.ablations = ("sync_schedulers", "no_object_only")

    config.sampling = ml_collections.ConfigDict()
    config.sampling.method = "ddim"  # or "ddpm" (all T steps)
    config.sampling.num_steps = 100  # DDIM steps
    config.sampling.guidance = ml_collections.config_dict.placeholder(float)  # None: off
    config.sampling.num_per_object = 8  # conditional grasps per held-out test object
    config.sampling.num_joint = 64  # joint hand + object samples
    config.sampling.batch_size = 256
    # The main model's grasps also refined, as `sample --refine` does (its default steps); 0 = off.
    config.sampling.refine_steps = DEFAULT_REFINE_STEPS
    # ... and their fingers closed back onto the surface afterwards (`sample --refine_settle`).
    config.sampling.refine_settle = True
    # The main model also sampled with physics guidance (mgd_jax.physics_guidance) of this
    # scale over the last physics_steps sampler steps; None = off.
    config.sampling.physics_guidance = ml_collections.config_dict.placeholder(float)
    config.sampling.physics_steps = 20

    config.evaluation = ml_collections.ConfigDict()
    config.evaluation.metrics = ("penetration", "intersection", "simulation", "contact")
    config.evaluation.num_workers = 2
    config.evaluation.simulator = "mujoco"  # or "pybullet": the published test (slower)
    config.evaluation.max_grasps = 256  # per evaluated set (random subset beyond that)

    config.report = ml_collections.ConfigDict()
    config.report.render_size = 192
    config.report.num_renders = 12  # per sample kind
    config.report.num_joint_renders = 16  # joint samples: do the generated objects differ?

    if arg == "tiny":
        config.data_in_workdir = True
        config.datasets.config = "tiny"
        pv = point_vae_configs.get_config("tiny")
        pv.data.sources = ("tfds:mgd_synthetic/tiny@train_objects",)
        pv.data.batch_size = 2
        pv.evals.num_objects = 2
        pv.task.num_points = 256
        config.runs.point_vae = pv
        m.total_steps = 12
        m.log_every_steps = 4
        m.data.sources = ("tfds:mgd_synthetic/tiny", "tfds:mgd_synthetic/tiny@train_objects")
        m.data.weights = (0.7, 0.3)
        m.data.batch_size = 4
        from mgd_jax.models import mgd

        m.model = mgd.tiny_config()
        m.model.num_points = 256
        m.diffusion.num_timesteps = 50
        m.optim.warmup_steps = 2
        m.ckpt.every_steps = 6
        m.evals.num_batches = 1
        config.runs.mgd = m
        g = grabnet_configs.get_config("tiny")
        g.total_steps, g.log_every_steps, g.ckpt.every_steps = 12, 4, 6
        config.runs.grabnet = g
        config.ablations = ()
        config.sampling.num_steps = 10
        config.sampling.num_per_object = 2
        config.sampling.num_joint = 4
        config.sampling.refine_steps = 3
        config.sampling.physics_guidance = 0.05
        config.sampling.physics_steps = 3
        config.evaluation.metrics = ("penetration", "intersection", "contact")
        config.evaluation.num_workers = 1
        config.report.render_size = 96
        config.report.num_renders = 4
        config.report.num_joint_renders = 4
    elif arg == "noablations":
        config.ablations = ()
    elif arg not in (None, ""):
        raise ValueError(f"configs/demo.py: unknown argument '{arg}' (use '', 'tiny' or 'noablations')")
    return config
