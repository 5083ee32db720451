"""Contact: which hand vertices touch the object, per grasp and per finger.

A hand vertex is in contact when it is inside the object or within ``threshold`` of its surface
(``hwjiang1510/GraspTTA:gen_diverse_grasp_ho3d.py``: ``penetration_tol = 0.005`` m, any vertex
inside or closer counts). A grasp is in contact when any vertex is. Per finger, vertices carry a
label (0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky); a finger touches when any of its
vertices does. GraspTTA's ``metric/grasp_score.py`` uses 4 mm to the nearest object vertex for
fingers; we use the same surface-distance threshold as the grasp by default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgd_jax.evaluators import cache as cache_lib
from mgd_jax.evaluators import distance, inside
from mgd_jax.evaluators.meshes import Mesh, validate_pairs
from mgd_jax.evaluators.protocol import CONTACT_THRESHOLD_M, FINGER_NAMES

# MANO joint order (mgd_jax.hand.model): 0 wrist; 1-3 index; 4-6 middle; 7-9 pinky; 10-12 ring;
# 13-15 thumb. Finger label of each joint: 0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky.
_FINGER_OF_JOINT = np.array([0, 2, 2, 2, 3, 3, 3, 5, 5, 5, 4, 4, 4, 1, 1, 1])


def finger_labels_from_weights(weights: np.ndarray) -> np.ndarray:
    """Finger label of each vertex from MANO-layout skinning weights.

    Args:
      weights: (V, 16) skinning weights in MANO joint order.

    Returns:
      (V,) int64 labels: 0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky (the finger of the
      joint with the largest weight; the wrist joint counts as palm).
    """
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != 16:
        raise ValueError(f"weights must be (V, 16) in MANO joint order, got {weights.shape}")
    return _FINGER_OF_JOINT[np.argmax(weights, axis=1)]


def contact_and_inside(
    hand_vertices: np.ndarray,
    obj: Mesh,
    threshold: float = CONTACT_THRESHOLD_M,
    cache: cache_lib.Cache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(V,) bool contact map and (V,) bool inside mask of the hand vertices."""
    hand_vertices = np.asarray(hand_vertices, np.float64)
    index = cache_lib.inside_index(cache, obj)
    is_in = inside.contains(index, hand_vertices)
    near = ~is_in & np.all(
        (hand_vertices >= index.lo - threshold) & (hand_vertices <= index.hi + threshold), axis=1
    )
    touching = is_in.copy()
    if near.any():
        d = distance.surface_distance(cache_lib.distance_index(cache, obj), hand_vertices[near],
                                      upper=threshold)  # fmt: skip
        touching[near] = d <= threshold
    return touching, is_in


def contact_map(
    hand_vertices: np.ndarray,
    obj: Mesh,
    threshold: float = CONTACT_THRESHOLD_M,
    cache: cache_lib.Cache | None = None,
) -> np.ndarray:
    """(V,) bool: vertex inside the object or within ``threshold`` meters of its surface."""
    return contact_and_inside(hand_vertices, obj, threshold, cache)[0]


def contact_maps(
    hand_meshes: Sequence,
    object_meshes: Sequence,
    threshold: float = CONTACT_THRESHOLD_M,
    cache: cache_lib.Cache | None = None,
) -> list[np.ndarray]:
    """Per-grasp contact maps: a list of B (V_i,) bool arrays (``np.stack`` them if V is fixed)."""
    hands, objects = validate_pairs(hand_meshes, object_meshes)
    cache = cache_lib.Cache() if cache is None else cache
    return [contact_map(h.vertices, o, threshold, cache) for h, o in zip(hands, objects)]


def in_contact(
    hand_meshes: Sequence,
    object_meshes: Sequence,
    threshold: float = CONTACT_THRESHOLD_M,
    cache: cache_lib.Cache | None = None,
) -> np.ndarray:
    """(B,) bool: any hand vertex inside the object or within ``threshold`` meters of it."""
    return np.array([m.any() for m in contact_maps(hand_meshes, object_meshes, threshold, cache)])


def fingers_in_contact(contact: np.ndarray, finger_labels: np.ndarray) -> np.ndarray:
    """Which hand parts touch the object.

    Args:
      contact: (..., V) bool contact maps.
      finger_labels: (V,) int labels in 0..5 (``FINGER_NAMES``).

    Returns:
      (..., 6) bool: palm, thumb, index, middle, ring, pinky.
    """
    contact = np.asarray(contact, bool)
    finger_labels = np.asarray(finger_labels)
    if finger_labels.shape != contact.shape[-1:]:
        raise ValueError(f"finger_labels shape {finger_labels.shape} does not match contact maps "
                         f"with {contact.shape[-1]} vertices")  # fmt: skip
    onehot = finger_labels[:, None] == np.arange(len(FINGER_NAMES))  # (V, 6)
    return (contact[..., :, None] & onehot).any(axis=-2)


def num_fingers_in_contact(contact: np.ndarray, finger_labels: np.ndarray) -> np.ndarray:
    """(...,) int: how many of the five fingers (not the palm) touch the object."""
    return fingers_in_contact(contact, finger_labels)[..., 1:].sum(axis=-1)


def thumb_and_two_fingers(contact: np.ndarray, finger_labels: np.ndarray) -> np.ndarray:
    """(...,) bool: the usual sanity filter, thumb plus at least two other fingers in contact."""
    f = fingers_in_contact(contact, finger_labels)
    return f[..., 1] & (f[..., 2:].sum(axis=-1) >= 2)
