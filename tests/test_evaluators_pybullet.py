"""The published PyBullet displacement test (``simulator="pybullet"``): free fall, a held object,
determinism, the option through ``evaluate_meshes`` (also in worker processes), the install hint.

PyBullet is in the ``test`` extra, so these run in CI; they fail (not skip) without it.
"""

import builtins
import dataclasses

import numpy as np
import pytest

from mgd_jax import evaluators as ev
from mgd_jax.evaluators import pybullet_sim, simulation
import sim_scenes

PB = ev.SimulationParams(simulator="pybullet")


def _tray(gap=0.0005):
    return sim_scenes.tray(gap)[0]



def test_free_fall_in_35_steps():
    disp, stable = ev.simulation_displacement_cm([sim_scenes.far_hand()], [sim_scenes.cube()], PB)
    n, dt, g = PB.num_steps, PB.timestep_s, np.linalg.norm(PB.gravity)
    assert disp[0] == pytest.approx(100 * 0.5 * g * (n * dt) ** 2, rel=0.05)  # 10.4 cm
    # Bullet integrates semi-implicitly, x_n = g dt^2 n (n + 1) / 2, with its default linear
    # damping 0.04 (v *= (1 - 0.04)^dt each step): 10.68 cm.
    assert disp[0] == pytest.approx(100 * g * dt**2 * n * (n + 1) / 2, rel=0.005)
    assert not stable[0]


def test_object_in_a_tray_is_stable():
    disp, stable = ev.simulation_displacement_cm([_tray()], [sim_scenes.cube()], PB)
    assert disp[0] < 0.2 and stable[0]


def test_object_squeezed_between_slabs_is_held_by_friction():
    """The cube overlaps each slab by 1 mm: the penetration pushes, friction 3 holds."""
    disp, _ = ev.simulation_displacement_cm([sim_scenes.slabs(gap=-0.001)], [sim_scenes.cube()], PB)
    free = ev.simulation_displacement_cm([sim_scenes.slabs(gap=0.003)], [sim_scenes.cube()], PB)[0]
    assert disp[0] < 2.0
    assert free[0] > 9.0  # 3 mm away from both slabs: it falls freely


def test_deterministic_and_independent_of_the_client():
    hand, obj = _tray(), sim_scenes.cube(0.035)
    obj.apply_translation([0.0, -0.004, 0.0])  # dropped from 4 mm above the base
    cache = ev.Cache()
    a = simulation.displacement_m(ev.as_mesh(hand), ev.as_mesh(obj), PB, cache=cache)
    b = simulation.displacement_m(ev.as_mesh(hand), ev.as_mesh(obj), PB, cache=cache)
    old = pybullet_sim._client.pop("id")  # a fresh DIRECT client, as the published code
    pybullet_sim._pybullet().disconnect(old)  # connects one per grasp
    c = simulation.displacement_m(ev.as_mesh(hand), ev.as_mesh(obj), PB)
    assert a == b == c
    assert 0.002 < a < 0.01  # meters: it dropped onto the base


def test_evaluate_meshes_option_and_workers():
    """PyBullet collides the hand's triangles: no part labels needed (given ones are ignored)."""
    hands, objs = [sim_scenes.far_hand(), _tray()], [sim_scenes.cube(), sim_scenes.cube()]
    one = ev.evaluate_meshes(hands, objs, ["simulation"], simulator="pybullet", progress=False)
    two = ev.evaluate_meshes(hands, objs, ["simulation"], sim_params=PB, num_workers=2,
                             progress=False)  # fmt: skip
    np.testing.assert_array_equal(one["sim_displacement_cm"], two["sim_displacement_cm"])
    np.testing.assert_array_equal(one["sim_stable"], [False, True])
    shell = ev.SimulationParams(hand_shape="shell")  # MuJoCo, no part labels needed either
    mujoco = ev.evaluate_meshes(hands, objs, ["simulation"], sim_params=shell, progress=False)
    assert mujoco["sim_displacement_cm"][0] != one["sim_displacement_cm"][0]  # not MuJoCo's


def test_rejects_unknown_simulator():
    with pytest.raises(ValueError, match="simulator"):
        ev.evaluate_meshes([sim_scenes.far_hand()], [sim_scenes.cube()], ["simulation"], simulator="bullet",
                           progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="simulator"):
        dataclasses.replace(PB, simulator="physx")


def test_missing_pybullet_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pybullet":
            raise ImportError("No module named 'pybullet'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install mgd_jax\[pybullet\]"):
        ev.evaluate_meshes([sim_scenes.far_hand()], [sim_scenes.cube()], ["simulation"], simulator="pybullet",
                           progress=False)  # fmt: skip
    assert not pybullet_sim.available()
