"""Settings of grasp synthesis: energy weights, the schedule, initialisation.

The default (``GraspConfig()``) closes the hand in on the object before optimising: each pre-grasp
approaches until it touches, then flexes every finger until it touches (``init_close``); four
times the requested number are closed, the lowest-energy ones kept (``oversample``), refined by
a short Adam run, and any finger that lost the surface is flexed back onto it (``final_close``).
``GraspConfig.v1()`` is the earlier setting: hovering pre-grasps and a long annealed Adam run
(300 steps, 200 in the dataset build), several times slower and with fewer accepted grasps
(``benchmarks/RESULTS.md``, "Grasp synthesis throughput").
"""

from __future__ import annotations

import dataclasses

# Adam iterations of refinement (``refine``, ``refine_many``, ``sample --refine``); the cosine
# schedule completes at any length. 50 is the budget generated grasps are reported with: longer
# refinement pulls fingers off the surface (less stable grasps, less diverse samples).
DEFAULT_REFINE_STEPS = 50

@dataclasses.dataclass(frozen=True)
class GraspConfig:
    """Weights and schedule of the grasp optimiser (hashable: a static ``jit`` argument).

    Energies are in meters (distances, depths) and radians (joint limits); the weights make them
    commensurate. Learning rates are Adam step sizes per iteration.
    """

    # Energy weights.
    w_contact: float = 1.0  # fingertip-pad distance to the surface (per finger, below), 1/m
    finger_contact: tuple[float, ...] = (2.0, 1.0, 1.0, 0.6, 0.4)  # thumb, index, middle, ring,
    # pinky: how strongly each pad is pulled onto the object
    w_palm: float = 0.2  # palm-centre distance to the surface, 1/m
    w_hand_penetration: float = 40.0  # sum over hand vertices of depth inside the object, 1/m
    w_object_penetration: float = 40.0  # sum over object points of depth inside hand capsules
    w_joint_limits: float = 1.0  # sum of anatomical-limit violations, 1/rad
    w_self_collision: float = 20.0  # overlap of sphere proxies on different fingers, 1/m
    w_wrench: float = 0.1  # net wrench of unit contact normals (thumb opposing the fingers)
    wrench_length: float = 0.05  # meters: torque is divided by this to compare with force
    contact_temperature: float = 0.002  # meters: softmin width over a pad's candidate points
    contact_depth: float = 0.001  # meters: pads are pulled this far into the surface, so the
    # contacts carry load in the simulation test (soft contacts need overlap)
    penetration_tolerance: float = 0.001  # meters of hand-vertex depth that cost nothing (skin)
    num_energy_vertices: int | None = 256  # hand surface vertices tested for penetration (and
    # by the closing): the first this many of the proxies' farthest-point subset (None: all;
    # ``build_proxies(model, num_energy_vertices=...)`` builds a reduced hand of that size)
    num_object_points: int | None = 128  # object surface points tested against the hand's
    # capsules: the first this many of ``object_points`` (None: all)

    # Schedule.
    steps: int = 20
    lr_rotation: float = 0.006  # global orientation, rad per step
    lr_fingers: float = 0.012  # finger (twist, spread, bend), rad per step
    lr_translation: float = 0.0006  # meters per step
    lr_final_fraction: float = 0.05  # cosine decay of all step sizes down to this fraction
    adam_eps: float = 0.05  # Adam's denominator floor: a parameter whose gradient is far below
    # it (a finger joint nothing pulls on) takes small steps instead of full-size ones
    noise_rotation: float = 0.01  # annealed Gaussian jitter per step at temperature 1, rad
    noise_fingers: float = 0.02  # rad
    noise_translation: float = 0.001  # meters
    noise_until: float = 0.0  # temperature decays linearly to 0 at this fraction of the steps
    penetration_start: float = 1.0  # penetration weights start at this fraction of full ...
    penetration_ramp: float = 0.0  # ... and grow to full over this fraction of the steps
    project_limits: bool = True  # clamp finger angles into the anatomical box after each step
    oversample: int = 4  # start this many times the requested grasps ...
    prune_at: float = 0.0  # ... and keep the lowest-energy ones (at full weights) after this
    # fraction of the steps (0: right after the initialisation)
    final_close: bool = True  # after the last step, re-close every finger from ``final_open``
    # less flexed until a vertex of the full hand mesh comes within ``final_margin`` of the
    # surface: near contacts flex on, sunk fingers open up (synthesis only, not ``refine``)
    final_open: float = 0.2  # rad: the re-closing runs from this much less flexion to as much more
    final_levels: int = 8  # poses along it
    final_margin: float = -0.0005  # meters outside the surface where it stops (< 0: inside;
    # the simulation test's soft contacts need a little overlap to hold the object)

    # Initialisation (pre-grasp).
    init_gap: tuple[float, float] = (0.01, 0.03)  # palm to the object's support plane, m
    init_tilt: float = 0.3  # rad: random tilt of the approach away from the palm normal
    init_bend: tuple[float, float, float] = (0.2, 0.2, 0.1)  # MCP, PIP, DIP flexion, rad
    init_thumb: tuple[float, float, float, float] = (0.0, 0.3, 0.1, 0.1)  # thumb CMC spread and
    # bend (turns it in front of the palm), MCP and IP bend, rad
    init_jitter: float = 0.15  # uniform jitter of finger flexion, rad
    init_close: bool = True  # close in on the object (needs its SDF): move the open hand along
    # the approach until it touches, then flex each finger from ``init_bend`` / ``init_thumb``
    # towards the closed pose below until it touches (the first contact along a path of
    # ``init_close_levels`` poses, interpolated), like a pre-shaped hand closing. False: the
    # hand hovers ``init_gap`` away (backed off if a curled finger starts inside)
    init_close_bend: tuple[float, float, float] = (1.4, 1.6, 1.2)  # closed MCP, PIP, DIP, rad
    init_close_thumb: tuple[float, float, float, float] = (0.6, 1.0, 0.8, 1.1)  # closed thumb
    init_close_levels: int = 16  # poses along each closing path (and the approach)
    init_close_reach: float = 0.04  # meters the approach starts further out, and may go beyond
    # the palm's start (``init_gap``)
    init_close_margin: float = 0.0005  # meters: stop this far outside the surface (<0: inside)

    # Refinement (``refine``): no jitter, full penetration weights, smaller steps.
    refine_lr_scale: float = 0.25 / 0.3  # the v1 refinement's step sizes (0.25 x v1's, which
    # are 1 / 0.3 of the above)
    refine_settle: bool = False  # after refinement, re-close the fingers onto the surface as
    # synthesis does (``final_close``'s path and margin): the Adam steps push a sunk hand out and
    # leave fingers off the surface, and a grasp without its contacts drops the object

    @classmethod
    def v1(cls, **overrides) -> GraspConfig:
        """The settings before the throughput work (the defaults until 2026-12), exactly:
        hovering pre-grasps, 300 annealed Adam steps (jitter for the first half, penetration
        weights ramped from 10%), no oversampling, no closing, all proxy points."""
        return cls(**{**_V1, **overrides})


_V1 = dict(
    penetration_tolerance=0.0015, num_energy_vertices=None, num_object_points=None, steps=300, lr_rotation=0.02,
    lr_fingers=0.04, lr_translation=0.002, adam_eps=1e-8, noise_until=0.5, penetration_start=0.1,
    penetration_ramp=0.5, oversample=1, prune_at=0.25, final_close=False,
    init_bend=(0.5, 0.6, 0.3), init_thumb=(0.1, 0.8, 0.2, 0.2), init_close=False,
    refine_lr_scale=0.25,
)  # fmt: skip
