"""The published simulation displacement test, run in PyBullet as ObMan / GraspTTA run it.

``simulator="pybullet"`` (``SimulationParams.simulator``); needs the optional extra
``pip install mgd_jax[pybullet]`` (pybullet==3.2.7). Step by step as in
``hwjiang1510/GraspTTA:metric/simulate.py`` ``run_simulation`` (@ae7e098), itself
``hassony2/obman_train:mano_train/simulation/simulate.py`` (@59670e5):

- ``p.connect(p.DIRECT)``; ``resetSimulation``; ``setPhysicsEngineParameter(enableFileCaching=0)``,
  ``numSolverIterations=150``, ``fixedTimeStep=1/240``; ``setGravity(0, 9.8, 0)``.
- Hand: the mesh written as an OBJ (``"v %f %f %f"``: 1 um rounding, as theirs), loaded with
  ``createCollisionShape(GEOM_MESH, fileName, flags=GEOM_FORCE_CONCAVE_TRIMESH, indices)``: a
  static (``baseMass=0``) *concave triangle mesh*, ``lateralFriction=3``, ``restitution=0``.
- Object: vertices centred on their mean, written as an OBJ, decomposed with V-HACD 2.2 at
  ``resolution=1000, concavity=0.001, planeDownsampling=4, convexhullDownsampling=4,
  alpha=0.05, beta=0.0, pca=0, mode=0, maxNumVerticesPerCH=64, minVolumePerCH=0.0001`` (ObMan
  and GraspTTA run the ``testVHACD`` executable with these flags, plus ``maxhulls=1024`` that
  V-HACD 2.2 ignores; ``oakink/OakInk-Grasp-Generation:lib/metrics/simulator.py`` (@1287289)
  makes this exact ``pybullet.vhacd`` call, which is the same V-HACD 2.2 code); the result is a
  compound of convex hulls, ``baseMass=1`` at ``basePosition`` = the vertex mean (so the inertial
  frame, hence the centre of mass, is the vertex mean), ``lateralFriction=3``,
  ``restitution=0.5``.
- 35 ``stepSimulation`` calls; the result is ``norm(getBasePositionAndOrientation(obj)[0] -
  vertex_mean)``, meters.

Differences, none of which changes the number: the temporary files go to a private temporary
directory (theirs: ``tmp/objs``), and the object's V-HACD result is computed once per object
per call (cached by content) instead of once per grasp (V-HACD 2.2 is deterministic). One
DIRECT client per process is reused with ``resetSimulation`` between grasps (theirs connects
per grasp); tests check that the number is the same as with a fresh client. PyBullet's and
V-HACD's console output (C-level) is silenced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

from mgd_jax.evaluators import cache as cache_lib
from mgd_jax.evaluators.meshes import Mesh
from mgd_jax.evaluators.protocol import PYBULLET_VHACD, SimulationParams

INSTALL_HINT = "pip install mgd_jax[pybullet]  (or: pip install pybullet==3.2.7)"

_client: dict[str, int] = {}  # this process's DIRECT client (spawned workers get their own)


@contextlib.contextmanager
def _quiet():
    """Silence C-level stdout and stderr (PyBullet's banner, V-HACD's progress)."""
    import sys

    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _pybullet():
    try:
        with _quiet():
            import pybullet
    except ImportError as e:
        raise ImportError(f"simulator='pybullet' needs PyBullet: {INSTALL_HINT}") from e
    return pybullet


def available() -> bool:
    """Whether PyBullet can be imported."""
    try:
        _pybullet()
    except ImportError:
        return False
    return True


def _connect(p) -> int:
    cid = _client.get("id")
    if cid is not None and p.isConnected(cid):
        return cid
    with _quiet():
        cid = p.connect(p.DIRECT)
    _client["id"] = cid
    return cid


def save_obj(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """The published ``save_obj``: ``v %f %f %f`` and 1-based ``f`` lines."""
    lines = ["v %f %f %f" % tuple(v) for v in np.asarray(vertices, np.float64)]
    lines += ["f %d %d %d" % tuple(f) for f in np.asarray(faces, np.int64) + 1]
    with open(path, "w") as fp:
        fp.write("\n".join(lines) + "\n")


def object_vhacd_obj(obj: Mesh, cache: cache_lib.Cache | None = None) -> str:
    """The text of the V-HACD 2.2 OBJ of the object centred on its vertex mean (cached)."""

    def build() -> str:
        p = _pybullet()
        centred = obj.vertices - obj.vertices.mean(axis=0)
        with tempfile.TemporaryDirectory(prefix="mgd_pybullet_") as tmp:
            src, dst = os.path.join(tmp, "object.obj"), os.path.join(tmp, "object_vhacd.obj")
            save_obj(src, centred, obj.faces)
            with _quiet():
                p.vhacd(fileNameIn=src, fileNameOut=dst, fileNameLogging=os.devnull,
                        **PYBULLET_VHACD)  # fmt: skip
            if not os.path.exists(dst) or os.path.getsize(dst) == 0:
                raise ValueError("V-HACD (pybullet.vhacd) produced no convex decomposition")
            with open(dst) as f:
                return f.read()

    if cache is None:
        return build()
    return cache.get(obj, ("pybullet_vhacd", tuple(sorted(PYBULLET_VHACD.items()))), build)


def simulate_displacement_m(hand: Mesh, obj: Mesh, params: SimulationParams,
                            cache: cache_lib.Cache | None = None) -> float:  # fmt: skip
    """One grasp through the published PyBullet test; the displacement in meters."""
    p = _pybullet()
    vhacd_text = object_vhacd_obj(obj, cache)
    cid = _connect(p)
    centre = obj.vertices.mean(axis=0)
    with tempfile.TemporaryDirectory(prefix="mgd_pybullet_") as tmp:
        hand_file = os.path.join(tmp, "hand.obj")
        save_obj(hand_file, hand.vertices, hand.faces)
        obj_file = os.path.join(tmp, "object_vhacd.obj")
        with open(obj_file, "w") as f:
            f.write(vhacd_text)
        p.resetSimulation(physicsClientId=cid)
        p.setPhysicsEngineParameter(enableFileCaching=0, physicsClientId=cid)
        p.setPhysicsEngineParameter(numSolverIterations=params.solver_iterations,
                                    physicsClientId=cid)  # fmt: skip
        p.setPhysicsEngineParameter(fixedTimeStep=params.timestep_s, physicsClientId=cid)
        p.setGravity(*params.gravity, physicsClientId=cid)
        with _quiet():
            hand_shape = p.createCollisionShape(
                p.GEOM_MESH, fileName=hand_file, flags=p.GEOM_FORCE_CONCAVE_TRIMESH,
                indices=np.asarray(hand.faces).ravel().tolist(), physicsClientId=cid)  # fmt: skip
            obj_shape = p.createCollisionShape(p.GEOM_MESH, fileName=obj_file,
                                               physicsClientId=cid)  # fmt: skip
        if hand_shape < 0 or obj_shape < 0:
            raise ValueError("PyBullet could not load the hand or object collision mesh")
        hand_body = p.createMultiBody(baseMass=0, baseCollisionShapeIndex=hand_shape,
                                      physicsClientId=cid)  # fmt: skip
        p.changeDynamics(hand_body, -1, lateralFriction=params.friction,
                         restitution=params.hand_restitution, physicsClientId=cid)  # fmt: skip
        obj_body = p.createMultiBody(baseMass=params.object_mass_kg, basePosition=centre.tolist(),
                                     baseCollisionShapeIndex=obj_shape,
                                     physicsClientId=cid)  # fmt: skip
        p.changeDynamics(obj_body, -1, lateralFriction=params.friction,
                         restitution=params.object_restitution, physicsClientId=cid)  # fmt: skip
        for _ in range(params.num_steps):
            p.stepSimulation(physicsClientId=cid)
        end = np.asarray(p.getBasePositionAndOrientation(obj_body, physicsClientId=cid)[0])
        p.resetSimulation(physicsClientId=cid)
    return float(np.linalg.norm(end - centre))
