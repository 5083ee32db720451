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

from scipy.spatial import cKDTree

from mgd_jax.evaluators import cache as cache_lib
from mgd_jax.evaluators import distance, inside
from mgd_jax.evaluators.meshes import Mesh, as_mesh, validate_pairs
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


def hand_object_contact(
    hand_mesh,
    obj,
    object_points: np.ndarray,
    finger_labels: np.ndarray,
    threshold: float = CONTACT_THRESHOLD_M,
    cache: cache_lib.Cache | None = None,
) -> dict[str, np.ndarray]:
    """The contact map of one grasp, both ways (which hand parts touch which object parts).

    Args:
      hand_mesh: the posed hand (``trimesh.Trimesh`` or ``(vertices, faces)``), meters.
      obj: the object mesh in the same frame, meters.
      object_points: (P, 3) points on the object's surface, meters.
      finger_labels: (V,) int, 0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky
        (``finger_labels_from_weights``).
      threshold: distance that counts as contact, meters (``CONTACT_THRESHOLD_M``).
      cache: optional precomputation shared across grasps of the same object.

    Returns:
      ``hand_distance_m`` (V,) float32 signed distance of each hand vertex to the object's
      surface (negative inside); ``hand_contact`` (V,) bool (inside or within ``threshold``, as
      :func:`contact_map`); ``object_distance_m`` (P,) float32 distance of each object point to
      the hand's surface (unsigned); ``object_part`` (P,) int8 the part (``FINGER_NAMES``) of
      the hand vertex nearest to each object point; ``object_contact`` (P,) bool (within
      ``threshold`` of the hand); ``finger_contact`` (6,) bool, which parts touch.
    """
    hand_mesh = as_mesh(hand_mesh)
    verts = np.asarray(hand_mesh.vertices, np.float64)
    labels = np.asarray(finger_labels)
    if labels.shape != (len(verts),):
        raise ValueError(f"finger_labels has {labels.shape} entries but the hand has "
                         f"{len(verts)} vertices")  # fmt: skip
    pts = np.asarray(object_points, np.float64).reshape(-1, 3)
    if not np.isfinite(pts).all():
        raise ValueError("object_points contain NaN or inf")
    obj = as_mesh(obj)
    is_in = inside.contains(cache_lib.inside_index(cache, obj), verts)
    d_hand = distance.surface_distance(cache_lib.distance_index(cache, obj), verts)
    signed = np.where(is_in, -d_hand, d_hand)
    d_obj = distance.surface_distance(distance.build_distance_index(hand_mesh), pts)
    _, nearest = cKDTree(verts).query(pts)
    hand_contact = is_in | (d_hand <= threshold)
    return {
        "hand_distance_m": signed.astype(np.float32),
        "hand_contact": hand_contact,
        "object_distance_m": d_obj.astype(np.float32),
        "object_part": labels[nearest].astype(np.int8),
        "object_contact": d_obj <= threshold,
        "finger_contact": fingers_in_contact(hand_contact, labels),
    }


def finger_contact_rates(finger_contact: np.ndarray) -> dict[str, float]:
    """Share of grasps (0..1) in which each hand part touches the object.

    Args:
      finger_contact: (B, 6) bool, as ``evaluate_meshes`` returns it.

    Returns:
      ``{part: rate}`` for palm, thumb, index, middle, ring, pinky.
    """
    fc = np.asarray(finger_contact, bool)
    if fc.ndim != 2 or fc.shape[1] != len(FINGER_NAMES):
        raise ValueError(f"finger_contact must be (B, {len(FINGER_NAMES)}), got {fc.shape}")
    rates = fc.mean(axis=0) if len(fc) else np.zeros(len(FINGER_NAMES))
    return {name: float(r) for name, r in zip(FINGER_NAMES, rates)}
