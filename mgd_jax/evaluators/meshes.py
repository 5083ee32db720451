"""Triangle meshes as plain arrays: validation, hashing, hole capping.

The evaluators take ``trimesh.Trimesh`` objects at the API boundary and work on ``Mesh`` (two
numpy arrays) inside, which pickles cheaply to worker processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Mesh(NamedTuple):
    """A triangle mesh: vertices (N, 3) float64 meters, faces (F, 3) int64."""

    vertices: np.ndarray
    faces: np.ndarray


def as_mesh(mesh) -> Mesh:
    """A ``Mesh`` from a ``trimesh.Trimesh``, a ``Mesh`` or a ``(vertices, faces)`` pair."""
    if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
        vertices, faces = mesh.vertices, mesh.faces
    else:
        vertices, faces = mesh
    return Mesh(
        np.ascontiguousarray(np.asarray(vertices, dtype=np.float64)),
        np.ascontiguousarray(np.asarray(faces, dtype=np.int64)),
    )


def validate_pairs(hand_meshes: Sequence, object_meshes: Sequence) -> tuple[list[Mesh], list[Mesh]]:
    """Convert and check grasp lists; raise ``ValueError`` naming the offending grasp index.

    Checks: equal lengths, at least one grasp, non-empty vertices and faces, (N, 3) / (F, 3)
    shapes, finite vertices, face indices in range.
    """
    if len(hand_meshes) != len(object_meshes):
        raise ValueError(
            f"hand_meshes and object_meshes must have the same length, got {len(hand_meshes)} "
            f"hands and {len(object_meshes)} objects"
        )
    if len(hand_meshes) == 0:
        raise ValueError("no grasps to evaluate: hand_meshes and object_meshes are empty")
    hands = [_checked(m, "hand", i) for i, m in enumerate(hand_meshes)]
    # The same object instance repeated over its grasps converts once, so caches hash it once.
    seen: dict[int, Mesh] = {}
    objects = []
    for i, m in enumerate(object_meshes):
        if id(m) not in seen:
            seen[id(m)] = _checked(m, "object", i)
        objects.append(seen[id(m)])
    return hands, objects


def _checked(mesh, role: str, index: int) -> Mesh:
    try:
        m = as_mesh(mesh)
    except Exception as e:  # noqa: BLE001 - re-raised with the grasp index
        raise ValueError(f"grasp {index}: {role} mesh could not be read as a mesh: {e}") from e
    if m.vertices.ndim != 2 or m.vertices.shape[1] != 3 or len(m.vertices) == 0:
        raise ValueError(f"grasp {index}: {role} mesh is empty or vertices are not (N, 3): "
                         f"shape {m.vertices.shape}")  # fmt: skip
    if m.faces.ndim != 2 or m.faces.shape[1] != 3 or len(m.faces) == 0:
        raise ValueError(f"grasp {index}: {role} mesh has no triangles (faces shape "
                         f"{m.faces.shape})")  # fmt: skip
    if not np.all(np.isfinite(m.vertices)):
        bad = int(np.argwhere(~np.isfinite(m.vertices).all(axis=1))[0, 0])
        raise ValueError(f"grasp {index}: {role} mesh has NaN/inf vertices (first at vertex {bad})")
    if m.faces.min() < 0 or m.faces.max() >= len(m.vertices):
        raise ValueError(f"grasp {index}: {role} mesh faces index outside its "
                         f"{len(m.vertices)} vertices")  # fmt: skip
    return m


def mesh_hash(mesh: Mesh) -> str:
    """Content hash of a mesh (vertex and face bytes); the key of per-object caches."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices).tobytes())
    h.update(np.ascontiguousarray(mesh.faces).tobytes())
    return h.hexdigest()


def _directed_edges(faces: np.ndarray) -> np.ndarray:
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _edge_keys(edges: np.ndarray, n: int) -> np.ndarray:
    return edges[:, 0] * np.int64(n) + edges[:, 1]


