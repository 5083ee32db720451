"""mgd_jax: Multi-Modal Grasp Diffusion in JAX/Flax.

All lengths are meters unless a name says otherwise (``*_cm``, ``*_mm``).
"""

__version__ = "0.1.0"
