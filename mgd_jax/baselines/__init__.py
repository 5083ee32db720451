"""Baselines that MGD is compared with on the same unseen objects.

  retrieval   nearest-neighbour training grasps (the trivial baseline)
"""
