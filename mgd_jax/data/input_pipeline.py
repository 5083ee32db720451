"""Input pipeline: grain over random-access sources (``tfds.data_source`` or in-memory), mixed by
weight, split per process, shuffled, batched with drop_remainder, with a checkpointable iterator
and global-array assembly on the data mesh.

Examples are dicts of numpy arrays (points in meters). The iterator's position is part of every
checkpoint, so a resumed run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
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
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # e.g. hand_fingerprint


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
    metadata = dict(getattr(getattr(data, "dataset_info", None), "metadata", None) or {})
    return Source(name=f"{name}:{split}", data=data, weight=weight, metadata=metadata)


def make_dataset(
    sources: Sequence[Source],
    batch_size: int,
    seed: int,
    transform: Callable[[Example], Example] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> grain.IterDataset:
    """Mix sources by weight into an endless, shuffled, batched dataset for this process.

    The global stream does not depend on the number of processes: with P processes and a global
    batch B, process i's k-th batch is rows [i B/P, (i+1) B/P) of the global batch k that one
    process would read, so a run on any number of hosts sees the same data.

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
    parts = [grain.MapDataset.source(s.data).shuffle(seed=seed + 7919 * k).repeat()
             for k, s in enumerate(sources)]  # fmt: skip
    weights = [s.weight for s in sources]
    ds = parts[0] if len(parts) == 1 else grain.MapDataset.mix(parts, weights)
    if transform is not None:
        ds = ds.map(transform)
    # One global stream of examples whatever the number of processes: global batch k holds
    # elements [k B, (k+1) B), and process i reads its rows, the (k pc + i)-th per-process batch.
    ds = ds.batch(batch_size, drop_remainder=True)
    if pc > 1:
        ds = ds[pi::pc]
    return ds.to_iter_dataset()


class DeviceIterator:
    """Wraps a grain iterator: yields batches as global jax arrays sharded over the data mesh.

    With ``prefetch > 0`` a background thread reads the next ``prefetch`` batches and starts their
    transfer to the devices while the current step runs, so host-side decoding and the copy
    overlap compute. ``get_state()`` / ``set_state()`` expose the grain position *after the last
    batch handed out* (not after the prefetched ones), so checkpoints resume exactly.
    """

    def __init__(self, dataset: grain.IterDataset, sharding: jax.sharding.Sharding | None = None,
                 prefetch: int = 2):  # fmt: skip
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self._it = iter(dataset)
        self._sharding = sharding
        self._prefetch = prefetch
        self._state = self._it.get_state()
        self._queue: queue.Queue | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __iter__(self):
        return self

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        if self._sharding is None:
            return {k: np.asarray(v) for k, v in batch.items()}
        return {
            k: jax.make_array_from_process_local_data(self._sharding, np.asarray(v))
            for k, v in batch.items()
        }

    def _fill(self, out: queue.Queue, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                batch = next(self._it)
                item = (self._to_device(batch), self._it.get_state(), None)
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # handed to the consumer, raised there
            out.put((None, None, e))

    def _start(self) -> None:
        self._queue = queue.Queue(maxsize=self._prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(self._queue, self._stop),
                                        name="DeviceIterator-prefetch", daemon=True)  # fmt: skip
        self._thread.start()

    def close(self) -> None:
        """Stop the prefetch thread (the underlying position is restored by ``set_state``)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = self._queue = self._stop = None

    def __next__(self) -> dict[str, Any]:
        if self._prefetch == 0:
            batch = self._to_device(next(self._it))
            self._state = self._it.get_state()
            return batch
        if self._thread is None:
            self._start()
        batch, state, error = self._queue.get()
        if error is not None:
            self.close()
            raise error
        self._state = state
        return batch

    def get_state(self) -> dict:
        return copy.deepcopy(self._state)

    def set_state(self, state: dict) -> None:
        self.close()
        self._it.set_state(state)
        self._state = copy.deepcopy(state)
