"""The procedural right hand: MANO's layout without MANO's licensed file.

Geometry: a signed distance function made of a convex palm (hull of spheres) and tapered capsules
for the 15 finger bones, blended smoothly only between kinematic neighbours (finger to palm,
segment to segment), meshed with manifold3d's level set (watertight, manifold, outward CCW).
Frame and scale follow MANO's right hand: fingers along -x, thumb towards +z, palm facing -y,
wrist joint near MANO's (0.0957, 0.0064, 0.0062) m, wrist to middle fingertip ~18 cm.

Skinning: each vertex is owned by the primitive whose surface it lies on; its weights blend the
owner with the owner's parent and children by exp(-distance / tau), never with other fingers.
Shape blend shapes are ten interpretable linear fields (size, palm width, ..., finger lengths).
Pose correctives are zero. Deterministic: no randomness except a seeded PCA pose basis.
"""

from __future__ import annotations

import dataclasses

import manifold3d
import numpy as np

from mgd_jax.hand import limits
from mgd_jax.hand.model import MANO_PARENTS, HandModel, build_hand_model

WRIST = np.array([0.0957, 0.0064, 0.0062])
_FINGERS = {  # joint ids (MCP, PIP, DIP); MCP offset from the wrist; direction; lengths; radii
    "index": ((1, 2, 3), (-0.083, 0.000, 0.031), (-1.0, 0.0, 0.08),
              (0.039, 0.023, 0.021), (0.0090, 0.0085, 0.0077, 0.0068)),
    "middle": ((4, 5, 6), (-0.087, 0.001, 0.009), (-1.0, 0.0, 0.01),
               (0.044, 0.027, 0.022), (0.0092, 0.0087, 0.0079, 0.0070)),
    "pinky": ((7, 8, 9), (-0.071, -0.003, -0.034), (-1.0, 0.0, -0.16),
              (0.032, 0.019, 0.019), (0.0080, 0.0074, 0.0067, 0.0060)),
    "ring": ((10, 11, 12), (-0.081, 0.000, -0.013), (-1.0, 0.0, -0.07),
             (0.041, 0.026, 0.021), (0.0088, 0.0083, 0.0075, 0.0067)),
}  # fmt: skip
_THUMB_CMC = (-0.012, -0.010, 0.022)
_THUMB_DIRS = ((-0.72, -0.38, 0.58), (-0.82, -0.30, 0.48), (-0.88, -0.25, 0.40))
_THUMB_LENGTHS = (0.042, 0.031, 0.027)
_THUMB_RADII = (0.0150, 0.0108, 0.0097, 0.0082)
_PALM_SPHERES = (  # (offset from wrist, radius): wrist end, mid palm; knuckles are added below
    ((0.014, 0.000, 0.018), 0.0130),
    ((0.014, 0.000, -0.016), 0.0120),
    ((-0.040, -0.003, 0.020), 0.0135),
    ((-0.040, -0.003, -0.022), 0.0125),
)
_BLEND_FINGER = 0.002  # smooth-union width between segments of one finger, meters
_BLEND_PALM = 0.004  # between a finger and the palm
_BLEND_THENAR = 0.009  # between the thumb metacarpal and the palm (the thenar eminence)
_SKIN_TAU = 0.0035  # skinning falloff length, meters
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")


