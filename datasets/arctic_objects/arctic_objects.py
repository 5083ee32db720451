"""arctic_objects: the 11 ARCTIC object templates (Fan et al. 2023) for unseen-object evaluation.

Where the files go. Download ARCTIC's ``meta`` archive with the repository's download scripts, so
that ``<root>/arctic_data/data/meta/object_vtemplates/<object>/mesh.obj`` exists (the repository
puts ``arctic_data`` under its ``data/`` folder), then:

    python -m mgd_jax.build_dataset datasets/arctic_objects --manual_dir=/path/to/arctic/data

``--manual_dir`` may also point at ``arctic_data/data``, at ``meta`` or at ``object_vtemplates``
itself. No hand data is read: these are object-only examples (``examples.object_features``).

Layout and units assumed (zc-alexfan/arctic: ``common/object_tensors.py`` ``construct_obj`` and
``construct_obj_tensors``; ``docs/data/data_doc.md``): each object folder (box, capsulemachine,
espressomachine, ketchup, laptop, microwave, mixer, notebook, phone, scissors, waffleiron) holds
``mesh.obj`` (the simplified untextured mesh the paper's numbers use, with ``parts.json`` marking
top/bottom vertices), ``top.obj`` / ``bottom.obj`` (the two parts), ``mesh_tex.obj`` (denser,
textured) and ``object_params.json``. We use ``mesh.obj``: the whole articulated object in its
template (rest) articulation. The templates are in millimeters: ``construct_obj_tensors``
divides the vertices by 1000 ("mm" comments, meters for translations), and the objects are
hand-held to tabletop sized (a phone is ~150 in file units, a microwave ~500), which only reads
sensibly as millimeters. If a file's largest extent is below 2 file units it cannot be in
millimeters (a 2 mm object), so it is read as meters with a warning (a converted copy).

Each object gives one example: 2048 uniform surface samples (and normals) in the object-centric
frame (bounding-box centre at the origin), meters, ``scale`` = 0.001 (meters per file unit).
Single split ``test`` (objects unseen in training). A folder without a loadable ``mesh.obj`` is
skipped with a logged reason; the count is logged.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds
import trimesh

from mgd_jax import objects
from mgd_jax.objects import examples

OBJECTS = ("box", "capsulemachine", "espressomachine", "ketchup", "laptop", "microwave", "mixer",
           "notebook", "phone", "scissors", "waffleiron")  # fmt: skip
MESH_FILE = "mesh.obj"
_TEMPLATE_SUBDIR = ("arctic_data", "data", "meta", "object_vtemplates")


def templates_root(manual_dir: str) -> str:
    """The ``object_vtemplates`` folder under (or at) ``manual_dir``."""
    for depth in range(len(_TEMPLATE_SUBDIR), -1, -1):
        candidate = os.path.join(manual_dir, *_TEMPLATE_SUBDIR[len(_TEMPLATE_SUBDIR) - depth :])
        if os.path.isdir(candidate) and os.path.basename(candidate) == "object_vtemplates":
            return candidate
    raise FileNotFoundError(
        f"arctic_objects: {os.path.join(manual_dir, *_TEMPLATE_SUBDIR)} not found; --manual_dir "
        "must hold arctic_data/data/meta/object_vtemplates/<object>/mesh.obj"
    )


def template_units(path: str) -> str:
    """'mm' for the released templates; 'm' if the file's size can only be meters (warned)."""
    raw = trimesh.load(path, process=False, force="mesh", skip_materials=True)
    extent = float(np.ptp(np.asarray(raw.vertices), axis=0).max()) if len(raw.vertices) else 0.0
    if 0.0 < extent < 2.0:
        logging.warning("arctic_objects: %s spans %.3g file units, too small for millimeters; "
                        "reading it as meters", path, extent)  # fmt: skip
        return "m"
    return "mm"


class ArcticObjects(tfds.core.GeneratorBasedBuilder):
    """ARCTIC object templates as object-only point clouds in meters (split 'test')."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Pass the folder holding arctic_data/data/meta/object_vtemplates with --manual_dir."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=examples.object_features())

    def _split_generators(self, dl_manager):
        root = templates_root(os.fspath(dl_manager.manual_dir))
        names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
        if not names:
            raise ValueError(f"arctic_objects: no object folders in {root}")
        missing = sorted(set(OBJECTS) - set(names))
        if missing:
            logging.warning("arctic_objects: %s missing from %s", ", ".join(missing), root)
        extra = sorted(set(names) - set(OBJECTS))
        if extra:
            logging.info("arctic_objects: also building non-ARCTIC folders %s", ", ".join(extra))
        return {"test": self._generate_examples(root, names)}

    def _generate_examples(self, root, names):
        skipped = 0
        for name in names:
            path = os.path.join(root, name, MESH_FILE)
            try:
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{path} not found")
                units = template_units(path)
                mesh = objects.load_mesh(path, units=units)
            except Exception as e:  # one bad template never aborts the build
                skipped += 1
                logging.warning("arctic_objects: skipping %s: %s", name, e)
                continue
            yield name, examples.make_example(mesh, name, f"arctic/{name}",
                                              objects.UNIT_SCALE[units])  # fmt: skip
        if skipped:
            logging.warning("arctic_objects: skipped %d of %d objects", skipped, len(names))
