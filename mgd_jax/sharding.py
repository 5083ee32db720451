"""Data parallelism over every device: one mesh axis 'data', batch sharded, state replicated.

On several hosts (a TPU pod slice, GPU nodes) every process runs the same program:
:func:`initialize_distributed` connects them first, the mesh then spans every process's devices,
each process feeds its own rows of the global batch, and checkpoints are written once.
Tests simulate several devices on CPU with XLA_FLAGS=--xla_force_host_platform_device_count=N,
and several hosts with processes on one machine and a local coordinator.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

logger = logging.getLogger(__name__)


def detected_cluster(env: Mapping[str, str] = os.environ) -> str | None:
    """The multi-process launcher this process runs under, from its environment, or None.

    SLURM (``SLURM_NTASKS`` > 1), Open MPI (``OMPI_COMM_WORLD_SIZE`` > 1), a multi-host Cloud TPU
    slice (several ``TPU_WORKER_HOSTNAMES``) or an explicit ``JAX_COORDINATOR_ADDRESS``: in each,
    ``jax.distributed.initialize()`` finds the coordinator and this process's rank itself.
    """
    if "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
        return "SLURM"
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1:
        return "Open MPI"
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):
        return "Cloud TPU slice"
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    return None


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> bool:  # fmt: skip
    """Connect this process to the others (``jax.distributed.initialize``) when asked or when a
    cluster launcher is detected; a single process on one machine does nothing.

    Args:
      coordinator_address: ``host:port`` of process 0; with ``num_processes`` and ``process_id``
        (all three, or none of them).
      num_processes, process_id: the number of processes and this one's rank (0-based).

    Returns:
      True when the processes were connected.

    Raises:
      ValueError naming the flags when only some of the three are given or they disagree.
    """
    given = [v is not None for v in (coordinator_address, num_processes, process_id)]
    if any(given):
        if not all(given):
            raise ValueError("--coordinator_address, --num_processes and --process_id go together")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process_id={process_id} must be in 0..{num_processes - 1}")
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    elif (cluster := detected_cluster()) is not None:
        logger.info("%s detected: initialising jax.distributed", cluster)
        jax.distributed.initialize()
    else:
        return False
    logger.info("process %d of %d, %d local / %d global devices", jax.process_index(),
                jax.process_count(), jax.local_device_count(), jax.device_count())  # fmt: skip
    return True


def local_copy(tree):
    """A fully replicated (possibly multi-process) pytree as numpy arrays on this host."""
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), tree)


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
