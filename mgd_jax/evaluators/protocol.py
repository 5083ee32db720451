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
  0/0.5, mass 1) with a precomputed V-HACD file (made by the same ``pybullet.vhacd`` call with
  ObMan's parameters, ``PYBULLET_VHACD``) and the inertial frame at the vertex mean.
- What Bullet makes of these (``bulletphysics/bullet3``): a contact's friction is the product
  of the two bodies' (``btManifoldResult::calculateCombinedFriction``, clamped to 10: 3 * 3 = 9),
  so is its restitution (0 * 0.5 = 0); the object's inertia is that of its bounding box
  (``btCompoundShape::calculateLocalInertia``); PyBullet 3.2.7's ``getDynamicsInfo`` shows the
  box grown by 2 mm a side (collision margins).
- Simulation modes: ``SimulationParams(simulator="pybullet")`` runs that published test
  (``pybullet_sim.py``); the default ``"mujoco"`` is our approximation, calibrated against it
  (``simulation.py``; ``benchmarks/RESULTS.md``).
- ``hassony2/obman_train:mano_train/netscripts/intersect.py`` and
  ``hwjiang1510/GraspTTA:metric/intersect.py``: ``intersect_vox(obj_mesh, hand_mesh,
  pitch=0.005)`` = ``obj_mesh.voxelized(pitch).points`` tested with ``hand_mesh.contains``,
  volume ``inside.sum() * pitch**3``. The object is voxelised; pitch 0.5 cm; 0.125 cm^3 a voxel.
  Note: trimesh's ``voxelized`` is a *surface* voxelisation (a shell one voxel thick; checked
  with trimesh 5.2: a 4 cm cube gives 386 shell points, 729 once filled). ObMan uses the closed
  MANO mesh (``assets/mano/closed_mano.obj``) as the hand.
