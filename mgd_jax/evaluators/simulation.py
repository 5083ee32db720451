"""Simulation displacement: does the object stay in the (frozen) hand under gravity? (MuJoCo)

The ObMan protocol (``protocol.SimulationParams`` lists each setting beside its PyBullet source
value): the hand is a static body, the object a free 1 kg body, both made of convex pieces;
gravity (0, 9.8, 0) m/s^2 in the frame of the input meshes; 35 steps of 1/240 s; the result is
how far the object's centre of mass moved, in cm. ``stable`` = displacement below a threshold
(2 cm by default, ours).

Choices that differ from the PyBullet code, and why:
- The hand: PyBullet collides a static concave triangle mesh; MuJoCo only collides convex
  geoms, so the hand is split into convex pieces (per-bone hulls when part labels are given,
  else V-HACD). Bone hulls fill the hand's small concavities (the cupped palm).
- The centre of mass: ObMan puts the inertial frame at the mean of the object's vertices; we use
  the true centre of mass of the (uniform-density) convex pieces and measure its displacement.
- Gravity is fixed in the input frame, as in the protocol: the metric is invariant to a rigid
  motion of the scene only if gravity moves with it (``params.gravity``).
- Contacts: MuJoCo's soft contacts, critically damped (no bounce, like Bullet's combined
  restitution 0 * 0.5 = 0) and as stiff as the time step allows; friction 3 on both.

Determinism: V-HACD runs synchronously, MuJoCo is deterministic on one thread, so the same
input gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgd_jax.evaluators import cache as cache_lib
from mgd_jax.evaluators import decomposition
from mgd_jax.evaluators.meshes import Mesh, validate_pairs
from mgd_jax.evaluators.protocol import SimulationParams

Pieces = list[tuple[np.ndarray, float]]  # (hull vertices (n, 3) meters, volume m^3)


def object_pieces(
    obj: Mesh, params: SimulationParams, cache: cache_lib.Cache | None = None
) -> Pieces:
    """The object's convex pieces (cached per object when a cache is given)."""

    def build() -> Pieces:
        return decomposition.vhacd_pieces(obj, params.object_vhacd_resolution,
                                          params.vhacd_max_hulls,
                                          params.vhacd_max_vertices_per_hull)  # fmt: skip

    if cache is None:
        return build()
    key = ("vhacd", params.object_vhacd_resolution, params.vhacd_max_hulls,
           params.vhacd_max_vertices_per_hull)  # fmt: skip
    return cache.get(obj, key, build)


def hand_pieces(
    hand: Mesh, params: SimulationParams, part_labels: np.ndarray | None = None
) -> Pieces:
    """The hand's convex pieces: per-part hulls if ``part_labels`` (V,) is given, else V-HACD."""
    if part_labels is not None:
        pieces = decomposition.part_hull_pieces(hand.vertices, part_labels)
        if not pieces:
            raise ValueError("no hand part has a solid convex hull")
        return pieces
    return decomposition.vhacd_pieces(hand, params.hand_vhacd_resolution,
                                      params.hand_vhacd_max_hulls,
                                      params.vhacd_max_vertices_per_hull)  # fmt: skip


def simulate_displacement_m(hand: Pieces, obj: Pieces, params: SimulationParams) -> float:
    """Run the test on convex pieces; return the object's centre-of-mass displacement, meters."""
    import mujoco

    spec = mujoco.MjSpec()
    spec.option.timestep = params.timestep_s
    spec.option.gravity = list(params.gravity)
    spec.option.iterations = params.solver_iterations
    contact = dict(
        friction=[params.friction, 0.005, 0.0001],  # MuJoCo's default torsional/rolling terms
        solref=[params.contact_timeconst_steps * params.timestep_s, 1.0],
        solimp=[*params.contact_solimp, 0.5, 2.0],
    )
    for i, (verts, _) in enumerate(hand):
        spec.add_mesh(name=f"hand{i}", uservert=verts.ravel())
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"hand{i}", **contact)
    centre = np.concatenate([v for v, _ in obj]).mean(axis=0)
    body = spec.worldbody.add_body(name="object", pos=centre)
    body.add_freejoint()
    total = sum(vol for _, vol in obj)
    for i, (verts, vol) in enumerate(obj):
        spec.add_mesh(name=f"object{i}", uservert=(verts - centre).ravel())
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"object{i}",
                      mass=params.object_mass_kg * vol / total, **contact)  # fmt: skip
    model = spec.compile()
    data = mujoco.MjData(model)
    body_id = model.body("object").id
    mujoco.mj_forward(model, data)
    start = data.xipos[body_id].copy()
    for _ in range(params.num_steps):
        mujoco.mj_step(model, data)
    mujoco.mj_kinematics(model, data)  # mj_step leaves positions of the previous state
    return float(np.linalg.norm(data.xipos[body_id] - start))


def simulation_displacement_cm(
    hand_meshes: Sequence,
    object_meshes: Sequence,
    params: SimulationParams = SimulationParams(),
    hand_part_labels: np.ndarray | None = None,
    cache: cache_lib.Cache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-grasp simulation displacement and stability.

    Args:
      hand_meshes, object_meshes: B meshes each, meters, same frame per grasp (gravity is
        ``params.gravity`` in that frame).
      params: the protocol settings (``protocol.SimulationParams``).
      hand_part_labels: optional (V,) int part of each hand vertex (e.g. the skinning bone); the
        hand is then made of the parts' convex hulls instead of V-HACD pieces (much faster).
      cache: reuses object decompositions across grasps.

    Returns:
      displacement_cm: (B,) float64; stable: (B,) bool, displacement < params.stable_threshold_cm.
    """
    hands, objects = validate_pairs(hand_meshes, object_meshes)
    cache = cache_lib.Cache() if cache is None else cache
    out = np.zeros(len(hands))
    for i, (h, o) in enumerate(zip(hands, objects)):
        try:
            out[i] = 100.0 * simulate_displacement_m(
                hand_pieces(h, params, hand_part_labels), object_pieces(o, params, cache), params
            )
        except ValueError as e:
            raise ValueError(f"grasp {i}: simulation failed: {e}") from e
    return out, out < params.stable_threshold_cm
