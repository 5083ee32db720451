"""Contact heat maps: the hand coloured by its distance to the object, the object's surface points
by their distance to the hand (``evaluators.hand_object_contact``), rendered side by side.

MuJoCo draws one colour per geometry, so a heat map is drawn as bands: the hand's faces are
split by the mean distance of their vertices into ``NUM_BANDS`` sub-meshes, the object points
into as many clouds, each band in its colour of the ramp (deep red at contact, through orange and
yellow, to pale grey-blue at ``MAX_DISTANCE_M`` and beyond). Inside the object counts as contact.
"""

from __future__ import annotations

import numpy as np

from mgd_jax import render  # noqa: I001  (sets MUJOCO_GL before mujoco is imported)
from mgd_jax.images import contact_sheet

MAX_DISTANCE_M = 0.02  # distances at or beyond this get the coldest colour
NUM_BANDS = 8
# Warm (contact) to cold (far), RGB in [0, 1].
_RAMP = np.array([[0.80, 0.05, 0.05], [0.95, 0.45, 0.10], [0.98, 0.80, 0.25],
                  [0.80, 0.85, 0.90]])  # fmt: skip


def band_colors(num_bands: int = NUM_BANDS) -> np.ndarray:
    """(num_bands, 4) RGBA of the bands, warmest (band 0, contact) first."""
    x = np.linspace(0.0, 1.0, num_bands) * (len(_RAMP) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_RAMP) - 2)
    t = (x - lo)[:, None]
    rgb = (1 - t) * _RAMP[lo] + t * _RAMP[lo + 1]
    return np.concatenate([rgb, np.ones((num_bands, 1))], axis=1)


def distance_bands(distance_m: np.ndarray, max_distance_m: float = MAX_DISTANCE_M,
                   num_bands: int = NUM_BANDS) -> np.ndarray:  # fmt: skip
    """Band index (0 = contact) of each distance, meters; negative (inside) counts as 0."""
    d = np.clip(np.asarray(distance_m, np.float64), 0.0, max_distance_m)
    return np.minimum((d / max_distance_m * num_bands).astype(int), num_bands - 1)


def facing_view(look: np.ndarray) -> tuple[float, float]:
    """(azimuth_deg, elevation_deg) of a camera looking along ``look`` (3,) (``render``'s
    convention); elevation kept within +-80 degrees."""
    d = np.asarray(look, np.float64)
    d = d / max(np.linalg.norm(d), 1e-12)
    elevation = np.degrees(np.arcsin(np.clip(d[2], -1.0, 1.0)))
    return float(np.degrees(np.arctan2(d[1], d[0]))), float(np.clip(elevation, -80.0, 80.0))


def heatmap_views(hand_vertices: np.ndarray, hand_faces: np.ndarray, hand_distance_m: np.ndarray,
                  object_points: np.ndarray, object_distance_m: np.ndarray,
                  size: int = 256) -> np.ndarray:  # fmt: skip
    """One uint8 RGB image of two labelled ``size``-pixel tiles: left the hand's heat map seen
    from the object (the camera looks from the object's centre towards the hand's), right the
    object points' heat map seen from the hand, so that both contact sides face the viewer.

    Args:
      hand_vertices: (V, 3) meters; hand_faces: (F, 3) int.
      hand_distance_m: (V,) signed distance of each hand vertex to the object, meters.
      object_points: (P, 3) meters; object_distance_m: (P,) distance to the hand, meters.
    """
    towards_hand = (np.asarray(hand_vertices, np.float64).mean(axis=0)
                    - np.asarray(object_points, np.float64).mean(axis=0))  # fmt: skip
    colors = band_colors()
    face_band = distance_bands(np.asarray(hand_distance_m)[np.asarray(hand_faces)].mean(axis=1))
    meshes, mesh_rgba = [], []
    for b in range(NUM_BANDS):
        faces = np.asarray(hand_faces)[face_band == b]
        if len(faces):
            meshes.append((np.asarray(hand_vertices, np.float64), faces))
            mesh_rgba.append(colors[b])
    point_band = distance_bands(object_distance_m)
    clouds, cloud_rgba = [], []
    for b in range(NUM_BANDS):
        pts = np.asarray(object_points, np.float64)[point_band == b]
        if len(pts):
            clouds.append(pts)
            cloud_rgba.append(colors[b])
    tiles = [
        render.render_views(meshes, views=[facing_view(towards_hand)], size=(size, size),
                            mesh_rgba=mesh_rgba)[0]["color"],
        render.render_views([], points=clouds, views=[facing_view(-towards_hand)],
                            size=(size, size), point_rgba=cloud_rgba,
                            point_radius=0.0025)[0]["color"],
    ]  # fmt: skip
    return contact_sheet(tiles, ncols=2, labels=["hand", "object"])
