"""mgd_objects: the embedded procedural objects (object-only data; array_record, no TensorFlow).

    python -m mgd_jax.build_dataset datasets/mgd_objects --config=demo   # 40 shapes per family
    python -m mgd_jax.build_dataset datasets/mgd_objects --config=full   # 2000 shapes per family
    python -m mgd_jax.build_dataset datasets/mgd_objects --config=tiny   # 2 per family, for tests

Families: ``mgd_jax.objects.procedural.FAMILIES`` (box, cylinder, sphere, capsule, ellipsoid, cone,
torus, mug, bottle, bowl, random unions, pan, jug, plate, hammer, screwdriver, knife, rounded box,
banana, bumpy blob; ``tiny`` and ``full`` build all 20, ``demo`` the first 11) at hand scale
(largest extent 3-18 cm, 3-25 cm for the long tools, pans, plates and bananas), randomly
rotated. Object ``i`` of a family is generated from the seed ``base_seed + i`` (deterministic);
splits are by object: the last 10 % of each family's seeds are test, the 10 % before validation.
Each example: 2048 surface points and normals, object-centric frame, meters (scale 1.0),
``object_id`` = ``<family>/<seed>``, ``source`` = ``mgd_objects/<family>``.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from mgd_jax.objects import examples, procedural, sdf_mesh

_BASE_SEED = 10_000


@dataclasses.dataclass
class MgdObjectsConfig(tfds.core.BuilderConfig):
    per_family: int = 40
    families: tuple[str, ...] = tuple(procedural.FAMILIES)


class MgdObjects(tfds.core.GeneratorBasedBuilder):
    """Procedural hand-scale objects sampled to point clouds (meters)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        MgdObjectsConfig(name="tiny", per_family=2, description="2 shapes per family (tests)"),
        MgdObjectsConfig(name="demo", per_family=22,
                         description="22 shapes per family of all 20 (440 objects)"),  # fmt: skip
        MgdObjectsConfig(name="full", per_family=2000, description="2000 shapes per family"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=examples.object_features())

    def _split_generators(self, dl_manager):
        n = self.builder_config.per_family
        n_test = max(1, n // 10) if n >= 3 else 0
        n_val = max(1, n // 10) if n >= 3 else 0
        ranges = {"train": range(0, n - n_val - n_test), "validation": range(n - n_val - n_test,
                  n - n_test), "test": range(n - n_test, n)}  # fmt: skip
        return {s: self._generate_examples(r) for s, r in ranges.items() if len(r)}

    def _generate_examples(self, indices):
        for family in self.builder_config.families:
            for i in indices:
                seed = _BASE_SEED + i
                _, mesh = sdf_mesh.sample_object(family, seed, random_rotation=True)
                key = f"{family}/{seed}"
                yield key, examples.make_example(mesh, key, f"mgd_objects/{family}", 1.0)
