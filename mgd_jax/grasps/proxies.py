"""Cheap geometric stand-ins of a hand for grasp energies, built once from its rest pose.

* A reduced hand model that skins only the vertices the energies look at (a farthest-point
  subset of the surface, the fingertip pads, the palm centre and the fingertips), so one
  optimisation step does not pay for the full mesh.
* Fingertip pads: per finger, the vertices of the distal segment on its flexion side near the
  tip, where a finger touches what it holds. Palm: the vertices at the centre of the palmar face.
* Capsules on the kinematic skeleton (15 finger bones, plus segments spanning the palm), with
  radii read from the skinned vertices, an inner approximation of the hand's volume used to test
  whether object points are inside the hand and to keep fingers apart.

Any MANO-layout model works (official MANO or the procedural hand): everything is derived from
the rest vertices, skinning weights, joints and anatomical frames. Units: meters.
"""

from __future__ import annotations

import flax.struct
import jax.numpy as jnp
import numpy as np
import trimesh

from mgd_jax.hand.model import HandModel

# Fingers in fingertip order (thumb, index, middle, ring, pinky): their MANO joints, proximal to
# distal. Finger ids below: 0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky.
FINGER_JOINTS = ((13, 14, 15), (1, 2, 3), (4, 5, 6), (10, 11, 12), (7, 8, 9))
_TIP_JOINT = 16  # joints[16 + f] is the tip of finger f (thumb first) in forward()'s output
# Palm capsules: wrist -> each finger's first joint, and across the knuckles (index -> pinky).
_PALM_SEGMENTS = ((0, 1), (0, 4), (0, 10), (0, 7), (0, 13), (1, 4), (4, 10), (10, 7))