- ``oakink/OakInk-Grasp-Generation:lib/metrics/intersection.py`` + ``docs/eval_tools.md``: a
  *solid* voxelisation (binvox ``-d 128`` of a ManifoldPlus-watertight object: a 128^3 grid over
  the object's bounding box, so the pitch is 1/128 of its largest extent, not 0.5 cm), voxel
  centres inside the watertight hand (``assets/hand_mesh_watertight.obj``), times the element
  volume. ``intersection_mode="solid"`` (default) is this definition on ObMan's 0.5 cm lattice;
  ``"surface"`` reproduces ObMan's / GraspTTA's code (see ``intersection.py``).
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


SIMULATORS = ("mujoco", "pybullet")
HAND_SHAPES = ("part_hulls", "shell", "vhacd")

# ``pybullet.vhacd`` keyword arguments of the published test (V-HACD 2.2). ObMan's and GraspTTA's
# ``vhacd()`` pass these to the testVHACD executable (plus ``maxhulls=1024``, which V-HACD 2.2
# does not have); OakInk's ``lib/metrics/simulator.py`` makes this exact ``pybullet.vhacd`` call.
PYBULLET_VHACD = dict(resolution=1000, concavity=0.001, planeDownsampling=4,
                      convexhullDownsampling=4, alpha=0.05, beta=0.0, pca=0, mode=0,
                      maxNumVerticesPerCH=64, minVolumePerCH=0.0001)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SimulationParams:
    """Settings of the ObMan / GraspTTA / OakInk simulation test (PyBullet source values in []).

    ``simulator="pybullet"`` runs the published test itself (``pybullet_sim.py``; the optional
    extra ``mgd_jax[pybullet]``); ``"mujoco"`` (default, no extra dependency) is our
    approximation of it, calibrated against PyBullet in ``benchmarks/RESULTS.md``
    ("Simulation displacement: MuJoCo against the published PyBullet test"). The first block is
    shared by both; the rest is per simulator.
    """

    simulator: str = "mujoco"  # "mujoco" | "pybullet"
    timestep_s: float = 1.0 / 240.0  # [simulation_step=1/240]
    num_steps: int = 35  # [num_iterations=35] -> 0.1458 s simulated
    solver_iterations: int = 150  # [numSolverIterations=150]; MuJoCo stops earlier on tolerance
    gravity: tuple[float, float, float] = (0.0, 9.8, 0.0)  # [setGravity(0, 9.8, 0)], m/s^2,
    # in the frame of the input meshes (ObMan's camera frame, +y down)
    object_mass_kg: float = 1.0  # [object_mass=1]
    friction: float = 3.0  # [lateralFriction=3 on hand and object], per body (friction_combine)
    # Ours, for the boolean ``sim_stable`` (GraspTTA's gen_diverse_grasp_ho3d.py keeps generated
    # grasps with simu_disp < 0.03 m).
    stable_threshold_cm: float = 2.0

    # PyBullet only (the published values; the object's V-HACD is ``PYBULLET_VHACD``).
    hand_restitution: float = 0.0  # [hand_restitution=0]
    object_restitution: float = 0.5  # [object_restitution=0.5]

    # MuJoCo only; the defaults are the variant that agrees best with PyBullet on 300 grasps
    # (benchmarks/RESULTS.md, "Simulation displacement: MuJoCo against the published PyBullet
    # test"). The hand (PyBullet: a static concave triangle mesh; MuJoCo collides convex
    # pieces): "part_hulls" = the convex hull of each skinning part (needs ``hand_part_labels``,
    # e.g. ``part_labels_from_weights(model.weights)``; fills the cupped palm, yet agrees best);
    # "shell" = one thin convex prism per triangle, the surface pushed inwards by
    # ``hand_shell_thickness_m`` along the vertex normals (the triangle mesh itself; no labels
    # needed; 12x slower); "vhacd" = V-HACD pieces of the hand (no labels; 50x slower). No shape
    # falls back to another: without labels "part_hulls" is an error.
    hand_shape: str = "part_hulls"
    hand_shell_thickness_m: float = 0.002
    hand_vhacd_resolution: int = 50_000  # "vhacd": 32 hulls at 50k voxels, ~0.5 s a hand
    hand_vhacd_max_hulls: int = 32
    # Restitution: Bullet multiplies the two bodies' restitutions, 0 (hand) * 0.5 (object) = 0,
    # so contacts are inelastic; a critically damped MuJoCo contact (dampratio 1) matches that.
    # Bullet's contacts are rigid; MuJoCo's are soft: the stiffest stable setting (time constant
    # 2 time steps, MuJoCo's own floor) and a high impedance keep a resting 1 kg object from
    # sinking more than ~0.5 mm (MuJoCo's defaults 0.02 s / (0.9, 0.95) sink it ~2 mm in 35 steps).
    contact_timeconst_steps: float = 2.0  # solref[0] = this * timestep_s
    contact_solimp: tuple[float, float, float] = (0.95, 0.99, 0.001)  # dmin, dmax, width (m)
    contact_margin_m: float = 0.0  # geom margin: contacts start this far apart
    # The contact's friction coefficient from the two bodies' ``friction``: "product" is
    # Bullet's rule (btManifoldResult::calculateCombinedFriction: mu0 * mu1, clamped to 10, so
    # 3 * 3 = 9 in the published test), "max" is MuJoCo's own rule (3); 9 agreed no better.
    friction_combine: str = "max"
    friction_cone: str = "pyramidal"  # MuJoCo's default; Bullet clamps two tangent impulses
    # separately (a pyramid-like cone too)
    condim: int = 3  # 3: sliding friction only (Bullet's default has no torsional friction)
    # The object's mass properties: "bullet" = PyBullet's: the centre of mass at the vertex mean
    # [basePosition=np.mean(obj_verts, 0)] and Bullet's bounding-box inertia (see
    # ``simulation.build_model``); "uniform" = uniform density over its pieces (the true centre
    # of mass; the setting before the calibration).
    object_inertia: str = "bullet"
    object_vhacd_resolution: int = 100_000  # [resolution=1000 in V-HACD 2's units; see below]
    vhacd_max_hulls: int = 64  # [maxhulls=1024]; 64 is V-HACD 4's default
    vhacd_max_vertices_per_hull: int = 64  # [maxNumVerticesPerCH=64]

    def __post_init__(self):
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, got {self.simulator!r}")
        if self.hand_shape not in HAND_SHAPES:
            raise ValueError(f"hand_shape must be one of {HAND_SHAPES}, got {self.hand_shape!r}")
        if self.object_inertia not in ("uniform", "bullet"):
            raise ValueError(f"object_inertia must be 'uniform' or 'bullet', "
                             f"got {self.object_inertia!r}")  # fmt: skip
        if self.friction_combine not in ("product", "max"):
            raise ValueError(f"friction_combine must be 'product' or 'max', "
                             f"got {self.friction_combine!r}")  # fmt: skip
        if self.friction_cone not in ("pyramidal", "elliptic"):
            raise ValueError(f"friction_cone must be 'pyramidal' or 'elliptic', "
                             f"got {self.friction_cone!r}")  # fmt: skip


# V-HACD resolution (MuJoCo path): ObMan passes 1000 to the V-HACD 2.2 executable, whose help text
# gives "default=100,000, range=10,000-16,000,000" voxels; vhacdx (V-HACD 4) at 1000 voxels turns
# a finger into ~1 cm blocks, so we use the documented default, 100k voxels. Convex objects skip
# V-HACD (their hull is exact). The PyBullet path runs V-HACD 2.2 at 1000, as published.
