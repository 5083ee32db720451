"""Settings of grasp synthesis: energy weights, the annealed Adam schedule, initialisation."""

from __future__ import annotations

import dataclasses


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
    penetration_tolerance: float = 0.0015  # meters of hand-vertex depth that cost nothing (skin)

    # Schedule.
    steps: int = 300
    lr_rotation: float = 0.02  # global orientation, rad per step
    lr_fingers: float = 0.04  # finger (twist, spread, bend), rad per step
    lr_translation: float = 0.002  # meters per step
    lr_final_fraction: float = 0.05  # cosine decay of all step sizes down to this fraction
    noise_rotation: float = 0.01  # annealed Gaussian jitter per step at temperature 1, rad
    noise_fingers: float = 0.02  # rad
    noise_translation: float = 0.001  # meters
    noise_until: float = 0.5  # temperature decays linearly to 0 at this fraction of the steps
    penetration_start: float = 0.1  # penetration weights start at this fraction of full ...
    penetration_ramp: float = 0.5  # ... and grow to full over this fraction of the steps
    project_limits: bool = True  # clamp finger angles into the anatomical box after each step

    # Initialisation (pre-grasp).
    init_gap: tuple[float, float] = (0.01, 0.03)  # palm to the object's support plane, m
    init_tilt: float = 0.3  # rad: random tilt of the approach away from the palm normal
    init_bend: tuple[float, float, float] = (0.5, 0.6, 0.3)  # MCP, PIP, DIP flexion, rad
    init_thumb: tuple[float, float, float, float] = (0.1, 0.8, 0.2, 0.2)  # thumb CMC spread and
    # bend (turns it in front of the palm), MCP and IP bend, rad
    init_jitter: float = 0.15  # uniform jitter of finger flexion, rad

    # Refinement (``refine``): no jitter, full penetration weights, smaller steps.
    refine_lr_scale: float = 0.25
