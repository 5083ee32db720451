"""Reading the official MANO pickle (without chumpy) and our ``.npz`` hand schema.

The official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` is a Python 2 pickle; some arrays are
``chumpy`` objects (``chumpy.ch.Ch`` holding its value under ``x``, and in the released right hand
``shapedirs`` is a lazy ``chumpy.reordering.Select`` over a larger array: value =
``a.ravel()[idxs].reshape(preferred_shape)``) and ``J_regressor`` is a ``scipy.sparse`` CSC matrix.
A restricted unpickler maps chumpy classes to a stand-in that keeps the pickled state, maps
``scipy.sparse`` to the real classes, and refuses every other non-numpy global.
"""

from __future__ import annotations

import builtins
import copyreg
import importlib
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from mgd_jax.hand import limits
from mgd_jax.hand.model import (
    ARRAY_FIELDS,
    MANO_PARENTS,
    MANO_TIP_VERTEX_IDS,
    HandModel,
    build_hand_model,
)

NPZ_SCHEMA_VERSION = 1
_NPZ_FORMAT = "mgd_jax.hand.npz"

_SAFE_BUILTINS = {"object", "set", "frozenset", "complex", "slice", "tuple", "list", "dict"}
_SPARSE_CLASSES = {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array"}


class _ChumpyStandIn:
    """Keeps a chumpy object's pickled state; no chumpy code runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _chumpy_class(name: str) -> type:
    return type(name, (_ChumpyStandIn,), {})


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy, scipy.sparse matrices, copyreg helpers and chumpy stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            return _chumpy_class(name)
        if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        if module.split(".")[0] == "numpy":
            return getattr(importlib.import_module(module), name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return copyreg._reconstructor
        if module == "_codecs" and name == "encode":  # bytes in protocol-2 pickles from Python 3
            import codecs

            return codecs.encode
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _to_array(value: Any, key: str, path: str) -> np.ndarray:
    """Resolve chumpy stand-ins, sparse matrices and lists to a plain ndarray."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "toarray") and hasattr(value, "tocsr"):  # scipy.sparse
        return np.asarray(value.toarray())
    if isinstance(value, _ChumpyStandIn):
        state = value.state
        if isinstance(state, dict):
            if {"a", "idxs"} <= state.keys():  # chumpy.reordering.Select
                base = _to_array(state["a"], key, path).ravel()
                out = base[np.asarray(state["idxs"]).ravel()]
                shape = state.get("preferred_shape")
                return out.reshape(tuple(shape)) if shape is not None else out
            for name in ("x", "r", "a", "_data"):
                if name in state:
                    return _to_array(state[name], key, path)
        elif state is not None:
            return _to_array(state, key, path)
        raise ValueError(
            f"{path}: field '{key}' is a chumpy object whose value could not be found "
            f"(state keys: {sorted(state) if isinstance(state, dict) else type(state).__name__})"
        )
    if isinstance(value, (list, tuple, int, float)):
        return np.asarray(value)
    raise ValueError(f"{path}: field '{key}' has unsupported type {type(value).__name__}")


_REQUIRED_PKL = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _expect_shape(path: str, key: str, arr: np.ndarray, shape: tuple) -> None:
    ok = arr.ndim == len(shape) and all(s is None or a == s for a, s in zip(arr.shape, shape))
    if not ok:
        want = "(" + ", ".join("V" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{path}: field '{key}' has shape {arr.shape}, expected {want}")


def read_mano_pickle(path: str) -> dict[str, np.ndarray]:
    """Read an official MANO pickle into plain numpy arrays (chumpy not needed).

    Returns:
      Dict with the pickle's array fields as numpy (J_regressor dense (16, V)).

    Raises:
      FileNotFoundError / ValueError naming the path and what was expected.
    """
    try:
        with open(path, "rb") as f:
            raw = _RestrictedUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(
            f"{path}: not a readable MANO pickle ({type(e).__name__}: {e}). Expected the official "
            "MANO_RIGHT.pkl / MANO_LEFT.pkl from mano_v1_2/models; re-download it if truncated."
        ) from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of MANO fields, got {type(raw).__name__}")
    missing = [k for k in _REQUIRED_PKL if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing MANO fields {missing}; is this a MANO model file?")
    out = {}
    for key, value in raw.items():
        if key in ("bs_style", "bs_type"):
            continue
        try:
            out[key] = _to_array(value, key, path)
        except ValueError:
            if key in _REQUIRED_PKL or key in ("hands_components", "hands_mean"):
                raise
    return out


def from_mano_arrays(arrays: dict[str, np.ndarray], path: str, side: str) -> HandModel:
    """Validate MANO-pickle arrays (official field names) and build a ``HandModel``.

    Args:
      arrays: fields as in the official pickle (``v_template``, ``J_regressor``, ``f``, ...).
      path: where they came from, for error messages.
      side: "right" or "left".
    """
    arrays = {k: (v.toarray() if hasattr(v, "toarray") else v) for k, v in arrays.items()}
    v_template = np.asarray(arrays["v_template"], np.float64)
    _expect_shape(path, "v_template", v_template, (None, 3))
    num_v = v_template.shape[0]
    shapedirs = np.asarray(arrays["shapedirs"], np.float64)
    _expect_shape(path, "shapedirs", shapedirs, (num_v, 3, None))
    if shapedirs.shape[2] < 10:
        raise ValueError(f"{path}: shapedirs has {shapedirs.shape[2]} components, expected >= 10")
    shapedirs = shapedirs[:, :, :10]
    posedirs = np.asarray(arrays["posedirs"], np.float64)
    _expect_shape(path, "posedirs", posedirs, (num_v, 3, 135))
    j_regressor = np.asarray(arrays["J_regressor"], np.float64)
    _expect_shape(path, "J_regressor", j_regressor, (16, num_v))
    weights = np.asarray(arrays["weights"], np.float64)
    _expect_shape(path, "weights", weights, (num_v, 16))
    faces = np.asarray(arrays["f"]).astype(np.int64)
    _expect_shape(path, "f", faces, (None, 3))
    if faces.min() < 0 or faces.max() >= num_v:
        raise ValueError(f"{path}: faces index outside [0, {num_v})")
    kintree = np.asarray(arrays["kintree_table"]).astype(np.int64)
    _expect_shape(path, "kintree_table", kintree, (2, 16))
    parents = tuple(int(p) if i > 0 else -1 for i, p in enumerate(kintree[0]))
    if parents != MANO_PARENTS:
        raise ValueError(f"{path}: kintree_table parents {parents} differ from MANO's {MANO_PARENTS}")
    comps = np.asarray(arrays.get("hands_components", np.eye(45)), np.float64)
    _expect_shape(path, "hands_components", comps, (45, 45))
    mean = np.asarray(arrays.get("hands_mean", np.zeros(45)), np.float64).reshape(-1)
    _expect_shape(path, "hands_mean", mean, (45,))
    for key, arr in (("v_template", v_template), ("shapedirs", shapedirs), ("posedirs", posedirs),
                     ("J_regressor", j_regressor), ("weights", weights)):  # fmt: skip
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: field '{key}' contains NaN or Inf")
    tip_ids = MANO_TIP_VERTEX_IDS if num_v == 778 else _farthest_tip_ids(v_template, weights)
    rest_joints = j_regressor @ v_template
    return build_hand_model(
        v_template=v_template,
        shapedirs=shapedirs,
        posedirs=posedirs,
        j_regressor=j_regressor,
        weights=weights,
        faces=faces,
        hands_components=comps,
        hands_mean=mean,
        **limits.joint_limits(rest_joints, v_template[list(tip_ids)], side),
        tip_vertex_ids=tip_ids,
        side=side,
        name=f"mano:{os.path.basename(path)}",
    )


def _farthest_tip_ids(v_template: np.ndarray, weights: np.ndarray) -> tuple[int, ...]:
    """Tip vertices for a non-standard mesh: the vertex of each distal bone farthest from the wrist."""
    ids = []
    for distal in (15, 3, 6, 12, 9):  # thumb, index, middle, ring, pinky
        owned = np.nonzero(np.argmax(weights, axis=1) == distal)[0]
        if owned.size == 0:
            raise ValueError("cannot locate fingertips: a distal bone owns no vertex")
        d = np.linalg.norm(v_template[owned] - v_template.mean(axis=0), axis=1)
        ids.append(int(owned[np.argmax(d)]))
    return tuple(ids)


def save_npz(model: HandModel, path: str) -> None:
    """Write a hand model to our ``.npz`` schema (the MANO fields plus limits and metadata)."""
    arrays = {name: np.asarray(getattr(model, name)) for name in ARRAY_FIELDS}
    arrays["parents"] = np.asarray(model.parents, np.int64)
    arrays["tip_vertex_ids"] = np.asarray(model.tip_vertex_ids, np.int64)
    arrays["side"] = np.asarray(model.side)
    arrays["name"] = np.asarray(model.name)
    arrays["format"] = np.asarray(_NPZ_FORMAT)
    arrays["schema_version"] = np.asarray(NPZ_SCHEMA_VERSION)
    np.savez_compressed(path, **arrays)


def read_npz(path: str) -> HandModel:
    """Read a hand model written by ``save_npz``; clear errors on any other file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(
            f"{path}: not a readable hand .npz ({type(e).__name__}: {e}); the file may be "
            "truncated. Re-export it with mgd_jax.hand.save_npz."
        ) from e
    if str(arrays.get("format", "")) != _NPZ_FORMAT:
        raise ValueError(
            f"{path}: not an mgd_jax hand .npz (no format='{_NPZ_FORMAT}' entry). Pass the "
            "official MANO_*.pkl or a file written by mgd_jax.hand.save_npz."
        )
    missing = [k for k in ARRAY_FIELDS if k not in arrays]
    if missing:
        raise ValueError(f"{path}: hand .npz is missing fields {missing}")
    num_v = arrays["v_template"].shape[0]
    expected = {
        "v_template": (num_v, 3), "shapedirs": (num_v, 3, 10), "posedirs": (num_v, 3, 135),
        "j_regressor": (16, num_v), "weights": (num_v, 16), "hands_components": (45, 45),
        "hands_mean": (45,), "limit_frames": (15, 3, 3), "pose_lower": (15, 3),
        "pose_upper": (15, 3),
    }  # fmt: skip
    for key, shape in expected.items():
        _expect_shape(path, key, arrays[key], shape)
    return build_hand_model(
        **{k: arrays[k] for k in ARRAY_FIELDS},
        parents=arrays["parents"],
        tip_vertex_ids=arrays["tip_vertex_ids"],
        side=arrays["side"],
        name=arrays["name"],
    )


def load_file(path: str, side: str | None = None) -> HandModel:
    """Load a hand model from an official MANO ``.pkl`` or our ``.npz``.

    Args:
      path: file path.
      side: "right" or "left"; by default taken from the file name (``*LEFT*`` -> left).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"MANO model file not found: {path}. Download MANO (mano.is.tue.mpg.de) and pass "
            "the path of mano_v1_2/models/MANO_RIGHT.pkl, or pass None for the procedural hand."
        )
    if side is None:
        side = "left" if "left" in os.path.basename(path).lower() else "right"
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"PK":
        return read_npz(path)
    if not magic or magic[:1] != b"\x80" and not path.endswith(".pkl"):
        raise ValueError(
            f"{path}: neither a MANO pickle nor an mgd_jax hand .npz (expected MANO_*.pkl or .npz)"
        )
    return from_mano_arrays(read_mano_pickle(path), path, side)
