"""object_folder: any folder tree of meshes as an object-only dataset (array_record, no TensorFlow).

Build (the folder is the manual dir; the config names the units the files are in):

    python -m mgd_jax.build_dataset datasets/object_folder --manual_dir=/path/to/meshes --config=m
    # --config=cm or mm for files in those units
    # writes ~/tensorflow_datasets/object_folder/<units>/1.0.0 (use --data_dir to change)

Every file trimesh can read (OBJ, PLY, STL, OFF, GLB/GLTF; multi-part scenes merged) becomes one
example: 2048 surface points and normals in the object-centric frame (bounding-box centre at the
origin), meters. A bad file is skipped with a logged reason; the build never aborts for one mesh,
and the count of skipped files is logged at the end. Splits are by object (a hash of the
relative path): 90 % train, 5 % validation, 5 % test.
"""

from __future__ import annotations

import logging
import os

import tensorflow_datasets as tfds

from mgd_jax import objects
from mgd_jax.objects import examples


class ObjectFolder(tfds.core.GeneratorBasedBuilder):
    """Meshes from a user folder, sampled to point clouds in meters."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=u, description=f"mesh files in {u}") for u in ("m", "cm", "mm")
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder of meshes with --manual_dir=/path/to/meshes."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=examples.object_features())

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"object_folder: manual dir {root} is not a folder of meshes")
        files = objects.mesh_files(root)
        if not files:
            raise ValueError(f"object_folder: no mesh files ({', '.join(objects.MESH_EXTENSIONS)}) "
                             f"under {root}")  # fmt: skip
        by_split = {"train": [], "validation": [], "test": []}
        for path in files:
            rel = os.path.relpath(path, root)
            by_split[examples.split_of(rel)].append((rel, path))
        return {name: self._generate_examples(items) for name, items in by_split.items() if items}

    def _generate_examples(self, items):
        units = self.builder_config.name
        skipped = 0
        for rel, path in items:
            try:
                mesh = objects.load_mesh(path, units=units)
            except (ValueError, OSError) as e:  # one bad mesh never aborts a long build
                skipped += 1
                logging.warning("object_folder: skipping %s: %s", path, e)
                continue
            yield rel, examples.make_example(mesh, rel, "object_folder", objects.UNIT_SCALE[units])
        if skipped:
            logging.warning("object_folder: skipped %d of %d files", skipped, len(items))

