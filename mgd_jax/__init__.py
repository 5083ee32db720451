"""mgd_jax: Multi-Modal Grasp Diffusion in JAX/Flax.

All lengths are meters unless a name says otherwise (``*_cm``, ``*_mm``).
"""

import os

# MuJoCo picks its GL backend at first import; a headless default keeps rendering working no
# matter which module (renderer or simulator) imports mujoco first. Set MUJOCO_GL to override.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
