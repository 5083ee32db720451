"""MGD at paper scale on the real datasets (GPU/TPU).

    # once: the datasets (see each builder's docstring for where the files go)
    python -m mgd_jax.build_dataset datasets/grab --manual_dir=/data/GRAB --mano_path=MANO_RIGHT.pkl
    python -m mgd_jax.build_dataset datasets/oakink_shape --manual_dir=/data/OakInk --mano_path=MANO_RIGHT.pkl
    python -m mgd_jax.build_dataset datasets/shapenet --manual_dir=/data/ShapeNetCore.v2
    # once: the stage-1 point VAE
    python launch.py --config=configs/point_vae.py --workdir=runs/point_vae
    # MGD (resumes from the same workdir)
    python launch.py --config=configs/full.py --workdir=runs/mgd_full \
        --config.mano_path=/path/to/MANO_RIGHT.pkl

Arguments: '' is the paper scale (d = 512, 8-layer transformer, 2048 points, T = 1000,
GRAB + OakInk-Shape + ShapeNet object-only); ``tiny`` keeps the real data sources and shrinks
the model and batch (for a first check that the data and the VAE load).
"""

import ml_collections

from configs import mgd_base
from mgd_jax.models import mgd


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = mgd_base.get_config()
    if arg == "tiny":
        config.model = mgd.tiny_config()
        config.total_steps = 10
        config.log_every_steps = 1
        config.data.batch_size = 4
        config.optim.warmup_steps = 1
        config.ckpt.every_steps = 5
        config.evals.num_batches = 1
    elif arg not in (None, ""):
        raise ValueError(f"configs/full.py: unknown argument '{arg}' (use '' or 'tiny')")
    return config