@dataclasses.dataclass(frozen=True)
class _Capsule:
    a: np.ndarray  # (3,) start centre
    b: np.ndarray  # (3,) end centre
    ra: float
    rb: float
    owner: int  # joint whose transform moves this bone

    def sdf(self, p: np.ndarray) -> np.ndarray:
        ab = self.b - self.a
        t = np.clip(((p - self.a) @ ab) / (ab @ ab), 0.0, 1.0)
        closest = self.a + t[:, None] * ab
        return np.linalg.norm(p - closest, axis=1) - (self.ra + t * (self.rb - self.ra))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields with blend width k (meters)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def hand_skeleton() -> tuple[np.ndarray, dict[str, np.ndarray], list[_Capsule]]:
    """Rest joints (16, 3), fingertip surface points by finger, and the bone capsules (meters)."""
    joints = np.zeros((16, 3))
    joints[0] = WRIST
    tips = {}
    capsules = []
    for name, (ids, offset, direction, lengths, radii) in _FINGERS.items():
        d = _unit(direction)
        joints[ids[0]] = WRIST + np.asarray(offset)
        joints[ids[1]] = joints[ids[0]] + lengths[0] * d
        joints[ids[2]] = joints[ids[1]] + lengths[1] * d
        tips[name] = joints[ids[2]] + lengths[2] * d
        ends = [joints[ids[1]], joints[ids[2]], tips[name] - radii[3] * d]
        starts = [joints[ids[0]], joints[ids[1]], joints[ids[2]]]
        for i in range(3):
            capsules.append(_Capsule(starts[i], ends[i], radii[i], radii[i + 1], ids[i]))
    joints[13] = WRIST + np.asarray(_THUMB_CMC)
    dirs = [_unit(d) for d in _THUMB_DIRS]
    joints[14] = joints[13] + _THUMB_LENGTHS[0] * dirs[0]
    joints[15] = joints[14] + _THUMB_LENGTHS[1] * dirs[1]
    tips["thumb"] = joints[15] + _THUMB_LENGTHS[2] * dirs[2]
    ends = [joints[14], joints[15], tips["thumb"] - _THUMB_RADII[3] * dirs[2]]
    for i, owner in enumerate((13, 14, 15)):
        start = joints[owner]
        capsules.append(_Capsule(start, ends[i], _THUMB_RADII[i], _THUMB_RADII[i + 1], owner))
    return joints, tips, capsules


def _palm_planes(joints: np.ndarray) -> np.ndarray:
    """(P, 4) outward planes (n, -d) of the convex palm: hull of wrist, mid-palm, knuckle spheres."""
    spheres = [(WRIST + np.asarray(o), r) for o, r in _PALM_SPHERES]
    for name, (ids, _, _, _, radii) in _FINGERS.items():
        spheres.append((joints[ids[0]] + np.array([0.0, 0.001, 0.0]), radii[0] + 0.0015))
    parts = [manifold3d.Manifold.sphere(r, 12).translate(tuple(c)) for c, r in spheres]
    hull = manifold3d.Manifold.batch_hull(parts).to_mesh()
    verts = np.asarray(hull.vert_properties[:, :3], np.float64)
    tri = verts[np.asarray(hull.tri_verts)]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = np.einsum("fi,fi->f", normals, tri[:, 0])
    planes = np.unique(np.round(np.concatenate([normals, -offsets[:, None]], 1), 6), axis=0)
    return planes


