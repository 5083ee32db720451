"""Build one of our TFDS datasets as array_record, without TensorFlow.

    python -m mgd_jax.build_dataset datasets/object_folder --manual_dir=/path/to/meshes --config=cm
    python -m mgd_jax.build_dataset datasets/shapenet --manual_dir=/path/to/ShapeNetCore.v2
    python -m mgd_jax.build_dataset datasets/grab --manual_dir=/path/to/GRAB \
        --mano_path=/path/to/MANO_RIGHT.pkl

(``tfds build`` itself imports TensorFlow, which mgd_jax does not need.) Output goes to
``--data_dir`` (default ``~/tensorflow_datasets``) and is read back with ``tfds.data_source``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys

import tensorflow_datasets as tfds


def load_builder_class(path: str) -> type:
    """The builder class defined in ``datasets/<name>/<name>.py`` (``path`` = that folder or file)."""
    path = os.path.abspath(path)
    if path.endswith(".py"):
        path = os.path.dirname(path)
    name = os.path.basename(path)
    if not os.path.exists(os.path.join(path, name + ".py")):
        raise FileNotFoundError(f"no dataset builder at {path}/{name}.py (datasets/<name>/<name>.py)")
    # Import as the package datasets.<name>.<name>: tfds reads resources relative to a package.
    root, package = os.path.dirname(os.path.dirname(path)), os.path.basename(os.path.dirname(path))
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(f"{package}.{name}.{name}")
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, tfds.core.GeneratorBasedBuilder) and c.__module__ == module.__name__]  # fmt: skip
    if len(classes) != 1:
        raise ValueError(f"{path}: expected one GeneratorBasedBuilder, found {len(classes)}")
    return classes[0]


def build(path: str, config: str | None = None, data_dir: str | None = None,
          manual_dir: str | None = None, mano_path: str | None = None):  # fmt: skip
    """Build (or reuse, when already complete) ``datasets/<name>`` as array_record.

    Returns:
      The prepared ``tfds`` builder (``builder.info.splits`` has the sizes).
    """
    cls = load_builder_class(path)
    kwargs = {"file_format": "array_record", "data_dir": data_dir}
    if config:
        kwargs["config"] = config
    if mano_path:
        if "mano_path" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"--mano_path: {cls.__name__} does not use a hand model")
        kwargs["mano_path"] = mano_path
    builder = cls(**kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builder", help="dataset folder, e.g. datasets/object_folder")
    parser.add_argument("--config", default=None, help="builder config name, if it has configs")
    parser.add_argument("--manual_dir", default=None, help="where the downloaded files are")
    parser.add_argument("--data_dir", default=None, help="output root (~/tensorflow_datasets)")
    parser.add_argument("--mano_path", default=None,
                        help="MANO_RIGHT.pkl, for builders that pose hands (grab, oakink_shape)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        builder = build(args.builder, args.config, args.data_dir, args.manual_dir, args.mano_path)
    except TypeError as e:
        parser.error(str(e))
    print(f"built {builder.info.full_name} in {builder.data_dir}: "
          + ", ".join(f"{k}={v.num_examples}" for k, v in builder.info.splits.items()))  # fmt: skip


if __name__ == "__main__":
    main()
