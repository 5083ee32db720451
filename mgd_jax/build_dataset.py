"""Build one of our TFDS datasets as array_record, without TensorFlow.

    python -m mgd_jax.build_dataset datasets/object_folder --manual_dir=/path/to/meshes --config=cm
    python -m mgd_jax.build_dataset datasets/shapenet --manual_dir=/path/to/ShapeNetCore.v2
    python -m mgd_jax.build_dataset datasets/grab --manual_dir=/path/to/GRAB \
        --mano_path=/path/to/MANO_RIGHT.pkl
    python -m mgd_jax.build_dataset datasets/mgd_synthetic --config=full --shard=3/64  # one worker

(``tfds build`` itself imports TensorFlow, which mgd_jax does not need.) Output goes to
``--data_dir`` (default ``~/tensorflow_datasets``) and is read back with ``tfds.data_source``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from absl import flags

from mgd_jax import cli

FLAGS = flags.FlagValues()
_F = {"flag_values": FLAGS}
flags.DEFINE_string("config", None, "builder config name, if it has configs", **_F)
flags.DEFINE_string("manual_dir", None, "where the downloaded files are", **_F)
flags.DEFINE_string("data_dir", None, "output root (default ~/tensorflow_datasets)", **_F)
flags.DEFINE_string("mano_path", None,
                    "MANO_RIGHT.pkl, for builders that pose hands (grab, oakink_shape)", **_F)
flags.DEFINE_integer("workers", None,
                     "for builders that synthesise (mgd_synthetic): parallel processes on this "
                     "machine (default: the config's, one per core)", **_F)
flags.DEFINE_string("shard", None,
                    "i/n: for builders that synthesise (mgd_synthetic), work only on this share of "
                    "the objects (one job of a cluster array); a later build without --shard "
                    "merges every shard's objects", **_F)


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard={text}: expected i/n, e.g. --shard=0/8") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard={text}: i must be in 0..n-1")
    return i, n


def main(argv: Sequence[str] | None = None):
    """Build the dataset folder named by the one positional argument; returns the builder."""
    rest = cli.parse(FLAGS, argv, "python -m mgd_jax.build_dataset", __doc__)
    if len(rest) != 1:
        raise ValueError(f"give one dataset folder (e.g. datasets/object_folder), got {rest}")
    from mgd_jax.data import builders

    logging.getLogger().setLevel(logging.INFO)  # tfds reports its progress at INFO
    try:
        if FLAGS.shard:
            shard, num_shards = _parse_shard(FLAGS.shard)
            builder = builders.make_builder(rest[0], FLAGS.config, FLAGS.data_dir, FLAGS.mano_path,
                                            FLAGS.workers)  # fmt: skip
            if not hasattr(builder, "synthesize_shard"):
                raise ValueError(f"--shard: {rest[0]} has no per-object work to split")
            stats = builder.synthesize_shard(shard, num_shards)
            print(f"shard {shard}/{num_shards} of {builder.info.full_name}: {stats['objects']} "
                  f"objects, {stats['accepted']} of {stats['candidates']} candidates accepted, "
                  f"{len(stats['failed'])} failed; build without --shard once every shard is done")  # fmt: skip
            return builder
        builder = builders.build(rest[0], FLAGS.config, FLAGS.data_dir, FLAGS.manual_dir,
                                 FLAGS.mano_path, FLAGS.workers)  # fmt: skip
    except TypeError as e:  # --mano_path or --workers given to a builder without them
        raise ValueError(str(e)) from e
    print(f"built {builder.info.full_name} in {builder.data_dir}: "
          + ", ".join(f"{k}={v.num_examples}" for k, v in builder.info.splits.items()))  # fmt: skip
    return builder


if __name__ == "__main__":
    cli.run(main)