@flax.struct.dataclass
class HandProxies:
    """Index sets and skeleton capsules of one hand model (a pytree of arrays).

    Vertex ids index the reduced model's vertices (``reduced`` below), not the full mesh.
    """

    reduced: HandModel  # the hand skinning only the vertices below (R of them)
    energy_ids: jnp.ndarray  # (Ve,) int32 surface subset tested for penetration
    pad_ids: jnp.ndarray  # (5, K) int32 fingertip pad vertices, thumb..pinky
    palm_ids: jnp.ndarray  # (Kp,) int32 centre of the palmar face
    capsule_a: jnp.ndarray  # (C,) int32 start joint (index into the 21 posed joints)
    capsule_b: jnp.ndarray  # (C,) int32 end joint
    capsule_shorten: jnp.ndarray  # (C,) meters taken off the end (tips lie on the skin)
    capsule_radius: jnp.ndarray  # (C,) meters
    capsule_finger: jnp.ndarray  # (C,) int32 0 palm, 1 thumb .. 5 pinky
    sphere_capsule: jnp.ndarray  # (S,) int32 capsule carrying each self-collision sphere
    sphere_t: jnp.ndarray  # (S,) position along the capsule in [0, 1]
    sphere_pairs: jnp.ndarray  # (S, S) float 1 where two spheres must not overlap
    palm_normal: jnp.ndarray  # (3,) rest-pose unit normal out of the palm
    palm_forward: jnp.ndarray  # (3,) rest-pose unit direction wrist -> middle knuckle
    palm_center: jnp.ndarray  # (3,) rest-pose centre of the palmar face, meters
    wrist: jnp.ndarray  # (3,) rest-pose wrist joint, meters (the centre of global rotation)
    vertex_finger: jnp.ndarray  # (R + 16,) int32 finger of each reduced vertex by its dominant
    # bone, 0 thumb .. 4 pinky (the pads' order); -1 palm and the 16 joint anchors
    full: HandModel  # the full hand, for the final contact check on every vertex
    full_vertex_finger: jnp.ndarray  # (V,) int32 the same labels for the full hand's vertices


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _farthest_points(points: np.ndarray, num: int) -> np.ndarray:
    """Indices of ``num`` farthest-point samples of ``points`` (N, 3), starting at index 0."""
    num = min(num, len(points))
    chosen = np.zeros(num, np.int64)
    dist = np.linalg.norm(points - points[0], axis=1)
    for i in range(1, num):
        chosen[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return chosen


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def reduce_model(model: HandModel, vertex_ids: np.ndarray) -> HandModel:
    """A model that skins only ``vertex_ids`` and still yields the exact 21 joints.

    The 16 rest joints are appended as extra vertices, and the joint regressor picks them, so
    ``forward(reduced, ...)`` gives the same joints as the full model for any pose and shape.

    Args:
      model: the full hand model.
      vertex_ids: (R,) vertex ids of the full mesh to keep; must include the tip vertices.

    Returns:
      A ``HandModel`` with R + 16 vertices (the last 16 are joint anchors) and no faces used.
    """
    ids = np.asarray(vertex_ids, np.int64)
    position = {int(v): i for i, v in enumerate(ids)}
    missing = [t for t in model.tip_vertex_ids if t not in position]
    if missing:
        raise ValueError(f"vertex_ids must include the fingertip vertices, missing {missing}")
    reg = np.asarray(model.j_regressor, np.float64)
    anchors = reg @ np.asarray(model.v_template, np.float64)
    anchor_dirs = np.einsum("jv,vck->jck", reg, np.asarray(model.shapedirs, np.float64))
    num = len(ids)
    j_reg = np.concatenate([np.zeros((16, num)), np.eye(16)], axis=1)
    weights = np.concatenate([np.asarray(model.weights)[ids], np.eye(16)], axis=0)
    posedirs = np.asarray(model.posedirs)[ids]
    return model.replace(
        v_template=jnp.asarray(np.concatenate([np.asarray(model.v_template)[ids], anchors]),
                               jnp.float32),  # fmt: skip
        shapedirs=jnp.asarray(np.concatenate([np.asarray(model.shapedirs)[ids], anchor_dirs]),
                              jnp.float32),  # fmt: skip
        posedirs=jnp.asarray(
            np.concatenate([posedirs, np.zeros((16,) + posedirs.shape[1:])]), jnp.float32
        ),
        j_regressor=jnp.asarray(j_reg, jnp.float32),
        weights=jnp.asarray(weights, jnp.float32),
        faces=jnp.zeros((1, 3), jnp.int32),
        tip_vertex_ids=tuple(position[int(t)] for t in model.tip_vertex_ids),
        name=f"{model.name}-reduced",
    )


def build_proxies(
    model: HandModel, num_energy_vertices: int = 768, pad_size: int = 8, palm_size: int = 16
) -> HandProxies:
    """Derive the energies' index sets and capsules from a hand model's rest pose (host side).

    Args:
      model: a MANO-layout hand model.
      num_energy_vertices: surface vertices (farthest-point subset) tested for penetration.
      pad_size: candidate contact vertices per fingertip pad.
      palm_size: candidate contact vertices on the palm.

    Returns:
      ``HandProxies`` (arrays on device; pass it to the jitted optimiser as an argument).
    """
    verts = np.asarray(model.v_template, np.float64)
    weights = np.asarray(model.weights, np.float64)
    owner = np.argmax(weights, axis=1)
    joints = np.asarray(model.j_regressor, np.float64) @ verts
    tips = verts[np.asarray(model.tip_vertex_ids)]
    frames = np.asarray(model.limit_frames, np.float64)
    normals = np.asarray(trimesh.Trimesh(verts, model.faces_np, process=False).vertex_normals)

    palm_normal = _unit(frames[:12, 1].mean(axis=0))
    forward = _unit(joints[4] - joints[0])
    forward = _unit(forward - (forward @ palm_normal) * palm_normal)

    pads = []
    for f, ids in enumerate(FINGER_JOINTS):
        distal = ids[2]
        flex_side = frames[distal - 1, 1]  # where the finger curls to: its pad faces there
        bone = tips[f] - joints[distal]
        along = ((verts - joints[distal]) @ bone) / (bone @ bone)
        score = normals @ flex_side - 2.0 * np.abs(along - 0.7)
        score[owner != distal] = -np.inf
        pads.append(np.argsort(-score)[:pad_size])
    palm_face = (owner == 0) & (normals @ palm_normal > 0.7)
    centre = joints[[0, 1, 4, 7, 10]].mean(axis=0)
    palm_cands = np.nonzero(palm_face)[0]
    dist = np.linalg.norm(verts[palm_cands] - centre, axis=1)
    palm = palm_cands[np.argsort(dist)[:palm_size]]

    energy = _farthest_points(verts, num_energy_vertices)
    keep = np.unique(np.concatenate([energy, np.concatenate(pads), palm,
                                     np.asarray(model.tip_vertex_ids)]))  # fmt: skip
    pos = np.full(len(verts), -1)
    pos[keep] = np.arange(len(keep))

    # Capsules: 15 finger bones (joint -> child, the last to the tip), then the palm.
    a_ids, b_ids, shorten, radius, finger = [], [], [], [], []
    posed = np.concatenate([joints, tips])  # the 21 joints in forward()'s order
    for f, ids in enumerate(FINGER_JOINTS):
        ends = (ids[1], ids[2], _TIP_JOINT + f)
        for k, j in enumerate(ids):
            d = _segment_distance(verts[owner == j], posed[j], posed[ends[k]])
            r = 0.9 * float(np.median(d))
            a_ids.append(j)
            b_ids.append(ends[k])
            shorten.append(r if k == 2 else 0.0)
            radius.append(r)
            finger.append(f + 1)
    palm_verts = verts[owner == 0]
    d = np.min([_segment_distance(palm_verts, posed[a], posed[b]) for a, b in _PALM_SEGMENTS], 0)
    palm_r = float(np.percentile(d, 25))
    for a, b in _PALM_SEGMENTS:
        a_ids.append(a)
        b_ids.append(b)
        shorten.append(0.0)
        radius.append(palm_r)
        finger.append(0)
    # No capsule may stick out of the rest-pose skin by more than half a millimetre.
    for c in range(len(radius)):
        end = posed[b_ids[c]] - shorten[c] * _unit(posed[b_ids[c]] - posed[a_ids[c]])
        skin = float(np.min(_segment_distance(verts, posed[a_ids[c]], end)))
        radius[c] = min(radius[c], skin + 5e-4)

    # Self-collision spheres along finger bones; a proximal bone's base sits in the palm.
    s_cap, s_t = [], []
    for c in range(15):
        for t in ((0.5, 1.0) if c % 3 == 0 else (0.0, 0.5, 1.0)):
            s_cap.append(c)
            s_t.append(t)
    s_finger = np.asarray(finger)[s_cap]
    pairs = (s_finger[:, None] != s_finger[None, :]).astype(np.float32)
    pairs = np.triu(pairs, 1)
    finger_of_joint = np.full(16, -1)
    for f, ids in enumerate(FINGER_JOINTS):
        finger_of_joint[list(ids)] = f
    vertex_finger = np.concatenate([finger_of_joint[owner[keep]], np.full(16, -1)])
    full_vertex_finger = finger_of_joint[owner]
    return HandProxies(
        reduced=reduce_model(model, keep),
        energy_ids=jnp.asarray(pos[energy], jnp.int32),
        pad_ids=jnp.asarray(pos[np.stack(pads)], jnp.int32),
        palm_ids=jnp.asarray(pos[palm], jnp.int32),
        capsule_a=jnp.asarray(a_ids, jnp.int32),
        capsule_b=jnp.asarray(b_ids, jnp.int32),
        capsule_shorten=jnp.asarray(shorten, jnp.float32),
        capsule_radius=jnp.asarray(radius, jnp.float32),
        capsule_finger=jnp.asarray(finger, jnp.int32),
        sphere_capsule=jnp.asarray(s_cap, jnp.int32),
        sphere_t=jnp.asarray(s_t, jnp.float32),
        sphere_pairs=jnp.asarray(pairs),
        palm_normal=jnp.asarray(palm_normal, jnp.float32),
        palm_forward=jnp.asarray(forward, jnp.float32),
        palm_center=jnp.asarray(verts[palm].mean(axis=0), jnp.float32),
        wrist=jnp.asarray(joints[0], jnp.float32),
        vertex_finger=jnp.asarray(vertex_finger, jnp.int32),
        full=model,
        full_vertex_finger=jnp.asarray(full_vertex_finger, jnp.int32),
    )