def _faces_closed(f: np.ndarray, n: int) -> bool:
    if np.any((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])):
        return False
    keys = _edge_keys(_directed_edges(f), n)
    uniq = np.unique(keys)
    if len(uniq) != len(keys):
        return False
    rev = _edge_keys(_directed_edges(f)[:, ::-1], n)
    return bool(np.isin(rev, uniq).all())


def is_closed(mesh: Mesh) -> bool:
    """True when every directed edge appears once and its reverse once (closed, oriented).

    Degenerate faces (repeated vertex indices) make a mesh not closed.
    """
    return _faces_closed(mesh.faces, len(mesh.vertices))


class ClosurePlan(NamedTuple):
    """How to close a mesh, from its topology alone (shared by all poses of one hand model)."""

    loops: tuple[np.ndarray, ...]  # boundary loops to cap (vertex ids), empty if closed
    closed: bool  # whether the mesh is closed after capping


def closure_plan(faces: np.ndarray, num_vertices: int) -> ClosurePlan:
    """Find the boundary loops of a triangle mesh and whether capping them closes it."""
    f = np.asarray(faces, np.int64)
    if _faces_closed(f, num_vertices):
        return ClosurePlan((), True)
    edges = _directed_edges(f)
    keys = _edge_keys(edges, num_vertices)
    boundary = edges[~np.isin(_edge_keys(edges[:, ::-1], num_vertices), keys)]
    start, count = np.unique(boundary[:, 0], return_counts=True)
    if len(boundary) == 0 or np.any(count > 1):
        return ClosurePlan((), False)  # non-manifold, or a boundary that is not simple loops
    nxt = dict(zip(boundary[:, 0].tolist(), boundary[:, 1].tolist()))
    loops, seen = [], set()
    for v0 in start.tolist():
        if v0 in seen:
            continue
        loop, v = [v0], nxt[v0]
        seen.add(v0)
        while v != v0:
            if v in seen or v not in nxt:
                return ClosurePlan((), False)
            loop.append(v)
            seen.add(v)
            v = nxt[v]
        loops.append(np.asarray(loop))
    capped = _cap(np.zeros((num_vertices, 3)), f, tuple(loops)).faces
    return ClosurePlan(tuple(loops), _faces_closed(capped, num_vertices + len(loops)))


def _cap(vertices: np.ndarray, faces: np.ndarray, loops: tuple[np.ndarray, ...]) -> Mesh:
    n = len(vertices)
    centres = [vertices[loop].mean(axis=0) for loop in loops]
    # The existing face walks a -> b along the boundary; the cap walks b -> a to the centre.
    caps = [np.stack([np.roll(a, -1), a, np.full_like(a, n + i)], axis=1)
            for i, a in enumerate(loops)]  # fmt: skip
    return Mesh(np.concatenate([vertices, np.reshape(centres, (-1, 3))]),
                np.concatenate([faces, *caps]))  # fmt: skip


def cap_holes(mesh: Mesh, plan: ClosurePlan | None = None) -> Mesh:
    """Close each boundary loop with a fan around a new vertex at the loop's centroid.

    For an oriented manifold with boundary (MANO's open wrist is one loop), the result is
    closed and oriented like the input: this is what ObMan's ``closed_mano.obj`` and GraspTTA's
    ``get_closed_faces`` do for the hand. Boundaries that are not simple loops (non-manifold
    vertices) are left open; check the result with ``is_closed``.
    """
    plan = closure_plan(mesh.faces, len(mesh.vertices)) if plan is None else plan
    return _cap(mesh.vertices, mesh.faces, plan.loops) if plan.loops else mesh


def closed_or_capped(mesh: Mesh, plan: ClosurePlan | None = None) -> tuple[Mesh, bool]:
    """The mesh, capped if it has holes, and whether the result is closed.

    Args:
      mesh: the mesh.
      plan: its ``closure_plan`` if already known (hands of one model share it).
    """
    plan = closure_plan(mesh.faces, len(mesh.vertices)) if plan is None else plan
    return cap_holes(mesh, plan), plan.closed


def faces_hash(faces: np.ndarray) -> str:
    """Content hash of a face array (the key of topology caches)."""
    return hashlib.sha1(np.ascontiguousarray(faces).tobytes()).hexdigest()
