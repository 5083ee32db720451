"""shapenet: ShapeNetCore v2 as object-only data (array_record, no TensorFlow needed).

Place the extracted release so that ``<manual_dir>/taxonomy.json`` and
``<manual_dir>/<synset id>/<model id>/models/model_normalized.obj`` exist, then:

    python -m mgd_jax.build_dataset datasets/shapenet --manual_dir=/path/to/ShapeNetCore.v2

ShapeNetCore v2 models are normalised (centred, unit bounding-box diagonal), so they carry no
real-world size. We give each model a hand-held size: its bounding-box diagonal is drawn
uniformly in [``MIN_DIAGONAL_M``, ``MAX_DIAGONAL_M``] = [0.05, 0.25] m, seeded by the model id
(stored as ``scale``, meters per file unit). Each model gives 2048 surface points and normals,
object-centric frame, meters. Splits by model id (hash): 90 % train, 5 % validation, 5 % test.
A model that fails to load is skipped with a logged reason; the build continues.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from mgd_jax import objects
from mgd_jax.objects import examples

MIN_DIAGONAL_M = 0.05
MAX_DIAGONAL_M = 0.25


def model_paths(root: str) -> list[tuple[str, str, str]]:
    """(synset id, model id, obj path) for every model in a ShapeNetCore v2 tree."""
    taxonomy = os.path.join(root, "taxonomy.json")
    if not os.path.exists(taxonomy):
        raise FileNotFoundError(
            f"shapenet: {taxonomy} not found; --manual_dir must be the ShapeNetCore.v2 root "
            "(the folder holding taxonomy.json and the synset folders)"
        )
    out = []
    for synset in sorted(os.listdir(root)):
        synset_dir = os.path.join(root, synset)
        if not (os.path.isdir(synset_dir) and synset.isdigit()):
            continue
        for model in sorted(os.listdir(synset_dir)):
            path = os.path.join(synset_dir, model, "models", "model_normalized.obj")
            if os.path.exists(path):
                out.append((synset, model, path))
    return out


def synset_names(root: str) -> dict[str, str]:
    """Synset id -> first name from taxonomy.json."""
    with open(os.path.join(root, "taxonomy.json")) as f:
        taxonomy = json.load(f)
    return {t["synsetId"]: t["name"].split(",")[0] for t in taxonomy}


class Shapenet(tfds.core.GeneratorBasedBuilder):
    """ShapeNetCore v2 models at hand-held sizes, sampled to point clouds in meters."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the ShapeNetCore.v2 root with --manual_dir."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=examples.object_features())

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        models = model_paths(root)
        if not models:
            raise ValueError(f"shapenet: no <synset>/<model>/models/model_normalized.obj in {root}")
        names = synset_names(root)
        by_split = {"train": [], "validation": [], "test": []}
        for synset, model, path in models:
            by_split[examples.split_of(f"{synset}/{model}")].append((synset, model, path))
        logging.info("shapenet: %d models in %d synsets", len(models), len({m[0] for m in models}))
        return {s: self._generate_examples(items, names) for s, items in by_split.items() if items}

    def _generate_examples(self, items, names):
        for synset, model, path in items:
            key = f"{synset}/{model}"
            try:
                mesh = objects.load_mesh(path, units="m")
            except (ValueError, OSError) as e:
                logging.warning("shapenet: skipping %s: %s", path, e)
                continue
            rng = np.random.default_rng(examples.stable_seed(key))
            diagonal = float(np.linalg.norm(mesh.extents))
            scale = rng.uniform(MIN_DIAGONAL_M, MAX_DIAGONAL_M) / max(diagonal, 1e-9)
            mesh.apply_scale(scale)
            source = f"shapenet/{names.get(synset, synset)}"
            yield key, examples.make_example(mesh, key, source, scale)
