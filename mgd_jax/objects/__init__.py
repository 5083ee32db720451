"""Objects: mesh I/O and validation, object-centric normalisation, surface sampling, alpha-shape
reconstruction.

All lengths are meters. This package imports nothing else from ``mgd_jax`` (it sits at the bottom
of the import graph).
"""

from __future__ import annotations

from mgd_jax.objects.alpha_shape import alpha_shape, alpha_shape_or_none
from mgd_jax.objects.mesh_io import (
    MESH_EXTENSIONS,
    UNIT_SCALE,
    load_mesh,
    load_meshes,
    mesh_files,
    normalize,
)
from mgd_jax.objects.sampling import sample_points

__all__ = [
    "MESH_EXTENSIONS",
    "UNIT_SCALE",
    "alpha_shape",
    "alpha_shape_or_none",
    "load_mesh",
    "load_meshes",
    "mesh_files",
    "normalize",
    "sample_points",
]
