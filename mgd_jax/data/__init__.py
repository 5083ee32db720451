"""The data layer: named sources, the input pipeline, dataset builds, held-out HOI access.

  sources         ``tfds:<name>[@<split>]`` / ``primitives:<count>`` specs -> ``Source``
  input_pipeline  grain mixing by weight, per-process split, checkpointable device iterator
  builders        build our TFDS builders (``datasets/<name>``) as array_record
  hoi             held-out hand-object splits grouped by object, their meshes
  object_inputs   a user's meshes / point clouds / dataset split as objects to sample on
"""
