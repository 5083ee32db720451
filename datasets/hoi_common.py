"""What the hand-object TFDS builders (grab, oakink_shape) share.

Each builder stores hands as MANO parameters in the object-centric frame: ``pose`` (16, 3)
axis-angle radians, ``trans`` (3,) MANO translation in meters, ``betas`` (10,). The translation
depends on the hand model's rest root joint J0, so the model comes from ``--mano_path`` (or the
procedural hand, with a logged warning) and its name and fingerprint are written to the dataset
metadata (``hand_model``, ``hand_fingerprint``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow_datasets as tfds

from mgd_jax.objects import examples

if TYPE_CHECKING:
    from mgd_jax.hand import HandModel


def load_hand_model(mano_path: str | None, dataset: str) -> HandModel:
    """The hand model used for J0: the user's MANO file, or the procedural hand with a warning."""
    from mgd_jax import hand

    if not mano_path:
        logging.warning(
            "%s: no --mano_path given; using the procedural hand. Its rest wrist joint J0 differs "
            "from MANO's, so the stored hand translations fit the procedural hand only.",
            dataset,
        )
    return hand.load(mano_path or None)


def hoi_example(obj_example: dict, pose, trans, betas, **fields) -> dict:
    """One hand-object example: the object's features, ``fields`` over them, then the hand.

    Args:
      obj_example: the object's features (``examples.make_example``; points in meters).
      pose: (16, 3) axis-angle, radians (global orientation, then the 15 finger joints).
      trans: (3,) MANO translation in the object-centric frame, meters.
      betas: (10,) MANO shape coefficients.
      **fields: features that replace the object's (e.g. ``source``).

    Returns:
      The example dict; pose, trans and betas as float32.
    """
    return {
        **obj_example,
        **fields,
        "pose": np.asarray(pose, np.float32),
        "trans": np.asarray(trans, np.float32),
        "betas": np.asarray(betas, np.float32),
    }


class HOIBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the builders whose examples pose a MANO hand on an object (``hoi_features``).

    Subclasses (one per ``datasets/<name>/<name>.py``) set ``VERSION`` and write
    ``_split_generators`` / ``_generate_examples``; ``--mano_path`` reaches ``__init__``.
    """

    def __init__(self, *, mano_path: str | None = None, **kwargs):
        self._mano_path = mano_path
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=examples.hoi_features(), metadata=tfds.core.MetadataDict()
        )

    def _hand_model(self) -> HandModel:
        """Load the hand model (``load_hand_model``) and record its name and fingerprint."""
        from mgd_jax import hand

        model = load_hand_model(self._mano_path, self.name)
        self.info.metadata.update(hand_model=model.name, hand_fingerprint=hand.fingerprint(model))
        return model

    @staticmethod
    def _cached(cache: dict, key: str, load: Callable[[], Any], where: str) -> Any:
        """``load()`` once per key; a failure (ValueError, OSError) is kept and re-raised.

        Raises:
          ValueError ``"{where}: {error}"`` every time ``key``'s load failed.
        """
        if key not in cache:
            try:
                cache[key] = load()
            except (ValueError, OSError) as e:
                cache[key] = e
        if isinstance(cache[key], Exception):
            raise ValueError(f"{where}: {cache[key]}")
        return cache[key]
