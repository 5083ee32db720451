"""Grasp synthesis by optimisation: contact, penetration, joint limits, self-collision and
thumb-opposing contact normals, on any object given by a signed distance function.

Used to build the synthetic hand-object dataset and to refine generated grasps. Meters and
radians throughout.
"""

from mgd_jax.grasps import batch
from mgd_jax.grasps.api import refine, refine_by_object, refine_many, synthesize, synthesize_many
from mgd_jax.grasps.batch import check_graspable, object_grid, optimize_objects, procedural_grid, refine_objects
from mgd_jax.grasps.config import DEFAULT_REFINE_STEPS, GraspConfig
from mgd_jax.grasps.energy import TERMS, energies, weighted_total
from mgd_jax.grasps.optimize import (
    GraspResult,
    evaluate_energies,
    grid_sdf,
    initial_grasps,
    optimize,
    procedural_sdf,
    proxies_for,
    refine_with_sdf,
)
from mgd_jax.grasps.proxies import HandProxies, build_proxies
from mgd_jax.grasps.quality import (
    QualityThresholds,
    Synthesis,
    accept_mask,
    filter_grasps,
    synthesize_objects,
)

__all__ = [
    "DEFAULT_REFINE_STEPS",
    "TERMS",
    "GraspConfig",
    "GraspResult",
    "HandProxies",
    "QualityThresholds",
    "Synthesis",
    "accept_mask",
    "build_proxies",
    "energies",
    "evaluate_energies",
    "filter_grasps",
    "grid_sdf",
    "batch",
    "check_graspable",
    "initial_grasps",
    "object_grid",
    "optimize_objects",
    "procedural_grid",
    "refine_objects",
    "optimize",
    "procedural_sdf",
    "proxies_for",
    "refine",
    "refine_by_object",
    "refine_many",
    "refine_with_sdf",
    "synthesize",
    "synthesize_many",
    "synthesize_objects",
    "weighted_total",
]
