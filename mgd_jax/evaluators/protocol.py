"""The evaluation protocol's parameters, each beside the public source it was read from.

The field's numbers (ObMan -> GraspTTA -> OakInk) come from PyBullet / trimesh code; we reproduce
the definitions, not the code. Sources (read with the code search tool; file@commit prefix):

- ``hassony2/obman_train:mano_train/simulation/simulate.py`` (@59670e5) and
  ``hwjiang1510/GraspTTA:metric/simulate.py`` (@ae7e098), identical settings:
  ``simulation_step=1/240``, ``num_iterations=35``, ``numSolverIterations=150``,
  ``setGravity(0, 9.8, 0)`` (in the frame the grasp is given in; our reading: ObMan's camera
  frame, y pointing down), hand
  ``baseMass=0`` (static) as ``GEOM_FORCE_CONCAVE_TRIMESH`` with ``lateralFriction=3``,
  ``restitution=0``; object ``baseMass=1`` (kg) from a V-HACD decomposition
  (``resolution=1000, concavity=0.001, maxhulls=1024, maxNumVerticesPerCH=64,
  minVolumePerCH=0.0001``), ``lateralFriction=3``, ``restitution=0.5``, placed at
  ``np.mean(obj_verts, axis=0)``; result ``norm(pos_end - obj_center_mass)`` in meters.
- ``oakink/OakInk-Grasp-Generation:lib/metrics/simulator.py`` (@1287289): the same numbers
  (1/240 s, 35 steps, 150 solver iterations, gravity (0, 9.8, 0), friction 3/3, restitution
  0/0.5, mass 1) with a precomputed V-HACD file and the inertial frame at the vertex mean.
- ``hassony2/obman_train:mano_train/netscripts/intersect.py`` and
  ``hwjiang1510/GraspTTA:metric/intersect.py``: ``intersect_vox(obj_mesh, hand_mesh,
  pitch=0.005)`` = ``obj_mesh.voxelized(pitch).points`` tested with ``hand_mesh.contains``,
  volume ``inside.sum() * pitch**3``. The object is voxelised; pitch 0.5 cm; 0.125 cm^3 a voxel.
  Note: trimesh's ``voxelized`` is a *surface* voxelisation (a shell one voxel thick; checked
  with trimesh 5.2: a 4 cm cube gives 386 shell points, 729 once filled). ObMan uses the closed
  MANO mesh (``assets/mano/closed_mano.obj``) as the hand.
- ``oakink/OakInk-Grasp-Generation:lib/metrics/intersection.py`` + ``docs/eval_tools.md``: a
  *solid* voxelisation (binvox ``-d 128`` of a ManifoldPlus-watertight object), voxel centres
  inside the watertight hand (``assets/hand_mesh_watertight.obj``), times the element volume.
- Penetration: ``hwjiang1510/GraspTTA:metric/penetration.py`` -- hand vertices inside the object
  (ray parity, ``metric/contactutils.py:batch_mesh_contains_points``), max of
  ``trimesh.proximity.closest_point`` distances (surface distance; we found trimesh 5.2's
  overestimating by up to ~30 um against brute force, ours is exact), 0 if none.
  ``oakink/OakInk-Grasp-Generation:lib/metrics/penetration.py`` uses the distance to the
  nearest object *vertex* instead (an upper bound of ours).
- Contact: ``hwjiang1510/GraspTTA:gen_diverse_grasp_ho3d.py`` -- a grasp is in contact when any
  hand vertex is inside the object or within ``penetration_tol = 0.005`` m of its surface.
  Per finger, ``hwjiang1510/GraspTTA:metric/grasp_score.py`` uses ``threshold = 0.004`` m
  (vertex-to-object-vertex distance).
- Diversity: GraspTTA's paper protocol (k-means, 20 clusters, entropy and cluster size); the
  script is not in GraspTTA's repository. The GraspTTA-derived evaluation in
  ``wuxiaofei01/FastGrasp:evaluation/displacement.py`` (@51df19a) does
  ``scipy.cluster.vq.whiten`` -> ``kmeans(x, 20)`` -> ``vq`` -> ``entropy(counts)`` (natural
  log of the normalised histogram) and ``mean(dist)`` (mean distance of each sample to its
  centroid, in whitened units) on flattened 21x3 joints; ``evaluation/halo.py`` there has the
  same code with whitening commented out.
"""

