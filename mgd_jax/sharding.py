"""Data parallelism over every device: one mesh axis 'data', batch sharded, state replicated.

Tests simulate several devices on CPU with XLA_FLAGS=--xla_force_host_platform_device_count=N.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ('data',) over the first ``num_devices`` devices (default: all)."""
    devices = jax.devices()
    if num_devices is not None:
        if num_devices > len(devices):
            raise ValueError(f"asked for {num_devices} devices, only {len(devices)} available")
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), ("data",))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over 'data'."""
    return NamedSharding(mesh, P("data"))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state)."""
    return NamedSharding(mesh, P())


def check_batch_size(global_batch: int, mesh: Mesh) -> int:
    """Per-process batch size; raises if the global batch does not split evenly."""
    n = mesh.devices.size
    if global_batch % n:
        raise ValueError(
            f"config.data.batch_size={global_batch} must be a multiple of the {n} devices"
        )
    if global_batch % jax.process_count():
        raise ValueError(f"batch size {global_batch} not divisible by {jax.process_count()} hosts")
    return global_batch // jax.process_count()
