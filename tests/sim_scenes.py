"""Small static scenes for the simulation tests (meters; gravity +y pulls towards the tray base)."""

import numpy as np
import trimesh


def cube(size=0.04):
    return trimesh.creation.box((size, size, size))


def far_hand():
    """A 'hand' half a meter away: the object falls freely."""
    h = trimesh.creation.box((0.02, 0.02, 0.02))
    h.apply_translation([0.5, 0.0, 0.0])
    return h


def tray(gap=0.0005):
    """A static U of three boxes under a 4 cm cube, open towards -y, with a part label per vertex:
    (mesh, labels)."""
    parts = [trimesh.creation.box((0.08, 0.01, 0.08),
                                  trimesh.transformations.translation_matrix([0, 0.025 + gap, 0]))]
    for sx in (-1, 1):
        parts.append(trimesh.creation.box(
            (0.01, 0.05, 0.08),
            trimesh.transformations.translation_matrix([sx * (0.025 + gap), 0, 0])))  # fmt: skip
    labels = np.concatenate([np.full(len(p.vertices), i) for i, p in enumerate(parts)])
    return trimesh.util.concatenate(parts), labels


def slabs(gap=0.0):
    """Two static slabs squeezing a 4 cm cube along x (no support below: friction holds it)."""
    parts = [trimesh.creation.box((0.01, 0.06, 0.06),
                                  trimesh.transformations.translation_matrix([sx * (0.025 + gap), 0, 0]))
             for sx in (-1, 1)]  # fmt: skip
    return trimesh.util.concatenate(parts)