from __future__ import annotations

import dataclasses

# Geometry metrics.
VOXEL_PITCH_M = 0.005  # obman_train intersect.py / GraspTTA intersect.py: pitch=0.005
CONTACT_THRESHOLD_M = 0.005  # GraspTTA gen_diverse_grasp_ho3d.py: penetration_tol = 0.005

# Diversity.
KMEANS_CLUSTERS = 20  # GraspTTA paper; FastGrasp evaluation/displacement.py cls_num=20

# Finger labels of hand vertices (contact.finger_labels_from_weights).
FINGER_NAMES = ("palm", "thumb", "index", "middle", "ring", "pinky")


@dataclasses.dataclass(frozen=True)
class SimulationParams:
    """MuJoCo settings of the ObMan / GraspTTA / OakInk simulation test (PyBullet values in [])."""

    timestep_s: float = 1.0 / 240.0  # [simulation_step=1/240]
    num_steps: int = 35  # [num_iterations=35] -> 0.1458 s simulated
    solver_iterations: int = 150  # [numSolverIterations=150]; MuJoCo stops earlier on tolerance
    gravity: tuple[float, float, float] = (0.0, 9.8, 0.0)  # [setGravity(0, 9.8, 0)], m/s^2,
    # in the frame of the input meshes (ObMan's camera frame, +y down)
    object_mass_kg: float = 1.0  # [object_mass=1]
    friction: float = 3.0  # [lateralFriction=3 on hand and object]; MuJoCo uses the max of the two
    # Restitution: Bullet multiplies the two bodies' restitutions, 0 (hand) * 0.5 (object) = 0,
    # so contacts are inelastic; a critically damped MuJoCo contact (dampratio 1) matches that.
    # Bullet's contacts are rigid; MuJoCo's are soft: the stiffest stable setting (time constant
    # 2 time steps, MuJoCo's own floor) and a high impedance keep a resting 1 kg object from
    # sinking more than ~0.5 mm (MuJoCo's defaults 0.02 s / (0.9, 0.95) sink it ~2 mm in 35 steps).
    contact_timeconst_steps: float = 2.0  # solref[0] = this * timestep_s
    contact_solimp: tuple[float, float, float] = (0.95, 0.99, 0.001)  # dmin, dmax, width (m)
    object_vhacd_resolution: int = 100_000  # [resolution=1000 in V-HACD 2's units; see below]
    vhacd_max_hulls: int = 64  # [maxhulls=1024]; 64 is V-HACD 4's default
    vhacd_max_vertices_per_hull: int = 64  # [maxNumVerticesPerCH=64]
    # Hands without part labels (Bullet collides the exact concave trimesh instead): 32 V-HACD
    # hulls at 50k voxels keep ~90% of a hand's volume in ~0.5 s; per-bone hulls are faster.
    hand_vhacd_resolution: int = 50_000
    hand_vhacd_max_hulls: int = 32
    # Ours, for the boolean ``sim_stable`` (GraspTTA's gen_diverse_grasp_ho3d.py keeps generated
    # grasps with simu_disp < 0.03 m).
    stable_threshold_cm: float = 2.0


# V-HACD resolution: ObMan passes 1000 to the V-HACD 2.2 executable, whose help text gives
# "default=100,000, range=10,000-16,000,000" voxels; vhacdx (V-HACD 4) at 1000 voxels turns a
# finger into ~1 cm blocks, so we use the documented default, 100k voxels. Convex objects skip
# V-HACD (their hull is exact).