def _palm_sdf(p: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Signed distance to the convex palm: exact inside, a lower bound outside (meters)."""
    return np.max(p @ planes[:, :3].T + planes[:, 3], axis=1)


def _part_fields(p, planes, capsules) -> tuple[np.ndarray, np.ndarray]:
    """Per-part distance fields (N, 16): part k = everything owned by joint k (inf if none)."""
    fields = np.full((p.shape[0], 16), np.inf)
    fields[:, 0] = _palm_sdf(p, planes)
    for c in capsules:
        fields[:, c.owner] = np.minimum(fields[:, c.owner], c.sdf(p))
    return fields


def _hand_sdf(p: np.ndarray, planes: np.ndarray, capsules: list[_Capsule]) -> np.ndarray:
    """Signed distance (negative inside) of the whole hand, blended between neighbours only."""
    parts = _part_fields(p, planes, capsules)
    palm = parts[:, 0]
    chains = {name: spec[0] for name, spec in _FINGERS.items()}
    chains["thumb"] = (13, 14, 15)
    total = np.full(p.shape[0], np.inf)
    for name, ids in chains.items():
        finger = _smin(_smin(parts[:, ids[2]], parts[:, ids[1]], _BLEND_FINGER), parts[:, ids[0]],
                       _BLEND_FINGER)  # fmt: skip
        k = _BLEND_THENAR if name == "thumb" else _BLEND_PALM
        if name == "thumb":  # thenar: blend the metacarpal wide, the rest of the thumb narrow
            finger = _smin(parts[:, 14], parts[:, 15], _BLEND_FINGER)
            finger = _smin(finger, _smin(parts[:, 13], palm, k), _BLEND_FINGER)
        else:
            finger = _smin(finger, palm, k)
        total = np.minimum(total, finger)
    return total


def _mesh_level_set(
    planes, capsules, edge_length: float, simplify_tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mesh the hand SDF: grid samples + trilinear lookup fed to manifold3d's level set."""
    ends = np.concatenate([np.stack([c.a for c in capsules]), np.stack([c.b for c in capsules])])
    lo = np.minimum(ends.min(axis=0), WRIST + np.array([0.0, -0.02, -0.03])) - 0.02
    hi = np.maximum(ends.max(axis=0), WRIST + np.array([0.03, 0.02, 0.03])) + 0.02
    step = 0.0015
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = np.concatenate(
        [_hand_sdf(chunk, planes, capsules) for chunk in np.array_split(grid, len(grid) // 20000)]
    ).reshape(len(axes[0]), len(axes[1]), len(axes[2]))
    inside = -values  # manifold3d: positive inside
    shape = np.array(inside.shape)

    def lookup(x: float, y: float, z: float) -> float:
        g = (np.array((x, y, z)) - lo) / step
        i0 = np.clip(np.floor(g).astype(int), 0, shape - 2)
        f = np.clip(g - i0, 0.0, 1.0)
        c = inside[i0[0] : i0[0] + 2, i0[1] : i0[1] + 2, i0[2] : i0[2] + 2]
        c = c[0] * (1 - f[0]) + c[1] * f[0]
        c = c[0] * (1 - f[1]) + c[1] * f[1]
        return float(c[0] * (1 - f[2]) + c[1] * f[2])

    bounds = list(lo + step) + list(hi - step)
    solid = manifold3d.Manifold.level_set(lookup, bounds, edge_length)
    # Merge vertices on flat stretches; curved skin keeps its density.
    mesh = solid.simplify(simplify_tolerance).to_mesh()
    return np.asarray(mesh.vert_properties[:, :3], np.float64), np.asarray(mesh.tri_verts, np.int64)


def _skinning_weights(verts, planes, capsules) -> np.ndarray:
    """(V, 16) LBS weights: owner blended with its kinematic neighbours only."""
    fields = _part_fields(verts, planes, capsules)
    owner = np.argmin(np.abs(np.where(np.isfinite(fields), fields, 1.0)), axis=1)
    children = {j: [c for c, p in enumerate(MANO_PARENTS) if p == j] for j in range(16)}
    allowed = np.zeros((16, 16), dtype=bool)
    for j in range(16):
        allowed[j, j] = True
        if MANO_PARENTS[j] >= 0:
            allowed[j, MANO_PARENTS[j]] = True
        allowed[j, children[j]] = True
    dist = np.maximum(np.where(np.isfinite(fields), fields, 1.0), 0.0)
    w = np.exp(-(dist - dist[np.arange(len(verts)), owner][:, None]) / _SKIN_TAU)
    w = np.where(allowed[owner], w, 0.0)
    w = np.where(w < 1e-3, 0.0, w)
    return w / w.sum(axis=1, keepdims=True)


def _joint_regressor(verts: np.ndarray, joints: np.ndarray, k: int = 40) -> np.ndarray:
    """(16, V) affine weights over each joint's k nearest vertices reproducing the joint exactly."""
    reg = np.zeros((16, len(verts)))
    for j, target in enumerate(joints):
        idx = np.argsort(np.linalg.norm(verts - target, axis=1))[:k]
        # Minimum-norm w with [V^T; 1^T] w = [target; 1].
        a = np.concatenate([verts[idx].T, np.ones((1, k))], axis=0)
        rhs = np.concatenate([target, [1.0]])
        reg[j, idx] = a.T @ np.linalg.solve(a @ a.T, rhs)
    return reg


def _shape_dirs(verts, weights, joints, tips) -> np.ndarray:
    """(V, 3, 10) interpretable shape fields, meters per unit beta."""
    dirs = np.zeros((len(verts), 3, 10))
    rel = verts - WRIST
    owner = np.argmax(weights, axis=1)
    palm = owner == 0
    dirs[:, :, 0] = 0.04 * rel  # overall size (+4 % per unit)
    dirs[:, 2, 1] = 0.05 * (verts[:, 2] - 0.5 * (joints[1, 2] + joints[7, 2]))  # palm width
    along = np.clip(-rel[:, 0] / 0.087, 0.0, 1.0)
    dirs[:, 0, 2] = -0.004 * along  # palm length: fingers move out, wrist stays
    finger_of = {}
    for name, (ids, *_rest) in _FINGERS.items():
        finger_of[name] = ids
    finger_of["thumb"] = (13, 14, 15)
    for col, name in zip(range(4, 9), TIP_ORDER):
        ids = finger_of[name]
        base, tip = joints[ids[0]], tips[name]
        axis = _unit(tip - base)
        member = np.isin(owner, ids)
        frac = np.clip(((verts - base) @ axis) / np.linalg.norm(tip - base), 0.0, 1.0)
        dirs[member, :, col] = 0.004 * frac[member, None] * axis  # finger length
        # Finger thickness: push away from the finger axis.
        radial = verts - base - ((verts - base) @ axis)[:, None] * axis
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        dirs[member, :, 3] = 0.0008 * radial[member]
    dirs[palm, 1, 9] = 0.1 * (verts[palm, 1] - WRIST[1])  # palm thickness
    return dirs


def _pca_basis(model_frames, lower, upper, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded pose PCA (45, 45) + mean (45,) from synergy-coupled poses inside the limits."""
    rng = np.random.default_rng(seed)
    n = 4096
    grip = rng.uniform(0.0, 1.0, size=(n, 1, 1))  # shared flexion drive (a grasp synergy)
    noise = rng.uniform(0.0, 1.0, size=(n, 15, 3))
    mix = np.clip(0.6 * grip + 0.4 * noise, 0.0, 1.0)
    mix[:, :, :2] = noise[:, :, :2]  # twist and spread are independent of the grip
    angles = lower + mix * (upper - lower)
    pose = np.einsum("jab,nja->njb", model_frames, angles).reshape(n, 45)
    mean = pose.mean(axis=0)
    _, _, vt = np.linalg.svd(pose - mean, full_matrices=False)
    return vt, mean


def build_procedural_hand(
    edge_length: float = 0.0035, simplify_tolerance: float = 0.0005
) -> HandModel:
    """Build the procedural right hand (several seconds; ``mgd_jax.hand.load`` caches it).

    Args:
      edge_length: target triangle edge length of the level-set mesh, meters.
      simplify_tolerance: maximum surface displacement allowed when thinning the mesh, meters.

    Returns:
      A ``HandModel`` with MANO's joint layout, ~1-2k vertices, watertight mesh, meters.
    """
    joints, tips, capsules = hand_skeleton()
    planes = _palm_planes(joints)
    verts, faces = _mesh_level_set(planes, capsules, edge_length, simplify_tolerance)
    weights = _skinning_weights(verts, planes, capsules)
    # Fingertip vertex: the most distal vertex along each distal bone.
    tip_ids = []
    for name in TIP_ORDER:
        distal = (13, 14, 15)[2] if name == "thumb" else _FINGERS[name][0][2]
        axis = _unit(tips[name] - joints[distal])
        score = (verts - joints[distal]) @ axis - 0.5 * np.linalg.norm(
            np.cross(verts - joints[distal], axis), axis=1
        )
        score[np.argmax(weights, axis=1) != distal] = -np.inf
        tip_ids.append(int(np.argmax(score)))
    joint_limits = limits.joint_limits(joints, verts[tip_ids], "right")
    comps, mean = _pca_basis(
        joint_limits["limit_frames"].astype(np.float64),
        joint_limits["pose_lower"],
        joint_limits["pose_upper"],
    )
    return build_hand_model(
        v_template=verts,
        shapedirs=_shape_dirs(verts, weights, joints, tips),
        posedirs=np.zeros((len(verts), 3, 135)),  # no pose correctives
        j_regressor=_joint_regressor(verts, joints),
        weights=weights,
        faces=faces,
        hands_components=comps,
        hands_mean=mean,
        **joint_limits,
        tip_vertex_ids=tip_ids,
        side="right",
        name="procedural-v1",
    )
