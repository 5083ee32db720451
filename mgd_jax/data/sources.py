"""Named data sources for configs: ``"tfds:<name>[@<split>]"`` or ``"primitives:<count>"``.

``tfds:mgd_synthetic/demo@train_objects`` reads that split whatever split the caller asks for
(e.g. an object-only training split); without ``@`` the caller's split is used.

``primitives`` is an in-memory embedded default: hand-scale boxes, spheres, cylinders, capsules
and cones (largest extent 2-20 cm), each sampled to N surface points in its centred frame, meters,
deterministic by seed; the validation/test splits use other seeds (objects never seen in training).
"""

from __future__ import annotations

import numpy as np
import trimesh

from mgd_jax import hand, objects
from mgd_jax.data import input_pipeline

_SPLIT_SEED = {"train": 0, "validation": 1_000_003, "test": 2_000_003}
HELD_OUT_SPLITS = ("validation", "test")  # evaluation of a training run: first one that exists
_PRIMITIVES = ("box", "sphere", "cylinder", "capsule", "cone")


def primitive_mesh(kind: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """One hand-scale primitive, centred at the origin, randomly rotated; meters."""
    size = rng.uniform(0.02, 0.16, size=3)
    if kind == "box":
        mesh = trimesh.creation.box(extents=size)
    elif kind == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=size[0] / 2)
    elif kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=size[0] / 2, height=size[1], sections=32)
    elif kind == "capsule":
        mesh = trimesh.creation.capsule(radius=size[0] / 3, height=size[1], count=[24, 24])
    elif kind == "cone":
        mesh = trimesh.creation.cone(radius=size[0] / 2, height=size[1], sections=32)
    else:
        raise ValueError(f"unknown primitive '{kind}', expected one of {_PRIMITIVES}")
    rot = trimesh.transformations.random_rotation_matrix(rng.uniform(size=3))
    mesh.apply_transform(rot)
    return objects.normalize(mesh)[0]


class PrimitiveObjects:
    """Random-access source of {'points': (N, 3) float32 meters, 'object_id': int} examples."""

    def __init__(self, count: int, split: str = "train", num_points: int = 2048):
        if split not in _SPLIT_SEED:
            raise ValueError(f"split must be one of {sorted(_SPLIT_SEED)}, got '{split}'")
        self.count, self.split, self.num_points = count, split, num_points
        self._cache: dict[int, dict] = {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if index not in self._cache:
            rng = np.random.default_rng(_SPLIT_SEED[self.split] + index)
            kind = _PRIMITIVES[index % len(_PRIMITIVES)]
            mesh = primitive_mesh(kind, rng)
            points = objects.sample_points(mesh, self.num_points, seed=int(rng.integers(2**31)))
            self._cache[index] = {
                "points": np.asarray(points, np.float32),
                "object_id": np.int32(_SPLIT_SEED[self.split] + index),
            }
        return self._cache[index]


def build_source(spec: str, split: str, weight: float = 1.0, num_points: int = 2048,
                 data_dir: str | None = None) -> input_pipeline.Source:  # fmt: skip
    """Parse a source spec from a config into a ``Source``."""
    kind, _, arg = spec.partition(":")
    if kind == "primitives":
        if not arg.isdigit():
            raise ValueError(f"source '{spec}': expected 'primitives:<count>'")
        return input_pipeline.Source(spec, PrimitiveObjects(int(arg), split, num_points), weight)
    if kind == "tfds":
        name, _, fixed_split = arg.partition("@")
        return input_pipeline.tfds_source(name, fixed_split or split, data_dir=data_dir,
                                          weight=weight)  # fmt: skip
    raise ValueError(
        f"unknown data source '{spec}': use 'primitives:<count>' or 'tfds:<name>[@<split>]'"
    )


def held_out_source(spec: str, num_points: int = 2048,
                    data_dir: str | None = None) -> input_pipeline.Source | None:  # fmt: skip
    """The first of ``HELD_OUT_SPLITS`` that ``spec``'s dataset has (any ``@split`` in ``spec`` is
    dropped), or None when it has neither."""
    for split in HELD_OUT_SPLITS:
        try:
            return build_source(spec.split("@")[0], split, 1.0, num_points, data_dir)
        except ValueError:
            continue
    return None


def check_hand(metadata, dataset: str, model: hand.HandModel, fix: str) -> None:
    """Refuse a hand-object dataset built with another hand model than ``model``.

    Args:
      metadata: the dataset's metadata (``Source.metadata``, ``dataset_info.metadata``); datasets
        without a ``hand_fingerprint`` (object-only ones) pass.
      dataset: its name, for the message.
      fix: what the user should do, e.g. the flag that selects the hand.

    Raises:
      ValueError naming both hand models, both fingerprints and ``fix``.
    """
    recorded = (metadata or {}).get("hand_fingerprint")
    ours = hand.fingerprint(model)
    if recorded and recorded != ours:
        raise ValueError(
            f"{dataset} was built with hand '{metadata.get('hand_model', '?')}' (fingerprint "
            f"{recorded[:12]}), but this run's hand is '{model.name}' ({ours[:12]}): the stored "
            f"translations fit the other hand's wrist. {fix}"
        )
