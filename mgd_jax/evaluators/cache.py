"""Per-call cache of per-object precomputation (inside grids, distance trees, voxel lattices,
convex decompositions), keyed by the mesh's content hash.

A ``Cache`` is created by each ``evaluate_meshes`` call (or by the caller of a batch metric) and
dropped with it; nothing is cached across calls or processes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from mgd_jax.evaluators import distance, inside
from mgd_jax.evaluators.meshes import ClosurePlan, Mesh, closure_plan, faces_hash, mesh_hash


class Cache:
    """Maps (mesh content hash, kind, parameters) to a precomputed value."""

    def __init__(self) -> None:
        self._hashes: dict[int, tuple[Mesh, str]] = {}  # id(mesh) -> (mesh kept alive, hash)
        self._values: dict[tuple[str, Hashable], Any] = {}

    def key(self, mesh: Mesh) -> str:
        """The content hash of ``mesh``, computed once per mesh object."""
        hit = self._hashes.get(id(mesh))
        if hit is not None and hit[0] is mesh:
            return hit[1]
        h = mesh_hash(mesh)
        self._hashes[id(mesh)] = (mesh, h)
        return h

    def get(self, mesh: Mesh, kind: Hashable, build: Callable[[], Any]) -> Any:
        """The cached value for (mesh, kind), building it on first use."""
        k = (self.key(mesh), kind)
        if k not in self._values:
            self._values[k] = build()
        return self._values[k]

    def get_by_key(self, key: tuple[str, Hashable], build: Callable[[], Any]) -> Any:
        """The cached value for an explicit key, building it on first use."""
        if key not in self._values:
            self._values[key] = build()
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)


def inside_index(cache: Cache | None, mesh: Mesh) -> inside.InsideIndex:
    """The mesh's ``InsideIndex``, cached when a cache is given."""
    if cache is None:
        return inside.build_inside_index(mesh)
    return cache.get(mesh, "inside", lambda: inside.build_inside_index(mesh))


def distance_index(cache: Cache | None, mesh: Mesh) -> distance.DistanceIndex:
    """The mesh's ``DistanceIndex``, cached when a cache is given."""
    if cache is None:
        return distance.build_distance_index(mesh)
    return cache.get(mesh, "distance", lambda: distance.build_distance_index(mesh))


def topology(cache: Cache | None, mesh: Mesh) -> ClosurePlan:
    """The mesh's ``closure_plan``, cached by its faces (all poses of a hand share it)."""
    if cache is None:
        return closure_plan(mesh.faces, len(mesh.vertices))
    key = (faces_hash(mesh.faces), ("topology", len(mesh.vertices)))
    return cache.get_by_key(key, lambda: closure_plan(mesh.faces, len(mesh.vertices)))
