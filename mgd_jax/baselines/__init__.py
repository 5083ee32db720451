"""Baselines that MGD is compared with on the same unseen objects.

  retrieval   nearest-neighbour training grasps (the trivial baseline)
  grabnet     GrabNet-style CoarseNet: a conditional VAE over MANO parameters given the object's
              basis-point-set distances (``bps``); trained by ``mgd_jax.tasks.grabnet``
"""
