"""Grasp evaluation suite: penetration depth, solid intersection volume, simulation
displacement (MuJoCo by default; the published PyBullet test with ``simulator="pybullet"``),
contact, diversity and Frechet distance; point-cloud generation metrics (MMD-CD, COV-CD,
1-NNA-CD) for jointly generated objects.

Meshes are in meters; results carry their units in their names (``*_cm``, ``*_cm3``). The
protocol's parameters and the public code they were read from are in ``protocol.py``.
This package does not import JAX, so worker processes start quickly (``generation`` imports it
on first use).

Entry point::

    from mgd_jax.evaluators import evaluate_meshes, summarize
    results = evaluate_meshes(hand_meshes, object_meshes, num_workers=2)
    summarize(results)["penetration_depth_cm"]  # {"mean": ..., "std": ...}
"""

from mgd_jax.evaluators.api import METRICS, evaluate_meshes, mean_std, summarize
from mgd_jax.evaluators.cache import Cache
from mgd_jax.evaluators.contact import (
    contact_map,
    contact_maps,
    finger_contact_rates,
    finger_labels_from_weights,
    fingers_in_contact,
    hand_object_contact,
    in_contact,
    num_fingers_in_contact,
    thumb_and_two_fingers,
)
from mgd_jax.evaluators.decomposition import part_labels_from_weights
from mgd_jax.evaluators.diversity import diversity, kmeans, mean_pairwise_joint_distance_cm
from mgd_jax.evaluators.frechet import (
    FeatureExtractor,
    frechet_distance,
    frechet_distance_features,
    frechet_distance_sets,
    gaussian_stats,
    geometric_features,
)
from mgd_jax.evaluators.generation import chamfer_matrix, generation_metrics
from mgd_jax.evaluators.intersection import (
    exact_intersection_volume_cm3,
    intersection_volume_cm3,
    object_voxel_centres,
)
from mgd_jax.evaluators.meshes import Mesh, as_mesh, cap_holes, is_closed
from mgd_jax.evaluators.penetration import penetration_depth_cm, signed_distances
from mgd_jax.evaluators.protocol import FINGER_NAMES, HAND_SHAPES, SIMULATORS, SimulationParams
from mgd_jax.evaluators.simulation import simulation_displacement_cm
from mgd_jax.evaluators.summary import (
    COLUMNS,
    SHEET_METRICS,
    jsonable,
    parse_metrics,
    per_object_table,
    summary_table,
)

__all__ = [
    "COLUMNS",
    "SHEET_METRICS",
    "jsonable",
    "parse_metrics",
    "per_object_table",
    "summary_table",
    "FINGER_NAMES",
    "HAND_SHAPES",
    "SIMULATORS",
    "METRICS",
    "Cache",
    "FeatureExtractor",
    "Mesh",
    "SimulationParams",
    "as_mesh",
    "cap_holes",
    "chamfer_matrix",
    "contact_map",
    "contact_maps",
    "finger_contact_rates",
    "diversity",
    "evaluate_meshes",
    "exact_intersection_volume_cm3",
    "finger_labels_from_weights",
    "fingers_in_contact",
    "frechet_distance",
    "frechet_distance_features",
    "frechet_distance_sets",
    "gaussian_stats",
    "generation_metrics",
    "geometric_features",
    "hand_object_contact",
    "in_contact",
    "intersection_volume_cm3",
    "is_closed",
    "kmeans",
    "mean_pairwise_joint_distance_cm",
    "mean_std",
    "num_fingers_in_contact",
    "part_labels_from_weights",
    "object_voxel_centres",
    "penetration_depth_cm",
    "signed_distances",
    "simulation_displacement_cm",
    "summarize",
    "thumb_and_two_fingers",
]
