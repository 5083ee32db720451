"""Train a model from a config; the same --workdir always resumes.

    python launch.py --config=configs/demo.py --workdir=runs/demo        # the whole demo pipeline
    python launch.py --config=configs/point_vae.py --workdir=runs/point_vae
    python launch.py --config=configs/full.py --workdir=runs/mgd_full
    python launch.py --config=configs/point_vae.py:tiny --workdir=/tmp/pv --config.total_steps=10

Flags only: a config with a ``pipeline`` field runs ``mgd_jax.pipeline``; any other config is one
training run of ``mgd_jax.train.train_and_evaluate``.
"""

import logging

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

import mgd_jax  # noqa: F401  (sets the headless rendering default before anything imports mujoco)
from mgd_jax import train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder: checkpoints, metrics, config.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    absl_logging.set_verbosity(absl_logging.WARNING)  # library chatter (orbax) off
    logging.getLogger("mgd_jax").setLevel(logging.INFO)
    config = _CONFIG.value
    if "pipeline" in config:
        from mgd_jax import pipeline

        pipeline.run(config, _WORKDIR.value)
    else:
        train.train_and_evaluate(config, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
