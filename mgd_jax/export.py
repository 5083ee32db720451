"""Export a trained MGD run as an inference-only checkpoint that sampling loads on its own.

    python -m mgd_jax.export --workdir=runs/demo/mgd --out=exports/mgd_demo

The export folder (``params/`` + ``export.json``; layout in ``mgd_jax.trained``) carries the MGD
EMA parameters, the frozen point VAE, the run's config and the hand model's fingerprint, so
``python -m mgd_jax.sample --checkpoint=exports/mgd_demo`` (or ``Generator.load``) needs neither
the training workdir nor the point-VAE workdir. Loading refuses another hand model than the one
the model was trained with, and parameters whose shapes do not match the stored config.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from absl import flags

from mgd_jax import cli

FLAGS = flags.FlagValues()
flags.DEFINE_string("workdir", None, "MGD training folder (launch.py --workdir)", flag_values=FLAGS)
flags.DEFINE_string("out", None, "export folder to write", flag_values=FLAGS)
flags.DEFINE_string("point_vae", None, "point-VAE workdir (default: the run's)", flag_values=FLAGS)
flags.DEFINE_string("mano_path", None, "MANO file (default: the run's hand)", flag_values=FLAGS)
flags.DEFINE_bool("overwrite", False, "replace an existing --out", flag_values=FLAGS)
flags.mark_flags_as_required(["workdir", "out"], flag_values=FLAGS)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the command; returns the metadata written to ``--out/export.json``."""
    cli.parse(FLAGS, argv, "python -m mgd_jax.export", __doc__)
    from mgd_jax import trained  # after argument errors, which need no JAX

    meta = trained.write_export(FLAGS.workdir, FLAGS.out, FLAGS.point_vae, FLAGS.mano_path,
                                FLAGS.overwrite)  # fmt: skip
    print(f"exported step {meta['step']} of {FLAGS.workdir} to {os.path.abspath(FLAGS.out)} "
          f"(hand {meta['hand']['name']}); sample with "
          f"`python -m mgd_jax.sample --checkpoint={FLAGS.out} --objects=<mesh> --out=<folder>`")  # fmt: skip
    return meta


if __name__ == "__main__":
    cli.run(main)
