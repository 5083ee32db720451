"""Train a model from a config; the same --workdir always resumes.

    python launch.py --config=configs/demo.py --workdir=runs/demo        # the whole demo
    python launch.py --config=configs/study.py --workdir=runs/study      # the demo over seeds
    python launch.py --config=configs/point_vae.py --workdir=runs/point_vae
    python launch.py --config=configs/full.py --workdir=runs/mgd_full
    python launch.py --config=configs/point_vae.py:tiny --workdir=/tmp/pv --config.total_steps=10

Flags only: a config with an ``experiment`` field runs ``mgd_jax.experiment`` (every stage of the
demo), or ``mgd_jax.study`` when it is ``"study"`` (the demo per seed); any other config is one
training run of ``mgd_jax.train.train_and_evaluate``. A workdir whose checkpoints cannot be
restored with the given config (e.g. after a shape-changing edit) is an error naming the fields
that differ; ``--fresh`` moves them aside and starts again.

Several hosts run the same command on every host: with ``--coordinator_address=host0:port
--num_processes=N --process_id=i``, or with no extra flags under SLURM, Open MPI or a Cloud TPU
slice; each process reads its own rows of every global batch and checkpoints are written once.
"""

from collections.abc import Sequence

from absl import flags
from ml_collections import config_flags

import mgd_jax  # noqa: F401  (sets the headless rendering default before anything imports mujoco)
from mgd_jax import cli

FLAGS = flags.FlagValues()
config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).",
                                flag_values=FLAGS, lock_config=True)  # fmt: skip
flags.DEFINE_string("workdir", None, "Run folder: checkpoints, metrics, config.", flag_values=FLAGS)
flags.DEFINE_bool("fresh", False, "Training configs: move the workdir's checkpoints aside "
                  "(checkpoints.replaced-N, nothing is deleted) and start at step 0.",
                  flag_values=FLAGS)  # fmt: skip
flags.DEFINE_string("coordinator_address", None, "Several hosts: host:port of process 0 "
                    "(with --num_processes and --process_id); SLURM, Open MPI and Cloud TPU "
                    "slices are detected without flags.", flag_values=FLAGS)  # fmt: skip
flags.DEFINE_integer("num_processes", None, "Several hosts: the number of processes.",
                     flag_values=FLAGS)  # fmt: skip
flags.DEFINE_integer("process_id", None, "Several hosts: this process's rank, 0-based.",
                     flag_values=FLAGS)  # fmt: skip
flags.mark_flags_as_required(["config", "workdir"], flag_values=FLAGS)


def main(argv: Sequence[str] | None = None):
    """Run the command; returns the final TrainState (training) or the report path (demo)."""
    rest = cli.parse(FLAGS, argv, "python launch.py", __doc__)
    if rest:
        raise ValueError(f"unexpected arguments: {rest}")
    from mgd_jax import sharding

    sharding.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes,
                                    FLAGS.process_id)  # fmt: skip
    config = FLAGS.config
    if "experiment" in config:
        from mgd_jax import experiment, study

        if FLAGS.fresh:
            raise ValueError("--fresh applies to one training run; for the demo, use a new --workdir")
        if config.experiment == "study":
            return study.run(config, FLAGS.workdir)
        return experiment.run(config, FLAGS.workdir)
    else:
        from mgd_jax import train

        return train.train_and_evaluate(config, FLAGS.workdir, fresh=FLAGS.fresh)


if __name__ == "__main__":
    cli.run(main)
