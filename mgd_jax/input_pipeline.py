"""Input pipeline: grain over random-access sources (``tfds.data_source`` or in-memory), mixed by
weight, split per process, shuffled, batched with drop_remainder, with a checkpointable iterator
and global-array assembly on the data mesh.

Examples are dicts of numpy arrays (points in meters). The iterator's position is part of every
checkpoint, so a resumed run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import grain
import jax
import numpy as np

Example = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Source:
    """One data source: a random-access sequence of examples and its mixing weight."""

    name: str
    data: Sequence[Example]  # anything with __len__ and __getitem__ (tfds.data_source works)
    weight: float = 1.0


def tfds_source(name: str, split: str, data_dir: str | None = None, weight: float = 1.0) -> Source:
    """A ``tfds.data_source`` (array_record, no TensorFlow needed) as a ``Source``.

    Raises:
      FileNotFoundError saying which build command to run when the dataset is missing.
    """
    import tensorflow_datasets as tfds

    try:
        data = tfds.data_source(name, split=split, data_dir=data_dir)
    except Exception as e:  # tfds raises several types for a missing dataset
        if "Unknown split" in str(e):
            raise ValueError(f"dataset '{name}' has no split '{split}': {e}") from e
        folder, _, builder_config = name.split(":")[0].partition("/")
        where = f" --config={builder_config}" if builder_config else ""
        where += f" --data_dir={data_dir}" if data_dir else ""
        raise FileNotFoundError(
            f"dataset '{name}' (split '{split}') not found in {data_dir or '~/tensorflow_datasets'}"
            f": build it first with `python -m mgd_jax.build_dataset datasets/{folder}{where}` "
            f"({type(e).__name__}: {e})"
        ) from e
    return Source(name=f"{name}:{split}", data=data, weight=weight)


def make_dataset(
    sources: Sequence[Source],
    batch_size: int,
    seed: int,
    transform: Callable[[Example], Example] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> grain.IterDataset:
    """Mix sources by weight into an endless, shuffled, batched dataset for this process.

    Args:
      sources: the sources; weights need not sum to 1.
      batch_size: per-process batch size (global batch / process count).
      seed: shuffle/mix seed; the same seed gives the same order.
      transform: optional per-example map (e.g. key selection, dtype casts).
      process_index, process_count: this process's shard (default from JAX).

    Returns:
      A grain ``IterDataset`` of dicts with a leading batch axis.
    """
    if not sources:
        raise ValueError("make_dataset needs at least one source")
    for s in sources:
        if len(s.data) == 0:
            raise ValueError(f"source '{s.name}' is empty")
        if s.weight <= 0:
            raise ValueError(f"source '{s.name}' has non-positive weight {s.weight}")
    pi = jax.process_index() if process_index is None else process_index
    pc = jax.process_count() if process_count is None else process_count
    parts = []
    for k, s in enumerate(sources):
        ds = grain.MapDataset.source(s.data)
        if pc > 1:
            ds = ds[pi::pc]
        parts.append(ds.shuffle(seed=seed + 7919 * k).repeat())
    weights = [s.weight for s in sources]
    ds = parts[0] if len(parts) == 1 else grain.MapDataset.mix(parts, weights)
    if transform is not None:
        ds = ds.map(transform)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.to_iter_dataset()


class DeviceIterator:
    """Wraps a grain iterator: yields batches as global jax arrays sharded over the data mesh.

    ``get_state()`` / ``set_state()`` expose the grain position for checkpoints.
    """

    def __init__(self, dataset: grain.IterDataset, sharding: jax.sharding.Sharding | None = None):
        self._it = iter(dataset)
        self._sharding = sharding

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Any]:
        batch = next(self._it)
        if self._sharding is None:
            return {k: np.asarray(v) for k, v in batch.items()}
        return {
            k: jax.make_array_from_process_local_data(self._sharding, np.asarray(v))
            for k, v in batch.items()
        }

    def get_state(self) -> dict:
        return self._it.get_state()

    def set_state(self, state: dict) -> None:
        self._it.set_state(state)
