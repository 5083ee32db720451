"""Build our TFDS dataset builders (``datasets/<name>/<name>.py``) as array_record, without
TensorFlow. Output goes to ``data_dir`` (default ``~/tensorflow_datasets``) and is read back with
``tfds.data_source``.
"""

from __future__ import annotations

import importlib
import inspect
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


def make_builder(path: str, config: str | None = None, data_dir: str | None = None,
                 mano_path: str | None = None, workers: int | None = None):  # fmt: skip
    """The ``tfds`` builder of ``datasets/<name>`` (array_record), not yet prepared.

    Raises:
      TypeError when ``mano_path`` is given to a builder that does not pose hands, or
      ``workers`` to one that does not synthesise in processes.
    """
    cls = load_builder_class(path)
    kwargs = {"file_format": "array_record", "data_dir": data_dir}
    if config:
        kwargs["config"] = config
    if mano_path:
        if "mano_path" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"--mano_path: {cls.__name__} does not use a hand model")
        kwargs["mano_path"] = mano_path
    if workers is not None:
        if "workers" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"--workers: {cls.__name__} does not synthesise in processes")
        kwargs["workers"] = workers
    return cls(**kwargs)


def build(path: str, config: str | None = None, data_dir: str | None = None,
          manual_dir: str | None = None, mano_path: str | None = None,
          workers: int | None = None):  # fmt: skip
    """Build (or reuse, when already complete) ``datasets/<name>`` as array_record.

    Returns:
      The prepared ``tfds`` builder (``builder.info.splits`` has the sizes).
    """
    builder = make_builder(path, config, data_dir, mano_path, workers)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder
